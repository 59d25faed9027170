"""No memory growth over many calls: resident memory (/proc/self/statm) after a warm-up, then
after many more calls, against nginx (bench/fixed_server.py) so the server is never the
bottleneck.

* through `litellm.completion` with the patch on (30,000 calls): the calls users make;
* straight through the core (`native.send`, the SDK-shape conversion; 100,000 calls): the core
  alone, where LiteLLM's own allocations cannot hide a leak in the noise.

LiteLLM hands every call's logging to a thread pool; before each measurement its queue is
drained, so what is measured is what stays, not work in flight. How deep that queue may get
while calls run is bounded too (see `test_litellm_calls_do_not_grow_memory`).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time

import pytest

from bench.fixed_server import FixedServer
from edgequake_patch.transport import native
from tests.faultkit import rss_bytes
from tests.standin import REPO_ROOT

CALLS = int(os.environ.get("EQP_MEMORY_CALLS", "100000"))
WARM_UP = 5_000
# Through LiteLLM a call costs 1.5-3 ms here, so fewer calls than the core's 100,000, with the
# limit in bytes kept per call unchanged (50, as 5 MB over 100,000 was): keeping one 50-byte
# object per call grows RSS by 3.3 MB (1.95.0) / 3.5 MB (1.110.2) over 30,000 calls, while
# leak-free runs of 30,000 moved it 0.11-0.34 MB (1.95.0) and 0.05-0.27 MB (1.110.2).
LITELLM_CALLS = int(os.environ.get("EQP_MEMORY_LITELLM_CALLS", "30000"))
LIMIT_MB = max(1.5, LITELLM_CALLS * 50 / 1e6)
MESSAGES = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def fixed_server():
    with FixedServer() as server:
        yield server


def _settle():
    """Let LiteLLM's logging pool finish what it was handed, then collect."""
    try:
        from litellm.litellm_core_utils.thread_pool_executor import executor
    except ImportError:  # pragma: no cover - every supported release has it
        executor = None
    deadline = time.monotonic() + 60
    while executor is not None and executor._work_queue.qsize() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    gc.collect()


def _grown_mb(run, calls):
    run(WARM_UP)
    _settle()
    before = rss_bytes()
    started = time.monotonic()
    run(calls)
    elapsed = time.monotonic() - started
    _settle()
    grown = (rss_bytes() - before) / 1e6
    return grown, elapsed


_LITELLM_CHILD = r"""
import gc, json, os, sys, threading, time
import litellm, edgequake_patch
from edgequake_patch.state import stats
sys.path.insert(0, os.getcwd())
from tests.test_memory import _settle
from tests.faultkit import rss_bytes
from tests.standin import REPO_ROOT
base_url, calls, warm_up, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if mode == "patched":
    assert edgequake_patch.install()
kwargs = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}],
          "api_base": base_url + "/v1", "api_key": "sk-memory-test", "max_retries": 0}
from litellm.litellm_core_utils.thread_pool_executor import executor
backlog_cap, backlog_max = executor._max_workers, 0
def run(n):
    # The app waits (never drops) while LiteLLM's logging queue holds more than one task per
    # worker: see the test's docstring for why the backlog must not set a new high-water mark.
    global backlog_max
    for _ in range(n):
        response = litellm.completion(**kwargs)
        backlog_max = max(backlog_max, executor._work_queue.qsize())
        while executor._work_queue.qsize() > backlog_cap:
            time.sleep(0.0005)
    assert response.choices[0].message.content == "Hello there! How can I help?"
# LiteLLM's logging pool at its full size first (it grows while calls outpace it; its size
# follows the call rate, not the number of calls).
release = threading.Event()
held = [executor.submit(release.wait) for _ in range(executor._max_workers)]
time.sleep(0.5)
release.set()
for f in held:
    f.result(timeout=60)
run(warm_up)
_settle()
before, threads_before = rss_bytes(), threading.active_count()
started = time.monotonic()
run(calls)
elapsed = time.monotonic() - started
_settle()
print(json.dumps({"grown_mb": (rss_bytes() - before) / 1e6, "seconds": elapsed, "backlog_max": backlog_max,
                  "native": stats.native_calls.get("openai", 0), "threads": [threads_before, threading.active_count()]}))
"""


