"""Proof that Anthropic, Gemini and Ollama calls leave through the Rust core: with Python's own
sockets unable to reach the stand-in, stock fails to connect while the patched call answers."""

from __future__ import annotations

import asyncio

import litellm
import pytest

from edgequake_patch.state import stats
from tests.native_formats import CHAT, EMBEDDING, MESSAGES, kwargs
from tests.test_native_proof import python_sockets_blocked  # noqa: F401 - the fixture


def _run(function, call_kwargs, is_async):
    if is_async:
        return asyncio.run(getattr(litellm, "a" + function)(**call_kwargs))
    return getattr(litellm, function)(**call_kwargs)


@pytest.fixture(autouse=True)
def fresh_litellm_clients(monkeypatch):
    """Stock must open a new connection for the block to bite: LiteLLM's cached HTTP clients
    and its module-level clients keep connections to the stand-in from earlier tests alive."""
    from litellm.caching.llm_caching_handler import LLMClientCache

    monkeypatch.setattr(litellm, "in_memory_llm_clients_cache", LLMClientCache())
    for name in ("module_level_client", "module_level_aclient"):
        if name in vars(litellm):  # re-created lazily; the old ones come back afterwards
            monkeypatch.delitem(vars(litellm), name)


@pytest.fixture
def no_ollama_model_lookup(monkeypatch):
    """LiteLLM's cost accounting asks an Ollama server for model info (/api/show) from its
    success handler, after the call and outside it, over its own Python client. That lookup is
    not the call: it is answered here, so a blocked Python socket can only be the call's."""
    from litellm.llms.ollama.common_utils import OllamaModelInfo

    def model_info(self, model, api_base=None, api_key=None):
        return {"key": model, "litellm_provider": "ollama", "mode": "chat", "input_cost_per_token": 0.0,
                "output_cost_per_token": 0.0, "max_tokens": None, "max_input_tokens": None, "max_output_tokens": None}

    monkeypatch.setattr(OllamaModelInfo, "get_runtime_model_info", model_info)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(CHAT))
def test_chat_is_native(provider, is_async, standin, patch, no_ollama_model_lookup, python_sockets_blocked):  # noqa: F811
    call_kwargs = {"messages": MESSAGES, **kwargs(CHAT[provider], standin)}
    patch.off()
    with pytest.raises(Exception):
        _run("completion", call_kwargs, is_async)
    assert python_sockets_blocked, "stock did not even try a Python socket: the block proves nothing"

    patch.on()
    before = stats.native_calls[provider]
    python_sockets_blocked.clear()
    response = _run("completion", call_kwargs, is_async)
    assert response.choices[0].message.content == "Hello from the stand-in."
    assert stats.native_calls[provider] == before + 1
    assert python_sockets_blocked == [], "the patched call tried a Python socket"


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(EMBEDDING))
def test_embedding_is_native(provider, is_async, standin, patch, python_sockets_blocked):  # noqa: F811
    call_kwargs = {"input": ["hello", "world"], **kwargs(EMBEDDING[provider], standin)}
    patch.off()
    with pytest.raises(Exception):
        _run("embedding", call_kwargs, is_async)
    assert python_sockets_blocked, "stock did not even try a Python socket: the block proves nothing"

    patch.on()
    before = stats.native_calls[provider]
    python_sockets_blocked.clear()
    response = _run("embedding", call_kwargs, is_async)
    assert len(response.data) == 2
    assert len(response.data[0]["embedding"]) == 8
    assert stats.native_calls[provider] == before + 1
    assert python_sockets_blocked == [], "the patched call tried a Python socket"


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(CHAT))
def test_stream_is_native(provider, is_async, standin, patch, no_ollama_model_lookup, python_sockets_blocked):  # noqa: F811
    call_kwargs = {"messages": MESSAGES, "stream": True, **kwargs(CHAT[provider], standin)}

    def consume():
        if is_async:

            async def chunks():
                return [chunk async for chunk in await litellm.acompletion(**call_kwargs)]

            return asyncio.run(chunks())
        return list(litellm.completion(**call_kwargs))

    patch.off()
    with pytest.raises(Exception):
        consume()
    assert python_sockets_blocked, "stock did not even try a Python socket: the block proves nothing"

    patch.on()
    before = stats.native_calls[provider]
    python_sockets_blocked.clear()
    chunks = consume()
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the stand-in."
    assert stats.native_calls[provider] == before + 1
    assert python_sockets_blocked == [], "the patched stream tried a Python socket"
