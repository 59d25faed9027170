"""The one place that decides, per call, whether the native core serves it or stock LiteLLM does.

Two moments of decision, both before anything is sent:
  * at dispatch (`chat_refusal`, `embedding_refusal`): what the call asks for, and whether the
    installed LiteLLM changed what its path relies on (reliance.py, decided once at install);
  * at the transport (sdk_transport, http_transport): what the request stock built contains,
    or a client the core cannot reproduce.
A call refused at either moment runs exactly as stock, and the reason is counted in `status()`.
Once a native request has left, its outcome is final: no stock retry, no second billing.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import httpx

# (Imported once here, not per call: a function-level import costs about a microsecond per
# lean call. Routing is only imported where the core has loaded.)
from ..transport import sdk_models


CHAT_PROVIDERS = frozenset(
    {"openai", "lm_studio", "azure", "xai", "mistral", "openrouter", "anthropic", "gemini", "ollama", "ollama_chat"}
)
EMBEDDING_PROVIDERS = frozenset({"openai", "lm_studio", "azure", "mistral", "gemini", "ollama"})

# `timeout` values the core expresses: seconds as a number (stock's default is 600.0), or an
# httpx.Timeout (its connect and read phases).
_TIMEOUTS = (int, float, httpx.Timeout)


# --- which paths the installed release may run (reliance.py decides at install; on a tested
# release every path is on and these stay empty)

#: path -> the counted reason its calls stay stock ("litellm_changed:chat_anthropic").
_paths_off: Dict[str, str] = {}
#: provider -> that reason, for the providers whose dispatch path is off.
_chat_off: Dict[str, str] = {}
_embedding_off: Dict[str, str] = {}


def apply(decision: Any) -> None:
    """Take the installed release's decision (decision.Decision): calls of a path that is off
    are refused before anything is sent, and counted with its reason."""
    from . import table

    off = {name: state.code or f"litellm_changed:{name}" for name, state in decision.paths.items() if not state.on}
    chat = {p: off[path] for p, path in table.dispatch_paths(table.COMPLETE).items() if path in off}
    embedding = {p: off[path] for p, path in table.dispatch_paths(table.EMBED).items() if path in off}
    _paths_off.clear()
    _paths_off.update(off)
    _chat_off.clear()
    _chat_off.update(chat)
    _embedding_off.clear()
    _embedding_off.update(embedding)


def path_refusal(path: str) -> Optional[str]:
    """Why `path` is off on the installed release (its counted reason), or None."""
    return _paths_off.get(path)


def _timeout_refusal(timeout: Any) -> Optional[str]:
    if timeout is None or isinstance(timeout, _TIMEOUTS):
        return None
    return "timeout_not_seconds"


def chat_refusal(ctx: Any) -> Optional[str]:
    """Why this chat dispatch must stay stock, or None to serve it natively."""
    provider = ctx.custom_llm_provider
    if provider not in CHAT_PROVIDERS:
        return "provider_not_native"
    if _chat_off:
        changed = _chat_off.get(provider)
        if changed is not None:
            return changed
    if ctx.client is not None:
        return "caller_client"
    # A caller's aiohttp session (`ctx.shared_session`: the LiteLLM Proxy attaches its own to
    # every request) is served: the transports reproduce its settings (aiohttp_session.py) or
    # leave that request to stock, counted `session_unsupported:<setting>`.
    if _paths_off and ctx.shared_session is not None:
        changed = _paths_off.get("shared_session")
        if changed is not None:
            return changed
    return _timeout_refusal(ctx.timeout)


def embedding_refusal(provider: Optional[str], client: Any, timeout: Any, shared_session: Any = None) -> Optional[str]:
    """Why this embedding call must stay stock, or None. (A caller's aiohttp session is served,
    as for chat, where the installed release has the `shared_session` path on.)"""
    if provider not in EMBEDDING_PROVIDERS:
        return "provider_not_native"
    if _embedding_off:
        changed = _embedding_off.get(provider)
        if changed is not None:
            return changed
    if client is not None:
        return "caller_client"
    if _paths_off and shared_session is not None:
        changed = _paths_off.get("shared_session")
        if changed is not None:
            return changed
    return _timeout_refusal(timeout)


def endpoint_refusal(endpoint: str, provider: Optional[str], client: Any, timeout: Any,
                     shared_session: Any = None) -> Optional[str]:
    """Why a call of another of LiteLLM's endpoints (the names of table.ENDPOINT_WRAPPERS:
    "responses", "messages", "rerank", ...) must stay stock, or None."""
    path = _endpoint_paths().get(endpoint, {}).get(provider)
    if path is None:
        return "provider_not_native"
    if _paths_off:
        changed = _paths_off.get(path)
        if changed is None and shared_session is not None:
            changed = _paths_off.get("shared_session")
        if changed is not None:
            return changed
    if client is not None:
        return "caller_client"
    return _timeout_refusal(timeout)


_ENDPOINT_PATHS: Dict[str, Dict[str, str]] = {}


def _endpoint_paths() -> Dict[str, Dict[str, str]]:
    if not _ENDPOINT_PATHS:
        from . import table

        _ENDPOINT_PATHS.update(table.endpoint_paths())
    return _ENDPOINT_PATHS


# --- the lean handler (lean_chat.py): which native chat calls skip stock's handler machinery

#: Providers dispatched through `_complete_custom_openai` whose non-streaming path the lean
#: handler reproduces (lm_studio differs only in its provider config, which the handler calls).
LEAN_PROVIDERS = frozenset({"openai", "lm_studio"})
# Stock's OpenAI handler accepts exactly these timeout types (anything else: its own error).
_LEAN_TIMEOUTS = (float, httpx.Timeout)


def lean_refusal(ctx: Any) -> Optional[str]:
    """Why a chat call `chat_refusal` accepted must take the regular native path rather than
    the lean handler, or None. A conservative whitelist: each condition is one whose effect on
    stock's handler the lean handler does not reproduce."""
    if ctx.custom_llm_provider not in LEAN_PROVIDERS:
        return "provider"
    if ctx.stream or ctx.optional_params.get("stream"):
        return "stream"
    if not isinstance(ctx.timeout, _LEAN_TIMEOUTS):
        return "timeout_type"
    if _paths_off:
        # the installed release changed what the lean handler reproduces: the regular path
        changed = _paths_off.get("lean")
        if changed is not None:
            return changed
    if not sdk_models.core_parses():
        # the lean handler finishes only on answers the core parsed as the SDK would
        return "sdk_models_changed"
    import litellm

    if litellm.service_callback:
        # stock's timing decorator reports each exchange to these service monitors
        return "service_callback"
    if litellm.secret_manager_client is not None:
        # stock reads keys, bases and switches through it: reading them twice could cost calls
        return "secret_manager"
    if litellm.enable_preview_features and ctx.metadata is not None:
        return "preview_metadata"
    return None
