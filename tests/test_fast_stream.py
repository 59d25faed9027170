"""The fast stream path (edgequake_patch/paths/fast_stream.py), patch off vs on.

The chunks it builds by copying stock's last chunk must be stock's chunks, field for field
(model fields, extra fields, which fields were set, hidden params), whatever is registered to
observe them: with a callback logger (stock's per-chunk logging job is then submitted as
stock submits it) and with no callback at all (the job is skipped). Stock's repetition guard
still trips where stock's does; frames stock must see (tool calls, logprobs, framing quirks,
the finish) still reach it.
"""

from __future__ import annotations

import asyncio
import time

import litellm
import pytest
from litellm.integrations.custom_logger import CustomLogger
from litellm.types.utils import ModelResponseStream

from edgequake_patch.paths import fast_stream
from edgequake_patch.state import stats
from tests.differential import CHAT_PROVIDERS, assert_same, compare, diff_paths, litellm_stream, plain, wait_for_disconnect
from tests.native_formats import GEMINI
from tests.standin.fixtures import REPEATED_TOKEN

SDK_PROVIDERS = ["azure", "lm_studio", "openai"]
MESSAGES = [{"role": "user", "content": "Say hello."}]


def _kwargs(provider: str, standin, suffix: str = "", **extra):
    return {**CHAT_PROVIDERS[provider].kwargs(standin, suffix), "messages": MESSAGES, "max_retries": 0, **extra}


def _fast_chunks(provider: str) -> int:
    return stats.fast_stream_chunks.get(provider, 0)


def _content_chunks(chunks) -> int:
    return sum(1 for c in chunks if c.choices and c.choices[0].delta.content)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("scenario", ["text", "usage", "long"])
@pytest.mark.parametrize("provider", SDK_PROVIDERS)
def test_fast_chunks_equal_stocks_with_callbacks(standin, patch, provider, scenario, is_async):
    """With a callback logger registered (stock's per-chunk logging job is kept): chunks,
    `stream_chunk_builder` and callback payloads equal stock's, and all content chunks after the
    first were built by the fast path."""
    extra = {"stream_options": {"include_usage": True}} if scenario == "usage" else {}
    suffix = "-words-300" if scenario == "long" else ""
    call = litellm_stream(_kwargs(provider, standin, suffix, **extra), is_async=is_async)
    before = _fast_chunks(provider)
    comparison = compare(call, standin, patch)
    assert_same(comparison)
    chunks = comparison.patched.result.chunks
    content = _content_chunks(chunks)
    assert content >= (300 if scenario == "long" else 4)
    # The first two content chunks are stock's (the fast path learns from them); every later
    # one is fast.
    assert _fast_chunks(provider) - before == content - 2
    assert all(type(c) is ModelResponseStream for c in chunks)


def _strict(chunk) -> dict:
    """Everything pydantic compares and more: fields, extra fields, the set of fields set,
    private attributes, for the chunk, its choices and their deltas."""

    def parts(obj):
        return {
            "type": type(obj).__qualname__,
            "dict": plain({k: v for k, v in obj.__dict__.items() if k not in ("choices", "delta")}),
            "extra": plain({k: v for k, v in (obj.__pydantic_extra__ or {}).items() if k != "delta"}),
            "fields_set": sorted(obj.__pydantic_fields_set__),
        }

    return {
        **parts(chunk),
        "private": plain(chunk.__pydantic_private__),
        "choices": [{**parts(c), "delta": parts(c.delta)} for c in chunk.choices],
    }


def _consume(kwargs, is_async):
    if is_async:

        async def go():
            wrapper = await litellm.acompletion(**kwargs, stream=True)
            return wrapper, [c async for c in wrapper]

        return asyncio.run(go())
    wrapper = litellm.completion(**kwargs, stream=True)
    return wrapper, list(wrapper)


# Stamped from clocks (two stock runs may agree on them by luck): the wrapper's `created`, the
# chunk's `created_at`, the server's Date header.
_CLOCKS = (".created", ".created_at", "-date")


