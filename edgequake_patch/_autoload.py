"""Imported by edgequake_patch_autoload.pth at interpreter start when EDGEQUAKE_PATCH is set.

Importing LiteLLM here would slow every interpreter start and fetch LiteLLM's cost map;
instead the patch installs itself the moment the application imports LiteLLM.

Activation must never break the application: an error raised here at start is caught by the
.pth line, and one raised while installing is caught below, because the post-import hook runs
inside the application's own `import litellm`. Either way the cost is one stderr line naming
the cause (stderr, not warnings.warn: under -W error a warning would itself become an
exception inside the application's import, the very thing this avoids).
"""

import sys

import edgequake_patch

# wrapt is a hard dependency of install() itself (it wraps LiteLLM's functions), so there is no
# point in a wrapt-free way to trigger install(): if wrapt is missing, this import fails, the .pth
# line reports it, and LiteLLM stays stock.
import wrapt


def _report(exc: BaseException) -> None:
    try:
        cause = str(exc).replace("\n", " ")
        sys.stderr.write(f"edgequake_patch: not activated ({type(exc).__name__}: {cause}); LiteLLM left unpatched\n")
    except Exception:  # noqa: BLE001 - no stderr (pythonw) or an unprintable exception
        pass


def _install_when_imported(_module=None) -> None:
    try:
        # install() itself warns once and returns False when it declines (unsupported LiteLLM,
        # no native core); only an unexpected error reaches the except.
        if edgequake_patch.install():
            # The start-up line is for proxy operators: logged where the LiteLLM Proxy's app is
            # loaded (each worker, or a gunicorn master before it forks), and nowhere else, so
            # an ordinary application that sets EDGEQUAKE_PATCH=1 hears nothing.
            wrapt.register_post_import_hook(_log_startup, "litellm.proxy.proxy_server")
    except Exception as exc:  # noqa: BLE001 - must not become the application's import error
        try:
            edgequake_patch.uninstall()  # whatever was patched before the error goes back
        except Exception:  # noqa: BLE001
            pass
        _report(exc)


def _log_startup(_module=None) -> None:
    """The one start-up line naming what is active, in a process serving the LiteLLM Proxy. A
    logging failure must not undo a working install."""
    try:
        from edgequake_patch import proxy

        proxy.log_startup()
    except Exception:  # noqa: BLE001
        pass


if "litellm" in sys.modules:
    _install_when_imported()
else:
    wrapt.register_post_import_hook(_install_when_imported, "litellm")
