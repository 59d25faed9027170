"""Imported by edgequake_patch_autoload.pth at interpreter start when EDGEQUAKE_PATCH is set.

Importing LiteLLM here would slow every interpreter start and fetch LiteLLM's cost map;
instead the patch installs itself the moment the application imports LiteLLM.
"""

import sys


def _install_when_imported(_module=None) -> None:
    import edgequake_patch

    edgequake_patch.install()


if "litellm" in sys.modules:
    _install_when_imported()
else:
    import wrapt

    wrapt.register_post_import_hook(_install_when_imported, "litellm")
