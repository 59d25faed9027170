"""install(): whether the patch may run here at all (a supported LiteLLM, a core that loads, a
dispatch the evidence vouches for), then the installed pair's decision applied."""

from __future__ import annotations

from ..decide import versions
from . import pair_decision
from .patching import _lock, _installed, _warn_once, apply, native_core_error


def install() -> bool:
    """Patch every row of a path the installed release may run, or none. Returns whether the
    patch is active."""
    with _lock:
        if _installed:
            return True
        version = versions.installed_litellm()
        reason = versions.unsupported_reason(version)
        if reason is None:
            error = native_core_error()  # the Rust core must load before anything is patched
            if error is not None:
                reason = f"the native core could not be loaded ({error})"
        if reason is not None:
            _warn_once(reason, reason)
            return False
        # Decided before anything is patched (so the fingerprints are of stock's own code; probes
        # of code the shipped evidence lacks patch and unpatch on their own). Made once per
        # installed pair, then read from this machine's cache.
        try:
            decision = pair_decision.decision()
        except Exception as exc:  # noqa: BLE001 - a failure to decide must leave LiteLLM as it is
            reason = f"could not decide which paths litellm {version} may run ({exc.__class__.__name__}: {exc})"
            _warn_once(reason, reason)
            return False
        dispatch = decision.paths.get("dispatch")
        if dispatch is None or not dispatch.on:
            reason = dispatch.reason if dispatch is not None and dispatch.reason else f"litellm {version}: dispatch is off"
            _warn_once(reason, reason)
            return False
        return apply(decision)
