"""LiteLLM's other endpoints through the core, patch off vs on: the Responses API (openai, azure,
xai, openrouter; whole and streamed), rerank (jina_ai), and the embeddings LiteLLM's generic
handler serves (jina_ai, openrouter); sync and async, answers and errors. Each scenario's
request, result, exception and callback payloads must be stock's, and the patched call must
have gone through the core (counted under its endpoint and provider)."""

from __future__ import annotations

import litellm
import pytest

from edgequake_patch.state import stats
from tests.differential import QUICK_RETRY, Provider, assert_same, compare, litellm_call, plain

RESPONSES_PROVIDERS = {
    p.name: p
    for p in (
        Provider("openai", "openai/gpt-4o-mini", "/v1", "sk-test-openai-0123456789"),
        Provider("azure", "azure/gpt-4o-mini", "", "azure-test-key-0123456789", {"api_version": "2025-03-01-preview"}),
        Provider("xai", "xai/grok-3-mini", "/v1", "xai-test-key-0123456789"),
        Provider("openrouter", "openrouter/openai/gpt-4o-mini", "/api/v1", "sk-or-test-key-0123456789"),
    )
}
RERANK = Provider("jina_ai", "jina_ai/jina-reranker-v2-base-multilingual", "/v1", "jina-test-key-0123456789")
EMBEDDING_PROVIDERS = {
    p.name: p
    for p in (
        Provider("jina_ai", "jina_ai/jina-embeddings-v3", "/v1", "jina-test-key-0123456789"),
        Provider("openrouter", "openrouter/openai/text-embedding-3-small", "/api/v1", "sk-or-test-key-0123456789"),
    )
}

SYNC_ASYNC = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
RESPONSES_INPUTS = {
    "text": {"input": "Say hello."},
    "messages": {"input": [{"role": "user", "content": "Say hello."}], "instructions": "Be brief.",
                 "temperature": 0.2, "max_output_tokens": 64},
    "parts": {"input": [{"role": "user", "content": [{"type": "input_text", "text": "Say hello."}]}],
              "metadata": {"trace": "t-1"}, "user": "user-1234"},
}
DOCUMENTS = ["Paris is the capital of France.", "The Eiffel Tower is in Paris.", "Bananas are yellow."]
ERRORS = ["error-400", "error-401", "error-429", "error-500"]


def _endpoint_calls(endpoint: str, provider: str) -> int:
    return stats.endpoint_calls.get((endpoint, provider), 0)


def _responses(provider: str, standin, *, is_async: bool, stream: bool = False, suffix: str = "", **kwargs):
    args = {**RESPONSES_PROVIDERS[provider].kwargs(standin, suffix), **kwargs}
    if not stream:
        return litellm_call("responses", args, is_async=is_async)
    if is_async:
        async def call():
            return [event async for event in await litellm.aresponses(**args, stream=True)]
    else:
        def call():
            return list(litellm.responses(**args, stream=True))
    return call


@SYNC_ASYNC
@pytest.mark.parametrize("scenario", sorted(RESPONSES_INPUTS))
@pytest.mark.parametrize("provider", sorted(RESPONSES_PROVIDERS))
def test_responses(provider, scenario, is_async, standin, patch):
    before = _endpoint_calls("responses", provider)
    comparison = compare(_responses(provider, standin, is_async=is_async, **RESPONSES_INPUTS[scenario]), standin, patch)
    if not comparison.stock.requests:
        # Stock refuses some parameters for some providers on some releases (xai's on 1.95.0)
        # before sending anything: so does the patched call, with the same error.
        assert_same(comparison, native=False)
        assert comparison.stock.error is not None and comparison.patched.requests == []
        return
    assert_same(comparison)
    result = comparison.patched.result
    assert comparison.stock.error is None, comparison.stock.error
    assert result.status == "completed" and result.output[0].content[0].text
    assert len(comparison.patched.requests) == 1 and comparison.patched.requests[0]["path"].endswith("/responses")
    assert _endpoint_calls("responses", provider) == before + 1


