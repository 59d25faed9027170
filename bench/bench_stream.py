"""Streaming cost per chunk: stock vs patched vs raw line iteration, in one run.

    python bench/bench_stream.py [--rounds 7] [--json out.json]

Against nginx serving one 500-chunk OpenAI chat completion stream (502 chunks with the role and
finish chunks) from a static file, so the server is never the bottleneck:

* raw:     httpx streaming the same response and iterating its SSE lines (the floor any
           Python consumer pays);
* stock:   `litellm.completion(..., stream=True)` iterated to the end;
* patched: the same with edgequake_patch installed (checked to be native).

Each figure is the best-of-rounds median of (whole call, first byte to last chunk) / chunks,
sync and async; rounds interleave the modes so machine drift hits all alike.
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


def raw_sync(base_url: str) -> int:
    n = 0
    with httpx.Client() as client:
        with client.stream("POST", base_url + "/stream/v1/chat/completions", json={"stream": True}) as r:
            for line in r.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    json.loads(line[6:])
                    n += 1
    return n


async def raw_async(base_url: str) -> int:
    n = 0
    async with httpx.AsyncClient() as client:
        async with client.stream("POST", base_url + "/stream/v1/chat/completions", json={"stream": True}) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    json.loads(line[6:])
                    n += 1
    return n


def litellm_sync(base_url: str) -> int:
    return sum(1 for _ in litellm.completion(**_kwargs(base_url)))


async def litellm_async(base_url: str) -> int:
    n = 0
    async for _ in await litellm.acompletion(**_kwargs(base_url)):
        n += 1
    return n


def per_chunk_us(fn, base_url: str, is_async: bool) -> float:
    started = time.perf_counter()
    n = asyncio.run(fn(base_url)) if is_async else fn(base_url)
    elapsed = time.perf_counter() - started
    assert n >= CHUNKS - 1, f"{fn.__name__}: {n} chunks"
    return elapsed / n * 1e6


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
        results.setdefault(mode, {})["async" if is_async else "sync"] = round(statistics.median(values), 1)
    print(f"{CHUNKS}-chunk stream, litellm {version('litellm')}, median of {args.rounds} rounds, µs per chunk")
    print(f"{'mode':<8} {'sync':>10} {'async':>10}")
    for mode in modes:
        print(f"{mode:<8} {results[mode]['sync']:>10.1f} {results[mode]['async']:>10.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"litellm": version('litellm'), "chunks": CHUNKS, "us_per_chunk": results}, indent=2))


if __name__ == "__main__":
    main()
