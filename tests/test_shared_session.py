"""Calls that carry a caller's aiohttp session (`shared_session=`, what the LiteLLM Proxy attaches
to every request), patch off vs on: the same outbound requests (the session's default headers
and its jar's cookies included), results, exceptions and callback payloads, served natively; a
session setting the core cannot reproduce leaves the call to stock, counted by name.

Each run opens its session inside its own event loop and empties LiteLLM's client cache first:
stock caches its HTTP clients per configuration, not per session, so a client cached by an
earlier run would still hold that run's (closed) session.
"""

from __future__ import annotations

import asyncio

import aiohttp
import litellm
import pytest
from yarl import URL

from edgequake_patch.transport import aiohttp_session
from edgequake_patch.state import stats
from tests import native_formats
from tests.differential import (
    CHAT_PROVIDERS,
    EMBEDDING_PROVIDERS,
    QUICK_RETRY,
    Streamed,
    assert_same,
    block_python_connects,
    compare,
)

MESSAGES = [{"role": "user", "content": "Say hello."}]

CHAT = {**{name: (p, p.kwargs) for name, p in CHAT_PROVIDERS.items()},
        **{name: (p, None) for name, p in native_formats.CHAT.items()}}
EMBEDDING = {**{name: (p, p.kwargs) for name, p in EMBEDDING_PROVIDERS.items()},
             **{f"{name}-native": (p, None) for name, p in native_formats.EMBEDDING.items()}}


def _kwargs(entry, standin, suffix: str = "") -> dict:
    provider, _ = entry
    return native_formats.kwargs(provider, standin, suffix)


def proxy_like_session(standin) -> aiohttp.ClientSession:
    """A session with what changes a request: default headers (one the request's own header
    overrides), and a jar holding a cookie for the stand-in."""
    jar = aiohttp.CookieJar(unsafe=True)  # unsafe: the stand-in's host is an IP address
    jar.update_cookies({"affinity": "node-7"}, URL(standin.base_url))
    return aiohttp.ClientSession(headers={"X-Team": "blue", "Accept": "text/plain"}, cookie_jar=jar)


def in_session(make_session, function: str, kwargs: dict, *, stream: bool = False):
    """An async scenario for differential.run: a fresh session, LiteLLM's client cache emptied,
    then litellm.a<function>(**kwargs, shared_session=session)."""

    async def call():
        litellm.in_memory_llm_clients_cache.flush_cache()
        async with make_session() as session:
            target = getattr(litellm, "a" + function)
            result = await target(**kwargs, shared_session=session)
            if stream:
                streamed = Streamed(result, kwargs["messages"])
                async for chunk in result:
                    streamed.chunks.append(chunk)
                return streamed
            return result

    return call


@pytest.mark.parametrize("provider", sorted(CHAT))
def test_chat(provider, standin, patch):
    kwargs = {"messages": MESSAGES, "max_retries": 0, **_kwargs(CHAT[provider], standin)}
    comparison = compare(in_session(lambda: proxy_like_session(standin), "completion", kwargs), standin, patch)
    assert_same(comparison)
    assert comparison.patched.result.choices[0].message.content == "Hello from the stand-in."


@pytest.mark.parametrize("provider", sorted(CHAT))
def test_stream(provider, standin, patch):
    kwargs = {"messages": MESSAGES, "max_retries": 0, "stream": True, **_kwargs(CHAT[provider], standin)}
    comparison = compare(in_session(lambda: proxy_like_session(standin), "completion", kwargs, stream=True),
                         standin, patch)
    assert_same(comparison)
    chunks = comparison.patched.result.chunks
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the stand-in."


@pytest.mark.parametrize("provider", sorted(EMBEDDING))
def test_embedding(provider, standin, patch):
    kwargs = {"input": ["hello", "world"], "max_retries": 0, **_kwargs(EMBEDDING[provider], standin)}
    comparison = compare(in_session(lambda: proxy_like_session(standin), "embedding", kwargs), standin, patch)
    assert_same(comparison)
    assert len(comparison.patched.result.data) == 2


def test_session_headers_and_cookies_reach_the_wire(standin, patch):
    """Not only equal to stock: the session's settings are really on the patched request."""
    kwargs = {"messages": MESSAGES, "max_retries": 0, **_kwargs(CHAT["xai"], standin)}
    comparison = compare(in_session(lambda: proxy_like_session(standin), "completion", kwargs), standin, patch)
    assert_same(comparison)
    headers = comparison.patched.requests[0]["headers"]
    assert headers["x-team"] == "blue"
    assert headers["cookie"] == "affinity=node-7"
    assert headers["accept"] == "*/*"  # the request's own Accept wins over the session's


