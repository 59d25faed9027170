"""What each native path relies on in LiteLLM and the OpenAI SDK, and which paths the installed
release may run.

The hooks replace, reproduce or call into private LiteLLM code (and read private fields of the
OpenAI SDK's clients). A release the suite has run against is *tested*: its fingerprints (a
hash of each relied-on symbol) are recorded in `fingerprints.json` by `scripts/fingerprints.py`.
On any other release, each path is on only if, for each package it relies on (`litellm`,
`openai`), some tested release has exactly the fingerprints the installed code has; every other
path is left to stock LiteLLM, and `status()` says why. A release that changes nothing a path
relies on is served natively the day it ships; one that changes something is served by stock.

What a path relies on is declared here once, as data:
  * the symbols its hook rows replace (`hooks.HOOKS`, each row names its paths), and
  * `PATHS[...].relies_on`: what it reproduces, calls into, or whose fields it reads.
A symbol is `"module:qualname"`; `"module:Class[a,b]"` is the named fields of a class (a
dataclass or pydantic model), for code that reads those fields of an object stock built.

When a module here starts relying on another stock symbol, add it to its path and re-vet the
tested releases (`scripts/vet.sh VERSION`): a record lacking a declared symbol matches nothing.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import io
import json
import tokenize
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from . import versions

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
    "openai._client:OpenAI.__init__",
    "openai._client:OpenAI.auth_headers",
    "openai._client:OpenAI.copy",
    "openai._client:AsyncOpenAI.__init__",
    "openai._client:AsyncOpenAI.copy",
    "openai._base_client:BaseClient.__init__",
    "openai._base_client:BaseClient._build_request",
    "openai._base_client:BaseClient._build_headers",
    # sdk_transport asks the SDK client for its request headers through `_build_headers`, with
    # options it builds itself, and hands that client's raw-response header over.
    "openai._base_client:BaseClient.default_headers",
    "openai._base_client:BaseClient.platform_headers",
    "openai._client:OpenAI.default_headers",
    "openai._client:AsyncOpenAI.default_headers",
    "openai._models:FinalRequestOptions[headers,method,security,timeout,url]",
    "openai._constants:RAW_RESPONSE_HEADER",
    "openai._base_client:BaseClient._prepare_url",
    "openai._base_client:BaseClient._should_retry",
    "openai._base_client:BaseClient._calculate_retry_timeout",
    "openai._base_client:BaseClient._parse_retry_after_header",
    "openai._base_client:SyncAPIClient.post",
    "openai._base_client:AsyncAPIClient.post",
    "openai.lib.azure:AzureOpenAI.__init__",
    "openai.lib.azure:AsyncAzureOpenAI.__init__",
    "openai.lib.azure:BaseAzureClient._build_request",
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
            "openai._streaming:Stream.__stream__",
            "openai._streaming:AsyncStream.__stream__",
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
            # ... and calls these as stock's handler calls them.
            "litellm.litellm_core_utils.llm_response_utils.convert_dict_to_response:convert_to_model_response_object",
            "litellm.litellm_core_utils.litellm_logging:Logging.pre_call",
            "litellm.litellm_core_utils.litellm_logging:Logging.post_call",
            "litellm.litellm_core_utils.logging_utils:_set_duration_in_model_call_details",
            "litellm.integrations.custom_logger:CustomLogger.async_should_run_chat_completion_agentic_loop",
            "litellm.llms.base_llm.chat.transformation:with_attribution_headers",
            "litellm.llms.openai.openai:OpenAIConfig.get_config",
            "litellm.llms.openai.openai:OpenAIConfig.transform_parsed_response_dict",
            "litellm.llms.openai.openai:OpenAIConfig.should_fake_stream",
            "litellm.llms.openai.common_utils:model_dump_provider_response",
            "litellm.main:_provider_config_items",
            "litellm.main:_dispatch_client_http",
            "litellm.main:_dispatch_metadata",
            "openai._base_client:BaseClient._build_request",
            "openai._base_client:BaseClient._should_retry",
            "openai._base_client:BaseClient._calculate_retry_timeout",
            "openai._base_client:BaseClient._parse_retry_after_header",
            "openai._client:OpenAI.auth_headers",
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


def component_of(ref: str) -> str:
    return ref.split(":", 1)[0].split(".", 1)[0]


def refs_by_path() -> Dict[str, Tuple[str, ...]]:
    """Every symbol each path relies on, in declaration order: its hook rows' targets (every
    alternative a row names), then its own declaration."""
    from . import hooks

    result: Dict[str, List[str]] = {p.name: [] for p in PATHS}
    for hook in hooks.HOOKS:
        for path in hook.paths:
            result[path].extend(hooks.refs(hook))
    for p in PATHS:
        result[p.name].extend(p.relies_on)
    return {name: tuple(dict.fromkeys(refs)) for name, refs in result.items()}


def all_refs() -> Tuple[str, ...]:
    return tuple(sorted({ref for refs in refs_by_path().values() for ref in refs}))


def _lookup(ref: str) -> Any:
    """The object a reference names; raises LookupError if the release has no such thing."""
    module_name, _, qualname = ref.partition(":")
    # Not only ImportError / AttributeError: a module that fails to import in another way, or a
    # lazy module attribute whose loader raises, is just as absent for the path relying on it.
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001
        raise LookupError(ref) from exc
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except Exception as exc:  # noqa: BLE001
            raise LookupError(ref) from exc
    return obj


def fingerprint(ref: str) -> str:
    """The fingerprint of one reference on the installed release."""
    fields: Optional[Tuple[str, ...]] = None
    if ref.endswith("]") and "[" in ref:
        ref, _, listed = ref[:-1].partition("[")
        fields = tuple(name.strip() for name in listed.split(","))
    try:
        obj = _lookup(ref)
    except LookupError:
        return MISSING
    if fields is not None:
        return _digest("fields:" + ",".join(name if name in _field_names(obj) else "!" + name for name in fields))
    return _object_fingerprint(obj)


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


def current_fingerprints(refs: Optional[Iterable[str]] = None) -> Dict[str, str]:
    """The installed release's fingerprint of every declared symbol (or of `refs`)."""
    wanted = all_refs() if refs is None else tuple(dict.fromkeys(refs))
    _by_object.clear()
    try:
        return {ref: fingerprint(ref) for ref in wanted}
    finally:
        _by_object.clear()


