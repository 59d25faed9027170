"""Ollama (`ollama/` → /api/generate, `ollama_chat/` → /api/chat, embeddings → /api/embed),
patch off vs on, sync and async. Stock builds and parses; the bytes travel through the core."""

from __future__ import annotations

import litellm
import pytest

from tests.differential import assert_same, compare, litellm_call
from tests.native_formats import (
    IMAGE_MESSAGES,
    JSON_SCHEMA,
    MESSAGES,
    OLLAMA,
    OLLAMA_CHAT,
    OLLAMA_EMBEDDING,
    TINY_PNG_B64,
    TOOL_RESULT_TURN,
    WEATHER_TOOL,
    WITH_SYSTEM,
    closed_port,
    kwargs,
)

PROVIDERS = {"ollama": OLLAMA, "ollama_chat": OLLAMA_CHAT}
PATHS = {"ollama": "/api/generate", "ollama_chat": "/api/chat"}
SCENARIOS = {
    "text": {},
    "system_message": {"messages": WITH_SYSTEM},
    "options": {"temperature": 0.3, "max_tokens": 50, "top_p": 0.9, "stop": ["END"], "seed": 7},
    "json_object": {"response_format": {"type": "json_object"}},
    "json_schema": {"response_format": JSON_SCHEMA},
    "keep_alive": {"keep_alive": "10m"},
    "images": {"messages": IMAGE_MESSAGES},
    "tools": {"tools": [WEATHER_TOOL]},
    "tool_result_turn": {"messages": TOOL_RESULT_TURN, "tools": [WEATHER_TOOL]},
    "reasoning_effort": {"reasoning_effort": "low"},
    "api_key_bearer": {"api_key": "ollama-cloud-key-0123456789"},
}
ERROR_MARKERS = [
    "error-400", "error-401", "error-404", "error-429", "error-500", "error-503",
    "ctx-length", "garbled", "not-json", "wrong-shape", "empty-body", "html-502",
]


def _call(provider, standin, *, is_async, suffix="", **overrides):
    return litellm_call(
        "completion", {"messages": MESSAGES, **kwargs(PROVIDERS[provider], standin, suffix), **overrides}, is_async=is_async
    )


def _generation(outcome, provider):
    """The one generation request (LiteLLM 1.106 may also ask /api/show for model info)."""
    sent = [r for r in outcome.requests if r["path"] == PATHS[provider]]
    assert len(sent) == 1, [r["path"] for r in outcome.requests]
    return sent[0]


def _success(comparison, provider):
    assert_same(comparison)
    assert comparison.stock.error is None, comparison.stock.error
    _generation(comparison.patched, provider)
    return comparison.patched.result


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_success_scenarios(provider, scenario, is_async, standin, patch):
    comparison = compare(_call(provider, standin, is_async=is_async, **SCENARIOS[scenario]), standin, patch)
    if (provider, scenario) == ("ollama", "images") and _converts_images_before_sending(comparison):
        return _assert_image_conversion_fails_before_sending(comparison)
    result = _success(comparison, provider)
    assert result.choices[0].message is not None
    assert result.usage.prompt_tokens > 0


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_options_mapping(provider, standin, patch):
    comparison = compare(_call(provider, standin, is_async=False, **SCENARIOS["options"], keep_alive="10m"), standin, patch)
    result = _success(comparison, provider)
    body = _generation(comparison.patched, provider)["body"]
    options = {"temperature": 0.3, "num_predict": 50, "top_p": 0.9, "stop": ["END"], "seed": 7}
    if provider == "ollama":  # stock puts keep_alive among the /api/generate options
        assert body["options"] == {**options, "keep_alive": "10m"}
    else:
        assert body["options"] == options
        assert body["keep_alive"] == "10m"
    assert body["stream"] is False
    assert result.choices[0].message.content == "Hello from the stand-in."
    assert result.usage.completion_tokens == 7  # eval_count
    assert result.usage.prompt_tokens == (10 if provider == "ollama" else 9)  # prompt_eval_count


# Some releases' /api/generate path (1.95's) converts images with an optional imaging library and
# fails before sending without it; later ones send the base64 data as it is. Which one runs here
# is read off stock's own outcome, not the version number.
def _converts_images_before_sending(comparison) -> bool:
    return comparison.stock.error is not None and "image conversion failed" in str(comparison.stock.error)


def _assert_image_conversion_fails_before_sending(comparison):
    assert_same(comparison, native=False)
    assert "image conversion failed" in str(comparison.patched.error)
    assert comparison.patched.requests == []


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_format_and_images(provider, standin, patch):
    comparison = compare(_call(provider, standin, is_async=False, messages=IMAGE_MESSAGES, response_format=JSON_SCHEMA), standin, patch)
    if provider == "ollama" and _converts_images_before_sending(comparison):
        return _assert_image_conversion_fails_before_sending(comparison)
    result = _success(comparison, provider)
    body = _generation(comparison.patched, provider)["body"]
    assert body["format"]["properties"] == {"answer": {"type": "integer"}}
    images = body["images"] if provider == "ollama" else body["messages"][0]["images"]
    assert images == [TINY_PNG_B64]
    assert result.choices[0].message.content == '{"answer": 42}'


