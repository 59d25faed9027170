"""The main job: an unmodified LiteLLM program whose calls go through edgequake-patch.

    scripts/demo.sh  [--calls 200] [--streams 6] [--json out.json]

1. Starts the bundled provider stand-in, turns the patch on with one call, and makes real chat,
   async chat, streamed, embedding and failing calls for every provider the core serves (all
   nine; Ollama under both its prefixes), each shown as native or stock.
2. Measures, live, stock against patched LiteLLM on this machine, against a local
   fixed-response server: the time per call, sync and async, and per streamed chunk (in a
   fresh interpreter, examples/speed.py, which nothing the calls above did can weigh on).

No API keys, no network beyond loopback, no nginx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no remote cost map fetched
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a file too

import litellm  # noqa: E402

import edgequake_patch  # noqa: E402
from edgequake_patch.reporting.terminal import Painted, Style  # noqa: E402
from examples import provider_tour, speed  # noqa: E402
from tests.standin import StandIn  # noqa: E402


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per mode and kind in the speed comparison")
    parser.add_argument("--streams", type=int, default=6, help="streams per mode and kind in the speed comparison")
    parser.add_argument("--stream-chunks", type=int, default=200, help="chunks of each measured stream")
    parser.add_argument("--json", type=Path, help="also write what was shown, as JSON")
    args = parser.parse_args(argv)
    style = Style()
    litellm.suppress_debug_info = True  # the demo shows the failures it provokes itself
    # Stock LiteLLM warns while logging a Responses answer (its usage object is a dict where its
    # model expects another type), patched or not: not the demo's subject.
    warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning)
    # One event loop for every async call: LiteLLM's logging worker is bound to the loop it
    # first ran on, and warns each time a new loop (an asyncio.run per call) takes it over.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        calls, endpoint_calls = show_calls(style, loop)
    finally:
        speed.close_loop(loop)
    figures = show_speed(style, args)
    print()
    print(style.paint("Status", "bold") + style.paint(
        "  python -m edgequake_patch reports what is native here and why; "
        "print(edgequake_patch.report()) the same inside an app, with its counters", "dim"))
    if args.json:
        args.json.write_text(json.dumps({"litellm": edgequake_patch.status()["litellm_version"],
                                         "calls": calls, "endpoint_calls": endpoint_calls, "speed": figures},
                                        indent=2))
    return 0


def show_calls(style: Style, loop: asyncio.AbstractEventLoop) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    assert edgequake_patch.install(), "the patch did not install (see the warning above)"
    outcomes = []
    with StandIn.start() as standin:
        print(style.paint("Real calls through the patch", "bold") + style.paint(
            f"  litellm {edgequake_patch.status()['litellm_version']}, provider stand-in at {standin.base_url}", "dim"))
        rows: List[List[Any]] = [[Painted(h, "dim") for h in ("provider", "call", "served by", "result")]]
        last = None
        for outcome in provider_tour.tour(standin, loop):
            outcomes.append(outcome.as_dict())
            rows.append([outcome.provider if outcome.provider != last else "", outcome.call,
                         _served_by(outcome), outcome.result])
            last = outcome.provider
        # Printed once complete, so the columns are aligned over every row.
        print("\n".join(style.table(rows)))
        print()
        print(style.paint("Other endpoints", "bold") + style.paint("  LiteLLM's endpoints beyond chat", "dim"))
        rows = [[Painted(h, "dim") for h in ("call", "provider", "served by", "result")]]
        endpoint_outcomes = []
        for outcome in provider_tour.endpoint_tour(standin, loop):
            endpoint_outcomes.append(outcome.as_dict())
            rows.append([outcome.call, outcome.provider, _served_by(outcome), outcome.result])
        print("\n".join(style.table(rows)))
    edgequake_patch.uninstall()
    made = [o for o in outcomes + endpoint_outcomes if o["native"] is not None]
    native = sum(o["native"] for o in made)
    providers = {o["provider"] for o in made}
    print(style.paint(f"  {native} of {len(made)} calls went through the Rust core, for "
                      f"{len(providers)} LiteLLM provider prefixes", "green" if native == len(made) else "yellow"))
    return outcomes, endpoint_outcomes


def _served_by(outcome: provider_tour.Outcome) -> Painted:
    if outcome.native is None:
        return Painted("—", "dim")
    if outcome.native:
        return Painted("native", "green")
    return Painted(f"stock ({outcome.fallback or 'not counted'})", "yellow")


def show_speed(style: Style, args: argparse.Namespace) -> Dict[str, Any]:
    print()
    print(style.paint("Speed on this machine", "bold") + style.paint(
        "  measuring stock and patched LiteLLM against a local fixed-response server...", "dim"), flush=True)
    figures = speed.in_fresh_process(calls=args.calls, streams=args.streams, stream_chunks=args.stream_chunks)
    rows: List[List[Any]] = [[Painted(h, "dim") for h in ("", "stock", "patched", "speed-up")]]
    for key, label in speed.ROWS:
        stock, patched, ratio = figures["us"]["stock"][key], figures["us"]["patched"][key], figures["speedup"][key]
        rows.append([label, _micros(stock), _micros(patched),
                     Painted(_times(ratio), "bold", "green" if ratio >= 1.1 else "yellow" if ratio >= 0.95 else "red")])
    print("\n".join(style.table(rows, right=(1, 2, 3))))
    print(style.paint(
        f"  medians over {figures['calls_per_mode']} calls of each kind and {figures['streams_per_mode']} streams of "
        f"{args.stream_chunks} chunks each way per mode, stock and patched alternating; "
        f"{figures['patched_calls_native']} of {figures['patched_calls']} patched calls native", "dim"))
    print(style.paint("  the full benchmarks: bench/ and docs/benchmarks.md", "dim"))
    return figures


def _micros(us: float) -> str:
    return f"{us:,.0f} µs" if us >= 100 else f"{us:.1f} µs"


def _times(ratio: float) -> str:
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.2f}×"


if __name__ == "__main__":
    raise SystemExit(main())
