#!/usr/bin/env python3
"""Record the fingerprints of the LiteLLM (and OpenAI SDK) installed for this interpreter into
edgequake_patch/fingerprints.json, replacing any record of the same versions.

    .venv-litellm-1.110.2/bin/python scripts/fingerprints.py          # record
    .venv-litellm-1.110.2/bin/python scripts/fingerprints.py --check  # what would be decided

Only for releases the suite has passed on (scripts/vet.sh runs the suite, then this). Needs no
native core: the fingerprints are hashes of stock's source.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this checkout's package, not an installed one
# Importing LiteLLM must not fetch anything.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from edgequake_patch import reliance  # noqa: E402

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--check" in args:
        args.remove("--check")
        sys.exit(reliance.main(args))
    sys.exit(reliance.main(["--record", *args]))
