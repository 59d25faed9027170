"""The one table of hooks, and everything derived from it: install, uninstall, status.

Each row names a LiteLLM symbol (or alternatives: the first one present is hooked), the wrapper
that replaces it, the paths it belongs to (reliance.py) and the providers it can serve
natively. A row is installed when one of its paths is on for the installed release; a dispatch
row also when they are off, so that routing refuses and counts their calls. Nothing else in the
package lists hooked symbols, and no LiteLLM version number appears here: which rows apply is
decided by what the installed release has, and what its paths rely on.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import versions

COMPLETE = "edgequake_patch.dispatch:complete"
EMBED = "edgequake_patch.dispatch:embed"
_DISPATCH = (COMPLETE, EMBED)

# LiteLLM's generic handler, and the Anthropic and Gemini handlers, import the sync HTTP client
# getter under one of these names (LiteLLM renamed `_get_httpx_client` to `get_httpx_client`).
_SYNC_GETTER = ("get_httpx_client", "_get_httpx_client")


@dataclass(frozen=True)
class Hook:
    module: str  # module holding the symbol
    symbol: str  # attribute path inside it ("Class.method" for methods)
    wrapper: str  # "edgequake_patch.<module>:<function>", imported at install time
    providers: Tuple[str, ...]  # custom_llm_provider values this hook can serve natively
    paths: Tuple[str, ...]  # the paths (reliance.PATHS) this row is part of
    or_else: Tuple[str, ...] = ()  # alternatives to `symbol`, in order, where a release has not it

    @property
    def name(self) -> str:
        return f"{self.module}.{self.symbol}"

    @property
    def symbols(self) -> Tuple[str, ...]:
        return (self.symbol, *self.or_else)


def refs(hook: Hook) -> Tuple[str, ...]:
    """The row's symbols as reliance references ("module:qualname"): what it replaces is what
    its paths rely on first."""
    return tuple(f"{hook.module}:{symbol}" for symbol in hook.symbols)


# The paths whose calls reach each shared transport hook.
_SDK = ("chat_openai_sdk", "embedding_openai_sdk", "lean")
_GENERIC = ("chat_http_handler", "chat_ollama")
_MODULE_CLIENT_USERS = ("chat_anthropic", "chat_gemini", "embedding_ollama")

# Dispatch hooks decide per call (routing.py); transport hooks serve only the calls a dispatch
# hook accepted, by handing stock's handler code a Rust-backed client.
HOOKS: Tuple[Hook, ...] = (
    # --- dispatch: chat completions
    Hook("litellm.main", "_complete_custom_openai", COMPLETE, ("openai", "lm_studio"), ("chat_openai_sdk",)),
    Hook("litellm.main", "_complete_azure", COMPLETE, ("azure",), ("chat_openai_sdk",)),
    Hook("litellm.main", "_complete_xai", COMPLETE, ("xai",), ("chat_http_handler",)),
    Hook("litellm.main", "_complete_mistral", COMPLETE, ("mistral",), ("chat_http_handler",)),
    Hook("litellm.main", "_complete_openrouter", COMPLETE, ("openrouter",), ("chat_http_handler",)),
    Hook("litellm.main", "_complete_anthropic", COMPLETE, ("anthropic",), ("chat_anthropic",)),
    # Also serves vertex_ai_beta, which routing refuses (Vertex auth is not served natively).
    Hook("litellm.main", "_complete_vertex_ai_beta", COMPLETE, ("gemini",), ("chat_gemini",)),
    Hook("litellm.main", "_complete_ollama", COMPLETE, ("ollama",), ("chat_ollama",)),
    Hook("litellm.main", "_complete_ollama_chat", COMPLETE, ("ollama_chat",), ("chat_ollama",)),
    # --- dispatch: embeddings (main.embedding calls these handlers inline)
    Hook("litellm.llms.openai.openai", "OpenAIChatCompletion.embedding", EMBED, ("openai", "mistral"),
         ("embedding_openai_sdk",)),
    Hook("litellm.llms.azure.azure", "AzureChatCompletion.embedding", EMBED, ("azure",), ("embedding_openai_sdk",)),
    Hook("litellm.llms.openai_like.embedding.handler", "OpenAILikeEmbeddingHandler.embedding", EMBED, ("lm_studio",),
         ("embedding_lm_studio",)),
    Hook("litellm.llms.vertex_ai.gemini_embeddings.batch_embed_content_handler",
         "GoogleBatchEmbeddings.batch_embeddings", EMBED, ("gemini",), ("embedding_gemini",)),
    # main.embedding looks these up on the handler module at call time.
    Hook("litellm.llms.ollama.completion.handler", "ollama_embeddings", EMBED, ("ollama",), ("embedding_ollama",)),
    Hook("litellm.llms.ollama.completion.handler", "ollama_aembeddings", EMBED, ("ollama",), ("embedding_ollama",)),
    # --- transport: the OpenAI SDK client stock's OpenAI handler would build
    Hook(
        "litellm.llms.openai.openai",
        "OpenAIChatCompletion._get_openai_client",
        "edgequake_patch.sdk_transport:openai_client",
        (),
        _SDK,
    ),
    Hook(
        "litellm.llms.azure.common_utils",
        "BaseAzureLLM.get_azure_openai_client",
        "edgequake_patch.sdk_transport:azure_client",
        (),
        ("chat_openai_sdk", "embedding_openai_sdk"),
    ),
    # --- transport: the HTTP clients of LiteLLM's generic provider handler
    Hook("litellm.llms.custom_httpx.llm_http_handler", _SYNC_GETTER[0], "edgequake_patch.http_transport:sync_client",
         (), _GENERIC, or_else=_SYNC_GETTER[1:]),
    Hook("litellm.llms.custom_httpx.llm_http_handler", "get_async_httpx_client",
         "edgequake_patch.http_transport:async_client", (), _GENERIC),
    # --- transport: the same getters, as imported by the Anthropic and Gemini handlers
    *(
        row
        for module, path in (
            ("litellm.llms.anthropic.chat.handler", "chat_anthropic"),
            ("litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini", "chat_gemini"),
        )
        for row in (
            Hook(module, _SYNC_GETTER[0], "edgequake_patch.http_transport:sync_client", (), (path,),
                 or_else=_SYNC_GETTER[1:]),
            Hook(module, "get_async_httpx_client", "edgequake_patch.http_transport:async_client", (), (path,)),
        )
    ),
    # --- transport: the Gemini batch-embedding handler builds its sync handler per call
    Hook(
        "litellm.llms.vertex_ai.gemini_embeddings.batch_embed_content_handler",
        "HTTPHandler",
        "edgequake_patch.http_transport:new_sync_handler",
        (),
        ("embedding_gemini",),
    ),
    Hook(
        "litellm.llms.vertex_ai.gemini_embeddings.batch_embed_content_handler",
        "get_async_httpx_client",
        "edgequake_patch.http_transport:async_client",
        (),
        ("embedding_gemini",),
    ),
    # --- transport: LiteLLM's module-level clients (`litellm.module_level_client` / `_aclient`),
    # which Ollama embeddings, and Anthropic and Gemini streams, post through. Those are created lazily from `litellm.request_timeout`,
    # so their class's `post` is hooked rather than the instances (which would have to be created
    # at install time); the wrapper acts only on those two instances during a marked call.
    Hook("litellm.llms.custom_httpx.http_handler", "HTTPHandler.post", "edgequake_patch.http_transport:module_client_post",
         (), _MODULE_CLIENT_USERS),
    Hook("litellm.llms.custom_httpx.http_handler", "AsyncHTTPHandler.post",
         "edgequake_patch.http_transport:module_client_post", (), _MODULE_CLIENT_USERS),
    # --- transport: the HTTP clients of the OpenAI-compatible embedding handler (lm_studio)
    Hook(
        "litellm.llms.openai_like.embedding.handler",
        "HTTPHandler",
        "edgequake_patch.http_transport:new_sync_handler",
        (),
        ("embedding_lm_studio",),
    ),
    Hook(
        "litellm.llms.openai_like.embedding.handler",
        "get_async_httpx_client",
        "edgequake_patch.http_transport:async_client",
        (),
        ("embedding_lm_studio",),
    ),
)

_lock = threading.RLock()
# hook -> (owner object, attribute, the exact object that was there before, the wrapper set)
_installed: Dict[Hook, Tuple[Any, str, Any, Any]] = {}
_warned: set = set()


def native_core_error() -> Optional[str]:
    """Why the Rust core cannot be imported, or None. By module name, so a core removed or
    broken after the package was first imported is noticed."""
    try:
        importlib.import_module("edgequake_patch.native")
    except ImportError as exc:
        return f"{exc.__class__.__name__}: {exc}"
    return None


def _resolve(hook: Hook) -> Tuple[Any, str]:
    """(owner, attribute) of the first of the row's symbols the installed release has."""
    owner_module: Any = importlib.import_module(hook.module)
    for symbol in hook.symbols:
        owner = owner_module
        *path, attribute = symbol.split(".")
        try:
            for part in path:
                owner = getattr(owner, part)
        except AttributeError:
            continue
        if hasattr(owner, attribute):
            return owner, attribute
    raise AttributeError(f"{' / '.join(f'{hook.module}.{s}' for s in hook.symbols)} does not exist")


