"""What each native path relies on in LiteLLM and the OpenAI SDK, and which paths the installed
versions may run.

The hooks replace, reproduce or call into private LiteLLM code (and read private fields of the
OpenAI SDK's clients). What a path relies on is declared here once, as data:
  * the symbols its hook rows replace (`table.HOOKS`, each row names its paths), and
  * `PATHS[...].relies_on`: what it reproduces, calls into, or whose fields it reads.
A symbol is `"module:qualname"`; `"module:qualname()"` is its signature only, for a function
a path calls as stock calls it (what it does is stock's, run as it is); `"module:Class[a,b]"`
is the named fields of a class (a dataclass or pydantic model), for code that reads those
fields of an object stock built;
`"<component>.behaviour:name"` is behaviour observed on fixed inputs (BEHAVIOURS), where a path
reads what stock's code produces rather than reproducing the code.

Each symbol's fingerprint is a hash of its source (or of the observed behaviour). For each path
and component (litellm, openai), the installed code's fingerprints form one group digest; the
path is on when every component's group is one the shipped evidence vetted (evidence.py,
written by scripts/evidence.py from every release on the registry), or one probes on this
machine found faithful (probes.py). The version number plays no part.

When a module here starts relying on another stock symbol, add it to its path and run
`python3 scripts/evidence.py update`: the shipped record names groups under one declaration.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import io
import json
import tokenize
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

#: The fingerprint of a symbol the installed release does not have.
MISSING = "missing"
#: The fingerprint of a symbol whose source cannot be read (a release installed without its .py
#: files). It never matches a record, not even another "nosource": nothing would be compared.
NO_SOURCE = "nosource"

#: The packages whose code the paths rely on; each is matched against the records on its own,
#: so a tested LiteLLM with an untested OpenAI SDK can still match both halves separately.
COMPONENTS = ("litellm", "openai")


@dataclass(frozen=True)
class Path:
    name: str
    what: str  # what goes native when the path is on
    relies_on: Tuple[str, ...] = ()  # beyond the symbols its hook rows replace


# --- groups of symbols several paths rely on --------------------------------------------------

# The OpenAI SDK client the SDK-family paths stand in for: sdk_transport builds the URL, auth
# headers, query and body as the SDK would, replays outcomes through `copy()`, reads the clients'
# settings (`_custom_headers`, `_azure_ad_token`, ...), and the core reproduces the SDK's retry
# policy; streams run the SDK's own decoder over the core's bytes.
_OPENAI_SDK = (
    # What sdk_transport reads off the client stock built, what it assumes of how the SDK puts
    # a request together (URL, the client's own `_build_headers`, a JSON body; Azure's
    # deployment routing), and what `copy()` keeps: observed, not the constructors' source.
    "openai.behaviour:client_fields",
    "openai.behaviour:request_building",
    "openai.behaviour:client_copy",
    "openai._models:FinalRequestOptions[headers,method,security,timeout,url]",
    "openai._constants:RAW_RESPONSE_HEADER",
    # The core reproduces the SDK's retry policy.
    "openai._base_client:BaseClient._should_retry",
    "openai._base_client:BaseClient._calculate_retry_timeout",
    "openai._base_client:BaseClient._parse_retry_after_header",
    "openai._base_client:SyncAPIClient.post",
    "openai._base_client:AsyncAPIClient.post",
    "openai.lib.azure:AzureOpenAI._prepare_options",
    "openai.lib.azure:AsyncAzureOpenAI._prepare_options",
    "openai._legacy_response:LegacyAPIResponse.parse",
    "openai._legacy_response:LegacyAPIResponse.headers",
)

# How LiteLLM's aiohttp transport reports a failed connection: transport_errors words the core's
# failures as it does, running its exception mapping on what aiohttp records, for the response
# head and the body alike (the async clients of both families have that transport).
_AIOHTTP_FAILURES = (
    "litellm.llms.custom_httpx.aiohttp_transport:map_aiohttp_exceptions",
    "litellm.llms.custom_httpx.aiohttp_transport:LiteLLMAiohttpTransport.handle_async_request",
    "litellm.llms.custom_httpx.aiohttp_transport:AiohttpResponseStream.__aiter__",
)

# Stock's OpenAI and Azure handlers, from the dispatch to the client they ask for and the
# raw-response calls they make on it (what the native SDK client must answer).
_OPENAI_HANDLER = (
    "litellm.llms.openai.common_utils:BaseOpenAILLM.get_cached_openai_client",
    "litellm.llms.openai.common_utils:BaseOpenAILLM._get_async_http_client",
    "litellm.llms.openai.common_utils:BaseOpenAILLM._get_sync_http_client",
    *_AIOHTTP_FAILURES,
)
_AZURE_HANDLER = (
    "litellm.llms.azure.common_utils:BaseAzureLLM.initialize_azure_sdk_client",
)

# LiteLLM's HTTP handlers, which http_transport builds as stock's getters build them and whose
# httpx client's transport and mounts it replaces; net_settings reads their TLS and proxy
# settings (LiteLLM's aiohttp transport included).
_HTTP_HANDLER = (
    "litellm.llms.custom_httpx.http_handler:HTTPHandler.__init__",
    "litellm.llms.custom_httpx.http_handler:HTTPHandler.post",
    "litellm.llms.custom_httpx.http_handler:AsyncHTTPHandler.__init__",
    "litellm.llms.custom_httpx.http_handler:AsyncHTTPHandler.create_client",
    "litellm.llms.custom_httpx.http_handler:AsyncHTTPHandler.post",
    "litellm.llms.custom_httpx.http_handler:get_async_httpx_client",
    "litellm.llms.custom_httpx.http_handler:get_httpx_client",
    "litellm.llms.custom_httpx.http_handler:_get_httpx_client",
    "litellm.llms.custom_httpx.http_handler:_default_cached_client_timeout",
    "litellm.llms.custom_httpx.aiohttp_transport:LiteLLMAiohttpTransport.__init__",
    "litellm.llms.custom_httpx.aiohttp_transport:LiteLLMAiohttpTransport._get_proxy_settings",
    *_AIOHTTP_FAILURES,
)

# LiteLLM's generic provider handler (xai, mistral, openrouter, ollama): where it asks for its
# clients and how it posts through them.
_GENERIC_HANDLER = (
    "litellm.llms.custom_httpx.llm_http_handler:BaseLLMHTTPHandler.completion",
    "litellm.llms.custom_httpx.llm_http_handler:BaseLLMHTTPHandler.async_completion",
    "litellm.llms.custom_httpx.llm_http_handler:BaseLLMHTTPHandler.make_sync_call",
    "litellm.llms.custom_httpx.llm_http_handler:BaseLLMHTTPHandler.acompletion_stream_function",
    "litellm.llms.custom_httpx.llm_http_handler:BaseLLMHTTPHandler.make_async_call_stream_helper",
    "litellm.llms.custom_httpx.llm_http_handler:BaseLLMHTTPHandler._make_common_sync_call",
    "litellm.llms.custom_httpx.llm_http_handler:BaseLLMHTTPHandler._make_common_async_call",
)

# LiteLLM's module-level clients (`litellm.module_level_client` / `_aclient`): http_transport
# recognises them by identity and posts with their timeout, as they are built lazily.
_MODULE_CLIENTS = (
    "litellm._lazy_imports:_module_level_client",
    "litellm._lazy_imports:_module_level_aclient",
    "litellm._lazy_imports:_lazy_import_http_handlers",
)


PATHS: Tuple[Path, ...] = (
    Path(
        "dispatch",
        "the provider dispatch hooks themselves; when off, nothing is patched",
        (
            # The fields of the dispatch context routing, dispatch and the lean handler read.
            "litellm.types.completion:_CompletionDispatchContext[acompletion,api_base,api_key,client,"
            "custom_llm_provider,extra_headers,headers,litellm_params,logging,messages,metadata,model,"
            "model_response,optional_params,organization,provider_config,shared_session,stream,timeout]",
        ),
    ),
    Path(
        "chat_openai_sdk",
        "chat for openai, lm_studio and azure through the OpenAI SDK client stock asks for",
        (
            "litellm.llms.openai.openai:OpenAIChatCompletion.completion",
            "litellm.llms.openai.openai:OpenAIChatCompletion.acompletion",
            "litellm.llms.openai.openai:OpenAIChatCompletion.streaming",
            "litellm.llms.openai.openai:OpenAIChatCompletion.async_streaming",
            "litellm.llms.openai.openai:OpenAIChatCompletion.make_sync_openai_chat_completion_request",
            "litellm.llms.openai.openai:OpenAIChatCompletion.make_openai_chat_completion_request",
            "litellm.llms.openai.openai:_request_without_sdk_transform",
            "litellm.llms.openai.openai:_raw_chat_response",
            # how stock dumps what `parse()` returns (sdk_transport's _Parsed answers it)
            "litellm.llms.openai.common_utils:model_dump_provider_response",
            "litellm.llms.azure.azure:AzureChatCompletion.completion",
            "litellm.llms.azure.azure:AzureChatCompletion.acompletion",
            "litellm.llms.azure.azure:AzureChatCompletion.streaming",
            "litellm.llms.azure.azure:AzureChatCompletion.async_streaming",
            "litellm.llms.azure.azure:AzureChatCompletion.make_sync_azure_openai_chat_completion_request",
            "litellm.llms.azure.azure:AzureChatCompletion.make_azure_openai_chat_completion_request",
            *_OPENAI_HANDLER,
            *_AZURE_HANDLER,
            "openai.resources.chat.completions.completions:Completions.create",
            "openai.resources.chat.completions.completions:AsyncCompletions.create",
            *_OPENAI_SDK,
        ),
    ),
    Path(
        "chat_http_handler",
        "chat for xai, mistral and openrouter through LiteLLM's HTTP handler",
        (*_GENERIC_HANDLER, *_HTTP_HANDLER),
    ),
    Path(
        "chat_anthropic",
        "anthropic chat (Messages API) through LiteLLM's HTTP handler",
        (
            "litellm.llms.anthropic.chat.handler:AnthropicChatCompletion.completion",
            "litellm.llms.anthropic.chat.handler:AnthropicChatCompletion.acompletion_function",
            "litellm.llms.anthropic.chat.handler:AnthropicChatCompletion.acompletion_stream_function",
            "litellm.llms.anthropic.chat.handler:make_call",
            "litellm.llms.anthropic.chat.handler:make_sync_call",
            *_HTTP_HANDLER,
            *_MODULE_CLIENTS,
        ),
    ),
    Path(
        "chat_gemini",
        "gemini chat (Google AI Studio) through LiteLLM's HTTP handler",
        (
            "litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini:VertexLLM.completion",
            "litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini:VertexLLM.async_completion",
            "litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini:VertexLLM.async_streaming",
            "litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini:make_call",
            "litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini:make_sync_call",
            # dispatch re-marks the lazily sent stream: the wrapper's make_call / completion_stream
            "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.__init__",
            "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.fetch_sync_stream",
            "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.fetch_stream",
            *_HTTP_HANDLER,
            *_MODULE_CLIENTS,
        ),
    ),
    Path(
        "chat_ollama",
        "ollama (/api/generate) and ollama_chat (/api/chat) through LiteLLM's HTTP handler",
        (*_GENERIC_HANDLER, *_HTTP_HANDLER),
    ),
    Path(
        "embedding_openai_sdk",
        "embeddings for openai, mistral and azure through the OpenAI SDK client stock asks for",
        (
            "litellm.llms.openai.openai:OpenAIChatCompletion.aembedding",
            "litellm.llms.openai.openai:OpenAIChatCompletion.make_sync_openai_embedding_request",
            "litellm.llms.openai.openai:OpenAIChatCompletion.make_openai_embedding_request",
            "litellm.llms.azure.azure:AzureChatCompletion.aembedding",
            *_OPENAI_HANDLER,
            *_AZURE_HANDLER,
            "openai.resources.embeddings:Embeddings.create",
            "openai.resources.embeddings:AsyncEmbeddings.create",
            "openai._models:construct_type",
            *_OPENAI_SDK,
        ),
    ),
    Path(
        "embedding_lm_studio",
        "lm_studio embeddings through LiteLLM's OpenAI-compatible embedding handler",
        ("litellm.llms.openai_like.embedding.handler:OpenAILikeEmbeddingHandler.aembedding", *_HTTP_HANDLER),
    ),
    Path(
        "embedding_gemini",
        "gemini embeddings (batchEmbedContents) through LiteLLM's HTTP handler",
        (
            "litellm.llms.vertex_ai.gemini_embeddings.batch_embed_content_handler:GoogleBatchEmbeddings"
            ".async_batch_embeddings",
            *_HTTP_HANDLER,
        ),
    ),
    Path(
        "embedding_ollama",
        "ollama embeddings (/api/embed) through LiteLLM's module-level clients",
        (*_HTTP_HANDLER, *_MODULE_CLIENTS),
    ),
    Path(
        "endpoints_http_handler",
        "LiteLLM's other endpoints through its generic HTTP handler: the Responses API (openai, azure, "
        "xai, openrouter), Anthropic's /v1/messages (anthropic), rerank (jina_ai), embeddings (jina_ai, "
        "openrouter), images (gemini, openrouter), transcription (mistral, xai) and speech (mistral)",
        # The handler's endpoint methods are hooked by signature only (the wrapper reads the
        # provider, the caller's client and timeout, and runs the method as it is); what they
        # send goes through the clients the getters hand them, built as stock builds them.
        _HTTP_HANDLER,
    ),
    Path(
        "lean",
        "the lean handler for non-streaming openai / lm_studio chat (else the regular native path)",
        (
            # lean_chat reproduces these, step by step and in order ...
            "litellm.main:_complete_custom_openai",
            "litellm.main:_resolve_openai_api_base",
            "litellm.llms.openai.openai:OpenAIChatCompletion.completion",
            "litellm.llms.openai.openai:OpenAIChatCompletion.acompletion",
            "litellm.llms.openai.openai:OpenAIChatCompletion.make_sync_openai_chat_completion_request",
            "litellm.llms.openai.openai:OpenAIChatCompletion.make_openai_chat_completion_request",
            "litellm.llms.openai.openai:OpenAIChatCompletion._call_agentic_completion_hooks_openai",
            "litellm.litellm_core_utils.logging_utils:track_llm_api_timing",
            # ... reads stock's client cache under stock's key ...
            "litellm.llms.openai.openai:OpenAIChatCompletion._get_openai_client",
            "litellm.llms.openai.common_utils:BaseOpenAILLM.get_openai_client_cache_key",
            "litellm.llms.openai.common_utils:BaseOpenAILLM.get_cached_openai_client",
            "litellm.caching.llm_caching_handler:LLMClientCache.get_cache",
            # ... and calls these as stock's handler calls them: what they do is stock's, run
            # as it is, so only how they are called is relied on (their signatures).
            "litellm.litellm_core_utils.llm_response_utils.convert_dict_to_response:convert_to_model_response_object()",
            "litellm.litellm_core_utils.litellm_logging:Logging.pre_call()",
            "litellm.litellm_core_utils.litellm_logging:Logging.post_call()",
            "litellm.litellm_core_utils.logging_utils:_set_duration_in_model_call_details()",
            "litellm.integrations.custom_logger:CustomLogger.async_should_run_chat_completion_agentic_loop()",
            "litellm.llms.base_llm.chat.transformation:with_attribution_headers()",
            "litellm.llms.openai.openai:OpenAIConfig.get_config()",
            "litellm.llms.openai.openai:OpenAIConfig.transform_parsed_response_dict()",
            "litellm.llms.openai.openai:OpenAIConfig.should_fake_stream()",
            "litellm.llms.openai.common_utils:model_dump_provider_response()",
            "litellm.main:_provider_config_items()",
            "litellm.main:_dispatch_client_http()",
            "litellm.main:_dispatch_metadata()",
            "openai.behaviour:request_building",
            "openai.behaviour:client_fields",
            "openai._base_client:BaseClient._should_retry",
            "openai._base_client:BaseClient._calculate_retry_timeout",
            "openai._base_client:BaseClient._parse_retry_after_header",
        ),
    ),
    Path(
        "shared_session",
        "calls carrying a caller's aiohttp session (the LiteLLM Proxy's shared one, `shared_session=`)",
        (
            # How LiteLLM puts a caller's session under its aiohttp transport, when it uses the
            # session or makes its own, and how it sends through it (headers merged by aiohttp,
            # its own timeout and TLS override per request): aiohttp_session reproduces that.
            "litellm.llms.custom_httpx.http_handler:AsyncHTTPHandler._create_aiohttp_transport",
            "litellm.llms.custom_httpx.aiohttp_transport:LiteLLMAiohttpTransport.__init__",
            "litellm.llms.custom_httpx.aiohttp_transport:LiteLLMAiohttpTransport._get_valid_client_session",
            "litellm.llms.custom_httpx.aiohttp_transport:LiteLLMAiohttpTransport._make_aiohttp_request",
            "litellm.llms.custom_httpx.aiohttp_transport:LiteLLMAiohttpTransport.handle_async_request",
            # Stock's getters: the cached handler or SDK client whose session counts.
            "litellm.llms.custom_httpx.http_handler:get_async_httpx_client",
            "litellm.llms.openai.common_utils:BaseOpenAILLM._get_async_http_client",
            # The one trace LiteLLM adds to the sessions it builds (the proxy's), accepted as
            # having nothing to trace on the core's requests.
            "litellm.llms.custom_httpx.aiohttp_pool_diagnostics:build_pool_wait_trace_config",
        ),
    ),
    Path(
        "fast_stream",
        "steady stream chunks built from a shape learned from stock's own chunks (every provider's streams)",
        (
            # fast_stream repeats what stock's wrapper does per chunk and reads its state ...
            "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.__init__",
            "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.__next__",
            "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.__anext__",
            "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.__repr__",
            "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.chunk_creator",
            "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.handle_openai_chat_completion_chunk",
            "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.return_processed_chunk_logic",
            "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.model_response_creator",
            "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.raise_on_model_repetition",
            "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.run_success_logging_and_cache_storage",
            "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.is_chunk_non_empty",
            "litellm.litellm_core_utils.thread_pool_executor:executor",
            # ... copies stock's chunk objects ...
            "litellm.types.utils:ModelResponseStream.__init__",
            "litellm.types.utils:StreamingChoices.__init__",
            "litellm.types.utils:Delta.__init__",
            # ... and shows stock's aggregation a compacted chunk list.
            "litellm.litellm_core_utils.streaming_handler:calculate_total_usage",
            "litellm.litellm_core_utils.streaming_chunk_builder_utils:ChunkProcessor",
            "litellm.main:stream_chunk_builder",
            # Frames are cut where the SDK's SSE decoder ends events.
            "openai._streaming:SSEDecoder",
            "openai._streaming:Stream.__stream__",
            "openai._streaming:AsyncStream.__stream__",
        ),
    ),
)

PATH_NAMES = tuple(p.name for p in PATHS)


# ---------------------------------------------------------------------------------------------
# Fingerprints


# ---------------------------------------------------------------------------------------------
# Behaviour: what a path relies on by what it does, not by the source that does it


# The SDK clients the behaviours observe, built once per fingerprinting: each is handed an httpx
# client without certificate loading (LiteLLM hands the SDK its own httpx clients too, and the
# SDK building a default one would load the CA bundle for every client: most of the cost).
_sdk_clients_built: List[Tuple[Any, bool, Any]] = []
_in_batch = False


def _sdk_clients() -> List[Tuple[Any, bool, Any]]:
    """(client, is_azure, the httpx client it was given), one per SDK client class, built with
    fixed settings."""
    if _sdk_clients_built:
        return _sdk_clients_built
    import httpx
    import openai

    given = {"api_key": "sk-behaviour-0123", "timeout": 7.5, "max_retries": 3}
    plain = {"base_url": "http://127.0.0.1:9/v1", "organization": "org-behaviour", "project": "proj-behaviour"}
    azure = {"azure_endpoint": "http://127.0.0.1:9", "api_version": "2024-10-21"}
    for cls, extra, is_azure in ((openai.OpenAI, plain, False), (openai.AsyncOpenAI, plain, False),
                                 (openai.AzureOpenAI, azure, True), (openai.AsyncAzureOpenAI, azure, True)):
        http = (httpx.AsyncClient if cls.__name__.startswith("Async") else httpx.Client)(verify=False)
        _sdk_clients_built.append((cls(**given, **extra, http_client=http), is_azure, http))
    return _sdk_clients_built


def _release_sdk_clients() -> None:
    for _, _, http in _sdk_clients_built:
        if hasattr(http, "close"):  # (the sync ones; an unused async client holds nothing)
            http.close()
    _sdk_clients_built.clear()


def _sdk_client_fields() -> str:
    """What sdk_transport reads off an OpenAI SDK client stock built: the settings it was given
    (key, organization, project, timeout, retries, base URL through the public `base_url`), the
    query and auth headers the SDK derives from them, Azure's token fields, and the httpx client
    it was handed (whose transport and mounts carry TLS and proxy settings). A refactor of the
    constructors that keeps these keeps the fingerprint."""
    seen = []
    for client, is_azure, http in _sdk_clients():
        url = client.base_url
        fact = {
            "class": type(client).__name__,
            "base_url": [f"{type(url).__module__.split('.')[0]}.{type(url).__qualname__}", str(url)],
            "settings": [client.api_key == "sk-behaviour-0123", repr(client.timeout), client.max_retries,
                         getattr(client, "organization", None), getattr(client, "project", None)],
            "query": sorted(dict(client._custom_query or {}).items()),
            "http": client._client is http,
        }
        if is_azure:
            # (the token fields' values may come from the environment: their kinds are compared)
            fact["azure"] = [type(client._azure_ad_token).__name__ in ("NoneType", "str"),
                             client._azure_ad_token_provider is None]
        else:
            fact["auth"] = sorted(client.auth_headers.items())
        seen.append(fact)
    return json.dumps(seen, sort_keys=True, default=repr)


_FRAMING_HEADERS = frozenset({"content-length", "accept-encoding", "connection", "host"})


def _sdk_request_building() -> str:
    """What `_build_request` makes of fixed options beyond what sdk_transport assumes of it:
    the method, the URL (base URL, path, query; Azure's deployment route), the JSON body, and
    any header that is not the client's own `_build_headers` output."""
    from openai._models import FinalRequestOptions

    seen = []
    for client, is_azure, _ in _sdk_clients():
        for path in ("/chat/completions", "/embeddings"):
            options = FinalRequestOptions.construct(
                method="post", url=path, headers={"X-Behaviour": "1"}, params={"q": "1"},
                json_data={"model": "model-b", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5})
            built = client._build_headers(options, retries_taken=0)
            try:
                request = client._build_request(options, retries_taken=0)
            except TypeError:  # releases whose _build_request takes no retry count
                request = client._build_request(options)
            # (The httpx client's own framing headers are the transport's, and depend on which
            # optional codecs are installed: left out.)
            extra = sorted((k.lower(), v) for k, v in request.headers.items()
                           if built.get(k) != v and k.lower() not in _FRAMING_HEADERS)
            missing = sorted(k.lower() for k in built if k not in request.headers)
            seen.append([type(client).__name__, is_azure, request.method, str(request.url),
                         json.loads(request.content or b"null"), extra, missing])
    return json.dumps(seen, sort_keys=True, default=repr)


def _sdk_client_copy() -> str:
    """What `client.copy(http_client=..., max_retries=0)` keeps and changes: sdk_transport
    replays an answer, and streams, on such a copy of the client stock built."""
    seen = []
    for client, _, http in _sdk_clients():
        copied = client.copy(http_client=http, max_retries=0)
        seen.append([type(copied).__name__, copied._client is http, copied.max_retries,
                     str(copied.base_url) == str(client.base_url), copied.api_key == client.api_key,
                     repr(copied.timeout) == repr(client.timeout),
                     dict(copied._custom_query or {}) == dict(client._custom_query or {}),
                     dict(copied._custom_headers or {}) == dict(client._custom_headers or {}),
                     getattr(copied, "organization", None) == getattr(client, "organization", None)])
    return json.dumps(seen, sort_keys=True, default=repr)


#: Behaviour references ("<component>.behaviour:<name>"), fingerprinted by what stock's code
#: does on fixed inputs (the function's text of what it saw), where a path reads what the code
#: produces rather than reproducing the code itself.
BEHAVIOURS: Dict[str, Callable[[], str]] = {
    "openai.behaviour:client_fields": _sdk_client_fields,
    "openai.behaviour:request_building": _sdk_request_building,
    "openai.behaviour:client_copy": _sdk_client_copy,
}


def component_of(ref: str) -> str:
    return ref.split(":", 1)[0].split(".", 1)[0]


def refs_by_path() -> Dict[str, Tuple[str, ...]]:
    """Every symbol each path relies on, in declaration order: its hook rows' targets (every
    alternative a row names), then its own declaration."""
    from . import table

    result: Dict[str, List[str]] = {p.name: [] for p in PATHS}
    for hook in table.HOOKS:
        for path in hook.paths:
            result[path].extend(table.refs(hook))
    for p in PATHS:
        result[p.name].extend(p.relies_on)
    return {name: tuple(dict.fromkeys(refs)) for name, refs in result.items()}


def all_refs() -> Tuple[str, ...]:
    return tuple(sorted({ref for refs in refs_by_path().values() for ref in refs}))


def _lookup(ref: str, strict: bool = False) -> Any:
    """The object a reference names; raises LookupError if the release has no such thing.

    At run time any failure to reach it counts as absence: a module that fails to import, or a
    lazy module attribute whose loader raises, is just as absent for the path relying on it.
    `strict` (gathering evidence from a release unpacked next to another's dependencies): only a
    module or attribute that really is not there is absent; any other failure is raised, so a
    broken environment is never recorded as a release's fingerprints."""
    module_name, _, qualname = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if strict and not (exc.name and (module_name == exc.name or module_name.startswith(exc.name + "."))):
            raise
        raise LookupError(ref) from exc
    except Exception as exc:  # noqa: BLE001
        if strict:
            raise
        raise LookupError(ref) from exc
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise LookupError(ref) from exc
        except Exception as exc:  # noqa: BLE001
            if strict:
                raise
            raise LookupError(ref) from exc
    return obj


def fingerprint(ref: str, strict: bool = False) -> str:
    """The fingerprint of one reference on the installed release (`strict`: see _lookup)."""
    if ref.endswith("()"):
        try:
            return _digest("signature:" + _signature(_lookup(ref[:-2], strict)))
        except LookupError:
            return MISSING
    observe = BEHAVIOURS.get(ref)
    if observe is not None:
        try:
            return _digest("behaviour:" + observe())
        except Exception:  # noqa: BLE001 - behaviour that cannot be observed is not there
            if strict:
                raise
            return MISSING
        finally:
            if not _in_batch:  # (one reference alone: nothing else will observe those clients)
                _release_sdk_clients()
    fields: Optional[Tuple[str, ...]] = None
    if ref.endswith("]") and "[" in ref:
        ref, _, listed = ref[:-1].partition("[")
        fields = tuple(name.strip() for name in listed.split(","))
    try:
        obj = _lookup(ref, strict)
    except LookupError:
        return MISSING
    if fields is not None:
        return _digest("fields:" + ",".join(name if name in _field_names(obj) else "!" + name for name in fields))
    return _object_fingerprint(obj)


def _signature(obj: Any) -> str:
    """How a function is called: its parameters' names, kinds and defaults, and whether it is a
    coroutine function (annotations left out: they do not change a call)."""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    try:
        obj = inspect.unwrap(obj)
    except ValueError:
        pass
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return "no signature"
    params = [(p.name, p.kind.name, None if p.default is p.empty else repr(p.default))
              for p in signature.parameters.values()]
    return json.dumps([inspect.iscoroutinefunction(obj), params])


def _field_names(cls: Any) -> frozenset:
    dataclass_fields = getattr(cls, "__dataclass_fields__", None)
    if isinstance(dataclass_fields, dict):
        return frozenset(dataclass_fields)
    model_fields = getattr(cls, "model_fields", None)  # pydantic
    if isinstance(model_fields, dict):
        return frozenset(model_fields)
    return frozenset(getattr(cls, "__annotations__", {}))


def _object_fingerprint(obj: Any) -> str:
    if isinstance(obj, property):
        obj = obj.fget
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, (str, int, float, bool, type(None))):
        return _digest("value:" + repr(obj))
    # The original behind any wrapper (this package's own hooks are wrapt wrappers).
    try:
        obj = inspect.unwrap(obj)
    except ValueError:
        pass
    known = _by_object.get(id(obj))
    if known is not None and known[0] is obj:
        return known[1]
    result = _code_fingerprint(obj)
    _by_object[id(obj)] = (obj, result)
    return result


