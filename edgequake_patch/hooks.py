"""The one table of hooks, and everything derived from it: install, uninstall, status.

Each row names a LiteLLM symbol, the wrapper that replaces it, the LiteLLM releases where
that symbol has the shape the wrapper expects, and the providers it can serve natively.
Nothing else in the package lists hooked symbols.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import versions


# LiteLLM 1.106.0 renamed the sync HTTP client getter its generic handler imports
# (`_get_httpx_client` -> `get_httpx_client`; 1.105.7, the last 1.105, has the old name).
SYNC_CLIENT_RENAMED = "1.106.0"
SYNC_CLIENT_BEFORE_RENAME = "1.105.7"


@dataclass(frozen=True)
class Hook:
    module: str  # module holding the symbol
    symbol: str  # attribute path inside it ("Class.method" for methods)
    wrapper: str  # "edgequake_patch.<module>:<function>", imported at install time
    providers: Tuple[str, ...]  # custom_llm_provider values this hook can serve natively
    oldest: str = versions.OLDEST_SUPPORTED
    newest: str = versions.NEWEST_SUPPORTED

    @property
    def name(self) -> str:
        return f"{self.module}.{self.symbol}"


# Dispatch hooks decide per call (routing.py); transport hooks serve only the calls a dispatch
# hook accepted, by handing stock's handler code a Rust-backed client.
HOOKS: Tuple[Hook, ...] = (
    # --- dispatch: chat completions
    Hook("litellm.main", "_complete_custom_openai", "edgequake_patch.dispatch:complete", ("openai", "lm_studio")),
    Hook("litellm.main", "_complete_azure", "edgequake_patch.dispatch:complete", ("azure",)),
    Hook("litellm.main", "_complete_xai", "edgequake_patch.dispatch:complete", ("xai",)),
    Hook("litellm.main", "_complete_mistral", "edgequake_patch.dispatch:complete", ("mistral",)),
    Hook("litellm.main", "_complete_openrouter", "edgequake_patch.dispatch:complete", ("openrouter",)),
    Hook("litellm.main", "_complete_anthropic", "edgequake_patch.dispatch:complete", ("anthropic",)),
    # Also serves vertex_ai_beta, which routing refuses (Vertex auth is not served natively).
    Hook("litellm.main", "_complete_vertex_ai_beta", "edgequake_patch.dispatch:complete", ("gemini",)),
    Hook("litellm.main", "_complete_ollama", "edgequake_patch.dispatch:complete", ("ollama",)),
    Hook("litellm.main", "_complete_ollama_chat", "edgequake_patch.dispatch:complete", ("ollama_chat",)),
    # --- dispatch: embeddings (main.embedding calls these handlers inline)
    Hook(
        "litellm.llms.openai.openai",
        "OpenAIChatCompletion.embedding",
        "edgequake_patch.dispatch:embed",
        ("openai", "mistral"),
    ),
    Hook("litellm.llms.azure.azure", "AzureChatCompletion.embedding", "edgequake_patch.dispatch:embed", ("azure",)),
    Hook(
        "litellm.llms.openai_like.embedding.handler",
        "OpenAILikeEmbeddingHandler.embedding",
        "edgequake_patch.dispatch:embed",
        ("lm_studio",),
    ),
    Hook(
        "litellm.llms.vertex_ai.gemini_embeddings.batch_embed_content_handler",
        "GoogleBatchEmbeddings.batch_embeddings",
        "edgequake_patch.dispatch:embed",
        ("gemini",),
    ),
    # main.embedding looks these up on the handler module at call time.
    Hook("litellm.llms.ollama.completion.handler", "ollama_embeddings", "edgequake_patch.dispatch:embed", ("ollama",)),
    Hook("litellm.llms.ollama.completion.handler", "ollama_aembeddings", "edgequake_patch.dispatch:embed", ("ollama",)),
    # --- transport: the OpenAI SDK client stock's OpenAI handler would build
    Hook(
        "litellm.llms.openai.openai",
        "OpenAIChatCompletion._get_openai_client",
        "edgequake_patch.sdk_transport:openai_client",
        (),
    ),
    Hook(
        "litellm.llms.azure.common_utils",
        "BaseAzureLLM.get_azure_openai_client",
        "edgequake_patch.sdk_transport:azure_client",
        (),
    ),
    # --- transport: the HTTP clients of LiteLLM's generic provider handler
    Hook(
        "litellm.llms.custom_httpx.llm_http_handler",
        "get_httpx_client",
        "edgequake_patch.http_transport:sync_client",
        (),
        oldest=SYNC_CLIENT_RENAMED,
    ),
    Hook(
        "litellm.llms.custom_httpx.llm_http_handler",
        "_get_httpx_client",
        "edgequake_patch.http_transport:sync_client",
        (),
        newest=SYNC_CLIENT_BEFORE_RENAME,
    ),
    Hook(
        "litellm.llms.custom_httpx.llm_http_handler",
        "get_async_httpx_client",
        "edgequake_patch.http_transport:async_client",
        (),
    ),
    # --- transport: the same getters, as imported by the Anthropic and Gemini handlers
    *(
        row
        for module in (
            "litellm.llms.anthropic.chat.handler",
            "litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini",
        )
        for row in (
            Hook(module, "get_httpx_client", "edgequake_patch.http_transport:sync_client", (), oldest=SYNC_CLIENT_RENAMED),
            Hook(module, "_get_httpx_client", "edgequake_patch.http_transport:sync_client", (), newest=SYNC_CLIENT_BEFORE_RENAME),
            Hook(module, "get_async_httpx_client", "edgequake_patch.http_transport:async_client", ()),
        )
    ),
    # --- transport: the Gemini batch-embedding handler builds its sync handler per call
    Hook(
        "litellm.llms.vertex_ai.gemini_embeddings.batch_embed_content_handler",
        "HTTPHandler",
        "edgequake_patch.http_transport:new_sync_handler",
        (),
    ),
    Hook(
        "litellm.llms.vertex_ai.gemini_embeddings.batch_embed_content_handler",
        "get_async_httpx_client",
        "edgequake_patch.http_transport:async_client",
        (),
    ),
    # --- transport: LiteLLM's module-level clients (`litellm.module_level_client` / `_aclient`),
    # which Ollama embeddings post through. Those are created lazily from `litellm.request_timeout`,
    # so their class's `post` is hooked rather than the instances (which would have to be created
    # at install time); the wrapper acts only on those two instances during a marked call.
    Hook("litellm.llms.custom_httpx.http_handler", "HTTPHandler.post", "edgequake_patch.http_transport:module_client_post", ()),
    Hook(
        "litellm.llms.custom_httpx.http_handler",
        "AsyncHTTPHandler.post",
        "edgequake_patch.http_transport:module_client_post",
        (),
    ),
    # --- transport: the HTTP clients of the OpenAI-compatible embedding handler (lm_studio)
    Hook(
        "litellm.llms.openai_like.embedding.handler",
        "HTTPHandler",
        "edgequake_patch.http_transport:new_sync_handler",
        (),
    ),
    Hook(
        "litellm.llms.openai_like.embedding.handler",
        "get_async_httpx_client",
        "edgequake_patch.http_transport:async_client",
        (),
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


def applicable(version: str) -> List[Hook]:
    return [h for h in HOOKS if versions.in_range(version, h.oldest, h.newest)]


def _resolve(hook: Hook) -> Tuple[Any, str]:
    owner: Any = importlib.import_module(hook.module)
    *path, attribute = hook.symbol.split(".")
    for part in path:
        owner = getattr(owner, part)
    if not hasattr(owner, attribute):
        raise AttributeError(f"{hook.name} does not exist")
    return owner, attribute


def _load_wrapper(hook: Hook) -> Callable:
    module_name, function = hook.wrapper.split(":")
    return getattr(importlib.import_module(module_name), function)


def _warn_once(key: str, message: str) -> None:
    import warnings

    if key not in _warned:
        _warned.add(key)
        warnings.warn(f"edgequake_patch: {message}; LiteLLM left unpatched", RuntimeWarning, stacklevel=4)


def install() -> bool:
    """Patch every applicable hook, or none. Returns whether the patch is active."""
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
        import wrapt

        # Resolve everything first: a missing symbol must leave LiteLLM untouched.
        plan = []
        for hook in applicable(version):  # type: ignore[arg-type]
            try:
                owner, attribute = _resolve(hook)
                wrapper = _load_wrapper(hook)
            except (ImportError, AttributeError) as exc:
                _warn_once(hook.name, f"cannot hook {hook.name} on litellm {version} ({exc})")
                return False
            plan.append((hook, owner, attribute, wrapper))
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
    return [
        {"symbol": hook.name, "providers": list(hook.providers), "litellm": f"{hook.oldest}..{hook.newest}"}
        for hook in _installed
    ]