def planned(decision: Any) -> List[Hook]:
    """The rows install() considers under `decision` (reliance.Decision): every row of a path
    that is on, and every dispatch row, so that routing refuses, and counts, the calls of a
    path that is off. A row that is planned only as such a dispatch row is skipped where the
    release lacks its symbol (there is nothing to refuse)."""
    return [hook for hook in HOOKS if hook.wrapper in _DISPATCH or any(decision.on(path) for path in hook.paths)]


def dispatch_paths(wrapper: str) -> Dict[str, str]:
    """provider -> the path its calls take, from the dispatch rows with `wrapper` (COMPLETE for
    chat, EMBED for embeddings)."""
    return {provider: hook.paths[0] for hook in HOOKS if hook.wrapper == wrapper for provider in hook.providers}


def _load_wrapper(hook: Hook) -> Callable:
    module_name, function = hook.wrapper.split(":")
    return getattr(importlib.import_module(module_name), function)


def _warn_once(key: str, message: str) -> None:
    import warnings

    if key not in _warned:
        _warned.add(key)
        warnings.warn(f"edgequake_patch: {message}; LiteLLM left unpatched", RuntimeWarning, stacklevel=4)


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
        from . import reliance

        # Decided before anything is patched (so the fingerprints are of stock's own code; probes
        # of code the shipped evidence lacks patch and unpatch on their own). Made once per
        # installed pair, then read from this machine's cache.
        try:
            decision = reliance.decision()
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


