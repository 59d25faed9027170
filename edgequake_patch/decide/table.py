"""The one table of hooks: each row names a LiteLLM symbol (or alternatives: the first one
present is hooked), the wrapper that replaces it, the paths it belongs to (reliance.py) and the
providers it can serve natively. Data only: activation/patching.py applies it, routing.py and
the status read it. Nothing else in the package lists hooked symbols, and no LiteLLM version
number appears here: which rows apply is decided by what the installed release has, and what
its paths rely on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

COMPLETE = "edgequake_patch.paths.dispatch:complete"
EMBED = "edgequake_patch.paths.dispatch:embed"
#: LiteLLM's other endpoints, on the generic handler's methods (one wrapper per endpoint).
RESPONSES = "edgequake_patch.paths.dispatch:responses"
RERANK = "edgequake_patch.paths.dispatch:rerank"
GENERIC_EMBED = "edgequake_patch.paths.dispatch:generic_embedding"
MESSAGES = "edgequake_patch.paths.dispatch:anthropic_messages"
IMAGES = "edgequake_patch.paths.dispatch:image_generation"
TRANSCRIPTION = "edgequake_patch.paths.dispatch:transcription"
SPEECH = "edgequake_patch.paths.dispatch:speech"
ENDPOINT_WRAPPERS = {RESPONSES: "responses", RERANK: "rerank", GENERIC_EMBED: "embedding", MESSAGES: "messages",
                     IMAGES: "image_generation", TRANSCRIPTION: "transcription", SPEECH: "speech"}
_DISPATCH = (COMPLETE, EMBED, *ENDPOINT_WRAPPERS)

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
    #: The wrapper only reads the call's arguments and runs the symbol as it is: its paths rely
    #: on how it is called (its signature), not on what it does.
    signature_only: bool = False

    @property
    def name(self) -> str:
        return f"{self.module}.{self.symbol}"

    @property
    def symbols(self) -> Tuple[str, ...]:
        return (self.symbol, *self.or_else)


def refs(hook: Hook) -> Tuple[str, ...]:
    """The row's symbols as reliance references ("module:qualname"): what it replaces is what
    its paths rely on first."""
    suffix = "()" if hook.signature_only else ""
    return tuple(f"{hook.module}:{symbol}{suffix}" for symbol in hook.symbols)


# The paths whose calls reach each shared transport hook.
_SDK = ("chat_openai_sdk", "embedding_openai_sdk", "lean")
_GENERIC = ("chat_http_handler", "chat_ollama", "endpoints_http_handler")
_ENDPOINTS = ("endpoints_http_handler",)
_GENERIC_HANDLER = "litellm.llms.custom_httpx.llm_http_handler"
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
    # --- dispatch: LiteLLM's other endpoints, where its generic handler serves them (the
    # handler asks the getters below for its clients, as for chat)
    Hook(_GENERIC_HANDLER, "BaseLLMHTTPHandler.response_api_handler", RESPONSES, ("openai", "azure", "xai", "openrouter"),
         _ENDPOINTS, signature_only=True),
    Hook(_GENERIC_HANDLER, "BaseLLMHTTPHandler.rerank", RERANK, ("jina_ai",), _ENDPOINTS, signature_only=True),
    Hook(_GENERIC_HANDLER, "BaseLLMHTTPHandler.embedding", GENERIC_EMBED, ("jina_ai", "openrouter"), _ENDPOINTS,
         signature_only=True),
    # Anthropic's /v1/messages interface (`litellm.anthropic_messages`, the Proxy's /v1/messages)
    Hook(_GENERIC_HANDLER, "BaseLLMHTTPHandler.anthropic_messages_handler", MESSAGES, ("anthropic",), _ENDPOINTS,
         signature_only=True),
    # Images, transcription and speech, for the providers LiteLLM serves there (which ones varies
    # by release: a provider stock sends elsewhere never reaches these methods)
    Hook(_GENERIC_HANDLER, "BaseLLMHTTPHandler.image_generation_handler", IMAGES, ("gemini", "openrouter"), _ENDPOINTS,
         signature_only=True),
    Hook(_GENERIC_HANDLER, "BaseLLMHTTPHandler.audio_transcriptions", TRANSCRIPTION, ("mistral", "xai"), _ENDPOINTS,
         signature_only=True),
    Hook(_GENERIC_HANDLER, "BaseLLMHTTPHandler.text_to_speech_handler", SPEECH, ("mistral",), _ENDPOINTS,
         signature_only=True),
    # --- transport: the OpenAI SDK client stock's OpenAI handler would build
    Hook(
        "litellm.llms.openai.openai",
        "OpenAIChatCompletion._get_openai_client",
        "edgequake_patch.transport.sdk_transport:openai_client",
        (),
        _SDK,
    ),
    Hook(
        "litellm.llms.azure.common_utils",
        "BaseAzureLLM.get_azure_openai_client",
        "edgequake_patch.transport.sdk_transport:azure_client",
        (),
        ("chat_openai_sdk", "embedding_openai_sdk"),
    ),
    # --- transport: the HTTP clients of LiteLLM's generic provider handler
    Hook("litellm.llms.custom_httpx.llm_http_handler", _SYNC_GETTER[0], "edgequake_patch.transport.http_transport:sync_client",
         (), _GENERIC, or_else=_SYNC_GETTER[1:]),
    Hook("litellm.llms.custom_httpx.llm_http_handler", "get_async_httpx_client",
         "edgequake_patch.transport.http_transport:async_client", (), _GENERIC),
    # --- transport: the same getters, as imported by the Anthropic and Gemini handlers
    *(
        row
        for module, path in (
            ("litellm.llms.anthropic.chat.handler", "chat_anthropic"),
            ("litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini", "chat_gemini"),
        )
        for row in (
            Hook(module, _SYNC_GETTER[0], "edgequake_patch.transport.http_transport:sync_client", (), (path,),
                 or_else=_SYNC_GETTER[1:]),
            Hook(module, "get_async_httpx_client", "edgequake_patch.transport.http_transport:async_client", (), (path,)),
        )
    ),
    # --- transport: the Gemini batch-embedding handler builds its sync handler per call
    Hook(
        "litellm.llms.vertex_ai.gemini_embeddings.batch_embed_content_handler",
        "HTTPHandler",
        "edgequake_patch.transport.http_transport:new_sync_handler",
        (),
        ("embedding_gemini",),
    ),
    Hook(
        "litellm.llms.vertex_ai.gemini_embeddings.batch_embed_content_handler",
        "get_async_httpx_client",
        "edgequake_patch.transport.http_transport:async_client",
        (),
        ("embedding_gemini",),
    ),
    # --- transport: LiteLLM's module-level clients (`litellm.module_level_client` / `_aclient`),
    # which Ollama embeddings, and Anthropic and Gemini streams, post through. Those are created lazily from `litellm.request_timeout`,
    # so their class's `post` is hooked rather than the instances (which would have to be created
    # at install time); the wrapper acts only on those two instances during a marked call.
    Hook("litellm.llms.custom_httpx.http_handler", "HTTPHandler.post", "edgequake_patch.transport.http_transport:module_client_post",
         (), _MODULE_CLIENT_USERS),
    Hook("litellm.llms.custom_httpx.http_handler", "AsyncHTTPHandler.post",
         "edgequake_patch.transport.http_transport:module_client_post", (), _MODULE_CLIENT_USERS),
    # --- transport: the HTTP clients of the OpenAI-compatible embedding handler (lm_studio)
    Hook(
        "litellm.llms.openai_like.embedding.handler",
        "HTTPHandler",
        "edgequake_patch.transport.http_transport:new_sync_handler",
        (),
        ("embedding_lm_studio",),
    ),
    Hook(
        "litellm.llms.openai_like.embedding.handler",
        "get_async_httpx_client",
        "edgequake_patch.transport.http_transport:async_client",
        (),
        ("embedding_lm_studio",),
    ),
)


def planned(decision: Any) -> List[Hook]:
    """The rows install() considers under `decision` (decision.Decision): every row of a path
    that is on, and every dispatch row, so that routing refuses, and counts, the calls of a
    path that is off. A row that is planned only as such a dispatch row is skipped where the
    release lacks its symbol (there is nothing to refuse)."""
    return [hook for hook in HOOKS if hook.wrapper in _DISPATCH or any(decision.on(path) for path in hook.paths)]


def dispatch_paths(wrapper: str) -> Dict[str, str]:
    """provider -> the path its calls take, from the dispatch rows with `wrapper` (COMPLETE for
    chat, EMBED for embeddings, or one of ENDPOINT_WRAPPERS)."""
    return {provider: hook.paths[0] for hook in HOOKS if hook.wrapper == wrapper for provider in hook.providers}


def endpoint_paths() -> Dict[str, Dict[str, str]]:
    """endpoint -> provider -> the path its calls take, for every endpoint the table serves
    ("chat" and "embedding" included)."""
    table: Dict[str, Dict[str, str]] = {"chat": dispatch_paths(COMPLETE), "embedding": dispatch_paths(EMBED)}
    for wrapper, endpoint in ENDPOINT_WRAPPERS.items():
        table.setdefault(endpoint, {}).update(dispatch_paths(wrapper))
    return table
