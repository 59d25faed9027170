#!/usr/bin/env bash
# The main job: real LiteLLM calls through the patch against the bundled provider stand-in.
source "$(dirname "$0")/env.sh"
ensure_env
exec python -m examples.demo "$@"
