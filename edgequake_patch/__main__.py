"""`python -m edgequake_patch [--json]`: what the patch would do in this environment.
`python -m edgequake_patch vet [--json]`: gather this machine's evidence for the installed
versions (every path's scenarios, stock and patched, against a loopback stand-in) and keep it.

Reports the LiteLLM and openai versions, each path on or off with what decided it (the shipped
record, probes on this machine, a local vet) or why not, and the compiled core that loaded; it
tries install() (and undoes it) to show whether it works here. Counters are per process: an
app's own are shown by `print(edgequake_patch.report())` inside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgequake_patch", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=("status", "vet"), default="status",
                        help="status (the default): the report; vet: gather and keep this machine's evidence")
    parser.add_argument("--json", action="store_true", help="the same report as JSON, for machines")
    args = parser.parse_args(argv)
    # This command never needs LiteLLM's cost map; without it, a machine with no internet
    # would stall here for seconds while LiteLLM tries to fetch the remote one.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    if args.command == "vet":
        return _vet(args.json)
    from .reporting import status_report

    data = status_report.collect(try_install=True)
    if args.json:
        json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
        sys.stdout.write("\n")
    else:
        print(status_report.render(data))
    return 0


def _vet(as_json: bool) -> int:
    """Every path's scenarios on the installed versions, kept as this machine's evidence (a
    local vet): paths the shipped record lacks are decided by it from then on."""
    import time

    from .activation import pair_decision
    from .decide import versions

    if versions.unsupported_reason(versions.installed_litellm()):
        print(f"nothing to vet: {versions.unsupported_reason(versions.installed_litellm())}", file=sys.stderr)
        return 1
    started = time.monotonic()
    outcomes = pair_decision.vet()
    if as_json:
        json.dump(outcomes, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        for path, outcome in outcomes.items():
            print(f"  {'pass' if outcome['on'] else 'FAIL'}  {path:22} {outcome['detail']}")
        print(f"vetted litellm {versions.installed_litellm()} with openai {versions.installed('openai')} in "
              f"{time.monotonic() - started:.0f} s: kept for this machine (python -m edgequake_patch shows the result)")
    return 0 if all(o["on"] for o in outcomes.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
