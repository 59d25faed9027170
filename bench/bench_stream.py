"""Streaming cost per chunk: stock vs patched vs raw line iteration, in one run.

    python bench/bench_stream.py [--rounds 7] [--json out.json]

Against nginx serving one 500-chunk OpenAI chat completion stream (502 chunks with the role and
finish chunks) from a static file, so the server is never the bottleneck:

* raw:     httpx streaming the same response and iterating its SSE lines (the floor any
           Python consumer pays);
* stock:   `litellm.completion(..., stream=True)` iterated to the end;
* patched: the same with edgequake_patch installed (checked to be native).

Two figures per mode, sync and async, medians over rounds that interleave the modes so machine
drift hits all alike:
* streaming: from the first chunk to the end of iteration, over the chunks after the first:
  what each further chunk costs, LiteLLM's end-of-stream work (usage, the complete response
  for its callbacks) included;
* whole call: from calling completion() to the end, over all chunks: adds the request, the
  wait for the first byte and LiteLLM's call set-up, spread over 502 chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import litellm  # noqa: E402

import edgequake_patch  # noqa: E402
from bench.fixed_server import STREAM_CHUNKS, FixedServer  # noqa: E402
from edgequake_patch import stats  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say hello."}]
CHUNKS = STREAM_CHUNKS + 2  # the role chunk and the finish chunk


def _kwargs(base_url: str) -> dict:
    return {"model": "openai/gpt-4o-mini", "messages": MESSAGES, "api_base": base_url + "/stream/v1",
            "api_key": "sk-bench", "stream": True}


class Clock:
    """Counts chunks and notes when the call started, the first chunk arrived and iteration
    ended (inside the event loop for async modes: asyncio.run's teardown is not the stream's)."""

    def __init__(self):
        self.n = 0
        self.start = self.first = self.end = 0.0

    def begin(self) -> None:
        self.start = time.perf_counter()

    def done(self) -> None:
        self.end = time.perf_counter()

    def tick(self) -> None:
        if self.n == 0:
            self.first = time.perf_counter()
        self.n += 1


def raw_sync(base_url: str, clock: Clock) -> None:
    clock.begin()
    with httpx.Client() as client:
        with client.stream("POST", base_url + "/stream/v1/chat/completions", json={"stream": True}) as r:
            for line in r.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    json.loads(line[6:])
                    clock.tick()
    clock.done()


async def raw_async(base_url: str, clock: Clock) -> None:
    clock.begin()
    async with httpx.AsyncClient() as client:
        async with client.stream("POST", base_url + "/stream/v1/chat/completions", json={"stream": True}) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    json.loads(line[6:])
                    clock.tick()
    clock.done()


def litellm_sync(base_url: str, clock: Clock) -> None:
    clock.begin()
    for _ in litellm.completion(**_kwargs(base_url)):
        clock.tick()
    clock.done()


async def litellm_async(base_url: str, clock: Clock) -> None:
    clock.begin()
    async for _ in await litellm.acompletion(**_kwargs(base_url)):
        clock.tick()
    clock.done()


def per_chunk_us(fn, base_url: str, is_async: bool) -> tuple:
    """(µs per chunk once the stream has started: first chunk to the end of iteration, which
    includes LiteLLM's end-of-stream work, over the chunks after the first; µs per chunk for
    the whole call, from calling to the end, over all chunks)."""
    clock = Clock()
    asyncio.run(fn(base_url, clock)) if is_async else fn(base_url, clock)
    assert clock.n >= CHUNKS - 1, f"{fn.__name__}: {clock.n} chunks"
    return (clock.end - clock.first) / (clock.n - 1) * 1e6, (clock.end - clock.start) / clock.n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict = {}
    with FixedServer() as server:
        base = server.base_url
        modes = {
            "raw": (raw_sync, raw_async, False),
            "stock": (litellm_sync, litellm_async, False),
            "patched": (litellm_sync, litellm_async, True),
        }
        samples = {(m, a): [] for m in modes for a in (False, True)}
        for fn_pair in modes.values():  # warm-up: imports, pools, caches
            edgequake_patch.install() if fn_pair[2] else edgequake_patch.uninstall()
            per_chunk_us(fn_pair[0], base, False)
            per_chunk_us(fn_pair[1], base, True)
        for _ in range(args.rounds):
            for mode, (sync_fn, async_fn, patched) in modes.items():
                if patched:
                    edgequake_patch.install()
                    before = stats.native_calls["openai"]
                else:
                    edgequake_patch.uninstall()
                samples[(mode, False)].append(per_chunk_us(sync_fn, base, False))
                samples[(mode, True)].append(per_chunk_us(async_fn, base, True))
                if patched:
                    assert stats.native_calls["openai"] == before + 2, "a patched stream did not go through the core"
        edgequake_patch.uninstall()
    for (mode, is_async), values in samples.items():
        side = "async" if is_async else "sync"
        results.setdefault(mode, {})[side] = round(statistics.median(v[0] for v in values), 1)
        results[mode][side + "_whole_call"] = round(statistics.median(v[1] for v in values), 1)
    print(f"{CHUNKS}-chunk stream, litellm {version('litellm')}, median of {args.rounds} rounds, µs per chunk")
    print("  streaming: first chunk to the end of iteration (LiteLLM's end-of-stream work included)")
    print("  whole call: from calling completion() to the end, over all chunks")
    print(f"{'mode':<8} {'sync':>10} {'async':>10} {'sync whole':>12} {'async whole':>12}")
    for mode in modes:
        r = results[mode]
        print(f"{mode:<8} {r['sync']:>10.1f} {r['async']:>10.1f} {r['sync_whole_call']:>12.1f} {r['async_whole_call']:>12.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"litellm": version('litellm'), "chunks": CHUNKS, "us_per_chunk": results}, indent=2))


if __name__ == "__main__":
    main()