@pytest.fixture
def no_callbacks(monkeypatch):
    for name in ("callbacks", "success_callback", "_async_success_callback", "failure_callback",
                 "_async_failure_callback", "input_callback"):
        monkeypatch.setattr(litellm, name, [])


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", SDK_PROVIDERS)
def test_fast_chunks_equal_stocks_without_callbacks(standin, patch, no_callbacks, provider, is_async):
    """Nothing registered to observe the per-chunk logging job, so it is skipped; every chunk,
    compared strictly, and `stream_chunk_builder` still equal stock's."""
    kwargs = _kwargs(provider, standin, "-words-50")

    def view():
        wrapper, chunks = _consume(kwargs, is_async)
        return wrapper, {
            "chunks": [_strict(c) for c in chunks],
            "built": plain(litellm.stream_chunk_builder(chunks, messages=MESSAGES)),
        }

    patch.off()
    _, stock = view()
    _, stock_again = view()
    patch.on()
    before = _fast_chunks(provider)
    try:
        wrapper, patched = view()
    finally:
        patch.off()
    assert isinstance(wrapper, fast_stream.FastStreamWrapper) and wrapper._eqp_log is False
    assert _fast_chunks(provider) - before == 48
    volatile = set(diff_paths(stock, stock_again))
    mismatches = {p: v for p, v in diff_paths(stock, patched).items()
                  if p not in volatile and not p.endswith(_CLOCKS)}
    assert not mismatches, mismatches
    assert len(patched["chunks"]) == 52  # the role chunk, 50 words, the finish chunk


class Watcher(CustomLogger):
    """A callback logger: its presence is what makes stock's per-chunk logging job observable."""

    def log_stream_event(self, kwargs, response_obj, start_time, end_time):
        pass


def test_per_chunk_logging_jobs_get_stocks_chunks(standin, patch, no_callbacks, monkeypatch):
    """With a callback registered, the fast path submits stock's per-chunk logging job for each
    chunk it builds, with the chunk stock would have logged. (What a logger then sees of those
    jobs is a race between LiteLLM's pool threads, in stock too, so the jobs themselves are
    compared: every submitted chunk, in submission order.)"""
    submitted = []

    def record(self, processed_chunk, cache_hit):
        submitted.append((plain(processed_chunk), cache_hit))

    monkeypatch.setattr(litellm.CustomStreamWrapper, "run_success_logging_and_cache_storage", record)
    watcher = Watcher()  # one instance: LiteLLM ignores a second logger of a class it has seen

    def jobs():
        submitted.clear()
        litellm.callbacks = [watcher]
        try:
            _consume(_kwargs("openai", standin, "-words-20"), False)
            # The jobs run on LiteLLM's logging pool: wait until they stop arriving.
            seen, deadline = -1, time.monotonic() + 10
            while seen != len(submitted) and time.monotonic() < deadline:
                seen = len(submitted)
                time.sleep(0.3)
            return [({k: v for k, v in c.items() if k != "created"}, hit) for c, hit in submitted]
        finally:
            litellm.callbacks = []

    patch.off()
    stock = jobs()
    patch.on()
    before = _fast_chunks("openai")
    try:
        patched = jobs()
    finally:
        patch.off()
    assert _fast_chunks("openai") - before == 18
    assert len(stock) == 22  # the role chunk, 20 words, the finish chunk

    def content(job):
        return job[0]["choices"][0]["delta"].get("content") if job[0].get("choices") else None

    # Submitted from the caller's thread in chunk order, run on the pool in any order.
    assert sorted(patched, key=lambda j: str(content(j))) == sorted(stock, key=lambda j: str(content(j)))


def test_learning_does_not_race_the_logging_job(standin, patch, no_callbacks, monkeypatch):
    """Stock's per-chunk logging job changes the logging object on a pool thread at any moment,
    and Gemini's parser holds that object too. Each job run late, while stock handles the next
    frame (the timing a loaded machine produces: the first chunk's job then fills the logging
    object's details during the second frame), must not keep the steady chunks from being
    learned: the fast path still builds all but the first, the two it learns from and the
    finish."""
    from litellm.litellm_core_utils import streaming_handler

    class OneLate:
        job = None

        def submit(self, fn, *args, **kwargs):
            late, self.job = self.job, (fn, args, kwargs)
            if late is not None:
                late[0](*late[1], **late[2])

    monkeypatch.setattr(streaming_handler, "executor", OneLate())
    watcher = Watcher()
    litellm.callbacks = [watcher]
    patch.on()
    before = _fast_chunks("gemini")
    try:
        kwargs = {**GEMINI.kwargs(standin, "-words-20"), "messages": MESSAGES, "max_retries": 0}
        _wrapper, chunks = _consume(kwargs, False)
    finally:
        litellm.callbacks = []
        patch.off()
    assert _content_chunks(chunks) == 20
    assert _fast_chunks("gemini") - before == 17


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_repetition_guard_trips_where_stocks_does(standin, patch, is_async):
    """A model repeating one token: stock raises InternalServerError at its limit (100 equal
    chunks); the fast path hands the tripping frame to stock, which raises the same."""
    call = litellm_stream(_kwargs("openai", standin, "-repeat-150"), is_async=is_async)
    comparison = compare(call, standin, patch, racy=(".log_event_type",))
    assert_same(comparison)
    streamed = comparison.patched.result
    assert "The model is repeating the same chunk = " + REPEATED_TOKEN in str(streamed.error)
    assert len(streamed.chunks) == litellm.REPEATED_STREAMING_CHUNK_LIMIT + 1  # the role chunk, then repeats


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_frames_stock_must_see_are_stocks(standin, patch, is_async):
    """Logprobs make every frame different: nothing is steady, stock builds every chunk."""
    call = litellm_stream(_kwargs("openai", standin, logprobs=True, top_logprobs=2), is_async=is_async)
    before = _fast_chunks("openai")
    comparison = compare(call, standin, patch)
    assert_same(comparison)
    assert _fast_chunks("openai") == before
    assert comparison.patched.result.chunks[1].choices[0].logprobs is not None


