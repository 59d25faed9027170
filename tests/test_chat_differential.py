"""Chat completions, patch off vs on, for every OpenAI-style provider, sync and async.

Each scenario asserts (a) nothing observable differs from stock — request, response,
exception, callback payloads — and (b) the patched call really went through the core.
"""

from __future__ import annotations

import re

import socket

import litellm
import pytest

from tests.differential import (
    CHAT_PROVIDERS,
    QUICK_RETRY,
    TINY_PNG,
    TOOL_RESULT_TURN,
    WEATHER_TOOL,
    assert_same,
    compare,
    litellm_call,
)

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
        "messages": TOOL_RESULT_TURN,
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
    return litellm_call("completion", kwargs, is_async=is_async)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_success_scenarios(provider, scenario, is_async, standin, patch):
    comparison = compare(_call(provider, standin, is_async=is_async, **SCENARIOS[scenario]), standin, patch, reuse=True)
    assert_same(comparison)
    # The comparison must be about a real answer, not two identical failures.
    assert comparison.stock.error is None, comparison.stock.error
    assert comparison.patched.result.choices[0].message is not None
    assert len(comparison.patched.requests) == 1


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("marker", ERROR_MARKERS)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_error_scenarios(provider, marker, is_async, standin, patch):
    comparison = compare(_call(provider, standin, is_async=is_async, suffix=f"-{marker}{QUICK_RETRY}"), standin, patch,
                         reuse=True)
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
    # Nothing could be sent: both families give stock's own transport one last try, which
    # raises its socket-level error text (allowed: nothing left).
    assert_same(comparison, native=False)
    assert comparison.stock.error is not None


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_timeout(provider, is_async, standin, patch):
    call = _call(provider, standin, is_async=is_async, suffix="-slow-1500", timeout=0.3, max_retries=0)
    comparison = compare(call, standin, patch, reuse=True)
    assert_same(comparison)
    assert isinstance(comparison.patched.error, litellm.Timeout), comparison.patched.error


# --- where keys and bases come from, and how many attempts stock makes --------------------

ENV_SETTINGS = {
    "openai": {"OPENAI_API_KEY": "sk-env-openai-0123", "OPENAI_BASE_URL": "{base}/v1"},
    "azure": {"AZURE_API_KEY": "azure-env-key-0123", "AZURE_API_BASE": "{base}", "AZURE_API_VERSION": "2024-06-01"},
    "xai": {"XAI_API_KEY": "xai-env-key-0123", "XAI_API_BASE": "{base}/v1"},
    # Stock fills in mistral's default base before dispatch, so MISTRAL_API_BASE is never read:
    # the key comes from the environment, the base from the call.
    "mistral": {"MISTRAL_API_KEY": "mistral-env-key-0123"},
    "openrouter": {"OPENROUTER_API_KEY": "sk-or-env-0123", "OPENROUTER_API_BASE": "{base}/api/v1",
                   "OR_SITE_URL": "https://example.test", "OR_APP_NAME": "edgequake-tests"},
    "lm_studio": {"LM_STUDIO_API_KEY": "lm-env-key-0123", "LM_STUDIO_API_BASE": "{base}/v1"},
}


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_key_and_base_from_environment(provider, is_async, standin, patch, monkeypatch):
    for name, value in ENV_SETTINGS[provider].items():
        monkeypatch.setenv(name, value.format(base=standin.base_url))
    kwargs = {"model": CHAT_PROVIDERS[provider].model, "messages": MESSAGES}
    if provider == "mistral":
        kwargs["api_base"] = standin.base_url + "/v1"
    comparison = compare(litellm_call("completion", kwargs, is_async=is_async), standin, patch)
    assert_same(comparison)
    assert comparison.stock.error is None, comparison.stock.error
    sent = comparison.patched.requests[0]["headers"]
    assert any(v.endswith("-0123") for v in sent.values()), "the key from the environment was not sent"


@pytest.mark.parametrize("provider", ["openai", "azure", "openrouter"])
def test_key_and_base_from_module_globals(provider, standin, patch, monkeypatch):
    base = standin.base_url + CHAT_PROVIDERS[provider].path
    monkeypatch.setattr(litellm, "api_key", "module-global-key-0123")
    monkeypatch.setattr(litellm, "api_base", base)
    kwargs = {"model": CHAT_PROVIDERS[provider].model, "messages": MESSAGES, **CHAT_PROVIDERS[provider].extra}
    comparison = compare(lambda: litellm.completion(**kwargs), standin, patch)
    assert_same(comparison)
    assert comparison.stock.error is None, comparison.stock.error


@pytest.mark.parametrize("max_retries", [0, 1, 3])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_attempts_for_5xx_follow_max_retries(provider, max_retries, standin, patch):
    call = _call(provider, standin, is_async=False, suffix="-error-503" + QUICK_RETRY, max_retries=max_retries)
    comparison = compare(call, standin, patch, reuse=True)
    assert_same(comparison)
    assert len(comparison.patched.requests) == len(comparison.stock.requests)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_flaky_429_then_success(provider, is_async, standin, patch):
    comparison = compare(_call(provider, standin, is_async=is_async, suffix="-flaky-429-once" + QUICK_RETRY), standin, patch,
                         reuse=True)
    assert_same(comparison)
    assert len(comparison.patched.requests) == len(comparison.stock.requests)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_body_truncated_mid_transfer(provider, is_async, standin, patch):
    comparison = compare(_call(provider, standin, is_async=is_async, suffix="-close-mid-body", max_retries=0), standin, patch)
    stock, patched = comparison.stock.error, comparison.patched.error
    assert stock is not None and patched is not None
    if provider in ("openai", "lm_studio", "azure"):
        # The SDK reduces any broken connection to its own "Connection error.": all of it matches.
        assert_same(comparison)
        return
    # LiteLLM's HTTP handler passes the transport's own wording through (httpx's or aiohttp's
    # "peer closed connection..."); the core's wording differs. Same class, status, provider,
    # model and attempt count; exact text is the fault suite's business (issue 5).
    assert type(patched) is type(stock)
    for field in ("status_code", "llm_provider", "model"):
        assert getattr(patched, field) == getattr(stock, field), field
    assert len(comparison.patched.requests) == len(comparison.stock.requests)
    assert comparison.patched.native_calls >= 1


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", ["openai", "lm_studio", "azure"])
def test_sdk_identification_headers_as_stock(provider, is_async, standin, patch):
    """The OpenAI SDK family's non-streaming calls (the lean handler, Azure chat) carry the
    SDK's User-Agent and X-Stainless-* headers, as stock's do: some gateways refuse a request
    without a User-Agent. (Every differential test compares them; this one names them.)"""
    comparison = compare(_call(provider, standin, is_async=is_async, headers={"X-Caller": "c1"}), standin, patch)
    assert_same(comparison)
    sent = comparison.patched.requests[0]["headers"]
    # openai 2: "OpenAI/Python 2.x"; openai 3 names the client class ("AsyncAzureOpenAI/Python 3.x").
    assert re.match(r"^\w*OpenAI/Python \d", sent["user-agent"]), sent
    assert sent["x-stainless-lang"] == "python"
    assert sent["x-stainless-async"] == ("async:asyncio" if is_async else "false")
    assert sent["x-stainless-raw-response"] == "true"
    assert sent["x-stainless-retry-count"] == "0"
    assert sent["x-caller"] == "c1"
