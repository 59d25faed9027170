#!/usr/bin/env bash
# The LiteLLM Proxy's dependencies for the LiteLLM already installed with PYTHON (default: the
# `python` on PATH), never changing that LiteLLM:
#   bash scripts/install_proxy_extras.sh [PYTHON]
#
# `pip install "litellm[proxy]==X"`, as LiteLLM's docs say, with X the installed release. Two
# release-specific snags, each checked rather than assumed:
#  * some releases (1.110.2) name in the extra packages the registry does not carry
#    (litellm-proxy, litellm-proxy-extras, litellm-enterprise: the proxy itself ships inside
#    litellm, the others only serve its database and enterprise features). Then the rest of the
#    extra is installed, pinned as the release pins it, each unavailable name left out (and said);
#  * releases whose proxy imports fastapi's `get_flat_dependant` (1.95.0) allow a fastapi
#    that no longer has it (removed in 0.140.7): fastapi is then held below that.
set -euo pipefail
PY="${1:-python}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
say() { printf '== %s\n' "$*" >&2; }
version=$("$PY" -c "from importlib.metadata import version; print(version('litellm'))")
pip=("$PY" -m pip)
skip=""
if ! "${pip[@]}" install --progress-bar on "litellm[proxy]==$version" psutil >&2; then
  for _ in 1 2 3 4 5 6; do
    if out=$("${pip[@]}" install -q psutil $("$PY" "$HERE/proxy_requirements.py" litellm-proxy $skip) 2>&1); then
      break
    fi
    missing=$(printf '%s\n' "$out" | sed -n 's/.*No matching distribution found for \([A-Za-z0-9_.-]*\).*/\1/p' | head -n 1)
    if [ -z "$missing" ]; then printf '%s\n' "$out" >&2; exit 1; fi
    say "litellm[proxy]: $missing is not on the registry, installing the rest of the extra without it"
    skip="$skip $missing"
  done
fi
if grep -rqs "get_flat_dependant" "$("$PY" -c 'import litellm, os; print(os.path.dirname(litellm.__file__))')/proxy"; then
  "${pip[@]}" install -q "fastapi<0.140.7" >&2
fi
"$PY" -c "import litellm.proxy.proxy_server" >/dev/null
say "the LiteLLM Proxy's dependencies are installed for litellm $version"
