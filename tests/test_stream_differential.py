"""Streaming chat completions, patch off vs on, for every OpenAI-style provider, sync and async.

Compared for each scenario: the outbound request, the wrapper LiteLLM returns, every chunk
(dump and hidden params), `stream_chunk_builder` over the chunks, the error a broken stream
raises, and the callback payloads after the stream — and the patched stream went through the core.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time

import litellm
import pytest

from edgequake_patch.state import stats
from tests.differential import CHAT_PROVIDERS, WEATHER_TOOL, assert_same, compare, litellm_stream, wait_for_disconnect

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello."}]

SCENARIOS = {
    "text": {},
    "tool_calls": {"tools": [WEATHER_TOOL], "tool_choice": "auto"},
    "usage": {"stream_options": {"include_usage": True}},
}


def _kwargs(provider, standin, model_suffix: str = "", **extra):
    return {**provider.kwargs(standin, model_suffix), "messages": MESSAGES, "max_retries": 0, **extra}


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("provider", sorted(CHAT_PROVIDERS))
def test_stream_matches_stock(standin, patch, provider, scenario, is_async):
    p = CHAT_PROVIDERS[provider]
    call = litellm_stream(_kwargs(p, standin, **SCENARIOS[scenario]), is_async=is_async)
    comparison = compare(call, standin, patch)
    assert_same(comparison)
    streamed = comparison.patched.result
    # Real values, so a comparison of two empty outcomes cannot pass.
    assert streamed.is_stock_wrapper and streamed.error is None
    assert len(streamed.chunks) >= 3
    built = litellm.stream_chunk_builder(streamed.chunks, messages=MESSAGES)
    if scenario == "tool_calls":
        assert built.choices[0].message.tool_calls[0].function.name == "get_current_weather"
    else:
        assert built.choices[0].message.content
    if scenario == "usage":
        assert built.usage.total_tokens > 0
    assert comparison.patched.requests[0]["body"]["stream"] is True


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("marker", ["sse-quirks", "sse-bytewise"])
@pytest.mark.parametrize("provider", ["openai", "azure", "xai", "openrouter"])
def test_stream_framing_matches_stock(standin, patch, provider, marker, is_async):
    """Whatever stock's SSE parsing makes of unusual but legal framing, the patch makes too:
    the bytes reach it unchanged, however the network split them."""
    p = CHAT_PROVIDERS[provider]
    call = litellm_stream(_kwargs(p, standin, "-" + marker), is_async=is_async)
    comparison = compare(call, standin, patch)
    assert_same(comparison)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(CHAT_PROVIDERS))
def test_stream_broken_mid_way_matches_stock(standin, patch, provider, is_async):
    """The connection drops after two events: the chunks before it, stock's exception and
    stock's failure callbacks."""
    p = CHAT_PROVIDERS[provider]
    call = litellm_stream(_kwargs(p, standin, "-close-mid-stream"), is_async=is_async)
    # Stock logs every sync chunk on a worker thread, and that thread writes `log_event_type`
    # into the same dict the failure callback is then handed: which value the callback sees
    # depends on which thread runs first, in stock as well.
    comparison = compare(call, standin, patch, racy=(".log_event_type",))
    assert_same(comparison)
    assert comparison.patched.result.error is not None
    assert len(comparison.patched.requests) == 1  # never sent twice


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", ["openai", "xai"])
def test_stream_error_status_matches_stock(standin, patch, provider, is_async):
    p = CHAT_PROVIDERS[provider]
    call = litellm_stream(_kwargs(p, standin, "-error-429"), is_async=is_async)
    comparison = compare(call, standin, patch)
    assert_same(comparison)
    assert comparison.patched.error is not None
    assert getattr(comparison.patched.error, "status_code", None) == 429


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", ["openai", "mistral"])
def test_stream_read_timeout_matches_stock(standin, patch, provider, is_async):
    """A stream that stops sending: the per-read timeout fires as in stock, with its exception."""
    p = CHAT_PROVIDERS[provider]
    call = litellm_stream(_kwargs(p, standin, "-hang-mid-stream", timeout=0.5), is_async=is_async)
    comparison = compare(call, standin, patch)
    assert_same(comparison)
    error = comparison.patched.result.error if comparison.patched.result is not None else comparison.patched.error
    assert error is not None and "imeout" in str(error) or "timed out" in str(error), error


