"""`edgequake_patch.status()`: what is patched and what it has done, as plain data."""

from __future__ import annotations

from typing import Any, Dict

from ..activation import patching
from ..decide import versions
from ..state import stats


def status() -> Dict[str, Any]:
    """What is patched and what it has done: LiteLLM version, which paths run natively on it
    (and why not), hooked symbols, call counts."""
    litellm_version = versions.installed_litellm()
    native_error = patching.native_core_error()
    unsupported = versions.unsupported_reason(litellm_version)
    return {
        "installed": patching.is_installed(),
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
        "hooks": patching.installed_hooks(),
        # LiteLLM's own optional Rust route (LITELLM_RUST / litellm.rust(True)) serves some chat
        # calls before they reach the provider dispatch, so this patch never sees them.
        "litellm_rust_route": _litellm_rust_route(),
        **stats.snapshot(),
    }


def _release_decision(supported: bool) -> Dict[str, Any]:
    """`release` (one line: what decided the paths) and, per path, whether it is on, what decided
    it (`source`: the shipped record, probes on this machine, a local vet) and on what evidence,
    or why it is off. Made once per installed pair (at install, or here)."""
    if not supported:
        return {"release": None, "paths": {}}
    from ..activation import pair_decision

    try:
        decision = pair_decision.decision()
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
        from ..transport import sdk_models

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