# Models LiteLLM knows to stream natively on every supported release (for a model it does not
# know, or OpenRouter's, it sends one whole request and cuts the answer into events itself);
# the stand-in's markers go in a header, so that the model keeps its name.
STREAMING_MODELS = {"openai": "openai/gpt-4o-mini", "azure": "azure/gpt-4o-mini", "xai": "xai/grok-4.3",
                    "openrouter": "openrouter/openai/gpt-4o-mini"}


@SYNC_ASYNC
@pytest.mark.parametrize("provider", sorted(RESPONSES_PROVIDERS))
def test_responses_streams(provider, is_async, standin, patch):
    comparison = compare(_responses(provider, standin, is_async=is_async, stream=True, input="Say hello.",
                                    model=STREAMING_MODELS[provider],
                                    extra_headers={"x-standin-scenario": "words-12"}), standin, patch)
    assert_same(comparison)
    events = comparison.patched.result
    kinds = [event.type for event in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert deltas and deltas == events[-1].response.output[0].content[0].text
    # A real stream: the request asked for one, and each word came as an event of its own.
    # (Whether LiteLLM streams OpenRouter's Responses or fakes them from one whole answer
    # depends on the release: either way the patched call is stock's.)
    streamed = comparison.patched.requests[0]["body"].get("stream") is True
    assert streamed or provider == "openrouter"
    if streamed:
        assert kinds.count("response.output_text.delta") == 12


@SYNC_ASYNC
@pytest.mark.parametrize("marker", ["close-mid-stream", "error-500"])
@pytest.mark.parametrize("provider", ["azure", "openai", "xai"])
def test_responses_streams_that_fail(provider, marker, is_async, standin, patch):
    """A stream cut after its first events, and a stream refused with an error: stock's events
    up to the break, then stock's exception."""
    comparison = compare(_responses(provider, standin, is_async=is_async, stream=True, input="Say hello.",
                                    model=STREAMING_MODELS[provider], max_retries=0,
                                    extra_headers={"x-standin-scenario": f"words-12 {marker}"}), standin, patch)
    assert_same(comparison)
    assert comparison.patched.error is not None
    assert len(comparison.patched.requests) == len(comparison.stock.requests)


@SYNC_ASYNC
@pytest.mark.parametrize("marker", ERRORS)
@pytest.mark.parametrize("provider", sorted(RESPONSES_PROVIDERS))
def test_responses_errors(provider, marker, is_async, standin, patch):
    comparison = compare(_responses(provider, standin, is_async=is_async, input="Say hello.",
                                    suffix=f"-{marker}{QUICK_RETRY}"), standin, patch)
    assert_same(comparison)
    assert comparison.patched.error is not None
    assert getattr(comparison.patched.error, "status_code", None) == int(marker.split("-")[1])
    assert len(comparison.patched.requests) == len(comparison.stock.requests)


MESSAGES_KWARGS = {"model": "anthropic/claude-sonnet-4-20250514", "max_tokens": 256,
                   "messages": [{"role": "user", "content": "Say hello."}]}
MESSAGES_SCENARIOS = {
    "plain": {},
    "system_and_sampling": {"system": "Be brief.", "temperature": 0.2, "top_k": 5, "stop_sequences": ["END"]},
    "metadata": {"metadata": {"user_id": "user-1234"}},
}


def _messages(standin, *, stream: bool = False, scenario: str = "", **kwargs):
    args = {**MESSAGES_KWARGS, "api_base": standin.base_url, "api_key": "sk-ant-test-key-0123456789", **kwargs}
    if scenario:
        args["extra_headers"] = {"x-standin-scenario": scenario}

    async def call():
        result = await litellm.anthropic_messages(**args, stream=stream)
        if stream:
            # The raw event bytes. Where one piece the caller is handed ends depends on what had
            # arrived when it was read (in stock, two runs can differ): the bytes are compared.
            return b"".join([piece async for piece in result])
        return result

    call.scenario_key = f"messages|{stream}|{scenario}|{sorted(kwargs.items())}"
    return call


@pytest.mark.parametrize("scenario", sorted(MESSAGES_SCENARIOS))
def test_anthropic_messages(scenario, standin, patch):
    before = _endpoint_calls("messages", "anthropic")
    comparison = compare(_messages(standin, **MESSAGES_SCENARIOS[scenario]), standin, patch)
    assert_same(comparison)
    assert comparison.stock.error is None, comparison.stock.error
    result = comparison.patched.result
    assert result["type"] == "message" and result["content"][0]["text"]
    assert comparison.patched.requests[0]["path"] == "/v1/messages"
    assert _endpoint_calls("messages", "anthropic") == before + 1


def _stock_streams_messages() -> None:
    """Some releases (1.95.0) log a streamed /v1/messages call through the Proxy's modules: without
    LiteLLM's proxy extras installed, stock cannot stream it at all."""
    try:
        import litellm.proxy.pass_through_endpoints.llm_provider_handlers.anthropic_passthrough_logging_handler  # noqa: F401
    except ImportError as missing:
        pytest.skip(f"stock cannot stream /v1/messages here: {missing}")


@pytest.mark.parametrize("words", [3, 40])
def test_anthropic_messages_streams(words, standin, patch):
    _stock_streams_messages()
    comparison = compare(_messages(standin, stream=True, scenario=f"words-{words}"), standin, patch)
    assert_same(comparison)
    text = comparison.patched.result
    assert text.startswith(b"event: message_start") and text.rstrip().endswith(b'{"type":"message_stop"}')
    assert text.count(b"content_block_delta") >= words


@pytest.mark.parametrize("marker", [*ERRORS, "close-mid-stream"])
def test_anthropic_messages_errors(marker, standin, patch):
    if marker == "close-mid-stream":
        _stock_streams_messages()
    comparison = compare(_messages(standin, stream=marker == "close-mid-stream", scenario=f"words-12 {marker}"),
                         standin, patch)
    assert_same(comparison)
    assert comparison.patched.error is not None
    assert len(comparison.patched.requests) == len(comparison.stock.requests)


def test_anthropic_messages_sync_is_stocks_refusal(standin, patch):
    """LiteLLM serves /v1/messages asynchronously only: its sync handler raises before sending,
    patched or not."""
    args = {**MESSAGES_KWARGS, "api_base": standin.base_url, "api_key": "sk-ant-test-key-0123456789"}
    comparison = compare(litellm_call("anthropic_messages_handler", args, is_async=False), standin, patch)
    assert_same(comparison, native=False)
    assert comparison.patched.error is not None and comparison.patched.requests == []


RERANK_SCENARIOS = {
    "plain": {},
    "top_n": {"top_n": 2},
    "no_documents_back": {"top_n": 1, "return_documents": False},
    "document_objects": {"documents": [{"text": d} for d in DOCUMENTS]},
}


@SYNC_ASYNC
@pytest.mark.parametrize("scenario", sorted(RERANK_SCENARIOS))
def test_rerank(scenario, is_async, standin, patch):
    before = _endpoint_calls("rerank", "jina_ai")
    kwargs = {**RERANK.kwargs(standin), "query": "Where is the Eiffel Tower?", "documents": DOCUMENTS,
              **RERANK_SCENARIOS[scenario]}
    comparison = compare(litellm_call("rerank", kwargs, is_async=is_async), standin, patch)
    assert_same(comparison)
    assert comparison.stock.error is None, comparison.stock.error
    results = comparison.patched.result.results
    assert results and all(0 < r["relevance_score"] < 1 for r in results)
    assert [r["relevance_score"] for r in results] == sorted((r["relevance_score"] for r in results), reverse=True)
    assert comparison.patched.requests[0]["path"].endswith("/rerank")
    assert _endpoint_calls("rerank", "jina_ai") == before + 1


@SYNC_ASYNC
@pytest.mark.parametrize("marker", ERRORS)
def test_rerank_errors(marker, is_async, standin, patch):
    kwargs = {**RERANK.kwargs(standin, f"-{marker}"), "query": "q", "documents": DOCUMENTS}
    comparison = compare(litellm_call("rerank", kwargs, is_async=is_async), standin, patch)
    assert_same(comparison)
    assert comparison.patched.error is not None
    assert len(comparison.patched.requests) == len(comparison.stock.requests)


@SYNC_ASYNC
@pytest.mark.parametrize("inputs", [["hello"], ["hello", "world", "again"]], ids=["one", "three"])
@pytest.mark.parametrize("provider", sorted(EMBEDDING_PROVIDERS))
def test_generic_handler_embeddings(provider, inputs, is_async, standin, patch):
    before = _endpoint_calls("embedding", provider)
    kwargs = {**EMBEDDING_PROVIDERS[provider].kwargs(standin), "input": inputs}
    comparison = compare(litellm_call("embedding", kwargs, is_async=is_async), standin, patch)
    assert_same(comparison)
    assert comparison.stock.error is None, comparison.stock.error
    assert len(comparison.patched.result.data) == len(inputs)
    assert _endpoint_calls("embedding", provider) == before + 1


@SYNC_ASYNC
@pytest.mark.parametrize("marker", ["error-400", "error-500"])
@pytest.mark.parametrize("provider", sorted(EMBEDDING_PROVIDERS))
def test_generic_handler_embedding_errors(provider, marker, is_async, standin, patch):
    kwargs = {**EMBEDDING_PROVIDERS[provider].kwargs(standin, f"-{marker}"), "input": ["hi"]}
    comparison = compare(litellm_call("embedding", kwargs, is_async=is_async), standin, patch)
    assert_same(comparison)
    assert comparison.patched.error is not None


def _each_endpoint(standin):
    """One call of each endpoint, sync."""
    return [
        lambda: litellm.responses(**RESPONSES_PROVIDERS["openai"].kwargs(standin), input="Say hello."),
        lambda: list(litellm.responses(**RESPONSES_PROVIDERS["xai"].kwargs(standin), input="Say hello.", stream=True)),
        lambda: litellm.rerank(**RERANK.kwargs(standin), query="q", documents=DOCUMENTS),
        lambda: litellm.embedding(**EMBEDDING_PROVIDERS["jina_ai"].kwargs(standin), input=["hi"]),
    ]


def test_a_callers_client_stays_stock_and_is_counted(standin, patch):
    """A client the caller hands in is the caller's: stock sends through it, and why is counted."""
    from litellm.llms.custom_httpx.http_handler import HTTPHandler

    patch.on()
    before = dict(stats.fallbacks)
    native = sum(stats.native_calls.values())
    result = litellm.rerank(**RERANK.kwargs(standin), query="q", documents=DOCUMENTS, client=HTTPHandler())
    assert result.results
    assert stats.fallbacks.get("caller_client", 0) == before.get("caller_client", 0) + 1
    assert sum(stats.native_calls.values()) == native


def test_a_provider_outside_the_core_stays_stock(standin, patch):
    """Rerank for a provider the core does not serve (cohere) is refused before anything is
    sent, and counted."""
    patch.on()
    before = stats.fallbacks.get("provider_not_native", 0)
    native = sum(stats.native_calls.values())
    try:
        litellm.rerank(model="cohere/rerank-english-v3.0", query="q", documents=DOCUMENTS,
                       api_base=standin.base_url, api_key="co-test-key", max_retries=0)
    except Exception:  # noqa: BLE001 - stock's outcome, whatever the stand-in makes of it
        pass
    assert stats.fallbacks.get("provider_not_native", 0) == before + 1
    assert sum(stats.native_calls.values()) == native


def test_the_status_counts_calls_per_endpoint_and_provider(standin, patch):
    import edgequake_patch

    patch.on()
    before = edgequake_patch.status()["endpoint_calls"]
    for call in _each_endpoint(standin):
        call()
    after = edgequake_patch.status()["endpoint_calls"]

    def grew(endpoint, provider):
        return after[endpoint][provider] - before.get(endpoint, {}).get(provider, 0)

    assert grew("responses", "openai") == 1 and grew("responses", "xai") == 1
    assert grew("rerank", "jina_ai") == 1 and grew("embedding", "jina_ai") == 1
    report = edgequake_patch.report()
    assert "responses/openai" in report and "rerank/jina_ai" in report
    assert plain(after)  # JSON-able


# --- images, transcription, speech -------------------------------------------------------------

IMAGE_CALLS = {
    "gemini-imagen": ("gemini", {"model": "gemini/imagen-3.0-generate-001", "n": 2, "api_base": "/v1beta",
                                 "api_key": "gemini-test-key-0123456789"}),
    "gemini-image-model": ("gemini", {"model": "gemini/gemini-2.5-flash-image", "api_base": "/v1beta",
                                      "api_key": "gemini-test-key-0123456789"}),
    "openrouter": ("openrouter", {"model": "openrouter/google/gemini-2.5-flash-image", "api_base": "/api/v1",
                                  "api_key": "sk-or-test-key-0123456789"}),
}


def _with_base(standin, kwargs: dict, suffix: str = "") -> dict:
    return {**kwargs, "model": kwargs["model"] + suffix, "api_base": standin.base_url + kwargs["api_base"]}


@SYNC_ASYNC
@pytest.mark.parametrize("case", sorted(IMAGE_CALLS))
def test_image_generation(case, is_async, standin, patch):
    provider, kwargs = IMAGE_CALLS[case]
    before = _endpoint_calls("image_generation", provider)
    call = litellm_call("image_generation", {**_with_base(standin, kwargs), "prompt": "A lighthouse at dusk."},
                        is_async=is_async)
    comparison = compare(call, standin, patch)
    assert_same(comparison)
    assert comparison.stock.error is None, comparison.stock.error
    images = comparison.patched.result.data
    assert images and all(image.b64_json or image.url for image in images)
    assert _endpoint_calls("image_generation", provider) == before + 1


@SYNC_ASYNC
@pytest.mark.parametrize("case", sorted(IMAGE_CALLS))
def test_image_generation_errors(case, is_async, standin, patch):
    provider, kwargs = IMAGE_CALLS[case]
    call = litellm_call("image_generation", {**_with_base(standin, kwargs, "-error-400"), "prompt": "A lighthouse."},
                        is_async=is_async)
    comparison = compare(call, standin, patch)
    assert_same(comparison)
    assert comparison.patched.error is not None
    assert len(comparison.patched.requests) == len(comparison.stock.requests) >= 1


def _generic_handler_serves(kind: str, provider: str) -> bool:
    """Whether the installed LiteLLM sends this provider's `kind` calls through its generic
    handler (it does where it has a provider config for them; 1.95.0 has none for xAI's
    transcription, which it sends through the OpenAI SDK, and none for Mistral's speech)."""
    from litellm.utils import ProviderConfigManager

    find = getattr(ProviderConfigManager, f"get_provider_{kind}_config")
    return find(model="any", provider=litellm.LlmProviders(provider)) is not None


AUDIO = ("hello.wav", b"RIFF" + bytes(range(256)) * 8, "audio/wav")
TRANSCRIPTION_CALLS = {
    "mistral": {"model": "mistral/voxtral-mini-latest", "api_base": "/v1", "api_key": "mistral-test-key-0123456789"},
    "xai": {"model": "xai/grok-voice-transcribe-1.0", "api_base": "/v1", "api_key": "xai-test-key-0123456789"},
}
TRANSCRIPTION_OPTIONS = {"plain": {}, "language_and_prompt": {"language": "en", "prompt": "A greeting.",
                                                              "temperature": 0.0}}


@SYNC_ASYNC
@pytest.mark.parametrize("options", sorted(TRANSCRIPTION_OPTIONS))
@pytest.mark.parametrize("provider", sorted(TRANSCRIPTION_CALLS))
def test_transcription(provider, options, is_async, standin, patch):
    """Multipart uploads: the parts (names, filenames, content types, bytes) are compared as the
    stand-in received them."""
    native = _generic_handler_serves("audio_transcription", provider)
    before = _endpoint_calls("transcription", provider)
    kwargs = {**_with_base(standin, TRANSCRIPTION_CALLS[provider]), "file": AUDIO, "drop_params": True,
              **TRANSCRIPTION_OPTIONS[options]}
    comparison = compare(litellm_call("transcription", kwargs, is_async=is_async), standin, patch)
    assert_same(comparison, native=native)
    assert comparison.stock.error is None, comparison.stock.error
    assert comparison.patched.result.text == "Hello from the stand-in."
    parts = comparison.patched.requests[0]["body"]
    assert any(part.get("filename") == "hello.wav" and part.get("length") == len(AUDIO[1]) for part in parts), parts
    assert _endpoint_calls("transcription", provider) == before + (1 if native else 0)


@SYNC_ASYNC
@pytest.mark.parametrize("provider", sorted(TRANSCRIPTION_CALLS))
def test_transcription_errors(provider, is_async, standin, patch):
    kwargs = {**_with_base(standin, TRANSCRIPTION_CALLS[provider], "-error-400"), "file": AUDIO}
    comparison = compare(litellm_call("transcription", kwargs, is_async=is_async), standin, patch)
    assert_same(comparison, native=_generic_handler_serves("audio_transcription", provider))
    assert comparison.patched.error is not None


SPEECH = {"model": "mistral/voxtral-mini-tts-latest", "api_base": "/v1", "api_key": "mistral-test-key-0123456789"}


@SYNC_ASYNC
@pytest.mark.parametrize("response_format", [None, "wav"])
def test_mistral_speech(response_format, is_async, standin, patch):
    if not _generic_handler_serves("text_to_speech", "mistral"):
        pytest.skip("this LiteLLM has no Mistral speech (it raises before sending anything)")
    before = _endpoint_calls("speech", "mistral")
    kwargs = {**_with_base(standin, SPEECH), "input": "Hello there.", "voice": "alloy",
              **({"response_format": response_format} if response_format else {})}
    comparison = compare(litellm_call("speech", kwargs, is_async=is_async), standin, patch)
    assert_same(comparison)
    assert comparison.stock.error is None, comparison.stock.error
    assert comparison.patched.result.content and comparison.patched.result.content == comparison.stock.result.content
    # The binary answer's object is compared by its repr only: its response's status and
    # headers are compared here (all but the clock and the connection's framing).
    assert _head(comparison.patched.result) == _head(comparison.stock.result)
    assert _endpoint_calls("speech", "mistral") == before + 1


def _head(binary) -> tuple:
    response = binary.response
    return response.status_code, sorted((k.lower(), v) for k, v in response.headers.items()
                                        if k.lower() not in ("date", "connection", "keep-alive", "transfer-encoding"))


def test_an_endpoint_methods_arguments_are_read_by_name_however_passed():
    """LiteLLM passes the endpoint methods' arguments by keyword (read as they are); a
    positional call is bound to the method's signature, so the provider is found either way."""
    from litellm.llms.custom_httpx.llm_http_handler import BaseLLMHTTPHandler

    from edgequake_patch.paths import dispatch

    method = BaseLLMHTTPHandler().rerank
    keywords = {"model": "m", "custom_llm_provider": "jina_ai", "client": None}
    assert dispatch._arguments(method, (), keywords) is keywords
    positional = dispatch._arguments(method, ("m", "jina_ai"), {"timeout": 5.0})
    assert positional == {"model": "m", "custom_llm_provider": "jina_ai", "timeout": 5.0}
    with pytest.raises(TypeError):
        dispatch._arguments(method, ("m", "jina_ai"), {"model": "again"})
