"""Wrappers placed on LiteLLM's provider dispatch: the per-provider chat functions
(main._complete_*) and the provider handlers' embedding methods.

Each asks the router whether the call can be native; if so it runs the stock dispatch with
the call marked, and the transport hooks hand stock's own handler code a Rust-backed client.
Everything the handler does around the HTTP exchange (resolving keys and URLs, building the
body, logging, mapping errors, building the response object) stays LiteLLM's, for its version.
"""

from __future__ import annotations

import inspect
from typing import Any

from . import fast_stream, lean_chat
from ..state import marks
from ..decide import routing
from ..state import stats


def complete(wrapped, _instance, args, kwargs):
    """On main._complete_<provider>(ctx)."""
    ctx = args[0] if args else kwargs["ctx"]
    reason = routing.chat_refusal(ctx)
    if reason is not None:
        marks.refuse(reason)
        return wrapped(*args, **kwargs)
    provider = ctx.custom_llm_provider
    if provider in routing.LEAN_PROVIDERS:
        not_lean = routing.lean_refusal(ctx)
        if not_lean is None:
            return _run_lean(wrapped, args, kwargs, ctx, provider)
        stats.count_not_lean(not_lean)
    # A streamed call is marked with what the fast stream path needs to read its body.
    stream = fast_stream.stream_call(provider) if ctx.stream else False
    return _run_marked(wrapped, args, kwargs, provider, stream)


def _run_lean(wrapped, args, kwargs, ctx, provider: str):
    """The lean handler, marked like any native call (it may hand the call to stock's dispatch,
    which must then find the mark); an async result is a coroutine to mark in its own task."""
    token = marks.active_call.set(provider)
    stream_token = marks.active_stream.set(False)
    try:
        result = lean_chat.complete(wrapped, args, kwargs, ctx)
    finally:
        marks.active_stream.reset(stream_token)
        marks.active_call.reset(token)
    if inspect.iscoroutine(result):
        return _marked(result, provider, False)
    return result


def embed(wrapped, _instance, args, kwargs):
    """On <Provider>Handler.embedding(...), which main.embedding calls with keywords only."""
    logging_obj = kwargs.get("logging_obj")
    details = getattr(logging_obj, "model_call_details", None) or {}
    provider = details.get("custom_llm_provider")
    if args:
        reason = "unexpected_call_shape"
    else:
        reason = routing.embedding_refusal(
            provider, kwargs.get("client"), kwargs.get("timeout"), kwargs.get("shared_session")
        )
    if reason is not None:
        marks.refuse(reason)
        return wrapped(*args, **kwargs)
    return _run_marked(wrapped, args, kwargs, provider, endpoint="embedding")


# --- LiteLLM's other endpoints (the generic handler's methods, hooked by signature only)

_SIGNATURES: dict = {}


def _arguments(wrapped, args, kwargs) -> dict:
    """The call's arguments by name. LiteLLM's callers pass them by keyword: those are used as
    they are (binding costs microseconds a call); a positional call is bound to the signature."""
    if not args:
        return kwargs
    function = getattr(wrapped, "__func__", wrapped)
    signature = _SIGNATURES.get(function)
    if signature is None:
        signature = _SIGNATURES[function] = inspect.signature(wrapped)
    return signature.bind_partial(*args, **kwargs).arguments


def _endpoint(endpoint: str, wrapped, args, kwargs, streamed=lambda given: False):
    """One of the generic handler's endpoint methods: the call marked as native (its clients
    then send through the core), or refused with the reason counted."""
    try:
        given = _arguments(wrapped, args, kwargs)
    except TypeError:  # not a call stock accepts: stock raises its own error
        marks.refuse("unexpected_call_shape")
        return wrapped(*args, **kwargs)
    provider = given.get("custom_llm_provider")
    reason = routing.endpoint_refusal(endpoint, provider, given.get("client"), given.get("timeout"),
                                      given.get("shared_session"))
    if reason is not None:
        marks.refuse(reason)
        return wrapped(*args, **kwargs)
    return _run_marked(wrapped, args, kwargs, provider, streamed(given), endpoint)


