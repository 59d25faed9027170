"""Anthropic Messages API (`anthropic/`), patch off vs on, sync and async.

Stock LiteLLM builds the /v1/messages request and parses the answer in both runs; the patched
run must be indistinguishable (request, response, exception, callbacks) and go through the core.
"""

from __future__ import annotations

import litellm
import pytest

from tests.differential import assert_same, compare, litellm_call
from tests.native_formats import (
    ANTHROPIC,
    ANTHROPIC_THINKING,
    IMAGE_MESSAGES,
    JSON_SCHEMA,
    MESSAGES,
    TOOL_RESULT_TURN,
    WEATHER_TOOL,
    WITH_SYSTEM,
    closed_port,
    kwargs,
)

SCENARIOS = {
    "text": {},
    "system_message": {"messages": WITH_SYSTEM},
    "sampling_and_max_tokens": {"temperature": 0.3, "top_p": 0.9, "max_tokens": 50, "top_k": 5},
    "stop_sequences": {"stop": ["END", "\n\nHuman:"]},
    "multimodal_base64": {"messages": IMAGE_MESSAGES},
    "tools_auto": {"tools": [WEATHER_TOOL], "tool_choice": "auto"},
    "tools_required": {"tools": [WEATHER_TOOL], "tool_choice": "required"},
    "tools_named": {"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "get_current_weather"}}},
    "tool_result_turn": {"messages": TOOL_RESULT_TURN, "tools": [WEATHER_TOOL]},
    "json_object": {"response_format": {"type": "json_object"}},
    "json_schema": {"response_format": JSON_SCHEMA},
    "cache_control": {
        "messages": [
            {
                "role": "system",
                "content": [{"type": "text", "text": "A long, reusable preamble.", "cache_control": {"type": "ephemeral"}}],
            },
            {"role": "user", "content": [{"type": "text", "text": "Say hello.", "cache_control": {"type": "ephemeral"}}]},
        ]
    },
    "user_metadata": {"user": "user-1234"},
    "extra_headers": {"extra_headers": {"anthropic-beta": "prompt-caching-2024-07-31", "X-Trace-Id": "trace-42"}},
}
THINKING_SCENARIOS = {
    "thinking_budget": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
    "reasoning_effort": {"reasoning_effort": "low"},
    "thinking_with_tools": {"thinking": {"type": "enabled", "budget_tokens": 1024}, "tools": [WEATHER_TOOL]},
}
ERROR_MARKERS = [
    "error-400", "error-401", "error-403", "error-404", "error-413", "error-429", "error-500", "error-529",
    "ctx-length", "garbled", "not-json", "wrong-shape", "empty-body", "html-502",
]


def _call(standin, *, is_async, provider=ANTHROPIC, suffix="", **overrides):
    return litellm_call("completion", {"messages": MESSAGES, **kwargs(provider, standin, suffix), **overrides}, is_async=is_async)


def _success(comparison):
    assert_same(comparison)
    assert comparison.stock.error is None, comparison.stock.error
    assert len(comparison.patched.requests) == 1
    assert comparison.patched.requests[0]["path"] == "/v1/messages"
    assert comparison.patched.requests[0]["headers"]["x-api-key"] == ANTHROPIC.key
    return comparison.patched.result


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_success_scenarios(scenario, is_async, standin, patch):
    result = _success(compare(_call(standin, is_async=is_async, **SCENARIOS[scenario]), standin, patch))
    assert result.choices[0].message is not None
    assert result.usage.prompt_tokens > 0


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("scenario", sorted(THINKING_SCENARIOS))
def test_thinking_scenarios(scenario, is_async, standin, patch):
    call = _call(standin, is_async=is_async, provider=ANTHROPIC_THINKING, **THINKING_SCENARIOS[scenario])
    result = _success(compare(call, standin, patch))
    message = result.choices[0].message
    assert message.reasoning_content == "The user greets me; a short greeting answers it."
    assert message.thinking_blocks[0]["signature"].startswith("EqQB")


def test_values_reach_the_caller(standin, patch):
    """The fields the scenarios above compare are the real ones: text, tool call, usage."""
    comparison = compare(_call(standin, is_async=False, tools=[WEATHER_TOOL], messages=SCENARIOS["cache_control"]["messages"]), standin, patch)
    result = _success(comparison)
    call = result.choices[0].message.tool_calls[0]
    assert call.id == "toolu_01A09q90qw90lq917835lq9"
    assert call.function.name == "get_current_weather"
    assert call.function.arguments == '{"location": "Boston, MA"}'
    assert result.choices[0].finish_reason == "tool_calls"
    assert result.usage.prompt_tokens_details.cached_tokens == 30
    assert result.usage.cache_creation_input_tokens == 12
    body = comparison.patched.requests[0]["body"]
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["tools"][0]["name"] == "get_current_weather"


def test_stop_sequence_and_default_max_tokens(standin, patch):
    comparison = compare(_call(standin, is_async=False, stop=["END"]), standin, patch)
    result = _success(comparison)
    body = comparison.patched.requests[0]["body"]
    assert body["stop_sequences"] == ["END"]
    assert body["max_tokens"] > 0  # stock fills in the model's default
    assert result.choices[0].finish_reason == "stop"
    assert result.choices[0].message.content == "Hello from the stand-in."


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("marker", ERROR_MARKERS)
def test_error_scenarios(marker, is_async, standin, patch):
    comparison = compare(_call(standin, is_async=is_async, suffix=f"-{marker}"), standin, patch)
    assert_same(comparison)
    assert comparison.stock.error is not None
    assert type(comparison.patched.error) is type(comparison.stock.error)
    assert len(comparison.patched.requests) == len(comparison.stock.requests)


def test_error_body_reaches_the_exception(standin, patch):
    comparison = compare(_call(standin, is_async=False, suffix="-error-429"), standin, patch)
    assert_same(comparison)
    error = comparison.patched.error
    assert isinstance(error, litellm.RateLimitError)
    assert error.status_code == 429
    assert "rate_limit_error" in str(error)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_connection_refused(is_async, standin, patch):
    call = _call(standin, is_async=is_async, api_base=f"http://127.0.0.1:{closed_port()}")
    comparison = compare(call, standin, patch)
    assert_same(comparison, native=False)
    assert comparison.stock.error is not None


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_timeout(is_async, standin, patch):
    comparison = compare(_call(standin, is_async=is_async, suffix="-slow-1500", timeout=0.3), standin, patch)
    assert_same(comparison)
    assert isinstance(comparison.patched.error, litellm.Timeout), comparison.patched.error


def test_image_url_is_fetched_by_stock_not_sent(standin, patch):
    """Stock downloads an http image URL itself before building the request (and refuses a
    loopback address): the patched call must fail the same way, with nothing sent."""
    messages = [{"role": "user", "content": [{"type": "text", "text": "What?"},
                                             {"type": "image_url", "image_url": {"url": standin.base_url + "/cat.png"}}]}]
    comparison = compare(_call(standin, is_async=False, messages=messages), standin, patch)
    assert_same(comparison, native=False)
    assert isinstance(comparison.patched.error, litellm.BadRequestError)
    assert comparison.patched.requests == []
