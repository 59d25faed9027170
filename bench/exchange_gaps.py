"""The core's sync exchange with the fixed-response nginx, alone, with different work between
sends: does the in-call exchange cost more because the server idles between calls, or because
the caller's own work between calls leaves the caches cold?

    python bench/exchange_gaps.py [--sends 3000]

Prints the p50/p90 of `native.send` (µs) after each kind of gap: none, an 800 µs busy spin
(the server idles as long as between two LiteLLM calls, the caller's caches stay warm), 800 µs
of allocation churn (like LiteLLM's code between calls), an 800 µs sleep.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fixed_server import FixedServer  # noqa: E402
from edgequake_patch.transport import native  # noqa: E402

HEADERS = [("Authorization", "Bearer sk-bench"), ("Content-Type", "application/json")]
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}]}


def spin(us: float) -> None:
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass


def churn(us: float) -> None:
    end, kept = time.perf_counter() + us / 1e6, []
    while time.perf_counter() < end:
        kept.append({"role": "assistant", "content": "x" * 50, "n": [1, 2, 3]})
        if len(kept) > 5000:
            kept.clear()


GAPS = {
    "none": None,
    "spin 800 µs": lambda: spin(800),
    "churn 800 µs": lambda: churn(800),
    "sleep 800 µs": lambda: time.sleep(0.0008),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sends", type=int, default=3000)
    args = parser.parse_args()
    with FixedServer() as server:
        url = server.base_url + "/v1/chat/completions"
        print(f"{'gap between sends':<18} {'p50 µs':>8} {'p90 µs':>8}")
        for name, gap in GAPS.items():
            samples = []
            for _ in range(args.sends):
                if gap is not None:
                    gap()
                start = time.perf_counter()
                native.send("POST", url, HEADERS, BODY, timeout=600.0, connect_timeout=5.0,
                            max_retries=0, retry="openai_sdk", net=None)
                samples.append(time.perf_counter() - start)
            samples.sort()
            print(f"{name:<18} {statistics.median(samples) * 1e6:>8.1f} {samples[int(0.9 * len(samples))] * 1e6:>8.1f}")


if __name__ == "__main__":
    main()
