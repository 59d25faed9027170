"""Where a patched stream's time goes, per provider: each `next()` timed on its own.

    python bench/stream_breakdown.py [--providers gemini,ollama_chat] [--streams 3] [--gc]

Against the same nginx files as bench_stream.py (500-word streams in each provider's format),
with edgequake_patch installed. For each stream: the median `next()` of the chunks the fast
path built, the chunks stock built first (the first one, then the two the fast path learns the
shape from), the last `next()` (stock's end-of-stream work) and the sum of the steady part.
Garbage collection is off unless `--gc` (its pauses land on whichever chunk triggers them).
Not a comparison with stock: bench_stream.py is.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import litellm  # noqa: E402

import edgequake_patch  # noqa: E402
from bench import stream_formats  # noqa: E402
from bench.fixed_server import FixedServer  # noqa: E402


def timed_stream(provider, base_url: str) -> list:
    """Seconds each `next()` took, the last being the one that ended the iteration."""
    times = []
    chunks = iter(litellm.completion(**provider.kwargs(base_url)))
    while True:
        started = time.perf_counter()
        try:
            next(chunks)
        except StopIteration:
            times.append(time.perf_counter() - started)
            return times
        times.append(time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--providers", default=",".join(stream_formats.ORDER))
    parser.add_argument("--streams", type=int, default=3)
    parser.add_argument("--gc", action="store_true", help="leave garbage collection on")
    args = parser.parse_args()
    providers = stream_formats.build(500)
    chosen = [providers[name.strip()] for name in args.providers.split(",") if name.strip()]
    files = {f.path: f for p in chosen for f in p.files}
    edgequake_patch.install()
    print(f"litellm {version('litellm')}, µs; garbage collection {'on' if args.gc else 'off'}")
    print(f"{'provider':<12} {'fast next() median':>19} {'first':>7} {'learning 1':>11} {'learning 2':>11} "
          f"{'end of stream':>14} {'steady sum (ms)':>16}")
    with FixedServer(files=list(files.values())) as server:
        for provider in chosen:
            timed_stream(provider, server.base_url)  # warm-up
            for _ in range(args.streams):
                if not args.gc:
                    gc.disable()
                try:
                    times = timed_stream(provider, server.base_url)
                finally:
                    gc.enable()
                steady = times[1:-1]
                print(f"{provider.name:<12} {statistics.median(steady[3:]) * 1e6:>19.1f} {times[0] * 1e6:>7.0f} "
                      f"{times[1] * 1e6:>11.0f} {times[2] * 1e6:>11.0f} {times[-1] * 1e6:>14.0f} "
                      f"{sum(steady) * 1e3:>16.2f}")
    edgequake_patch.uninstall()


if __name__ == "__main__":
    main()