def _code_fingerprint(obj: Any) -> str:
    if not (inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isclass(obj)):
        # An instance (a client cache, a thread pool): what matters is that it is there, and of
        # which class.
        cls = type(obj)
        return _digest(f"object:{cls.__module__}.{cls.__qualname__}")
    try:
        source = inspect.getsource(obj)
    except Exception:  # noqa: BLE001 - no .py file, a class defined dynamically, ...
        return NO_SOURCE
    return source_fingerprint(source)


def source_fingerprint(source: str) -> str:
    return _digest("source:" + normalised(source))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# Token types whose text is layout, not code. (Docstrings and other bare string statements
# are dropped further down: they do nothing.)
_LAYOUT = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
# Python 3.12 tokenizes f-strings (3.14: t-strings) into parts; older releases see one STRING.
_STRING_START = {getattr(tokenize, n) for n in ("FSTRING_START", "TSTRING_START") if hasattr(tokenize, n)}
_STRING_END = {getattr(tokenize, n) for n in ("FSTRING_END", "TSTRING_END") if hasattr(tokenize, n)}


def normalised(source: str) -> str:
    """The source's tokens, one space apart, one statement a line, with comments, blank lines,
    line continuations, indentation widths and bare string statements (docstrings) left out.

    Tokens rather than `ast.dump`: its output changes between Python releases (3.13 leaves
    empty fields out), while a token's text is the source's own, so the generator and the
    runtime check agree whichever Python each runs on. An f-string is taken whole, as its
    source text, because 3.12 splits it into parts where older releases see one token."""
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def at(position: Tuple[int, int]) -> int:
        return offsets[position[0] - 1] + position[1]

    statements: List[str] = []
    statement: List[str] = []
    only_strings = True
    depth = 0
    start = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            kind = token.type
            if kind in _STRING_START:
                if depth == 0:
                    start = at(token.start)
                depth += 1
                continue
            if depth:
                if kind in _STRING_END:
                    depth -= 1
                    if depth == 0:
                        statement.append(source[start:at(token.end)])
                continue
            if kind in _LAYOUT:
                continue
            if kind == tokenize.INDENT:
                statements.append(">")
                continue
            if kind == tokenize.DEDENT:
                statements.append("<")
                continue
            if kind == tokenize.NEWLINE:
                if statement and not only_strings:
                    statements.append(" ".join(statement))
                statement, only_strings = [], True
                continue
            if kind != tokenize.STRING:  # (an f-string taken whole leaves it as it was: a string)
                only_strings = False
            statement.append(token.string)
    except (tokenize.TokenError, SyntaxError):
        # Not tokenizable by this Python: compare the text itself, minus surrounding blanks.
        return "\n".join(line.strip() for line in lines if line.strip())
    if statement and not only_strings:
        statements.append(" ".join(statement))
    return "\n".join(statements)


