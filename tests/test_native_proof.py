"""Proof that supported calls leave through the Rust core: with Python's own sockets unable to
reach the stand-in, stock fails to connect while the patched call gets its answer."""

from __future__ import annotations

import asyncio

import litellm
import pytest

from edgequake_patch.state import stats
from tests.differential import CHAT_PROVIDERS, EMBEDDING_PROVIDERS, block_python_connects


@pytest.fixture
def python_sockets_blocked(standin, monkeypatch):
    """Python-level connects to the stand-in fail; the core's own sockets are untouched. Stock
    must open a new connection for the block to bite: LiteLLM's cached clients (and its
    module-level ones) keep connections from earlier tests alive, so this test gets fresh ones."""
    litellm.in_memory_llm_clients_cache.flush_cache()
    for name in ("module_level_client", "module_level_aclient"):
        if name in vars(litellm):  # re-created lazily; the old ones come back afterwards
            monkeypatch.delitem(vars(litellm), name)
    return block_python_connects(monkeypatch, standin.port, "stand-in")


MESSAGES = [{"role": "user", "content": "Say hello."}]


def _stock_needs_python_sockets(call, patch, blocked) -> None:
    """Stock fails the call for want of a Python socket (which class it maps the refusal to
    varies by provider and LiteLLM version); then the patch is put on, the record cleared."""
    patch.off()
    with pytest.raises(Exception):
        call()
    assert blocked, "stock did not even try a Python socket: the block proves nothing"
    blocked.clear()
    patch.on()


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(CHAT_PROVIDERS))
def test_chat_is_native(provider, is_async, standin, patch, python_sockets_blocked):
    kwargs = {"messages": MESSAGES, "max_retries": 0, **CHAT_PROVIDERS[provider].kwargs(standin)}

    def call():
        if is_async:
            return asyncio.run(litellm.acompletion(**kwargs))
        return litellm.completion(**kwargs)

    _stock_needs_python_sockets(call, patch, python_sockets_blocked)
    before = stats.native_calls[provider]
    response = call()
    assert response.choices[0].message.content == "Hello from the stand-in."
    assert stats.native_calls[provider] == before + 1
    assert python_sockets_blocked == [], "the patched call tried a Python socket"


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(EMBEDDING_PROVIDERS))
def test_embedding_is_native(provider, is_async, standin, patch, python_sockets_blocked):
    kwargs = {"input": ["hello", "world"], "max_retries": 0, **EMBEDDING_PROVIDERS[provider].kwargs(standin)}

    def call():
        if is_async:
            return asyncio.run(litellm.aembedding(**kwargs))
        return litellm.embedding(**kwargs)

    _stock_needs_python_sockets(call, patch, python_sockets_blocked)
    before = stats.native_calls[provider]
    response = call()
    assert len(response.data) == 2
    assert len(response.data[0]["embedding"]) == 8
    assert stats.native_calls[provider] == before + 1
    assert python_sockets_blocked == [], "the patched call tried a Python socket"


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(CHAT_PROVIDERS))
def test_stream_is_native(provider, is_async, standin, patch, python_sockets_blocked):
    kwargs = {"messages": MESSAGES, "max_retries": 0, "stream": True, **CHAT_PROVIDERS[provider].kwargs(standin)}

    def call():
        if is_async:

            async def consume():
                return [chunk async for chunk in await litellm.acompletion(**kwargs)]

            return asyncio.run(consume())
        return list(litellm.completion(**kwargs))

    _stock_needs_python_sockets(call, patch, python_sockets_blocked)
    before = stats.native_calls[provider]
    chunks = call()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the stand-in."
    assert stats.native_calls[provider] == before + 1
    assert python_sockets_blocked == [], "the patched stream tried a Python socket"


def _endpoint_calls(standin):
    """(endpoint, provider, call) for LiteLLM's other endpoints: each call's result is reduced to
    a value the test checks (the answer's text, the scores' count, the vectors' count)."""
    from tests.test_endpoints_differential import (DOCUMENTS, EMBEDDING_PROVIDERS, RERANK, RESPONSES_PROVIDERS,
                                                   STREAMING_MODELS)

    def responses(provider, stream):
        kwargs = {**RESPONSES_PROVIDERS[provider].kwargs(standin), "input": "Say hello."}
        if stream:  # a model LiteLLM streams natively (see test_endpoints_differential)
            kwargs["model"] = STREAMING_MODELS[provider]

        def sync():
            if stream:
                return list(litellm.responses(**kwargs, stream=True))[-1].response.output[0].content[0].text
            return litellm.responses(**kwargs).output[0].content[0].text

        async def run_async():
            if stream:
                events = [e async for e in await litellm.aresponses(**kwargs, stream=True)]
                return events[-1].response.output[0].content[0].text
            return (await litellm.aresponses(**kwargs)).output[0].content[0].text

        return sync, run_async

    def rerank():
        kwargs = {**RERANK.kwargs(standin), "query": "Where is the Eiffel Tower?", "documents": DOCUMENTS, "top_n": 2}
        return (lambda: len(litellm.rerank(**kwargs).results)), (lambda: _len_results(litellm.arerank(**kwargs)))

    def embedding(provider):
        kwargs = {**EMBEDDING_PROVIDERS[provider].kwargs(standin), "input": ["hello", "world"]}
        return (lambda: len(litellm.embedding(**kwargs).data)), (lambda: _len_data(litellm.aembedding(**kwargs)))

    calls = {("responses", p, False): responses(p, False) for p in RESPONSES_PROVIDERS}
    calls.update({("responses", p, True): responses(p, True) for p in RESPONSES_PROVIDERS})
    calls[("rerank", "jina_ai", False)] = rerank()
    calls.update({("embedding", p, False): embedding(p) for p in EMBEDDING_PROVIDERS})
    return calls


