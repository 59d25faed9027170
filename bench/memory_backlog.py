"""Where RSS goes over many `litellm.completion` calls: resident memory, LiteLLM's logging
backlog (tasks queued in its logging thread pool) and CPython's allocator statistics, sampled
while calls run against nginx (bench/fixed_server.py). docs/reliability.md, Memory, has the
figures and what they show.

    MALLOC_ARENA_MAX=2 .venv-litellm-1.95.0/bin/python bench/memory_backlog.py patched 100000
    ... stock 10000 --burst 700        # force a 700-task logging backlog first
    ... patched 100000 --cap 100       # the app waits while more than 100 tasks are queued

One JSON line per sample, then a summary line. `live_bytes` is what CPython's small-object
allocator holds in objects; `empty_pool_bytes` is space it keeps mapped without an object in it.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import re
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.fixed_server import FixedServer  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def allocator_stats() -> dict:
    """The figures `sys._debugmallocstats()` writes to the C stderr, read back through a file."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile("w+") as out:
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read()

    def number(pattern):
        found = re.search(pattern, text)
        return int(found.group(1).replace(",", "")) if found else None

    return {"live_bytes": number(r"# bytes in allocated blocks\s+=\s+([\d,]+)"),
            "empty_pool_bytes": number(r"unused pools \* \d+ bytes\s+=\s+([\d,]+)"),
            "arenas": number(r"# arenas allocated current\s+=\s+([\d,]+)")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["stock", "patched"])
    parser.add_argument("calls", type=int)
    parser.add_argument("--warm", type=int, default=10_000)
    parser.add_argument("--cap", type=int, default=0, help="wait while more logging tasks are queued")
    parser.add_argument("--burst", type=int, default=0, help="calls made while the logging pool is held")
    parser.add_argument("--sample", type=int, default=10_000)
    args = parser.parse_args()

    import litellm

    import edgequake_patch
    from edgequake_patch.decide import versions
    from litellm.litellm_core_utils.thread_pool_executor import executor
    from tests.test_memory import _settle

    if args.mode == "patched":
        assert edgequake_patch.install()
    backlog_max = 0

    def hold_pool():
        release = threading.Event()
        held = [executor.submit(release.wait) for _ in range(executor._max_workers)]
        return release, held

    def run(kwargs, n, sample=False):
        nonlocal backlog_max
        started = time.monotonic()
        for i in range(n):
            litellm.completion(**kwargs)
            backlog_max = max(backlog_max, executor._work_queue.qsize())
            while args.cap and executor._work_queue.qsize() > args.cap:
                time.sleep(0.0005)
            if sample and i % args.sample == 0:
                print(json.dumps({"call": i, "rss_mb": round(rss_mb(), 2), "backlog": executor._work_queue.qsize(),
                                  "backlog_max": backlog_max, "per_s": round(i / (time.monotonic() - started + 1e-9))}),
                      flush=True)

    with FixedServer() as server:
        kwargs = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}],
                  "api_base": server.base_url + "/v1", "api_key": "sk-memory-test", "max_retries": 0}
        # The pool at its full 100 threads first, as in tests/test_memory.py.
        release, held = hold_pool()
        time.sleep(0.5)
        release.set()
        for f in held:
            f.result(timeout=60)
        run(kwargs, args.warm)
        _settle()
        warm_backlog_max, backlog_max = backlog_max, 0
        before_rss, before = rss_mb(), allocator_stats()
        if args.burst:
            release, held = hold_pool()
            run(kwargs, args.burst)
            release.set()
            for f in held:
                f.result(timeout=60)
            _settle()
            print(json.dumps({"after_burst_grown_mb": round(rss_mb() - before_rss, 2)}), flush=True)
        started = time.monotonic()
        run(kwargs, args.calls, sample=True)
        elapsed = time.monotonic() - started
        _settle()
        gc.collect()
        after_rss, after = rss_mb(), allocator_stats()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        print(json.dumps({
            "mode": args.mode, "litellm": versions.installed_litellm(),
            "calls": args.calls, "seconds": round(elapsed, 1), "per_s": round(args.calls / elapsed),
            "warm_up_backlog_max": warm_backlog_max, "backlog_max": backlog_max,
            "grown_mb": round(after_rss - before_rss, 2), "grown_after_malloc_trim_mb": round(rss_mb() - before_rss, 2),
            "live_bytes_grown": after["live_bytes"] - before["live_bytes"],
            "empty_pool_mb_grown": round((after["empty_pool_bytes"] - before["empty_pool_bytes"]) / 1e6, 2),
            "arenas": [before["arenas"], after["arenas"]],
        }), flush=True)


if __name__ == "__main__":
    main()