def current_fingerprints(refs: Optional[Iterable[str]] = None, strict: bool = False) -> Dict[str, str]:
    """The installed release's fingerprint of every declared symbol (or of `refs`)."""
    wanted = all_refs() if refs is None else tuple(dict.fromkeys(refs))
    global _in_batch
    _by_object.clear()
    _in_batch = True  # (the SDK clients the behaviours build are shared within it)
    try:
        return {ref: fingerprint(ref, strict) for ref in wanted}
    finally:
        _in_batch = False
        _by_object.clear()
        _release_sdk_clients()


# Fingerprints by object while current_fingerprints runs: one class or function is often named
# under several modules (a getter each handler imports), and its source is read once.
_by_object: Dict[int, Tuple[Any, str]] = {}


def fingerprinter_stamp(ref: str) -> str:
    """A digest of the code that computes `ref`'s fingerprint (its behaviour function, or the
    hashing of sources and signatures): scripts/evidence.py takes a release's fingerprint of
    `ref` again when it changes."""
    if ref in BEHAVIOURS:
        parts = [BEHAVIOURS[ref], _sdk_clients]
    else:
        parts = [fingerprint, _lookup, _signature, _object_fingerprint, _code_fingerprint, normalised, _field_names]
    return _digest("".join(inspect.getsource(part) for part in parts))


# ---------------------------------------------------------------------------------------------
# Groups: what the evidence is recorded against


def group_digest(refs: Iterable[str], prints: Mapping[str, str]) -> str:
    """The digest of one path's fingerprints in one component: releases with the same digest
    run the same code wherever that path relies on it (one group, vetted once)."""
    return _digest("group:" + "\n".join(f"{ref}={prints.get(ref, NO_SOURCE)}" for ref in sorted(set(refs))))


def declaration_digest() -> str:
    """The digest of what the paths declare they rely on: shipped evidence made under another
    declaration names other groups (scripts/evidence.py must be run again)."""
    return _digest("declared:" + json.dumps(refs_by_path(), sort_keys=True))