# Fingerprints by object while current_fingerprints runs: one class or function is often named
# under several modules (a getter each handler imports), and its source is read once.
_by_object: Dict[int, Tuple[Any, str]] = {}


# ---------------------------------------------------------------------------------------------
# The decision


@dataclass(frozen=True)
class PathState:
    on: bool
    #: Why the path is off, for people ("litellm 1.111.0 changed what chat_anthropic relies on
    #: (...)"); None when on.
    reason: Optional[str] = None
    #: The counted fallback reason for the calls it would have served ("litellm_changed:<path>").
    code: Optional[str] = None
    #: The tested LiteLLM releases whose fingerprints the path matches.
    matches: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    #: "tested" (a recorded release: every path on, nothing hashed) or "decided by fingerprints".
    release: str
    versions: Mapping[str, Optional[str]]
    paths: Mapping[str, PathState] = field(default_factory=dict)

    def on(self, path: str) -> bool:
        state = self.paths.get(path)
        return state is not None and state.on


TESTED = "tested"
BY_FINGERPRINTS = "decided by fingerprints"


def installed_versions() -> Dict[str, Optional[str]]:
    return {c: versions.installed_litellm() if c == "litellm" else versions.installed(c) for c in COMPONENTS}


def _release_label(record: Mapping[str, Any]) -> str:
    return str(record["versions"].get("litellm"))


def decide_paths(
    refs: Mapping[str, Sequence[str]],
    records: Sequence[Mapping[str, Any]],
    current: Mapping[str, str],
    installed: Mapping[str, Optional[str]],
) -> Dict[str, PathState]:
    """Each path on iff, for each component it relies on, some record has exactly the current
    fingerprints of that component's symbols (components may match different records)."""
    ordered = sorted(records, key=lambda r: versions.parse(_release_label(r)) or (), reverse=True)  # newest first
    result: Dict[str, PathState] = {}
    for path, path_refs in refs.items():
        matches: Tuple[str, ...] = ()
        state: Optional[PathState] = None
        for component in COMPONENTS:
            wanted = [ref for ref in path_refs if component_of(ref) == component]
            if not wanted:
                continue
            matching = [r for r in ordered if not _differences(wanted, r, current)]
            if not matching:
                state = _off(path, component, wanted, ordered, current, installed)
                break
            if component == "litellm":
                matches = tuple(sorted({_release_label(r) for r in matching}, key=lambda v: versions.parse(v) or ()))
        result[path] = state or PathState(on=True, matches=matches)
    return result


