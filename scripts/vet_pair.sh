#!/usr/bin/env bash
# One vetting run (scripts/evidence.py): the given tests against LITELLM_VERSION with
# OPENAI_VERSION, in a virtualenv of that pair (scripts/env.sh), with a JUnit report.
#   LITELLM_VERSION=1.108.7 OPENAI_VERSION=3.63.0 scripts/vet_pair.sh REPORT.xml tests/...
set -euo pipefail
REPORT="$1"
shift
source "$(dirname "$0")/env.sh"
ensure_env
found=$("$VENV/bin/python" -c "from importlib.metadata import version as v; print(v('litellm'), v('openai'))")
if [ "$found" != "$LITELLM_VERSION ${OPENAI_VERSION:-$(echo "$found" | cut -d' ' -f2)}" ]; then
  echo "!! the virtualenv has litellm/openai $found, not $LITELLM_VERSION ${OPENAI_VERSION}" >&2
  exit 1
fi
mkdir -p "$(dirname "$REPORT")"
# The pair counts as vetted while its suite runs (conftest.py): every path is on, so the suite shows whether each is faithful and native there.
export EQP_VETTING=1
python -m pytest -q -p no:cacheprovider --junitxml="$REPORT" "$@"
