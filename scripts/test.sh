#!/usr/bin/env bash
# All tests: the Rust core's cargo tests, then the Python suite against LiteLLM $LITELLM_VERSION.
#   scripts/test.sh [pytest args]            newest supported LiteLLM
#   LITELLM_VERSION=1.95.0 scripts/test.sh   another one
source "$(dirname "$0")/env.sh"
ensure_env
if [ -z "${SKIP_CARGO:-}" ]; then
  echo "== cargo test (a first run compiles the core and its dependencies for the tests first: a few minutes)"
  PYO3_PYTHON="$VENV/bin/python" cargo test --quiet --lib 2>&1 | tail -n 25
fi
echo "== pytest (litellm $LITELLM_VERSION)"
REPORT="$ROOT/target/pytest-litellm-$LITELLM_VERSION.xml"
mkdir -p "$ROOT/target"
status=0
python -m pytest -q -p no:cacheprovider --junitxml="$REPORT" "$@" || status=$?
python scripts/summary.py "$REPORT"
exit $status