def apply(decision: Any) -> bool:
    """Patch the rows `decision` plans (install(); probes.py, with a candidate decision, between
    stock's runs and its own). A symbol that cannot be resolved leaves LiteLLM untouched."""
    import wrapt

    from . import routing

    with _lock:
        version = versions.installed_litellm()
        # Resolve everything first: a missing symbol must leave LiteLLM untouched.
        plan = []
        for hook in planned(decision):
            try:
                owner, attribute = _resolve(hook)
                wrapper = _load_wrapper(hook)
            except (ImportError, AttributeError) as exc:
                if not any(decision.on(path) for path in hook.paths):
                    continue  # its paths are off: stock serves them, hooked or not
                _warn_once(hook.name, f"cannot hook {hook.name} on litellm {version} ({exc})")
                return False
            plan.append((hook, owner, attribute, wrapper))
        routing.apply(decision)
        for hook, owner, attribute, wrapper in plan:
            # vars() rather than getattr(): a method lives on the class, and uninstall must put
            # back exactly the object that was in that namespace (a function, not a bound method).
            original = vars(owner)[attribute] if attribute in vars(owner) else getattr(owner, attribute)
            wrapped = wrapt.FunctionWrapper(original, wrapper)
            setattr(owner, attribute, wrapped)
            _installed[hook] = (owner, attribute, original, wrapped)
        return True


def uninstall() -> None:
    with _lock:
        for hook, (owner, attribute, original, _wrapped) in list(_installed.items()):
            setattr(owner, attribute, original)
            del _installed[hook]


def is_installed() -> bool:
    return bool(_installed)


def installed_hooks() -> List[Dict[str, Any]]:
    symbols = []
    for hook, (owner, attribute, _original, _wrapped) in _installed.items():
        qualname = getattr(owner, "__qualname__", None) if isinstance(owner, type) else None
        symbol = f"{hook.module}.{qualname}.{attribute}" if qualname else f"{hook.module}.{attribute}"
        symbols.append({"symbol": symbol, "providers": list(hook.providers), "paths": list(hook.paths)})
    return symbols
