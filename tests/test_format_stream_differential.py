"""Streaming for Anthropic (SSE events), Gemini (streamGenerateContent?alt=sse) and Ollama
(NDJSON), patch off vs on, sync and async: request, every chunk, the built response, errors
and callbacks match stock, and the patched stream went through the core."""

from __future__ import annotations

import litellm
import pytest

from tests.differential import assert_same, compare, litellm_stream
from tests.native_formats import ANTHROPIC_THINKING, CHAT, GEMINI_THINKING, MESSAGES, WEATHER_TOOL, kwargs

# Thinking-capable models, so the reasoning scenario applies to every provider.
PROVIDERS = {**CHAT, "anthropic": ANTHROPIC_THINKING, "gemini": GEMINI_THINKING}
SCENARIOS = {
    "text": {},
    "tool_calls": {"tools": [WEATHER_TOOL]},
    "reasoning": {"reasoning_effort": "low"},
}
STREAM_PATH = {
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
    "ollama": "/api/generate",
    "ollama_chat": "/api/chat",
}


def _stream(provider, standin, *, is_async, suffix="", **extra):
    return litellm_stream({"messages": MESSAGES, **kwargs(PROVIDERS[provider], standin, suffix), **extra}, is_async=is_async)


def _sent(outcome, provider):
    sent = [r for r in outcome.requests if r["path"].startswith(STREAM_PATH[provider].rsplit(":", 1)[0])]
    assert len(sent) == 1, [r["path"] for r in outcome.requests]
    return sent[0]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_stream_matches_stock(provider, scenario, is_async, standin, patch):
    comparison = compare(_stream(provider, standin, is_async=is_async, **SCENARIOS[scenario]), standin, patch)
    assert_same(comparison)
    streamed = comparison.patched.result
    assert streamed.is_stock_wrapper and streamed.error is None
    assert len(streamed.chunks) >= 2
    request = _sent(comparison.patched, provider)
    assert request["path"] == STREAM_PATH[provider]
    if provider == "gemini":
        assert request["query"] == {"alt": ["sse"]}
    else:
        assert request["body"]["stream"] is True
    built = litellm.stream_chunk_builder(streamed.chunks, messages=MESSAGES)
    message = built.choices[0].message
    if scenario == "tool_calls" and provider != "ollama":
        assert message.tool_calls[0].function.name == "get_current_weather"
        assert message.tool_calls[0].function.arguments == '{"location": "Boston, MA"}'
    elif scenario == "tool_calls":  # /api/generate: the call arrives as JSON text
        assert '"get_current_weather"' in (message.content or "") or message.tool_calls
    else:
        assert message.content == "Hello from the stand-in."
    if scenario == "reasoning":
        assert message.reasoning_content == "The user greets me; a short greeting answers it."


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_stream_broken_mid_way_matches_stock(provider, is_async, standin, patch):
    comparison = compare(
        _stream(provider, standin, is_async=is_async, suffix="-close-mid-stream"), standin, patch, racy=(".log_event_type",)
    )
    assert_same(comparison)
    failed = comparison.patched.error or comparison.patched.result.error
    assert failed is not None
    _sent(comparison.patched, provider)  # never sent twice


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_stream_error_status_matches_stock(provider, is_async, standin, patch):
    comparison = compare(_stream(provider, standin, is_async=is_async, suffix="-error-429"), standin, patch)
    assert_same(comparison)
    error = comparison.patched.error or comparison.patched.result.error
    assert error is not None
    # The provider's own error body reached the exception (its class and status are stock's
    # choice: LiteLLM 1.95 reports an Ollama 429 as an APIConnectionError).
    assert RATE_LIMIT_TEXT[provider] in str(error), error


RATE_LIMIT_TEXT = {
    "anthropic": "rate_limit_error",
    "gemini": "RESOURCE_EXHAUSTED",
    "ollama": "too many requests",
    "ollama_chat": "too many requests",
}


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
# Not gemini: stock reads Gemini's stream through LiteLLM's module-level client, whose timeout
# is litellm.request_timeout, not the call's, so a stalled Gemini stream hangs stock as well.
@pytest.mark.parametrize("provider", ["anthropic", "ollama", "ollama_chat"])
def test_stream_read_timeout_matches_stock(provider, is_async, standin, patch):
    call = _stream(provider, standin, is_async=is_async, suffix="-hang-mid-stream", timeout=0.5)
    comparison = compare(call, standin, patch)
    assert_same(comparison)
    error = comparison.patched.result.error if comparison.patched.result is not None else comparison.patched.error
    assert error is not None
    assert "imeout" in str(error) or "timed out" in str(error), error


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_leaving_early_closes_the_connection(provider, is_async, standin, patch):
    """Leaving after the first chunk (dropping a sync stream, `aclose()` on an async one) closes
    the native connection while the provider is still sending."""
    import asyncio
    import gc
    import time

    from edgequake_patch.state import stats

    call_kwargs = {"messages": MESSAGES, "stream": True, "timeout": 10.0, **kwargs(PROVIDERS[provider], standin, "-hang-mid-stream")}
    patch.on()
    standin.reset()
    before = stats.native_calls[provider]
    if is_async:

        async def leave():
            stream = await litellm.acompletion(**call_kwargs)
            first = await stream.__anext__()
            await stream.aclose()
            return first

        first = asyncio.run(leave())
    else:
        stream = litellm.completion(**call_kwargs)
        first = next(iter(stream))
        del stream
    assert first.choices[0].delta is not None
    assert stats.native_calls[provider] == before + 1
    deadline = time.monotonic() + 5.0
    while not any(e["event"] == "client_disconnected" for e in standin.events()):
        assert time.monotonic() < deadline, "the stand-in did not see the connection close"
        gc.collect()
        time.sleep(0.05)
    assert len([r for r in standin.requests() if r["path"] != "/api/show"]) == 1
