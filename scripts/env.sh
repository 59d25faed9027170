# Sourced by the other scripts: a virtualenv per LiteLLM version with the project installed.
#   LITELLM_VERSION  which LiteLLM to test against (default: the newest tested)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# The oldest supported release, and the newest one the shipped evidence vets on every path (from
# edgequake_patch/decide/evidence.json), as versions.py derives them; it imports nothing else.
read_release() { python3 -c "import runpy, sys; print(runpy.run_path('edgequake_patch/decide/versions.py')[sys.argv[1]])" "$1"; }
NEWEST=$(read_release NEWEST_SUPPORTED)
OLDEST=$(read_release OLDEST_SUPPORTED)
LITELLM_VERSION="${LITELLM_VERSION:-$NEWEST}"
# OPENAI_VERSION pins the OpenAI SDK (scripts/evidence.py vets pairs); by default pip resolves it.
OPENAI_VERSION="${OPENAI_VERSION:-}"
VENV="$ROOT/.venv-litellm-$LITELLM_VERSION${OPENAI_VERSION:+-openai-$OPENAI_VERSION}"
export LITELLM_LOCAL_MODEL_COST_MAP=True HF_HUB_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# A set-up step, announced before it starts, with the time since the set-up began. Set-up
# output (these lines, pip's and cargo's progress) goes to stderr, so that what a script itself
# prints on stdout (the demo's results, the test summary) can be piped or kept on its own.
SETUP_STARTED=$SECONDS
step() { printf '== [%ds] %s\n' "$((SECONDS - SETUP_STARTED))" "$*" >&2; }

ensure_env() {
  if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV (litellm $LITELLM_VERSION)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    # Not quiet: pip's own lines (each package collected, then installed) are the progress of
    # the longest download of a first run.
    step "installing LiteLLM $LITELLM_VERSION, maturin and the test tools from PyPI (under a minute on a good connection)"
    # mcp: LiteLLM imports it for tool calls; uvloop: event-loop compatibility tests.
    "$VENV/bin/pip" install --progress-bar on "litellm==$LITELLM_VERSION" ${OPENAI_VERSION:+"openai==$OPENAI_VERSION"} maturin "pytest>=8" "pytest-asyncio>=0.23" "vcrpy>=6" aiohttp wrapt mcp uvloop >&2
  fi
  # Added after the first environments were made: property tests (hypothesis) and the test
  # certificate authority of the network-settings tests (cryptography), event-loop tests (uvloop).
  if ! "$VENV/bin/python" -c "import hypothesis, cryptography, uvloop" 2>/dev/null; then
    step "installing hypothesis, cryptography and uvloop from PyPI"
    "$VENV/bin/pip" install --progress-bar on hypothesis cryptography uvloop >&2
  fi
  # The LiteLLM Proxy and its servers (uvicorn, gunicorn), for the proxy tests and bench/bench_proxy.py.
  # (Not for a vetting run, EQP_SKIP_PROXY: its suite does not start the proxy.)
  if [ -z "${EQP_SKIP_PROXY:-}" ] && ! "$VENV/bin/python" -c "import litellm.proxy.proxy_server, gunicorn, psutil" >/dev/null 2>&1; then
    step "installing litellm[proxy]==$LITELLM_VERSION (the LiteLLM Proxy) from PyPI"
    install_proxy_extras
  fi
  # Build the wheel (Rust core + Python package + .pth) and install it like a user would.
  local stamp="$VENV/.built-from" fingerprint
  fingerprint=$(cat Cargo.toml pyproject.toml edgequake_patch_autoload.pth $(git ls-files -co --exclude-standard rust edgequake_patch 2>/dev/null || find rust edgequake_patch -type f) 2>/dev/null | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$fingerprint" ]; then
    # One wheel per source fingerprint and interpreter: a second virtualenv (CI's other
    # LiteLLM release) installs the wheel already built instead of building it again.
    local wheels="$ROOT/target/wheels/$fingerprint-$("$VENV/bin/python" -c 'import sys;print("cp%d%d" % sys.version_info[:2])')"
    if ! ls "$wheels"/edgequake_patch-*.whl >/dev/null 2>&1; then
      step "building the Rust core in release mode (a first run: about 4 minutes on 2 cores)"
      # Wheels of other sources are stale (cargo's own cache keeps the rebuild incremental).
      rm -rf "$ROOT"/target/wheels/*
      # Not quiet: cargo's lines (each crate downloaded, then compiled) are the progress of
      # the longest step of a first run; without them it looks hung.
      "$VENV/bin/maturin" build --release -i "$VENV/bin/python" -o "$wheels" >&2
    fi
    step "installing edgequake-patch into $VENV"
    "$VENV/bin/pip" install -q --force-reinstall --no-deps "$wheels"/edgequake_patch-*.whl
    # Tests and the demo run from the checkout, whose edgequake_patch/ shadows the installed
    # one on sys.path: give it the very same compiled core (gitignored).
    "$VENV/bin/python" - "$wheels" <<'PY'
import sys, zipfile, glob, os
wheel = glob.glob(os.path.join(sys.argv[1], "edgequake_patch-*.whl"))[0]
root = os.getcwd()
with zipfile.ZipFile(wheel) as zf:
    for name in zf.namelist():
        if name.startswith("edgequake_patch/_native") and name.endswith(".so"):
            # A new file moved into place: a process still running the old core keeps its
            # mapping of the old file (rewriting the file in place would crash it).
            target = os.path.join(root, name)
            with open(target + ".new", "wb") as out:
                out.write(zf.read(name))
            os.replace(target + ".new", target)
PY
    echo "$fingerprint" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

# The proxy's dependencies for this virtualenv's LiteLLM: scripts/install_proxy_extras.sh (the
# README's proxy section runs it too).
install_proxy_extras() {
  bash "$ROOT/scripts/install_proxy_extras.sh" "$VENV/bin/python"
}
