"""Stock vs patched LiteLLM on this machine, measured live against a local fixed-response
server (bench/asyncio_fixed_server.py: canned answers, so what is timed is LiteLLM's own cost
per call and per streamed chunk, and the patch's saving on it).

Stock and patched alternate within one run, switched with install() / uninstall(), in rounds
whose order flips each time, so that a busy machine weighs on both alike. A few seconds in all;
bench/ has the full benchmarks (more calls, nginx, LiteLLM's dispatch floor).

The demo runs it in an interpreter of its own (`in_fresh_process`): what earlier calls leave
behind in LiteLLM would weigh on the figures. LiteLLM's first Gemini call, for one, registers
its `cache` callback for good, and from then on every streamed chunk of any provider schedules
a logging job on a thread pool.

    python -m examples.speed [--calls 200] [--streams 6] [--stream-chunks 200]   # JSON on stdout
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no remote cost map fetched
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # bench/ as a package, when run as a file

import litellm  # noqa: E402

import edgequake_patch  # noqa: E402
from bench.asyncio_fixed_server import AsyncioFixedServer  # noqa: E402
from edgequake_patch.state import stats  # noqa: E402

MODES = ("stock", "patched")
#: acompletion calls in flight at once: an async app serving several requests.
IN_FLIGHT = 20
MESSAGES = [{"role": "user", "content": "Say hello."}]


@dataclass
class Samples:
    sync_call: List[float] = field(default_factory=list)  # seconds per completion()
    async_batches: List[float] = field(default_factory=list)  # seconds per acompletion, per batch
    stream_chunk: List[float] = field(default_factory=list)  # seconds per chunk, per sync stream
    astream_chunk: List[float] = field(default_factory=list)  # the same, async
    patched_calls: int = 0  # calls made while patched ...
    native_calls: int = 0  # ... of which the core served


def _logging_worker() -> Any:
    try:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

        return GLOBAL_LOGGING_WORKER
    except ImportError:
        return None


class Bench:
    def __init__(self, base_url: str, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.chat = {"model": "openai/gpt-4o-mini", "messages": MESSAGES, "api_base": base_url + "/v1",
                     "api_key": "sk-demo"}
        self.stream = {**self.chat, "api_base": base_url + "/stream/v1", "stream": True}
        self.worker = _logging_worker()

    def sync_calls(self, n: int, out: List[float]) -> None:
        for _ in range(n):
            start = time.perf_counter()
            litellm.completion(**self.chat)
            out.append(time.perf_counter() - start)

    def async_calls(self, n: int) -> float:
        """Seconds per call for `n` acompletion calls, IN_FLIGHT at a time, until LiteLLM's
        logging worker has also run the success logging they queued (part of their cost, and
        not to be left to the next mode)."""

        async def run() -> float:
            gate = asyncio.Semaphore(IN_FLIGHT)

            async def one() -> None:
                async with gate:
                    await litellm.acompletion(**self.chat)

            start = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(n)))
            if self.worker is not None:
                await asyncio.wait_for(self.worker.flush(), 60)
            return (time.perf_counter() - start) / n

        return self.loop.run_until_complete(run())

    def stream_chunk(self) -> float:
        """Seconds per chunk of one sync stream, from its first chunk to the end of iteration
        (LiteLLM's end-of-stream work included), over the chunks after the first."""
        first, n = 0.0, 0
        for _ in litellm.completion(**self.stream):
            if n == 0:
                first = time.perf_counter()
            n += 1
        return (time.perf_counter() - first) / max(n - 1, 1)

    def astream_chunk(self) -> float:
        async def run() -> float:
            first, n = 0.0, 0
            async for _ in await litellm.acompletion(**self.stream):
                if n == 0:
                    first = time.perf_counter()
                n += 1
            return (time.perf_counter() - first) / max(n - 1, 1)

        return self.loop.run_until_complete(run())


def _switch(mode: str) -> None:
    if mode == "patched":
        assert edgequake_patch.install(), "the patch did not install (see the warning above)"
    else:
        edgequake_patch.uninstall()


def measure(base_url: str, loop: asyncio.AbstractEventLoop, calls: int = 200, streams: int = 6,
            rounds: int = 3) -> Dict[str, Any]:
    """`calls` completion and `calls` acompletion calls, and `streams` sync and async streams,
    per mode, spread over `rounds`. Returns the medians per mode (µs) and stock / patched."""
    bench = Bench(base_url, loop)
    samples = {mode: Samples() for mode in MODES}
    per_round, streams_per_round = max(calls // rounds, 1), max(-(-streams // rounds), 1)
    for mode in MODES:  # warm-up: imports, clients, connection pools, caches
        _switch(mode)
        bench.sync_calls(20, [])
        bench.async_calls(IN_FLIGHT)
        bench.stream_chunk()
        bench.astream_chunk()
    # What exists now (LiteLLM's modules, caches, clients) is set aside from the garbage
    # collector: a full collection would otherwise scan it all, a pause of 100-300 ms landing on
    # whichever few samples happen to be running (an app spreads it over far more calls).
    gc.collect()
    gc.freeze()
    try:
        for round_ in range(rounds):
            for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
                _switch(mode)
                _one_round(bench, samples[mode], per_round, streams_per_round, patched=mode == "patched")
    finally:
        gc.unfreeze()
        edgequake_patch.uninstall()
    figures = {mode: {
        "completion_us": statistics.median(s.sync_call) * 1e6,
        "acompletion_us": statistics.median(s.async_batches) * 1e6,
        "stream_chunk_us": statistics.median(s.stream_chunk) * 1e6,
        "astream_chunk_us": statistics.median(s.astream_chunk) * 1e6,
    } for mode, s in samples.items()}
    return {
        "calls_per_mode": per_round * rounds,
        "streams_per_mode": streams_per_round * rounds,
        "in_flight": IN_FLIGHT,
        "us": figures,
        "speedup": {k: figures["stock"][k] / figures["patched"][k] for k in figures["stock"]},
        "patched_calls": samples["patched"].patched_calls,
        "patched_calls_native": samples["patched"].native_calls,
    }


def _one_round(bench: Bench, s: Samples, calls: int, streams: int, patched: bool) -> None:
    native_before = stats.native_calls["openai"]
    bench.sync_calls(calls, s.sync_call)
    s.async_batches.append(bench.async_calls(calls))
    for _ in range(streams):
        s.stream_chunk.append(bench.stream_chunk())
        s.astream_chunk.append(bench.astream_chunk())
    if patched:
        s.patched_calls += 2 * calls + 2 * streams
        s.native_calls += stats.native_calls["openai"] - native_before


#: The rows of the table: (figure, what it is).
ROWS = (
    ("completion_us", "completion(), time per call"),
    ("acompletion_us", f"acompletion(), per call, {IN_FLIGHT} in flight"),
    ("stream_chunk_us", "stream, per chunk (sync)"),
    ("astream_chunk_us", "stream, per chunk (async)"),
)


def run(calls: int = 200, streams: int = 6, stream_chunks: int = 200) -> Dict[str, Any]:
    """`measure` in this process, against a fixed-response server and an event loop of its own."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        with AsyncioFixedServer(stream_chunks=stream_chunks) as server:
            return measure(server.base_url, loop, calls=calls, streams=streams)
    finally:
        close_loop(loop)


def in_fresh_process(calls: int = 200, streams: int = 6, stream_chunks: int = 200) -> Dict[str, Any]:
    """`run` in a new interpreter; its warnings, if any, go to this process's stderr."""
    # Not activated from the environment: the measurement switches the patch itself.
    env = {k: v for k, v in os.environ.items() if k != "EDGEQUAKE_PATCH"}
    done = subprocess.run(
        [sys.executable, "-m", "examples.speed", "--calls", str(calls), "--streams", str(streams),
         "--stream-chunks", str(stream_chunks)],
        cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE, text=True, timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the speed measurement failed (exit status {done.returncode}; its error is above)")
    return json.loads(done.stdout.strip().splitlines()[-1])  # the figures are its last line


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Let LiteLLM's logging worker finish what the calls queued, then close the loop."""
    worker = _logging_worker()
    try:
        if worker is not None:
            loop.run_until_complete(asyncio.wait_for(worker.flush(), 30))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--streams", type=int, default=6)
    parser.add_argument("--stream-chunks", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(run(args.calls, args.streams, args.stream_chunks)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