def _responses_streamed(given: dict) -> bool:
    """A stream the handler fakes is one whole answer; a real one is read as it arrives."""
    params = given.get("response_api_optional_request_params")
    return isinstance(params, dict) and bool(params.get("stream")) and not given.get("fake_stream")


def responses(wrapped, _instance, args, kwargs):
    """On BaseLLMHTTPHandler.response_api_handler (the Responses API)."""
    return _endpoint("responses", wrapped, args, kwargs, _responses_streamed)


def anthropic_messages(wrapped, _instance, args, kwargs):
    """On BaseLLMHTTPHandler.anthropic_messages_handler (Anthropic's /v1/messages interface)."""
    return _endpoint("messages", wrapped, args, kwargs, lambda given: bool(given.get("stream")))


def image_generation(wrapped, _instance, args, kwargs):
    """On BaseLLMHTTPHandler.image_generation_handler."""
    return _endpoint("image_generation", wrapped, args, kwargs)


def transcription(wrapped, _instance, args, kwargs):
    """On BaseLLMHTTPHandler.audio_transcriptions (multipart uploads: the body stock built is
    sent as it is)."""
    return _endpoint("transcription", wrapped, args, kwargs)


def speech(wrapped, _instance, args, kwargs):
    """On BaseLLMHTTPHandler.text_to_speech_handler."""
    return _endpoint("speech", wrapped, args, kwargs)


def rerank(wrapped, _instance, args, kwargs):
    """On BaseLLMHTTPHandler.rerank."""
    return _endpoint("rerank", wrapped, args, kwargs)


def generic_embedding(wrapped, _instance, args, kwargs):
    """On BaseLLMHTTPHandler.embedding (the providers main.embedding sends to the generic handler)."""
    return _endpoint("embedding", wrapped, args, kwargs)


def _run_marked(wrapped, args, kwargs, provider: str, stream: Any = False, endpoint: str = "chat"):
    """`stream`: False, or what marks a streamed call (True, or fast_stream.StreamCall)."""
    token = marks.active_call.set(provider)
    stream_token = marks.active_stream.set(stream)
    endpoint_token = marks.active_endpoint.set(endpoint)
    try:
        result = wrapped(*args, **kwargs)
    finally:
        marks.active_endpoint.reset(endpoint_token)
        marks.active_stream.reset(stream_token)
        marks.active_call.reset(token)
    if inspect.iscoroutine(result):
        # The async variants return an un-started coroutine; the exchange happens when LiteLLM
        # awaits it, so the mark must be set inside it, in the awaiting task.
        return _marked(result, provider, stream, endpoint)
    return _carry_mark_into_lazy_stream(result, provider, stream, endpoint)


async def _marked(coroutine, provider: str, stream: Any, endpoint: str = "chat"):
    token = marks.active_call.set(provider)
    stream_token = marks.active_stream.set(stream)
    endpoint_token = marks.active_endpoint.set(endpoint)
    try:
        result = await coroutine
    finally:
        marks.active_endpoint.reset(endpoint_token)
        marks.active_stream.reset(stream_token)
        marks.active_call.reset(token)
    return _carry_mark_into_lazy_stream(result, provider, stream, endpoint)


def _carry_mark_into_lazy_stream(result, provider: str, stream: Any, endpoint: str):
    """Some handlers (Gemini's) return their stream wrapper before sending anything: the
    wrapper's `make_call` sends the request when the caller first reads, after the dispatch
    has returned. That call belongs to this dispatch, so it runs marked too. (Chat streams
    only: the other endpoints' streams have sent their request when the handler returns, and
    their chunks are not chat chunks.)"""
    if not stream or endpoint != "chat":  # the common case first: no attribute lookups on a ModelResponse
        return result
    make_call = getattr(result, "make_call", None)
    if make_call is None or getattr(result, "completion_stream", None) is not None:
        return fast_stream.adopt(result, provider, stream)

    def marked_call(*args, **kwargs):
        return _run_marked(make_call, args, kwargs, provider, stream, endpoint)

    result.make_call = marked_call
    return fast_stream.adopt(result, provider, stream)