def _start_litellm_run(base_url: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEQUAKE")}
    env["MALLOC_ARENA_MAX"] = "2"
    # Output to files: nobody reads a pipe while the run goes on in the background, and a full
    # pipe would stall it.
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    proc = subprocess.Popen([sys.executable, "-c", _LITELLM_CHILD, base_url, str(LITELLM_CALLS), str(2 * WARM_UP), "patched"],
                            cwd=str(REPO_ROOT), env=env, stdout=out, stderr=err, text=True)
    proc.output_files = (out, err)
    return proc


def _finish(proc: subprocess.Popen, timeout: float) -> tuple:
    """(stdout, stderr) once the run ends; killed if it outlasts `timeout`."""
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    texts = []
    for f in proc.output_files:
        f.seek(0)
        texts.append(f.read())
        f.close()
    return tuple(texts)


# The LiteLLM run is a process of its own against an nginx of its own, and takes a minute or two
# of one core. Most of the rest of the suite waits (on timeouts, retries, callbacks) rather than
# computes, so conftest.py starts this run when the session starts (when this test is selected)
# and the test collects its result: the same measurement, overlapped with the waiting.
_EARLY: dict = {}


def start_litellm_run_early() -> None:
    server = FixedServer()
    server.__enter__()
    _EARLY["run"] = (server, _start_litellm_run(server.base_url))


def stop_litellm_run_early() -> None:
    server, proc = _EARLY.pop("run", (None, None))
    if proc is not None:  # not collected by its test (which failed before, or was interrupted)
        proc.kill()
        _finish(proc, timeout=10)
    if server is not None:
        server.__exit__(None, None, None)


def test_litellm_calls_do_not_grow_memory(fixed_server):
    """In a fresh interpreter. Two effects of LiteLLM's logging pool are kept out, because they
    follow the call RATE, not the number of calls, and the patch makes calls faster:

    * The pool adds threads (up to its cap, 100) while calls come faster than it logs them, and
      glibc gives new threads malloc arenas. So the pool is brought to its full size before the
      warm-up, and two arenas (MALLOC_ARENA_MAX=2) keep fragmentation noise out.
    * Its queue is unbounded in LiteLLM 1.95.0 (1.106.2 caps it at 10,000 and drops beyond):
      a logging task waiting there pins its call's objects (~15 KB). Each time the backlog
      reaches a new high-water mark, CPython's allocator takes fresh arenas for them, and once
      drained they stay mapped, pinned by a few long-lived objects: RSS steps up with the
      deepest backlog seen, not with the calls made. Measured on 1.95.0 (docs/reliability.md,
      Memory): a 700-task backlog forced on stock calls leaves RSS 10.6 MB higher once drained
      while live Python memory does not change (`sys._debugmallocstats`: bytes in used blocks
      -1 KB, empty pools +5 MB); an unpaced patched run's RSS steps up exactly when its
      backlog passes 214, 302, 436, 527 and 655 tasks.
      So the app here waits (drops nothing) while more than one task per worker is queued:
      the backlog's high-water mark is the same in the warm-up and the measured run, and what
      is left to grow is what calls keep: keeping one 50-byte object per call fails it (7.6 MB
      over 100,000 calls; 3.3-3.5 MB over the 30,000 run here, against a 1.5 MB limit).
    """
    server, proc = _EARLY.pop("run", (None, None))
    if proc is None:
        proc = _start_litellm_run(fixed_server.base_url)
    try:
        stdout, stderr = _finish(proc, timeout=1200)
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    assert proc.returncode == 0, stderr[-3000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    print(f"\n{LITELLM_CALLS} litellm.completion calls (patched) in {report['seconds']:.0f} s: "
          f"RSS grew {report['grown_mb']:.2f} MB (threads {report['threads']}, "
          f"logging backlog at most {report['backlog_max']})")
    assert report["native"] == 2 * WARM_UP + LITELLM_CALLS
    assert report["grown_mb"] < LIMIT_MB, report


def test_core_sends_do_not_grow_memory(fixed_server):
    url = fixed_server.base_url + "/v1/chat/completions"
    headers = [("Authorization", "Bearer sk-memory-test"), ("Content-Type", "application/json")]
    body = {"model": "gpt-4o-mini", "messages": MESSAGES}

    def run(n):
        for _ in range(n):
            reply = native.send("POST", url, headers, body, timeout=10.0, connect_timeout=None, max_retries=2,
                                retry="openai_sdk")
            shaped = native.openai_sdk_shape(reply.json())
            reply.headers_dict()
        assert shaped["choices"][0]["message"]["content"] == "Hello there! How can I help?"

    grown, elapsed = _grown_mb(run, CALLS)
    print(f"\n{CALLS} core sends in {elapsed:.1f} s: RSS grew {grown:.2f} MB")
    assert grown < 2.0, f"RSS grew {grown:.2f} MB over {CALLS} core sends"


async def test_core_async_sends_do_not_grow_memory(fixed_server):
    url = fixed_server.base_url + "/v1/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": MESSAGES}

    async def batch(n):
        for start in range(0, n, 100):
            replies = await asyncio.gather(*(
                native.send_async("POST", url, [], body, timeout=10.0, connect_timeout=None, max_retries=0, retry="none")
                for _ in range(min(100, n - start))
            ))
        assert replies[-1].status == 200

    await batch(WARM_UP)
    _settle()
    before = rss_bytes()
    await batch(CALLS)
    _settle()
    grown = (rss_bytes() - before) / 1e6
    print(f"\n{CALLS} async core sends: RSS grew {grown:.2f} MB")
    assert grown < 2.0, f"RSS grew {grown:.2f} MB over {CALLS} async core sends"
