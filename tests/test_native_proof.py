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


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(CHAT_PROVIDERS))
def test_chat_is_native(provider, is_async, standin, patch, python_sockets_blocked):
    kwargs = {"messages": MESSAGES, "max_retries": 0, **CHAT_PROVIDERS[provider].kwargs(standin)}

    def call():
        if is_async:
            return asyncio.run(litellm.acompletion(**kwargs))
        return litellm.completion(**kwargs)

    patch.off()
    # The class stock maps the refusal to varies by provider and LiteLLM version; what matters
    # is that stock needed a Python socket and could not get one.
    with pytest.raises(Exception):
        call()
    assert python_sockets_blocked, "stock did not even try a Python socket: the block proves nothing"

    patch.on()
    before = stats.native_calls[provider]
    python_sockets_blocked.clear()
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

    patch.off()
    with pytest.raises(Exception):
        call()
    assert python_sockets_blocked, "stock did not even try a Python socket: the block proves nothing"
    python_sockets_blocked.clear()
    patch.on()
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

    patch.off()
    with pytest.raises(Exception):
        call()
    assert python_sockets_blocked, "stock did not even try a Python socket: the block proves nothing"
    python_sockets_blocked.clear()
    patch.on()
    before = stats.native_calls[provider]
    chunks = call()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the stand-in."
    assert stats.native_calls[provider] == before + 1
    assert python_sockets_blocked == [], "the patched stream tried a Python socket"