@pytest.mark.parametrize("status", [401, 429, 500])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_upstream_errors(provider, status, standin, patch):
    kwargs = {"messages": MESSAGES, **_kwargs(CHAT[provider], standin, f"-error-{status}{QUICK_RETRY}")}
    comparison = compare(in_session(lambda: proxy_like_session(standin), "completion", kwargs), standin, patch)
    assert_same(comparison)
    assert getattr(comparison.patched.error, "status_code", None) == status


def test_sync_call_with_a_session_is_native(standin, patch):
    """Stock's sync clients never use the session; neither does the core, and the call is native."""

    def call():
        litellm.in_memory_llm_clients_cache.flush_cache()
        session = object.__new__(aiohttp.ClientSession)  # never used by a sync call; not opened
        return litellm.completion(messages=MESSAGES, max_retries=0, shared_session=session,
                                  **_kwargs(CHAT["openai"], standin))

    assert_same(compare(call, standin, patch))


UNSUPPORTED = {
    "raise_for_status": lambda: aiohttp.ClientSession(raise_for_status=True),
    "trace_configs": lambda: aiohttp.ClientSession(trace_configs=[aiohttp.TraceConfig()]),
    "auth": lambda: aiohttp.ClientSession(auth=aiohttp.BasicAuth("user", "secret")),
    "force_close": lambda: aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)),
}


# aiohttp deprecates session-level `auth` (what the test builds on purpose, to see it refused).
@pytest.mark.filterwarnings("ignore:.*auth.*:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
@pytest.mark.parametrize("setting", sorted(UNSUPPORTED))
@pytest.mark.parametrize("provider", ["openai", "xai"])
def test_unsupported_setting_falls_back_counted(provider, setting, standin, patch):
    kwargs = {"messages": MESSAGES, "max_retries": 0, **_kwargs(CHAT[provider], standin)}
    comparison = compare(in_session(UNSUPPORTED[setting], "completion", kwargs), standin, patch)
    assert_same(comparison, native=False)
    assert comparison.patched.native_calls == 0
    assert comparison.patched.fallbacks == {f"session_unsupported:{setting}": 1}


@pytest.mark.parametrize("provider", ["openai", "anthropic", "xai", "gemini", "ollama_chat"])
def test_native_proof(provider, standin, patch, monkeypatch):
    """Python's own sockets cannot reach the stand-in: stock fails through the session, the
    patched call gets its answer."""
    blocked = block_python_connects(monkeypatch, standin.port, "stand-in")
    kwargs = {"messages": MESSAGES, "max_retries": 0, **_kwargs(CHAT[provider], standin)}
    call = in_session(lambda: proxy_like_session(standin), "completion", kwargs)
    patch.off()
    with pytest.raises(Exception):
        asyncio.run(call())
    assert blocked, "stock did not even try a Python socket: the block proves nothing"
    blocked.clear()
    patch.on()
    try:
        before = stats.native_calls[provider]
        response = asyncio.run(call())
    finally:
        patch.off()
    assert response.choices[0].message.content == "Hello from the stand-in."
    assert stats.native_calls[provider] == before + 1
    assert blocked == []


def test_connector_limit_queues_native_requests():
    """With `limit_per_host=1`, a second request waits until the first one's slot is released,
    as aiohttp's connector makes it wait; a pool timeout that runs out gives no slot."""

    async def scenario():
        connector = aiohttp.TCPConnector(limit_per_host=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            caller = aiohttp_session.CallerSession(session, transport=None)
            url = URL("http://127.0.0.1:9/v1/chat/completions")
            first = await caller.slot(url, None)
            assert first is not None
            assert caller.try_slot(url) is None
            assert await caller.slot(url, 0.05) is None  # the pool timeout ran out
            waiting = asyncio.ensure_future(caller.slot(url, 5))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            caller.release(first)
            second = await asyncio.wait_for(waiting, 1)
            assert second is not None
            caller.release(second)
            # Another native client over the same session shares its bound.
            other = aiohttp_session.CallerSession(session, transport=None)
            held = other.try_slot(url)
            assert held is not None and caller.try_slot(url) is None
            other.release(held)
            assert caller.try_slot(url) is not None

    asyncio.run(scenario())
