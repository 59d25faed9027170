"""Many patched calls at once: every caller gets its own answer, nothing deadlocks, and a
thread waiting on the core leaves the GIL to the others.

The answers come from nginx (bench/fixed_server.py), which echoes a per-call header into the
completion's id and content, so a crossed wire between calls would show.
"""

from __future__ import annotations

import asyncio
import copy
import os
import threading
import time

import litellm
import pytest

from bench.fixed_server import CHAT_COMPLETION, FixedServer
from edgequake_patch.state import stats
from tests.differential import CHAT_PROVIDERS

THREADS = 32
# 32 threads call at once from the first call to the last; after a few dozen calls each the
# core's pool and runtime are in the steady state the rest repeats. 100 each (3,200 calls, the
# 32 threads contending throughout, every answer checked against its caller) takes 15-25 s per
# provider where 1,000 each took 50-75 s on LiteLLM 1.95 and twice that on 1.110;
# EQP_CALLS_PER_THREAD=1000 for a soak.
CALLS_PER_THREAD = int(os.environ.get("EQP_CALLS_PER_THREAD", "100"))
ASYNC_CALLS = int(os.environ.get("EQP_ASYNC_CALLS", "2000"))
DEADLOCK_BOUND = 600  # seconds: generous on a shared 2-core CI machine
MESSAGES = [{"role": "user", "content": "Say hello."}]

# nginx fills these in from the request's x-call-id header.
ECHO = copy.deepcopy(CHAT_COMPLETION)
ECHO["id"] = "chatcmpl-$http_x_call_id"
ECHO["choices"][0]["message"]["content"] = "answer for $http_x_call_id"


@pytest.fixture(scope="module")
def echo_server():
    with FixedServer(ECHO) as server:
        yield server


def _kwargs(provider, base_url, call_id):
    p = CHAT_PROVIDERS[provider]
    return {"model": p.model, "messages": MESSAGES, "api_base": base_url + p.path, "api_key": p.key,
            "max_retries": 0, "extra_headers": {"x-call-id": call_id}, **p.extra}


def _check(response, call_id):
    assert response.id == f"chatcmpl-{call_id}", (response.id, call_id)
    assert response.choices[0].message.content == f"answer for {call_id}"


@pytest.mark.parametrize("provider", ["openai", "xai"])
def test_threads_each_get_their_own_answer(provider, echo_server, patch):
    patch.on()
    before = stats.native_calls[provider]
    errors, done = [], [0] * THREADS

    def worker(t):
        try:
            for i in range(CALLS_PER_THREAD):
                call_id = f"{t}-{i}"
                _check(litellm.completion(**_kwargs(provider, echo_server.base_url, call_id)), call_id)
                done[t] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(max(1.0, DEADLOCK_BOUND - (time.monotonic() - start)))
    elapsed = time.monotonic() - start
    assert not any(th.is_alive() for th in threads), f"deadlock? calls done per thread: {done}"
    assert not errors, errors[:3]
    assert sum(done) == THREADS * CALLS_PER_THREAD
    assert stats.native_calls[provider] - before == THREADS * CALLS_PER_THREAD
    print(f"\n{provider}: {THREADS}x{CALLS_PER_THREAD} sync calls in {elapsed:.1f} s "
          f"({THREADS * CALLS_PER_THREAD / elapsed:.0f}/s)")


@pytest.mark.parametrize("provider", ["openai", "xai"])
def test_concurrent_acompletions_each_get_their_own_answer(provider, echo_server, patch):
    patch.on()
    before = stats.native_calls[provider]

    async def main():
        async def one(i):
            call_id = f"a-{i}"
            _check(await litellm.acompletion(**_kwargs(provider, echo_server.base_url, call_id)), call_id)

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(ASYNC_CALLS))), DEADLOCK_BOUND)

    start = time.monotonic()
    asyncio.run(main())
    elapsed = time.monotonic() - start
    assert stats.native_calls[provider] - before == ASYNC_CALLS
    print(f"\n{provider}: {ASYNC_CALLS} concurrent acompletions in {elapsed:.1f} s")


def _count_for(seconds, stop_when=None):
    """Increments a pure-Python loop makes in `seconds` (or until stop_when is set)."""
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end and not (stop_when is not None and stop_when.is_set()):
        for _ in range(1000):
            n += 1
    return n


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", ["openai", "xai"])
def test_gil_is_released_while_waiting(provider, is_async, standin, patch):
    """During a patched call to a model that answers after 1 s, another Python thread runs
    at (close to) full speed."""
    patch.on()
    p = CHAT_PROVIDERS[provider]
    kwargs = {"messages": MESSAGES, "max_retries": 0, **p.kwargs(standin, "-slow-1000")}
    # Warm up (imports, the core's runtime and pool) so only the wait is measured.
    litellm.completion(**p.kwargs(standin), messages=MESSAGES)
    alone = _count_for(0.5) / 0.5

    finished = threading.Event()
    counted = {}

    def counter():
        start = time.monotonic()
        counted["n"] = _count_for(10, finished)
        counted["seconds"] = time.monotonic() - start

    th = threading.Thread(target=counter)
    before = stats.native_calls[provider]
    th.start()
    try:
        response = asyncio.run(litellm.acompletion(**kwargs)) if is_async else litellm.completion(**kwargs)
    finally:
        finished.set()
        th.join(15)
    assert stats.native_calls[provider] - before == 1
    assert response.choices[0].message.content == "Hello from the stand-in."
    rate = counted["n"] / counted["seconds"]
    print(f"\n{provider} {'async' if is_async else 'sync'}: counter alone {alone:.0f}/s, "
          f"during the call {rate:.0f}/s ({rate / alone:.0%})")
    # The call spends ~1 s waiting; holding the GIL there would leave the counter ~nothing.
    assert counted["seconds"] >= 0.9
    assert rate >= 0.5 * alone, (rate, alone)
