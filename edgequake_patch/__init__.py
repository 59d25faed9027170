"""edgequake-patch: LiteLLM's provider HTTP work, sent through a Rust core.

    import edgequake_patch
    edgequake_patch.install()

or set EDGEQUAKE_PATCH=1 in the environment before the interpreter starts. Importing this
package does not import LiteLLM; `install()` does.
"""

from __future__ import annotations

from typing import Any, Dict

__version__ = "0.1.0"
__all__ = ["install", "uninstall", "is_installed", "status", "__version__"]

#: Environment variable that activates the patch at interpreter start (see the .pth file).
ENV_VAR = "EDGEQUAKE_PATCH"


def install() -> bool:
    """Hook LiteLLM's provider dispatch. Idempotent and thread-safe.

    Returns False, after one RuntimeWarning, when the installed LiteLLM is outside the
    supported range or the native core cannot load; LiteLLM is then left untouched.
    """
    from . import hooks

    return hooks.install()


def uninstall() -> None:
    """Put back every patched LiteLLM symbol, exactly as it was."""
    from . import hooks

    hooks.uninstall()


def is_installed() -> bool:
    from . import hooks

    return hooks.is_installed()


def status() -> Dict[str, Any]:
    """What is patched and what it has done: LiteLLM version, hooked symbols, call counts."""
    from . import hooks, stats, versions

    litellm_version = versions.installed_litellm()
    native_error = hooks.native_core_error()
    return {
        "installed": hooks.is_installed(),
        "litellm_version": litellm_version,
        "supported_range": f"{versions.OLDEST_SUPPORTED}..{versions.NEWEST_SUPPORTED}",
        "unsupported_reason": versions.unsupported_reason(litellm_version),
        "native_core": native_error is None,
        "native_core_error": native_error,
        "hooks": hooks.installed_hooks(),
        # LiteLLM's own optional Rust route (LITELLM_RUST / litellm.rust(True)) serves some chat
        # calls before they reach the provider dispatch, so this patch never sees them.
        "litellm_rust_route": _litellm_rust_route(),
        **stats.snapshot(),
    }


def _litellm_rust_route() -> bool:
    try:
        from litellm.rust_bridge.configuration import rust_enabled
    except ImportError:  # LiteLLM releases without that route
        return False
    try:
        return bool(rust_enabled())
    except Exception:  # noqa: BLE001 - a status report must not fail on LiteLLM internals
        return False