def test_chat_tool_call_and_thinking(standin, patch):
    comparison = compare(_call("ollama_chat", standin, is_async=False, tools=[WEATHER_TOOL], reasoning_effort="low"), standin, patch)
    result = _success(comparison, "ollama_chat")
    body = _generation(comparison.patched, "ollama_chat")["body"]
    assert body["tools"][0]["function"]["name"] == "get_current_weather"
    message = result.choices[0].message
    assert message.tool_calls[0].function.name == "get_current_weather"
    assert message.tool_calls[0].function.arguments == '{"location": "Boston, MA"}'
    assert message.reasoning_content == "The user greets me; a short greeting answers it."


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("marker", ERROR_MARKERS)
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_error_scenarios(provider, marker, is_async, standin, patch):
    comparison = compare(_call(provider, standin, is_async=is_async, suffix=f"-{marker}"), standin, patch)
    assert_same(comparison)
    if (provider, marker) == ("ollama", "wrong-shape"):
        # Stock's /api/generate parsing takes a 200 of the wrong shape as an empty answer.
        assert comparison.stock.error is None
        assert comparison.patched.result.choices[0].message.content == ""
    else:
        assert comparison.stock.error is not None
    assert type(comparison.patched.error) is type(comparison.stock.error)
    _generation(comparison.stock, provider)
    _generation(comparison.patched, provider)


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_error_body_reaches_the_exception(provider, standin, patch):
    comparison = compare(_call(provider, standin, is_async=False, suffix="-error-404"), standin, patch)
    assert_same(comparison)
    error = comparison.patched.error
    # The class is stock's choice and changed between releases (APIConnectionError in 1.95).
    assert isinstance(error, (litellm.NotFoundError, litellm.APIConnectionError))
    assert 'model \\"standin-missing\\" not found, try pulling it first' in str(error)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_connection_refused(provider, is_async, standin, patch):
    comparison = compare(_call(provider, standin, is_async=is_async, api_base=f"http://127.0.0.1:{closed_port()}"), standin, patch)
    assert_same(comparison, native=False)
    assert comparison.stock.error is not None


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_timeout(provider, is_async, standin, patch):
    comparison = compare(_call(provider, standin, is_async=is_async, suffix="-slow-1500", timeout=0.3), standin, patch)
    assert_same(comparison)
    # litellm.Timeout, which LiteLLM 1.95 wraps in an APIConnectionError for Ollama.
    assert isinstance(comparison.patched.error, (litellm.Timeout, litellm.APIConnectionError))
    assert "timed out" in str(comparison.patched.error)


def test_chat_image_url_is_passed_through(standin, patch):
    """ollama_chat sends an image URL as it is (stock does not fetch it)."""
    url = standin.base_url + "/cat.png"
    messages = [{"role": "user", "content": [{"type": "text", "text": "What?"}, {"type": "image_url", "image_url": {"url": url}}]}]
    comparison = compare(_call("ollama_chat", standin, is_async=False, messages=messages), standin, patch)
    _success(comparison, "ollama_chat")
    assert _generation(comparison.patched, "ollama_chat")["body"]["messages"][0]["images"] == [url]


# --- embeddings (/api/embed, through LiteLLM's module-level client) ------------------------

EMBEDDING_SCENARIOS = {
    "one_string": {"input": "hello world"},
    "many_strings": {"input": ["hello", "world", "again"]},
}
EMBEDDING_ERRORS = ["error-400", "error-404", "error-500", "garbled", "wrong-shape", "not-json"]


def _embed(standin, *, is_async, suffix="", **overrides):
    return litellm_call("embedding", {**kwargs(OLLAMA_EMBEDDING, standin, suffix), **overrides}, is_async=is_async)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("scenario", sorted(EMBEDDING_SCENARIOS))
def test_embedding_scenarios(scenario, is_async, standin, patch):
    comparison = compare(_embed(standin, is_async=is_async, **EMBEDDING_SCENARIOS[scenario]), standin, patch)
    assert_same(comparison)
    assert comparison.stock.error is None, comparison.stock.error
    request = comparison.patched.requests[0]
    assert request["path"] == "/api/embed"
    inputs = EMBEDDING_SCENARIOS[scenario]["input"]
    assert request["body"]["input"] == ([inputs] if isinstance(inputs, str) else inputs)
    assert len(comparison.patched.result.data) == len(request["body"]["input"])
    assert len(comparison.patched.result.data[0]["embedding"]) == 8


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("marker", EMBEDDING_ERRORS)
def test_embedding_errors(marker, is_async, standin, patch):
    comparison = compare(_embed(standin, is_async=is_async, suffix=f"-{marker}", input=["hi"]), standin, patch)
    assert_same(comparison)
    assert comparison.stock.error is not None
    assert len(comparison.patched.requests) == len(comparison.stock.requests)


def test_embedding_input_rejected_before_sending(standin, patch):
    comparison = compare(_embed(standin, is_async=False, input=[[1, 2, 3]]), standin, patch)
    assert_same(comparison, native=False)
    assert isinstance(comparison.patched.error, litellm.BadRequestError)
    assert comparison.patched.requests == []


def test_embedding_through_an_application_module_client_stays_stock(standin, patch, monkeypatch):
    """An application's own module-level handler (here with a custom header) keeps posting
    itself: the native handler could not carry its settings. Counted as a fallback."""
    from litellm.llms.custom_httpx.http_handler import HTTPHandler

    custom = HTTPHandler(timeout=30.0)
    custom.client.headers["X-App-Header"] = "app-1"
    monkeypatch.setattr(litellm, "module_level_client", custom)
    comparison = compare(_embed(standin, is_async=False, input=["hi"]), standin, patch)
    assert_same(comparison, native=False)
    assert comparison.patched.native_calls == 0
    assert comparison.patched.fallbacks == {"caller_client": 1}
    assert comparison.patched.requests[0]["headers"]["x-app-header"] == "app-1"
