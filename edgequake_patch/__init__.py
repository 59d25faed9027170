"""edgequake-patch: LiteLLM's provider HTTP work, sent through a Rust core.

    import edgequake_patch
    edgequake_patch.install()

or set EDGEQUAKE_PATCH=1 in the environment before the interpreter starts. Importing this
package does not import LiteLLM; `install()` does.
"""

from __future__ import annotations

from typing import Any, Dict

__version__ = "0.1.0"
__all__ = ["install", "uninstall", "is_installed", "status", "report", "__version__"]

#: Environment variable that activates the patch at interpreter start (see the .pth file).
ENV_VAR = "EDGEQUAKE_PATCH"


def install() -> bool:
    """Hook LiteLLM's provider dispatch. Idempotent and thread-safe.

    Returns False, after one RuntimeWarning, when the installed LiteLLM is older than the
    oldest supported release (or a compromised one), when no evidence shows the provider
    dispatch hooks are faithful on it, or when the native core cannot load; LiteLLM is then left
    untouched. Otherwise each path runs where evidence shows it faithful on the installed code
    (the shipped record, or probes on this machine), and stays stock elsewhere (`status()`).
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
    """What is patched and what it has done: LiteLLM version, which paths run natively on it
    (and why not), hooked symbols, call counts."""
    from . import hooks, stats, versions

    litellm_version = versions.installed_litellm()
    native_error = hooks.native_core_error()
    unsupported = versions.unsupported_reason(litellm_version)
    return {
        "installed": hooks.is_installed(),
        "litellm_version": litellm_version,
        # No upper bound: a release after the newest tested one is decided path by path.
        "supported_range": f">={versions.OLDEST_SUPPORTED}",
        "unsupported_reason": unsupported,
        # The releases whose code the shipped evidence vetted on every path, per component.
        "vetted_releases": {c: versions.vetted_releases(c) for c in ("litellm", "openai")},
        **_release_decision(unsupported is None),
        "native_core": native_error is None,
        "native_core_error": native_error,
        # Which openai SDK generation's response models the core reproduces (None: it parses
        # nothing itself and the SDK parses every OpenAI-style answer, from the core's bytes).
        "openai_sdk_models": _sdk_models_generation() if native_error is None else None,
        "hooks": hooks.installed_hooks(),
        # LiteLLM's own optional Rust route (LITELLM_RUST / litellm.rust(True)) serves some chat
        # calls before they reach the provider dispatch, so this patch never sees them.
        "litellm_rust_route": _litellm_rust_route(),
        **stats.snapshot(),
    }


def report(colour: bool = False) -> str:
    """`status()` as a readable report: per provider and per path, native or stock and why, the
    compiled core, and this process's counters (`python -m edgequake_patch` prints the same for
    a process of its own). Plain text unless `colour`: an app's report often ends in a log."""
    from . import status_report
    from .terminal import Style

    return status_report.render(status_report.collect(), Style(enabled=colour), in_process=True)


def _release_decision(supported: bool) -> Dict[str, Any]:
    """`release` (one line: what decided the paths) and, per path, whether it is on, what decided
    it (`source`: the shipped record, probes on this machine, a local vet) and on what evidence,
    or why it is off. Made once per installed pair (at install, or here)."""
    if not supported:
        return {"release": None, "paths": {}}
    from . import reliance

    try:
        decision = reliance.decision()
    except Exception as exc:  # noqa: BLE001 - a status report must not fail on LiteLLM internals
        return {"release": None, "paths": {}, "release_error": f"{exc.__class__.__name__}: {exc}"}
    return {
        "release": decision.summary,
        "paths": {
            name: {"on": state.on, "reason": state.reason, "source": state.source, "evidence": state.evidence}
            for name, state in decision.paths.items()
        },
    }


def _sdk_models_generation() -> Any:
    try:
        from . import sdk_models

        return sdk_models.generation()
    except Exception:  # noqa: BLE001 - a status report must not fail on the SDK's internals
        return None


def _litellm_rust_route() -> bool:
    try:
        from litellm.rust_bridge.configuration import rust_enabled
    except ImportError:  # LiteLLM releases without that route
        return False
    try:
        return bool(rust_enabled())
    except Exception:  # noqa: BLE001 - a status report must not fail on LiteLLM internals
        return False
