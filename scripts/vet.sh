#!/usr/bin/env bash
# Vet one LiteLLM release and, if the suite passes on it, make it a tested release: its
# fingerprints (what every native path relies on, see edgequake_patch/reliance.py) are recorded
# in edgequake_patch/fingerprints.json, to be committed.
#   scripts/vet.sh 1.111.0 [pytest args]
#
# The record is written before the suite runs, so the suite runs with the release tested (every
# path on, as on any tested release); if the suite fails, the data file is put back as it was.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: scripts/vet.sh LITELLM_VERSION [pytest args]" >&2
  exit 2
fi
export LITELLM_VERSION="$1"
shift
source "$(dirname "$0")/env.sh"
ensure_env
DATA="$ROOT/edgequake_patch/fingerprints.json"
BACKUP="$(mktemp)"
cp "$DATA" "$BACKUP" 2>/dev/null || : > "$BACKUP"
restore() { if [ -s "$BACKUP" ]; then cp "$BACKUP" "$DATA"; else rm -f "$DATA"; fi; }
echo "== recording the fingerprints of litellm $LITELLM_VERSION"
if ! "$VENV/bin/python" scripts/fingerprints.py; then
  restore; rm -f "$BACKUP"; exit 1
fi
status=0
bash scripts/test.sh "$@" || status=$?
if [ $status -ne 0 ]; then
  echo "== the suite failed on litellm $LITELLM_VERSION: its fingerprints are not kept" >&2
  restore
else
  echo "== litellm $LITELLM_VERSION is a tested release now: commit edgequake_patch/fingerprints.json"
fi
rm -f "$BACKUP"
exit $status