def _differences(wanted: Sequence[str], record: Mapping[str, Any], current: Mapping[str, str]) -> List[str]:
    recorded = record["fingerprints"]
    return [
        ref for ref in wanted
        if current.get(ref, NO_SOURCE) == NO_SOURCE or recorded.get(ref) != current.get(ref)
    ]


def _off(path: str, component: str, wanted: Sequence[str], ordered: Sequence[Mapping[str, Any]],
         current: Mapping[str, str], installed: Mapping[str, Optional[str]]) -> PathState:
    code = f"{component}_changed:{path}"
    who = f"{component} {installed.get(component)}"
    if not ordered:
        return PathState(False, f"no tested release is recorded for {path}", code)
    # Named against the tested release closest to the installed code (fewest differences,
    # newest first on a tie): the first symbol, in declaration order, that differs from it.
    closest = min(ordered, key=lambda r: len(_differences(wanted, r, current)))
    differing = _differences(wanted, closest, current)
    first = differing[0]
    detail = first + (" is gone" if current.get(first) == MISSING else "")
    if len(differing) > 1:
        detail += f", and {len(differing) - 1} more"
    return PathState(False, f"{who} changed what {path} relies on ({detail})", code)


_decision: Optional[Decision] = None


def decision() -> Decision:
    """The decision for the installed release, made once per set of installed versions. On a
    tested release nothing is hashed; on any other, every declared symbol is, once."""
    global _decision
    installed = installed_versions()
    cached = _decision
    if cached is not None and cached.versions == installed:
        return cached
    records = versions.records()
    if any(r["versions"] == installed for r in records):
        made = Decision(TESTED, installed, {
            name: PathState(on=True, matches=(str(installed["litellm"]),)) for name in PATH_NAMES
        })
    else:
        refs = refs_by_path()
        current = current_fingerprints(ref for path_refs in refs.values() for ref in path_refs)
        made = Decision(BY_FINGERPRINTS, installed, decide_paths(refs, records, current, installed))
    _decision = made
    return made


def behaves_as(path: str) -> Optional[str]:
    """The newest tested LiteLLM release whose fingerprints `path` matches (on a tested release,
    that release), or None if the path is off: what release-specific code on the path should
    follow, rather than the installed version number."""
    state = decision().paths.get(path)
    return state.matches[-1] if state is not None and state.on and state.matches else None


def forget() -> None:
    """Decide again on the next call (tests that change what is installed)."""
    global _decision
    _decision = None


# ---------------------------------------------------------------------------------------------
# Recording (scripts/fingerprints.py, scripts/vet.sh)


def record() -> Dict[str, Any]:
    """The record of the installed release: its versions and every declared fingerprint."""
    return {"versions": installed_versions(), "fingerprints": current_fingerprints()}


def store(new: Mapping[str, Any], path: Optional[str] = None) -> List[Mapping[str, Any]]:
    """Add (or replace) the record for its versions in the data file; returns all records."""
    target = path or str(versions.FINGERPRINTS)
    try:
        with open(target, encoding="utf-8") as fh:
            existing = json.load(fh).get("records", [])
    except FileNotFoundError:
        existing = []
    kept = [r for r in existing if r["versions"] != new["versions"]] + [dict(new)]
    kept.sort(key=lambda r: tuple(versions.parse(str(r["versions"].get(c) or "")) or () for c in COMPONENTS))
    document = {
        "about": "Generated by scripts/fingerprints.py (scripts/vet.sh) from the tested releases; never edited "
                 "by hand. See edgequake_patch/reliance.py.",
        "records": kept,
    }
    with open(target, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=1, sort_keys=True)
        fh.write("\n")
    return kept


def main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", action="store_true", help="record the installed release into the data file")
    parser.add_argument("--file", help="the data file (default: the package's fingerprints.json)")
    args = parser.parse_args(argv)
    if args.record:
        made = record()
        store(made, args.file)
        print(f"recorded litellm {made['versions']['litellm']} (openai {made['versions']['openai']}): "
              f"{len(made['fingerprints'])} symbols, {sum(v == MISSING for v in made['fingerprints'].values())} absent")
        return 0
    forget()
    made_decision = decision()
    print(f"litellm {made_decision.versions['litellm']}, openai {made_decision.versions['openai']}: "
          f"{made_decision.release}")
    for name, state in made_decision.paths.items():
        print(f"  {name:22} {'on ' if state.on else 'off'}  {state.reason or 'behaves as ' + ', '.join(state.matches)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