def test_streams_it_does_not_serve_stay_stock_wrappers(standin, patch, monkeypatch):
    """With a maximum stream duration set, stock checks the clock on every chunk: such a
    stream goes through the core but keeps stock's wrapper class and chunk logic."""
    from litellm import constants

    monkeypatch.setattr(constants, "LITELLM_MAX_STREAMING_DURATION_SECONDS", 600.0, raising=False)
    patch.on()
    counted = stats.not_fast["max_streaming_duration"]
    wrapper, chunks = _consume(_kwargs("xai", standin), False)
    assert type(wrapper) is litellm.CustomStreamWrapper
    assert _content_chunks(chunks) >= 4
    assert stats.not_fast["max_streaming_duration"] == counted + 1


BROKEN = "-words-40-cut-at-30"  # 30 events (the role chunk and 29 words), then the fault


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", ["azure", "openai"])
def test_a_stream_broken_after_fast_chunks_fails_as_stocks(standin, patch, provider, is_async):
    """The connection drops after 27 fast chunks: the chunks before it, stock's exception and
    failure callbacks, one request."""
    call = litellm_stream(_kwargs(provider, standin, BROKEN + "-close-mid-stream"), is_async=is_async)
    before = _fast_chunks(provider)
    # log_event_type: see test_stream_differential.test_stream_broken_mid_way_matches_stock.
    comparison = compare(call, standin, patch, racy=(".log_event_type",))
    assert_same(comparison)
    streamed = comparison.patched.result
    assert streamed.error is not None and len(streamed.chunks) == 30
    assert _fast_chunks(provider) - before == 27
    assert len(comparison.patched.requests) == 1


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_read_timeout_after_fast_chunks_is_stocks(standin, patch, is_async):
    call = litellm_stream(_kwargs("openai", standin, BROKEN + "-hang-mid-stream", timeout=0.5), is_async=is_async)
    before = _fast_chunks("openai")
    comparison = compare(call, standin, patch)
    assert_same(comparison)
    streamed = comparison.patched.result
    assert streamed.error is not None and "imeout" in str(streamed.error) or "timed out" in str(streamed.error)
    assert len(streamed.chunks) == 30 and _fast_chunks("openai") - before == 27


@pytest.mark.parametrize("how", ["drop", "close", "cancel"])
def test_leaving_during_fast_chunks_closes_the_connection(standin, patch, how):
    """Leaving while the fast path is reading (after 20 chunks, or waiting for more after 30)
    closes the connection; the stand-in sees the disconnect."""
    kwargs = {**_kwargs("openai", standin, BROKEN + "-hang-mid-stream"), "stream": True}
    patch.on()
    standin.reset()
    before = _fast_chunks("openai")
    if how == "drop":
        stream = litellm.completion(**kwargs)
        for _, _chunk in zip(range(20), stream):
            pass
        del stream, _chunk
    else:

        async def leave():
            stream = await litellm.acompletion(**kwargs)
            if how == "close":
                for _ in range(20):
                    await stream.__anext__()
                await stream.aclose()
                return
            seen = []

            async def read():
                async for chunk in stream:
                    seen.append(chunk)

            task = asyncio.create_task(read())
            while len(seen) < 30:  # then it waits for a frame that never comes
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(leave())
    assert _fast_chunks("openai") - before >= 17
    wait_for_disconnect(standin)
    assert len(standin.requests()) == 1