@pytest.mark.parametrize("how", ["drop", "close", "cancel"])
@pytest.mark.parametrize("provider", ["openai", "azure", "xai"])
def test_leaving_early_closes_the_connection(standin, patch, provider, how):
    """Leaving after the first chunk closes the connection while the provider is still sending
    (the stand-in stops after two events, never ending the body, and sees the disconnect):
    dropping a sync stream,
    `aclose()` on an async one, or cancelling the task reading it."""
    p = CHAT_PROVIDERS[provider]
    kwargs = {**_kwargs(p, standin, "-hang-mid-stream"), "stream": True}
    patch.on()
    standin.reset()
    before = sum(stats.native_calls.values())
    if how == "drop":
        stream = litellm.completion(**kwargs)
        first = next(iter(stream))
        del stream
    else:

        async def leave():
            stream = await litellm.acompletion(**kwargs)
            if how == "close":
                first = await stream.__anext__()
                await stream.aclose()
                return first
            started = asyncio.Event()

            async def read():
                async for chunk in stream:
                    started.set()
                    await asyncio.sleep(0)

            task = asyncio.create_task(read())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return None

        first = asyncio.run(leave())
    assert sum(stats.native_calls.values()) == before + 1
    if first is not None:
        assert first.choices[0].delta.role == "assistant"
    wait_for_disconnect(standin)
    assert len(standin.requests()) == 1


@pytest.mark.parametrize("provider", ["openai", "xai"])
def test_first_chunk_is_not_held_back(standin, patch, provider):
    """The first chunk reaches the caller while the provider pauses after sending it."""
    p = CHAT_PROVIDERS[provider]
    patch.on()
    started = time.monotonic()
    stream = litellm.completion(**_kwargs(p, standin, "-stall-after-first"), stream=True)
    first = next(iter(stream))
    first_at = time.monotonic() - started
    rest = list(stream)
    total = time.monotonic() - started
    assert first.choices[0].delta.role == "assistant"
    assert rest, "the rest of the stream arrived"
    assert first_at < 1.0 <= total, (first_at, total)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_abandoned_streams_leak_nothing(standin, patch, is_async):
    """1,000 streams left after their first chunk (dropped, or their reading task cancelled)
    leave no thread, task, file descriptor or connection behind."""
    p = CHAT_PROVIDERS["openai"]
    kwargs = {**_kwargs(p, standin, "-hang-mid-stream"), "stream": True}
    patch.on()
    litellm.completion(**{**kwargs, "model": p.model})  # warm pools and caches
    gc.collect()
    standin.reset()
    threads = sum(1 for t in threading.enumerate() if not t.name.startswith(("ThreadPoolExecutor", "litellm-logging")))
    fds = _open_fds()
    count = 1000
    if is_async:

        async def abandon_all():
            reading = []

            async def one():
                stream = await litellm.acompletion(**kwargs)
                async for _ in stream:
                    reading.append(1)
                    await asyncio.sleep(3600)  # stuck on the first chunk until cancelled

            for start in range(0, count, 100):
                tasks = [asyncio.create_task(one()) for _ in range(100)]
                while len(reading) < start + 100:
                    await asyncio.sleep(0.01)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            assert len(asyncio.all_tasks()) == 1, "tasks left behind"

        asyncio.run(abandon_all())
    else:
        for _ in range(count):
            stream = litellm.completion(**kwargs)
            next(iter(stream))
            del stream
    deadline = time.monotonic() + 20
    while True:
        gc.collect()
        disconnected = sum(1 for e in standin.events() if e["event"] == "client_disconnected")
        if disconnected >= count or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert disconnected == count, f"{count - disconnected} connections still open at the stand-in"
    assert len(standin.requests()) == count
    assert _open_fds() <= fds + 5, (fds, _open_fds())
    # LiteLLM's logging pool grows to its bounded size under any load, patched or not.
    others = [t.name for t in threading.enumerate() if not t.name.startswith(("ThreadPoolExecutor", "litellm-logging"))]
    assert len(others) <= threads + 1, others
