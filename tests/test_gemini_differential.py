"""Gemini through Google AI Studio (`gemini/`): generateContent and batchEmbedContents, patch
off vs on, sync and async. Stock builds and parses; the bytes travel through the core."""

from __future__ import annotations

import litellm
import pytest

from tests.differential import assert_same, compare, litellm_call
from tests.native_formats import (
    GEMINI,
    GEMINI_EMBEDDING,
    GEMINI_THINKING,
    IMAGE_MESSAGES,
    JSON_SCHEMA,
    MESSAGES,
    TOOL_RESULT_TURN,
    WEATHER_TOOL,
    WITH_SYSTEM,
    closed_port,
    kwargs,
)

SAFETY = [
    {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH"},
]
SCENARIOS = {
    "text": {},
    "system_message": {"messages": WITH_SYSTEM},
    "sampling_and_max_tokens": {"temperature": 0.3, "top_p": 0.9, "max_tokens": 50},
    "stop_sequences": {"stop": ["END", "STOP HERE"]},
    "multimodal_base64": {"messages": IMAGE_MESSAGES},
    "tools_auto": {"tools": [WEATHER_TOOL], "tool_choice": "auto"},
    "tools_required": {"tools": [WEATHER_TOOL], "tool_choice": "required"},
    "tools_named": {"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "get_current_weather"}}},
    "tools_none": {"tools": [WEATHER_TOOL], "tool_choice": "none"},
    "tool_result_turn": {"messages": TOOL_RESULT_TURN, "tools": [WEATHER_TOOL]},
    "json_object": {"response_format": {"type": "json_object"}},
    "json_schema": {"response_format": JSON_SCHEMA},
    "safety_settings": {"safety_settings": SAFETY},
    "extra_headers": {"extra_headers": {"X-Trace-Id": "trace-42"}},
}
THINKING_SCENARIOS = {
    "reasoning_effort": {"reasoning_effort": "low"},
    "thinking_budget": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
}
ERROR_MARKERS = [
    "error-400", "error-401", "error-403", "error-404", "error-429", "error-500", "error-503",
    "ctx-length", "garbled", "not-json", "wrong-shape", "empty-body", "html-502",
]


def _call(standin, *, is_async, provider=GEMINI, suffix="", **overrides):
    return litellm_call("completion", {"messages": MESSAGES, **kwargs(provider, standin, suffix), **overrides}, is_async=is_async)


def _success(comparison, model="gemini-2.0-flash"):
    assert_same(comparison)
    assert comparison.stock.error is None, comparison.stock.error
    assert len(comparison.patched.requests) == 1
    request = comparison.patched.requests[0]
    assert request["path"] == f"/v1beta/models/{model}:generateContent"
    assert request["headers"]["x-goog-api-key"] == GEMINI.key
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
    call = _call(standin, is_async=is_async, provider=GEMINI_THINKING, **THINKING_SCENARIOS[scenario])
    comparison = compare(call, standin, patch)
    result = _success(comparison, model="gemini-2.5-flash")
    config = comparison.patched.requests[0]["body"]["generationConfig"]
    assert config["thinkingConfig"]["includeThoughts"] is True
    assert result.choices[0].message.reasoning_content == "The user greets me; a short greeting answers it."
    assert result.usage.completion_tokens_details.reasoning_tokens == 11  # usageMetadata.thoughtsTokenCount


def test_values_reach_the_caller(standin, patch):
    comparison = compare(_call(standin, is_async=False, tools=[WEATHER_TOOL], safety_settings=SAFETY), standin, patch)
    result = _success(comparison)
    call = result.choices[0].message.tool_calls[0]
    assert call.function.name == "get_current_weather"
    assert call.function.arguments == '{"location": "Boston, MA"}'
    body = comparison.patched.requests[0]["body"]
    assert body["safetySettings"] == SAFETY
    assert body["tools"][0]["function_declarations"][0]["name"] == "get_current_weather"


def test_json_mode_and_stop(standin, patch):
    comparison = compare(_call(standin, is_async=False, response_format={"type": "json_object"}, stop=["END"]), standin, patch)
    result = _success(comparison)
    config = comparison.patched.requests[0]["body"]["generationConfig"]
    assert config["response_mime_type"] == "application/json"
    assert config["stop_sequences"] == ["END"]
    assert result.choices[0].message.content == '{"answer": 42}'
    assert result.id == "mcHnaNu0Iqnd1e8Pz5ySsQ4"


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
    assert "RESOURCE_EXHAUSTED" in str(error)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_connection_refused(is_async, standin, patch):
    call = _call(standin, is_async=is_async, api_base=f"http://127.0.0.1:{closed_port()}/v1beta")
    comparison = compare(call, standin, patch)
    assert_same(comparison, native=False)
    assert comparison.stock.error is not None


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_timeout(is_async, standin, patch):
    comparison = compare(_call(standin, is_async=is_async, suffix="-slow-1500", timeout=0.3), standin, patch)
    assert_same(comparison)
    assert isinstance(comparison.patched.error, litellm.Timeout), comparison.patched.error


def test_image_url_is_fetched_by_stock_not_sent(standin, patch):
    messages = [{"role": "user", "content": [{"type": "text", "text": "What?"},
                                             {"type": "image_url", "image_url": {"url": standin.base_url + "/cat.png"}}]}]
    comparison = compare(_call(standin, is_async=False, messages=messages), standin, patch)
    assert_same(comparison, native=False)
    assert isinstance(comparison.patched.error, litellm.BadRequestError)
    assert comparison.patched.requests == []


# --- embeddings (batchEmbedContents) -------------------------------------------------------

EMBEDDING_SCENARIOS = {
    "one_string": {"input": "hello world"},
    "many_strings": {"input": ["hello", "world", "again"]},
    "dimensions": {"input": ["hello"], "dimensions": 4},
    "task_type": {"input": ["hello"], "task_type": "RETRIEVAL_QUERY"},
}
EMBEDDING_ERRORS = ["error-400", "error-401", "error-429", "error-500", "garbled", "wrong-shape"]


def _embed(standin, *, is_async, suffix="", **overrides):
    return litellm_call("embedding", {**kwargs(GEMINI_EMBEDDING, standin, suffix), **overrides}, is_async=is_async)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("scenario", sorted(EMBEDDING_SCENARIOS))
def test_embedding_scenarios(scenario, is_async, standin, patch):
    comparison = compare(_embed(standin, is_async=is_async, **EMBEDDING_SCENARIOS[scenario]), standin, patch)
    assert_same(comparison)
    assert comparison.stock.error is None, comparison.stock.error
    request = comparison.patched.requests[0]
    assert request["path"] == "/v1beta/models/text-embedding-004:batchEmbedContents"
    inputs = EMBEDDING_SCENARIOS[scenario]["input"]
    assert len(comparison.patched.result.data) == (1 if isinstance(inputs, str) else len(inputs))
    expected = EMBEDDING_SCENARIOS[scenario].get("dimensions", 8)
    assert len(comparison.patched.result.data[0].embedding) == expected


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("marker", EMBEDDING_ERRORS)
def test_embedding_errors(marker, is_async, standin, patch):
    comparison = compare(_embed(standin, is_async=is_async, suffix=f"-{marker}", input=["hi"]), standin, patch)
    assert_same(comparison)
    assert comparison.stock.error is not None
    assert len(comparison.patched.requests) == len(comparison.stock.requests)
