"""Chat completions, patch off vs on, for every OpenAI-style provider, sync and async.

Each scenario asserts (a) nothing observable differs from stock — request, response,
exception, callback payloads — and (b) the patched call really went through the core.
"""

from __future__ import annotations

import socket

import litellm
import pytest

from tests.differential import CHAT_PROVIDERS, assert_same, compare

TINY_PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["location"],
        },
    },
}
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello."},
]

SCENARIOS = {
    "text": {},
    "sampling_params": {
        "temperature": 0.3,
        "max_tokens": 50,
        "top_p": 0.9,
        "n": 2,
        "stop": ["\n\n", "END"],
        "seed": 7,
        "user": "user-1234",
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "drop_params": True,
    },
    "logprobs": {"logprobs": True, "top_logprobs": 2, "logit_bias": {"50256": -100}, "drop_params": True},
    "max_completion_tokens": {"max_completion_tokens": 64, "drop_params": True},
    "tools": {"tools": [WEATHER_TOOL], "tool_choice": "auto", "parallel_tool_calls": False, "drop_params": True},
    "tool_choice_named": {
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_current_weather"}},
    },
    "json_object": {"response_format": {"type": "json_object"}},
    "json_schema": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "schema": {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]},
                "strict": True,
            },
        }
    },
    "multimodal": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": TINY_PNG, "detail": "low"}},
                ],
            }
        ]
    },
    "extra_headers_and_body": {
        "extra_headers": {"X-Trace-Id": "trace-42"},
        "extra_body": {"custom_field": {"nested": [1, 2, 3]}},
    },
    "tool_result_turn": {
        "messages": [
            {"role": "user", "content": "Weather in Boston?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {"name": "get_current_weather", "arguments": '{"location": "Boston, MA"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_abc123", "content": '{"temp": 22}'},
        ],
        "tools": [WEATHER_TOOL],
    },
}

ERROR_MARKERS = [
    "error-400",
    "error-401",
    "error-403",
    "error-404",
    "error-422",
    "error-429",
    "error-500",
    "ctx-length",
    "garbled",
    "not-json",
    "wrong-shape",
    "empty-body",
    "html-502",
]

PROVIDERS = sorted(CHAT_PROVIDERS)


def _call(provider_name, standin, *, is_async, suffix="", **overrides):
    provider = CHAT_PROVIDERS[provider_name]
    kwargs = {"messages": MESSAGES, **provider.kwargs(standin, suffix), **overrides}

    if is_async:

        async def call():
            return await litellm.acompletion(**kwargs)

        return call

    def call():
        return litellm.completion(**kwargs)

    return call


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_success_scenarios(provider, scenario, is_async, standin, patch):
    comparison = compare(_call(provider, standin, is_async=is_async, **SCENARIOS[scenario]), standin, patch)
    assert_same(comparison)
    # The comparison must be about a real answer, not two identical failures.
    assert comparison.stock.error is None, comparison.stock.error
    assert comparison.patched.result.choices[0].message is not None
    assert len(comparison.patched.requests) == 1


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("marker", ERROR_MARKERS)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_error_scenarios(provider, marker, is_async, standin, patch):
    comparison = compare(_call(provider, standin, is_async=is_async, suffix=f"-{marker}"), standin, patch)
    assert_same(comparison)
    assert comparison.stock.error is not None
    assert type(comparison.patched.error) is type(comparison.stock.error)
    # Same number of attempts as stock (the SDK path retries 429/5xx, the HTTP handler does not).
    assert len(comparison.patched.requests) == len(comparison.stock.requests)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_connection_refused(provider, is_async, standin, patch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    kwargs = {"api_base": f"http://127.0.0.1:{closed_port}" + CHAT_PROVIDERS[provider].path, "max_retries": 0}
    comparison = compare(_call(provider, standin, is_async=is_async, **kwargs), standin, patch)
    # Nothing could be sent: the HTTP-handler providers let stock's own transport raise its
    # socket-level error text (allowed: nothing left), the SDK providers replay "Connection error.".
    assert_same(comparison, native=False)
    assert comparison.stock.error is not None


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_timeout(provider, is_async, standin, patch):
    call = _call(provider, standin, is_async=is_async, suffix="-slow-1500", timeout=0.3, max_retries=0)
    comparison = compare(call, standin, patch)
    assert_same(comparison)
    assert isinstance(comparison.patched.error, litellm.Timeout), comparison.patched.error
