"""Streaming cost per chunk, per provider: stock vs patched vs raw line iteration, in one run.

    python bench/bench_stream.py [--providers openai,anthropic] [--rounds 7] [--chunks 500] [--json out.json]

Against nginx serving, for each provider, one text stream of 500 words in that provider's own
wire format from a static file (bench/stream_formats.py: OpenAI-style SSE for openai, azure,
lm_studio, xai, mistral and openrouter, Anthropic's Messages events, Gemini's
streamGenerateContent SSE with usageMetadata on every chunk, Ollama's NDJSON on /api/generate
and /api/chat), so the server is never the bottleneck:

* raw:     httpx streaming the same response and parsing each of its JSON frames (the floor
           any Python consumer pays);
* stock:   `litellm.completion(..., stream=True)` iterated to the end;
* patched: the same with edgequake_patch installed (every patched stream is checked to have
           gone through the core, `edgequake_patch.state.stats.native_calls`).

Three figures per mode, sync and async, medians over rounds that interleave the modes (and the
providers) so machine drift hits all alike; each stream starts once LiteLLM's logging pool has
run the jobs earlier streams queued (`settle()`: a stock sync stream leaves hundreds, which
would otherwise run during whichever stream comes next):
* steady: from the first chunk to the last, over the chunks after the first: what each further
  chunk costs while the answer streams;
* streaming: from the first chunk to the end of iteration, over the chunks after the first:
  the same with LiteLLM's end-of-stream work (usage, the complete response for its
  callbacks: a few ms per stream, stock's own code in both modes) spread over the chunks;
* whole call: from calling completion() to the end, over all chunks: adds the request, the
  wait for the first byte and LiteLLM's call set-up, spread over the stream's chunks.
The fast path's share is reported too: chunks it built (`stats.fast_stream_chunks`) per
patched stream.
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
from bench import stream_formats  # noqa: E402
from bench.fixed_server import FixedServer  # noqa: E402
from edgequake_patch.state import stats  # noqa: E402

MODES = ("raw", "stock", "patched")


class Clock:
    """Counts chunks and notes when the call started, the first chunk arrived and iteration
    ended (inside the event loop for async modes: asyncio.run's teardown is not the stream's)."""

    def __init__(self):
        self.n = 0
        self.start = self.first = self.last = self.end = 0.0

    def begin(self) -> None:
        self.start = time.perf_counter()

    def done(self) -> None:
        self.end = time.perf_counter()

    def tick(self) -> None:
        self.last = time.perf_counter()
        if self.n == 0:
            self.first = self.last
        self.n += 1


def _frames(line: str):
    """The JSON payload of one line of any of the formats (SSE `data:` lines, NDJSON lines)."""
    if line.startswith("data: "):
        line = line[6:]
        if line == "[DONE]":
            return None
    elif not line.startswith("{"):
        return None  # SSE event names, comments, blank lines
    return json.loads(line)


def raw_sync(provider, base_url: str, clock: Clock) -> None:
    clock.begin()
    with httpx.Client() as client:
        with client.stream("POST", base_url + provider.stream_path, json={"stream": True}) as r:
            for line in r.iter_lines():
                if _frames(line) is not None:
                    clock.tick()
    clock.done()


async def raw_async(provider, base_url: str, clock: Clock) -> None:
    clock.begin()
    async with httpx.AsyncClient() as client:
        async with client.stream("POST", base_url + provider.stream_path, json={"stream": True}) as r:
            async for line in r.aiter_lines():
                if _frames(line) is not None:
                    clock.tick()
    clock.done()


def litellm_sync(provider, base_url: str, clock: Clock) -> None:
    clock.begin()
    for _ in litellm.completion(**provider.kwargs(base_url)):
        clock.tick()
    clock.done()


async def litellm_async(provider, base_url: str, clock: Clock) -> None:
    clock.begin()
    async for _ in await litellm.acompletion(**provider.kwargs(base_url)):
        clock.tick()
    clock.done()


FUNCTIONS = {"raw": (raw_sync, raw_async), "stock": (litellm_sync, litellm_async), "patched": (litellm_sync, litellm_async)}


def per_chunk_us(fn, provider, base_url: str, is_async: bool, least: int) -> tuple:
    """(µs per chunk once the stream has started: first chunk to the end of iteration, which
    includes LiteLLM's end-of-stream work, over the chunks after the first; µs per chunk for
    the whole call, from calling to the end, over all chunks; chunks; µs per steady chunk:
    first chunk to the last, over the chunks after the first)."""
    clock = Clock()
    asyncio.run(fn(provider, base_url, clock)) if is_async else fn(provider, base_url, clock)
    assert clock.n >= least, f"{provider.name} {fn.__name__}: {clock.n} chunks, expected at least {least}"
    return ((clock.end - clock.first) / (clock.n - 1) * 1e6, (clock.end - clock.start) / clock.n * 1e6, clock.n,
            (clock.last - clock.first) / (clock.n - 1) * 1e6)


def settle() -> None:
    """Wait until LiteLLM's logging pool has run every job already queued: a stock sync stream
    queues one job per chunk (on LiteLLM 1.110 each runs an event loop), and those still
    running would take the GIL from whichever stream is measured next, whatever its mode."""
    from litellm.litellm_core_utils.thread_pool_executor import executor

    queue = getattr(executor, "_work_queue", None)
    deadline = time.monotonic() + 10
    while queue is not None and queue.qsize() and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.02)  # the jobs already taken from the queue (each well under a millisecond)


def measure(provider, base_url: str, mode: str, least: int) -> dict:
    """One sync and one async stream of this provider in this mode, each after LiteLLM's
    background logging jobs from earlier streams have run."""
    if mode == "patched":
        edgequake_patch.install()
        native_before = stats.native_calls[provider.name]
        fast_before = stats.fast_stream_chunks.get(provider.name, 0)
    else:
        edgequake_patch.uninstall()
    sync_fn, async_fn = FUNCTIONS[mode]
    settle()
    synchronous = per_chunk_us(sync_fn, provider, base_url, False, least)
    settle()
    out = {"sync": synchronous, "async": per_chunk_us(async_fn, provider, base_url, True, least)}
    if mode == "patched":
        went_native = stats.native_calls[provider.name] - native_before
        assert went_native == 2, f"{provider.name}: {went_native} of 2 patched streams went through the core"
        out["fast_chunks"] = (stats.fast_stream_chunks.get(provider.name, 0) - fast_before) / 2
        out["chunks"] = (out["sync"][2] + out["async"][2]) / 2
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--providers", default=",".join(stream_formats.ORDER),
                        help="comma-separated, from: " + ",".join(stream_formats.ORDER))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--chunks", type=int, default=500, help="words per stream (one chunk each)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    names = [p.strip() for p in args.providers.split(",") if p.strip()]
    unknown = sorted(set(names) - set(stream_formats.ORDER))
    if unknown:
        parser.error(f"unknown providers: {', '.join(unknown)}")
    providers = stream_formats.build(args.chunks)
    chosen = [providers[n] for n in names]
    files = {f.path: f for p in chosen for f in p.files}
    least = args.chunks  # every format gives at least one chunk per word
    samples = {(p.name, m): [] for p in chosen for m in MODES}
    fast = {p.name: [] for p in chosen}
    with FixedServer(files=list(files.values())) as server:
        base = server.base_url
        for p in chosen:  # warm-up: imports, pools, caches
            for mode in MODES:
                measure(p, base, mode, least)
        for _ in range(args.rounds):
            for p in chosen:
                for mode in MODES:
                    result = measure(p, base, mode, least)
                    samples[(p.name, mode)].append(result)
                    if mode == "patched":
                        fast[p.name].append((result["fast_chunks"], result["chunks"]))
        edgequake_patch.uninstall()

    results: dict = {}
    for (name, mode), runs in samples.items():
        row = results.setdefault(name, {}).setdefault(mode, {})
        for side in ("sync", "async"):
            row[side + "_steady"] = round(statistics.median(r[side][3] for r in runs), 1)
            row[side] = round(statistics.median(r[side][0] for r in runs), 1)
            row[side + "_whole_call"] = round(statistics.median(r[side][1] for r in runs), 1)
        row["chunks"] = int(statistics.median(r["sync"][2] for r in runs))
    for name, runs in fast.items():
        results[name]["patched"]["fast_chunks"] = statistics.median(f for f, _ in runs)

    print(f"{args.chunks}-word streams, litellm {version('litellm')}, median of {args.rounds} rounds, µs per chunk")
    print("  steady: first chunk to the last")
    print("  streaming: first chunk to the end of iteration (LiteLLM's end-of-stream work included)")
    print("  whole call: from calling completion() to the end, over all chunks")
    print("  fast: chunks the fast path built, of the stream's chunks (patched)")
    header = (f"{'provider':<12} {'mode':<8} {'steady sync':>12} {'async':>7} {'streaming sync':>15} {'async':>7} "
              f"{'whole sync':>11} {'async':>7} {'chunks':>7} {'fast':>6}")
    print(header)
    for p in chosen:
        for mode in MODES:
            r = results[p.name][mode]
            fast_col = f"{r['fast_chunks']:>6.0f}" if mode == "patched" else f"{'':>6}"
            print(f"{p.name:<12} {mode:<8} {r['sync_steady']:>12.1f} {r['async_steady']:>7.1f} {r['sync']:>15.1f} "
                  f"{r['async']:>7.1f} {r['sync_whole_call']:>11.1f} {r['async_whole_call']:>7.1f} {r['chunks']:>7} {fast_col}")
    report = {"litellm": version("litellm"), "words": args.chunks, "rounds": args.rounds, "us_per_chunk": results}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