async def _len_results(coroutine):
    return len((await coroutine).results)


async def _len_data(coroutine):
    return len((await coroutine).data)


_ENDPOINT_CASES = [("responses", p, s) for p in ("azure", "openai", "openrouter", "xai") for s in (False, True)] + [
    ("rerank", "jina_ai", False), ("embedding", "jina_ai", False), ("embedding", "openrouter", False)]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("endpoint,provider,stream", _ENDPOINT_CASES,
                         ids=[f"{e}-{p}" + ("-stream" if s else "") for e, p, s in _ENDPOINT_CASES])
def test_other_endpoints_are_native(endpoint, provider, stream, is_async, standin, patch, python_sockets_blocked):
    sync, run_async = _endpoint_calls(standin)[(endpoint, provider, stream)]

    def call():
        return asyncio.run(run_async()) if is_async else sync()

    _stock_needs_python_sockets(call, patch, python_sockets_blocked)
    before = stats.endpoint_calls[endpoint, provider]
    answer = call()
    assert answer == {"responses": None, "rerank": 2, "embedding": 2}[endpoint] or (
        endpoint == "responses" and isinstance(answer, str) and answer)
    assert stats.endpoint_calls[endpoint, provider] == before + 1
    assert python_sockets_blocked == [], "the patched call tried a Python socket"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_anthropic_messages_are_native(stream, standin, patch, python_sockets_blocked):
    """`/v1/messages` (LiteLLM serves it asynchronously only)."""
    from tests.test_endpoints_differential import MESSAGES_KWARGS

    kwargs = {**MESSAGES_KWARGS, "api_base": standin.base_url, "api_key": "sk-ant-test-key-0123456789"}

    async def run():
        answer = await litellm.anthropic_messages(**kwargs, stream=stream)
        return b"".join([piece async for piece in answer]) if stream else answer["content"][0]["text"]

    def call():
        return asyncio.run(run())

    if stream:
        pytest.importorskip("fastapi", reason="stock streams /v1/messages through the Proxy's modules on some releases")
    _stock_needs_python_sockets(call, patch, python_sockets_blocked)
    before = stats.endpoint_calls["messages", "anthropic"]
    answer = call()
    assert (b"message_stop" in answer) if stream else answer == "Hello from the stand-in."
    assert stats.endpoint_calls["messages", "anthropic"] == before + 1
    assert python_sockets_blocked == [], "the patched call tried a Python socket"


_MEDIA_CASES = ["image_generation-gemini", "image_generation-openrouter", "transcription-mistral", "speech-mistral"]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("case", _MEDIA_CASES)
def test_media_endpoints_are_native(case, is_async, standin, patch, python_sockets_blocked):
    from tests.test_endpoints_differential import (AUDIO, IMAGE_CALLS, SPEECH, TRANSCRIPTION_CALLS, _generic_handler_serves,
                                                   _with_base)

    endpoint, provider = case.split("-")
    if endpoint == "image_generation":
        kwargs = {**_with_base(standin, IMAGE_CALLS["gemini-imagen" if provider == "gemini" else provider][1]),
                  "prompt": "A lighthouse."}
    elif endpoint == "transcription":
        kwargs = {**_with_base(standin, TRANSCRIPTION_CALLS[provider]), "file": AUDIO}
    else:
        if not _generic_handler_serves("text_to_speech", provider):
            pytest.skip("this LiteLLM has no Mistral speech")
        kwargs = {**_with_base(standin, SPEECH), "input": "Hello there.", "voice": "alloy"}
    function = {"image_generation": "image_generation", "transcription": "transcription", "speech": "speech"}[endpoint]

    def call():
        if is_async:
            return asyncio.run(getattr(litellm, "a" + function)(**kwargs))
        return getattr(litellm, function)(**kwargs)

    _stock_needs_python_sockets(call, patch, python_sockets_blocked)
    before = stats.endpoint_calls[endpoint, provider]
    answer = call()
    assert answer is not None
    assert stats.endpoint_calls[endpoint, provider] == before + 1
    assert python_sockets_blocked == [], "the patched call tried a Python socket"
