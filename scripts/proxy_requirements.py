"""Print, one a line, the requirements of the installed LiteLLM's `proxy` extra, less the
packages named on the command line.

Why: some LiteLLM releases (1.110.2) name in that extra a package the registry does not
carry (`litellm-proxy`, the proxy's code itself ships inside `litellm`), so
`pip install "litellm[proxy]==X"` cannot resolve there; env.sh then installs the rest of the
extra from this list, pinned exactly as the release pins it.
"""

import sys
from importlib.metadata import requires

from packaging.requirements import Requirement

skipped = {name.lower() for name in sys.argv[1:]}
for line in requires("litellm") or ():
    req = Requirement(line)
    if req.marker is None or req.name.lower() in skipped:
        continue
    # In the proxy extra, not in the base install, and meant for this interpreter/platform.
    if req.marker.evaluate({"extra": "proxy"}) and not req.marker.evaluate({"extra": ""}):
        req.marker = None
        print(req)
