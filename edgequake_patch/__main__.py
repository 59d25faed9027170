"""`python -m edgequake_patch [--json]`: what the patch would do in this environment.

Reports the LiteLLM and openai versions, whether this LiteLLM is a tested release or decided
by fingerprints, each path on or off with the reason, and the compiled core that loaded; it
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
    parser.add_argument("--json", action="store_true", help="the same report as JSON, for machines")
    args = parser.parse_args(argv)
    # This command never needs LiteLLM's cost map; without it, a machine with no internet
    # would stall here for seconds while LiteLLM tries to fetch the remote one.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from . import status_report

    data = status_report.collect(try_install=True)
    if args.json:
        json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
        sys.stdout.write("\n")
    else:
        print(status_report.render(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
