"""Stock vs patched vs LiteLLM's instant-dispatch floor, in one run, as ratios.

    python bench/bench_dispatch.py [--calls 2000] [--rounds 5] [--async-calls 3000]

* stock:   litellm.completion against a fixed-response nginx.
* patched: the same, with edgequake_patch installed (and checked to be native, through the
           lean handler).
* regular: (with --with-regular) patched, lean handler switched off: stock's handler code
           around the native client, as before the lean handler existed.
* floor:   LiteLLM with the provider dispatch answering instantly: `_complete_custom_openai`
           returns the canned completion converted the way every dispatch must
           (`convert_to_model_response_object` into the call's ModelResponse), no HTTP.
* floor+http: the floor plus one HTTP exchange with the same nginx through the Rust core
           (`native.send` / `send_async`, the answer discarded): the least a dispatch that
           really sends the request can cost on this machine, with no LiteLLM code around it
           (no body building, logging or response headers). The patched mode can only
           approach the floor as far as this row does.

Sync: p50/p99 per call over interleaved rounds (each round runs every mode, so drift on a
shared machine hits all of them alike). Async: acompletion throughput with 100 calls in flight,
timed until LiteLLM's logging worker has also finished the success logging they queued.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import litellm  # noqa: E402
import litellm.main as litellm_main  # noqa: E402
from litellm.litellm_core_utils.llm_response_utils.convert_dict_to_response import (  # noqa: E402
    convert_to_model_response_object,
)
from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER as LOGGING_WORKER  # noqa: E402

import edgequake_patch  # noqa: E402
from bench.fixed_server import CHAT_COMPLETION, FixedServer  # noqa: E402
from edgequake_patch.transport import native
from edgequake_patch.decide import routing
from edgequake_patch.state import stats  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say hello."}]


class Modes:
    def __init__(self, base_url: str):
        self.kwargs = {"model": "openai/gpt-4o-mini", "messages": MESSAGES, "api_base": base_url + "/v1", "api_key": "sk-bench"}
        self.url = base_url + "/v1/chat/completions"
        self._stock_dispatch = litellm_main._complete_custom_openai

    def _instant(self, ctx):
        response = convert_to_model_response_object(
            response_object=json.loads(CANNED), model_response_object=ctx.model_response
        )
        if ctx.acompletion:

            async def done():
                return response

            return done()
        return response

    def _instant_after_exchange(self, ctx):
        """The floor, after a real exchange with the fixed server (the answer is not used)."""
        body = {"model": ctx.model, "messages": ctx.messages}
        if ctx.acompletion:

            async def exchanged():
                await native.send_async("POST", self.url, EXCHANGE_HEADERS, body, timeout=600.0,
                                        connect_timeout=5.0, max_retries=0, retry="openai_sdk", net=None)
                return convert_to_model_response_object(
                    response_object=json.loads(CANNED), model_response_object=ctx.model_response
                )

            return exchanged()
        native.send("POST", self.url, EXCHANGE_HEADERS, body, timeout=600.0, connect_timeout=5.0,
                    max_retries=0, retry="openai_sdk", net=None)
        return convert_to_model_response_object(response_object=json.loads(CANNED), model_response_object=ctx.model_response)

    def set(self, mode: str) -> None:
        edgequake_patch.uninstall()
        litellm_main._complete_custom_openai = self._stock_dispatch
        if mode in ("patched", "regular"):
            assert edgequake_patch.install()  # routing's path decisions set afresh
            if mode == "regular":
                routing._paths_off["lean"] = "bench_regular_path"  # as on a release that changed it
        elif mode == "floor":
            litellm_main._complete_custom_openai = self._instant
        elif mode == "floor+http":
            litellm_main._complete_custom_openai = self._instant_after_exchange

    def sync_samples(self, calls: int) -> list:
        kwargs, out = self.kwargs, []
        for _ in range(calls):
            start = time.perf_counter()
            litellm.completion(**kwargs)
            out.append(time.perf_counter() - start)
        return out

    def async_throughput(self, calls: int, in_flight: int = 100) -> float:
        kwargs = self.kwargs

        async def run():
            sem = asyncio.Semaphore(in_flight)

            async def one():
                async with sem:
                    await litellm.acompletion(**kwargs)

            await asyncio.gather(*(one() for _ in range(in_flight)))  # warm-up
            await asyncio.wait_for(LOGGING_WORKER.flush(), 60)
            start = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(calls)))
            # The success logging these calls queued is part of their cost, and must not be
            # left for the next mode's loop to inherit (LiteLLM carries it over).
            await asyncio.wait_for(LOGGING_WORKER.flush(), 60)
            return calls / (time.perf_counter() - start)

        return asyncio.run(run())


CANNED = json.dumps(CHAT_COMPLETION)
# What the OpenAI SDK sends on a plain call, minus its platform headers: enough for a like exchange.
EXCHANGE_HEADERS = [("Authorization", "Bearer sk-bench"), ("Content-Type", "application/json"),
                    ("Accept", "application/json"), ("User-Agent", "OpenAI/Python 1.99.0")]
MODES = ("stock", "patched", "floor", "floor+http")


def in_turn(modes: tuple, round_: int) -> tuple:
    """The modes in order, reversed every other round: what a mode leaves behind (LiteLLM's
    logging backlog, carried from one event loop to the next) then weighs on each alike."""
    return modes if round_ % 2 == 0 else modes[::-1]


def percentile(samples: list, q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="sync calls per mode per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--async-calls", type=int, default=3000)
    parser.add_argument("--async-rounds", type=int, default=4)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--with-regular", action="store_true", help="also measure the native path without the lean handler")
    args = parser.parse_args()
    modes_run = MODES + (("regular",) if args.with_regular else ())

    with FixedServer() as server:
        modes = Modes(server.base_url)
        sync = {m: [] for m in modes_run}
        for mode in modes_run:  # warm every path (imports, pools, caches)
            modes.set(mode)
            modes.sync_samples(200)
        for round_ in range(args.rounds):
            for mode in in_turn(modes_run, round_):
                modes.set(mode)
                before, lean_before = stats.native_calls["openai"], stats.lean_calls["openai"]
                sync[mode] += modes.sync_samples(args.calls)
                if mode in ("patched", "regular"):
                    assert stats.native_calls["openai"] - before == args.calls, "patched calls fell back to stock"
                    lean = stats.lean_calls["openai"] - lean_before
                    assert lean == (args.calls if mode == "patched" else 0), f"{mode}: {lean} lean calls"
        throughput = {m: [] for m in modes_run}
        for round_ in range(args.async_rounds):
            for mode in in_turn(modes_run, round_):
                modes.set(mode)
                throughput[mode].append(modes.async_throughput(args.async_calls))
        modes.set("stock")

    floor_p50 = statistics.median(sync["floor"])
    floor_rps = statistics.median(throughput["floor"])
    rows = {}
    print(f"litellm {litellm_version()}  edgequake-patch {edgequake_patch.__version__}  "
          f"({args.rounds}x{args.calls} sync calls/mode, {args.async_rounds}x{args.async_calls} async calls/mode, 100 in flight)")
    print(f"{'mode':<10} {'sync p50 µs':>12} {'p99 µs':>10} {'p50/floor':>10} {'async req/s':>12} {'req/s / floor':>14}")
    for mode in modes_run:
        p50 = statistics.median(sync[mode]) * 1e6
        p99 = percentile(sync[mode], 0.99) * 1e6
        rps = statistics.median(throughput[mode])
        rows[mode] = {"sync_p50_us": round(p50, 1), "sync_p99_us": round(p99, 1), "p50_vs_floor": round(p50 / (floor_p50 * 1e6), 3),
                      "async_rps": round(rps, 1), "rps_vs_floor": round(rps / floor_rps, 3)}
        print(f"{mode:<10} {p50:>12.0f} {p99:>10.0f} {p50 / (floor_p50 * 1e6):>10.2f} {rps:>12.0f} {rps / floor_rps:>14.2f}")
    print("targets: patched p50/floor <= 1.15, patched req/s / floor >= 0.90")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def litellm_version() -> str:
    from importlib.metadata import version

    return version("litellm")


if __name__ == "__main__":
    main()
