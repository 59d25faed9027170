#!/usr/bin/env bash
# All tests: the Rust core's cargo tests, then the Python suite against LiteLLM $LITELLM_VERSION.
#   scripts/test.sh [pytest args]            newest supported LiteLLM
#   LITELLM_VERSION=1.95.0 scripts/test.sh   another one
source "$(dirname "$0")/env.sh"
ensure_env
# The concurrency tests and the benchmark smoke test answer from nginx (bench/fixed_server.py).
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing nginx (Debian's nginx-light) for the fixed-response server"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
  else
    echo "!! nginx is not installed: the tests that use the fixed-response server will fail (apt-get install nginx-light)"
  fi
fi
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
