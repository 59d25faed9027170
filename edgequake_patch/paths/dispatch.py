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
    return _run_marked(wrapped, args, kwargs, provider)


def _run_marked(wrapped, args, kwargs, provider: str, stream: Any = False):
    """`stream`: False, or what marks a streamed call (True, or fast_stream.StreamCall)."""
    token = marks.active_call.set(provider)
    stream_token = marks.active_stream.set(stream)
    try:
        result = wrapped(*args, **kwargs)
    finally:
        marks.active_stream.reset(stream_token)
        marks.active_call.reset(token)
    if inspect.iscoroutine(result):
        # The async variants return an un-started coroutine; the exchange happens when LiteLLM
        # awaits it, so the mark must be set inside it, in the awaiting task.
        return _marked(result, provider, stream)
    return _carry_mark_into_lazy_stream(result, provider, stream)


async def _marked(coroutine, provider: str, stream: Any):
    token = marks.active_call.set(provider)
    stream_token = marks.active_stream.set(stream)
    try:
        result = await coroutine
    finally:
        marks.active_stream.reset(stream_token)
        marks.active_call.reset(token)
    return _carry_mark_into_lazy_stream(result, provider, stream)


def _carry_mark_into_lazy_stream(result, provider: str, stream: Any):
    """Some handlers (Gemini's) return their stream wrapper before sending anything: the
    wrapper's `make_call` sends the request when the caller first reads, after the dispatch
    has returned. That call belongs to this dispatch, so it runs marked too."""
    if not stream:  # the common case first: no attribute lookups on a ModelResponse
        return result
    make_call = getattr(result, "make_call", None)
    if make_call is None or getattr(result, "completion_stream", None) is not None:
        return fast_stream.adopt(result, provider, stream)

    def marked_call(*args, **kwargs):
        return _run_marked(make_call, args, kwargs, provider, stream)

    result.make_call = marked_call
    return fast_stream.adopt(result, provider, stream)
