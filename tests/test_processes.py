"""The core in forked processes and under every way of running an event loop: a child forked
after the parent used the core (its pool and runtime inherited) makes native calls without
hanging; acompletion works across repeated asyncio.run, on several threads each with its own
loop, and under uvloop."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import threading
import time

import litellm
import pytest

from edgequake_patch.state import stats
from tests.differential import CHAT_PROVIDERS

MESSAGES = [{"role": "user", "content": "Say hello."}]
PROVIDERS = pytest.mark.parametrize("provider", ["openai", "xai"])
CHILD_BOUND = 60  # seconds before a child counts as hung


def _kwargs(provider, base_url, tag):
    """A call whose answer names it: the stand-in echoes the model, and the tag is in it."""
    p = CHAT_PROVIDERS[provider]
    return {"model": f"{p.model}-{tag}", "messages": MESSAGES, "api_base": base_url + p.path,
            "api_key": p.key, "max_retries": 0, **p.extra}


def _check(response, provider, tag):
    assert response.choices[0].message.content == "Hello from the stand-in."
    assert response.model.endswith(f"-{tag}"), (response.model, tag)


def _calls_in_child(provider, base_url, tag):
    """Sync then async calls; returns what a child reports back to its parent."""
    before = stats.native_calls[provider]
    sync = litellm.completion(**_kwargs(provider, base_url, f"{tag}-sync"))
    _check(sync, provider, f"{tag}-sync")

    async def several():
        return await asyncio.gather(*(litellm.acompletion(**_kwargs(provider, base_url, f"{tag}-a{i}")) for i in range(3)))

    for i, r in enumerate(asyncio.run(several())):
        _check(r, provider, f"{tag}-a{i}")
    return {"pid": os.getpid(), "native": stats.native_calls[provider] - before}


def _warm_parent(provider, standin):
    """Native calls in the parent, sync and async, so the child inherits a used core."""
    before = stats.native_calls[provider]
    _check(litellm.completion(**_kwargs(provider, standin.base_url, "parent")), provider, "parent")
    _check(asyncio.run(litellm.acompletion(**_kwargs(provider, standin.base_url, "parent-async"))), provider, "parent-async")
    assert stats.native_calls[provider] - before == 2


@PROVIDERS
def test_os_fork_child_calls_natively(provider, standin, patch):
    patch.on()
    _warm_parent(provider, standin)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running any of pytest's teardown
        code = 1
        try:
            os.close(read_end)
            report = _calls_in_child(provider, standin.base_url, "child")
            os.write(write_end, json.dumps(report).encode())
            code = 0
        except BaseException as exc:  # noqa: BLE001
            os.write(write_end, json.dumps({"error": repr(exc)}).encode())
        finally:
            os._exit(code)
    os.close(write_end)
    deadline = time.monotonic() + CHILD_BOUND
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.05)
    with os.fdopen(read_end) as f:
        report = json.loads(f.read() or "{}")
    assert os.waitstatus_to_exitcode(status) == 0, report
    assert report["native"] == 4, report
    # And the parent's core still works after the fork.
    _check(litellm.completion(**_kwargs(provider, standin.base_url, "parent-after")), provider, "parent-after")


def _pool_task(args):
    provider, base_url, tag = args
    return _calls_in_child(provider, base_url, tag)


@PROVIDERS
def test_multiprocessing_fork_pool(provider, standin, patch):
    patch.on()
    _warm_parent(provider, standin)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        result = pool.map_async(_pool_task, [(provider, standin.base_url, f"p{i}") for i in range(4)])
        reports = result.get(CHILD_BOUND)
    assert [r["native"] for r in reports] == [4, 4, 4, 4], reports
    assert all(r["pid"] != os.getpid() for r in reports)


@PROVIDERS
def test_acompletion_across_repeated_asyncio_run(provider, standin, patch):
    patch.on()
    before = stats.native_calls[provider]
    for i in range(5):
        _check(asyncio.run(litellm.acompletion(**_kwargs(provider, standin.base_url, f"run{i}"))), provider, f"run{i}")
    assert stats.native_calls[provider] - before == 5


@PROVIDERS
def test_threads_each_with_their_own_loop(provider, standin, patch):
    patch.on()
    before = stats.native_calls[provider]
    errors = []

    def worker(t):
        async def many():
            tags = [f"t{t}-{i}" for i in range(10)]
            responses = await asyncio.gather(*(litellm.acompletion(**_kwargs(provider, standin.base_url, tag)) for tag in tags))
            for tag, r in zip(tags, responses):
                _check(r, provider, tag)

        try:
            asyncio.run(many())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(CHILD_BOUND)
    assert not any(th.is_alive() for th in threads), "a loop thread hung"
    assert not errors, errors
    assert stats.native_calls[provider] - before == 40


@PROVIDERS
def test_under_uvloop(provider, standin, patch):
    uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed (scripts/env.sh installs it)")
    patch.on()
    before = stats.native_calls[provider]

    async def many():
        assert "uvloop" in type(asyncio.get_running_loop()).__module__
        tags = [f"uv{i}" for i in range(20)]
        responses = await asyncio.gather(*(litellm.acompletion(**_kwargs(provider, standin.base_url, tag)) for tag in tags))
        for tag, r in zip(tags, responses):
            _check(r, provider, tag)
        # A timeout under uvloop too.
        with pytest.raises(litellm.Timeout):
            await litellm.acompletion(**_kwargs(provider, standin.base_url, "slow-2000"), timeout=0.3)

    # uvloop.run, as asyncio.run does, cancels what is left on the loop before closing it:
    # LiteLLM's logging worker task, which would otherwise be collected at interpreter exit,
    # its cancellation calling into the closed loop (a traceback after the test summary).
    uvloop.run(many())
    assert stats.native_calls[provider] - before == 21