def test_with_debug_logging_streams_stay_stocks(standin, patch, monkeypatch):
    """Stock writes debug lines for every chunk; with LiteLLM's verbose logging on, every chunk
    goes through stock so all of them are written."""
    monkeypatch.setattr(litellm, "set_verbose", True)
    patch.on()
    before, counted = _fast_chunks("openai"), stats.not_fast["debug_logging"]
    wrapper, chunks = _consume(_kwargs("openai", standin, "-words-20"), False)
    assert type(wrapper) is litellm.CustomStreamWrapper
    assert _content_chunks(chunks) == 20 and _fast_chunks("openai") == before
    assert stats.not_fast["debug_logging"] == counted + 1


@pytest.mark.parametrize("what", ["unlearnable", "learning_error"])
def test_chunks_stock_keeps_building_are_counted_with_the_reason(standin, patch, monkeypatch, what):
    """A pair of chunks that teaches no shape, and an unexpected error while learning: stock
    builds the chunks (equal to stock's, as every test here shows), and the reason is counted."""
    from edgequake_patch.paths import chunk_recipes

    def refuse(*args, **kwargs):
        raise chunk_recipes.Unlearnable("refused by the test")

    def fail(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(chunk_recipes, "learn", refuse if what == "unlearnable" else fail)
    patch.on()
    before, counted = _fast_chunks("openai"), stats.not_fast[what]
    wrapper, chunks = _consume(_kwargs("openai", standin, "-words-20"), False)
    assert _content_chunks(chunks) == 20 and _fast_chunks("openai") == before
    if what == "unlearnable":  # every later pair is tried again, and refused again
        assert stats.not_fast[what] - counted >= 10
    else:  # the first error ends learning for the stream
        assert stats.not_fast[what] - counted == 1


def _first_chunk_delay(kwargs: dict, is_async: bool) -> tuple:
    """Seconds until the first chunk, and until the end, of a stream that pauses 1.5 s after
    its first frame."""
    started = time.monotonic()
    if is_async:

        async def read():
            stream = await litellm.acompletion(**kwargs, stream=True)
            first = await stream.__anext__()
            at = time.monotonic() - started
            return first, at, [c async for c in stream]

        first, first_at, rest = asyncio.run(read())
    else:
        stream = litellm.completion(**kwargs, stream=True)
        first = next(iter(stream))
        first_at = time.monotonic() - started
        rest = list(stream)
    assert first.choices, "a chunk, not an empty object"
    assert rest, "the rest of the stream arrived"
    return first_at, time.monotonic() - started


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", ["anthropic", "gemini", "ollama", "ollama_chat", "openrouter"])
def test_the_first_chunk_comes_no_later_than_stocks(standin, patch, provider, is_async):
    """A provider pausing after its first frame: whichever chunk stock hands over before the
    pause, the patched stream hands over before it too (frames are cut as they arrive)."""
    from tests.native_formats import CHAT, kwargs as format_kwargs

    if provider in CHAT:
        call = {**format_kwargs(CHAT[provider], standin, "-stall-after-first"), "messages": MESSAGES}
    else:
        call = _kwargs(provider, standin, "-stall-after-first")
    patch.off()
    stock_first, stock_total = _first_chunk_delay(call, is_async)
    patch.on()
    try:
        patched_first, patched_total = _first_chunk_delay(call, is_async)
    finally:
        patch.off()
    assert stock_total >= 1.0 and patched_total >= 1.0  # the pause happened
    assert (patched_first < 1.0) == (stock_first < 1.0), (stock_first, patched_first)
    # Anthropic's first event (message_start) makes no chunk on its own; every other
    # format's first frame does, before the pause.
    assert (patched_first < 1.0) == (provider != "anthropic"), patched_first


def test_litellms_own_cache_entry_is_no_observer_without_a_cache(standin, patch, no_callbacks, monkeypatch):
    """Any `litellm.Cache` ever built registers "cache" as a success callback (LiteLLM's Gemini
    context caching builds one on import): with no cache set, nothing handles that entry, so
    the per-chunk logging job stays skipped; with a cache set, it is submitted as stock does."""
    monkeypatch.setattr(litellm, "success_callback", ["cache"])
    monkeypatch.setattr(litellm, "_async_success_callback", ["cache"])
    patch.on()
    try:
        wrapper, _ = _consume(_kwargs("openai", standin, "-words-5"), False)
        assert wrapper._eqp_log is False
        with monkeypatch.context() as m:
            m.setattr(litellm, "cache", litellm.Cache(type="local"))  # a cache: the entry is live
            wrapper, _ = _consume(_kwargs("openai", standin, "-words-6"), False)
            assert wrapper._eqp_log is True
    finally:
        patch.off()
    comparison = compare(litellm_stream(_kwargs("openai", standin, "-words-20"), is_async=False), standin, patch)
    assert_same(comparison)
