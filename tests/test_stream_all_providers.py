"""Long streams for all nine providers, patch off vs on, sync and async.

Each provider streams in its own wire format from the stand-in, with the long streams the fast
stream path has to serve (tests/standin/README.md, "Long streams"): 60 text chunks, reasoning
or thinking deltas before the answer, tool-call arguments in 60 pieces, usage in the stream
(OpenAI's `include_usage`, Gemini's usageMetadata on every chunk, Anthropic's and Ollama's
final counts), Anthropic's pings, and a frame of a kind the provider may add mid-stream.

Compared with stock (tests/differential.py): the request, every chunk's dump and hidden params,
`stream_chunk_builder` over the chunks, the success callbacks' payloads (the complete streaming
response). Asserted besides: the built response carries the real text, arguments, reasoning and
usage the stand-in sent, and the patched call went through the core for that provider.

`test_fast_path_serves_steady_text_chunks` is the target of issue 13 (fast streams for every
provider): it fails for the providers whose steady frames the fast path does not build yet.
"""

from __future__ import annotations

import asyncio
import json

import litellm
import pytest

from edgequake_patch.state import stats
from tests.differential import (_CLOCK_FIELDS, CHAT_PROVIDERS, WEATHER_TOOL, Provider, _stamped_by_litellm, assert_same, compare,
                                diff_paths, litellm_stream, wait_for_disconnect)
from tests.native_formats import ANTHROPIC, GEMINI, OLLAMA, OLLAMA_CHAT, kwargs
from tests.standin import providers
from tests.standin.fixtures import count_prompt_tokens, long_arguments, tokenize, word_pieces

MESSAGES = [{"role": "user", "content": "Say hello."}]

PROVIDERS = {**CHAT_PROVIDERS, "anthropic": ANTHROPIC, "gemini": GEMINI, "ollama": OLLAMA, "ollama_chat": OLLAMA_CHAT}
OPENAI_STYLE = sorted(CHAT_PROVIDERS)
# Providers whose API streams reasoning text (OpenAI's and Azure OpenAI's chat completions
# never do). Mistral's reasoning models are Magistral: the stand-in answers them with
# `thinking` blocks, as Mistral's API reference shows.
REASONING = {
    **{name: PROVIDERS[name] for name in ("anthropic", "gemini", "lm_studio", "ollama", "ollama_chat", "openrouter", "xai")},
    "mistral": Provider("mistral", "mistral/magistral-medium-latest", "/v1", "mistral-test-key-0123456789"),
}

WORDS = 60
TEXT = "".join(word_pieces(WORDS))
# Completion tokens the usage reports for the 60 words: the OpenAI-style answers count one
# token per chunk; Anthropic's, Gemini's and Ollama's count the stand-in's tokens of the text
# (" word7" is two).
WORD_TOKENS = {name: WORDS for name in CHAT_PROVIDERS} | {name: len(tokenize(TEXT)) for name in ("anthropic", "gemini", "ollama", "ollama_chat")}
THOUGHTS, ANSWER_WORDS = 40, 20
REASONING_TEXT = "".join(word_pieces(THOUGHTS, "thought"))
ARGUMENTS, _ = long_arguments(WORDS)


def _call(provider: Provider, standin, suffix: str, *, is_async: bool, **extra):
    call_kwargs = {"messages": MESSAGES, "max_retries": 0, **kwargs(provider, standin, suffix), **extra}
    return litellm_stream(call_kwargs, is_async=is_async)


def _compare_native(provider: str, call, standin, patch, **options):
    """compare(), and the patched run went through the core as this provider, once."""
    before = stats.native_calls[provider]
    comparison = compare(call, standin, patch, **options)
    assert_same(comparison)
    assert stats.native_calls[provider] - before == 1, dict(stats.native_calls)
    streamed = comparison.patched.result
    assert streamed.is_stock_wrapper and streamed.error is None, streamed.error
    return comparison, streamed


def _built(streamed):
    return litellm.stream_chunk_builder(streamed.chunks, messages=MESSAGES)


def _callback_responses(comparison) -> list:
    """The complete streaming responses the success callbacks received in the patched run."""
    events = [view for event, view in comparison.patched.events if event in ("success", "async_success")]
    assert events, [event for event, _ in comparison.patched.events]
    return [view["response_obj"] for view in events]


def _text_of(response_view) -> str:
    return response_view["choices"][0]["message"]["content"]


def _content(streamed) -> str:
    return "".join(c.choices[0].delta.content or "" for c in streamed.chunks if c.choices)


def _prompt_tokens(provider: str, comparison) -> int:
    """The prompt's count in the format's usage: what the stand-in counts for the request the
    patched run sent (it counts the request as sent: Anthropic's content blocks, Gemini's parts)."""
    body = comparison.patched.requests[-1]["body"]
    if provider == "anthropic":
        return providers.AnthropicPlan(body, body["model"]).input_tokens
    if provider == "gemini":
        return providers.GeminiPlan(body, "").prompt_tokens
    if provider in ("ollama", "ollama_chat"):
        return providers._ollama_prompt_tokens(body)
    return count_prompt_tokens(body["messages"])


SYNC_ASYNC = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])


# -- text ---------------------------------------------------------------------------------


@SYNC_ASYNC
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_long_text_stream_matches_stock(provider, is_async, standin, patch):
    """60 text chunks: every chunk, the built response and the callbacks are stock's; the text
    is the 60 words, in order; where the format carries usage in the stream (Anthropic, Gemini
    on every chunk, Ollama's final line) the built usage is the provider's."""
    comparison, streamed = _compare_native(provider, _call(PROVIDERS[provider], standin, f"-words-{WORDS}", is_async=is_async), standin, patch)
    assert _content(streamed) == TEXT
    assert sum(1 for c in streamed.chunks if c.choices and c.choices[0].delta.content) == WORDS
    built = _built(streamed)
    assert built.choices[0].message.content == TEXT
    assert built.choices[0].finish_reason == "stop"
    # Usage the stream carries unasked: Anthropic's, Gemini's (on every chunk), Ollama's final
    # line, Mistral's finish chunk. (The others only with include_usage: the test below.)
    if provider in ("anthropic", "gemini", "mistral", "ollama", "ollama_chat"):
        prompt, completion = _prompt_tokens(provider, comparison), WORD_TOKENS[provider]
        assert prompt >= len(tokenize(MESSAGES[0]["content"]))
        if provider == "gemini" and is_async and built.usage.prompt_tokens != prompt:
            # LiteLLM 1.95's async Gemini chunks hand the builder no usage: it counts the prompt
            # itself (the completion count still comes out as the provider's).
            prompt = litellm.token_counter(model=GEMINI.model, messages=MESSAGES)
        assert (built.usage.prompt_tokens, built.usage.completion_tokens, built.usage.total_tokens) == (prompt, completion, prompt + completion)
    assert all(_text_of(r) == TEXT for r in _callback_responses(comparison))


def test_gemini_sends_usage_on_every_chunk(standin):
    """What the Gemini comparisons run against: usageMetadata on every streamed chunk, the
    candidates' count growing by each chunk's tokens and the total with it."""
    import urllib.request

    request = urllib.request.Request(
        standin.url(f"/v1beta/models/gemini-2.0-flash-words-{WORDS}:streamGenerateContent?alt=sse"),
        data=json.dumps({"contents": [{"role": "user", "parts": [{"text": "Say hello."}]}]}).encode(),
        headers={"content-type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        frames = [f for f in response.read().split(b"\r\n\r\n") if f]
    chunks = [json.loads(f[len(b"data: "):]) for f in frames]
    counts = [c["usageMetadata"].get("candidatesTokenCount") for c in chunks]
    assert len(chunks) == WORDS + 1
    assert counts[:-1] == [2 * (i + 1) for i in range(WORDS)] and counts[-1] == WORD_TOKENS["gemini"]
    assert all(c["usageMetadata"]["totalTokenCount"] == c["usageMetadata"]["promptTokenCount"] + n for c, n in zip(chunks, counts))


# -- reasoning ----------------------------------------------------------------------------


@SYNC_ASYNC
@pytest.mark.parametrize("provider", sorted(REASONING))
def test_reasoning_stream_matches_stock(provider, is_async, standin, patch):
    """40 reasoning deltas (Anthropic thinking_delta then signature_delta, Gemini thought parts,
    Ollama `thinking`, xAI/LM Studio `reasoning_content`, OpenRouter `reasoning`, Magistral
    thinking blocks), then 20 words of answer."""
    suffix = f"-think-words-{THOUGHTS}-words-{ANSWER_WORDS}"
    comparison, streamed = _compare_native(provider, _call(REASONING[provider], standin, suffix, is_async=is_async), standin, patch)
    built = _built(streamed)
    message = built.choices[0].message
    assert message.content == "".join(word_pieces(ANSWER_WORDS))
    assert message.reasoning_content == REASONING_TEXT
    reasoning_chunks = [c for c in streamed.chunks if c.choices and getattr(c.choices[0].delta, "reasoning_content", None)]
    assert len(reasoning_chunks) >= THOUGHTS
    if provider == "anthropic":  # the signature_delta closed the thinking block
        assert message.thinking_blocks[0]["signature"]
    assert all(_text_of(r) == message.content for r in _callback_responses(comparison))


# -- tool-call arguments --------------------------------------------------------------------


@SYNC_ASYNC
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_long_tool_arguments_stream_matches_stock(provider, is_async, standin, patch):
    """Tool-call arguments in 60 pieces (OpenAI-style argument deltas, Anthropic input_json_delta
    after its empty opening piece); Gemini and Ollama send a call whole, so there the same long
    arguments arrive in one part."""
    comparison, streamed = _compare_native(
        provider, _call(PROVIDERS[provider], standin, f"-args-words-{WORDS}", is_async=is_async, tools=[WEATHER_TOOL]), standin, patch
    )
    message = _built(streamed).choices[0].message
    if provider == "ollama":  # /api/generate has no tools: LiteLLM asks for the call as JSON text
        call = message.tool_calls[0].function if message.tool_calls else None
        if call is not None:
            assert (call.name, json.loads(call.arguments)) == ("get_current_weather", ARGUMENTS)
        else:
            assert json.loads(message.content) == {"name": "get_current_weather", "arguments": ARGUMENTS}
        return
    call = message.tool_calls[0].function
    assert call.name == "get_current_weather"
    assert json.loads(call.arguments) == ARGUMENTS
    assert call.arguments == json.dumps(ARGUMENTS)
    if provider not in ("gemini", "ollama_chat"):
        pieces = [c for c in streamed.chunks if c.choices and c.choices[0].delta.tool_calls
                  and c.choices[0].delta.tool_calls[0].function.arguments]
        assert len(pieces) == WORDS
    responses = _callback_responses(comparison)
    assert all(json.loads(r["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == ARGUMENTS for r in responses)


# -- usage in the stream --------------------------------------------------------------------


@SYNC_ASYNC
@pytest.mark.parametrize("provider", OPENAI_STYLE)
def test_include_usage_stream_matches_stock(provider, is_async, standin, patch):
    """`stream_options.include_usage`: the usage chunk after the finish, and the built usage is
    the provider's."""
    comparison, streamed = _compare_native(
        provider,
        _call(PROVIDERS[provider], standin, f"-words-{WORDS}", is_async=is_async, stream_options={"include_usage": True}),
        standin, patch,
    )
    built = _built(streamed)
    assert built.choices[0].message.content == TEXT
    prompt = _prompt_tokens(provider, comparison)
    assert (built.usage.prompt_tokens, built.usage.completion_tokens, built.usage.total_tokens) == (prompt, WORDS, prompt + WORDS)
    if provider != "mistral":  # LiteLLM does not forward stream_options to Mistral, which sends usage anyway
        assert comparison.patched.requests[0]["body"]["stream_options"] == {"include_usage": True}
    responses = _callback_responses(comparison)
    assert all(r["usage"]["completion_tokens"] == WORDS for r in responses)


@SYNC_ASYNC
def test_anthropic_pings_mid_stream_match_stock(is_async, standin, patch):
    """A ping after every 5 content deltas, as a long Anthropic stream is kept alive: nothing of
    them reaches the caller that does not reach stock's."""
    _, streamed = _compare_native("anthropic", _call(ANTHROPIC, standin, f"-words-{WORDS}-ping-every-5", is_async=is_async), standin, patch)
    assert _built(streamed).choices[0].message.content == TEXT


# -- frames the fast path may not know --------------------------------------------------------


@SYNC_ASYNC
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_unknown_frame_mid_stream_is_handled_as_stock(provider, is_async, standin, patch):
    """Mid-stream, a frame of a kind the provider may add (an SSE comment line for the
    OpenAI-style providers, an Anthropic event type the reference does not list, a Gemini part
    of another kind, Ollama fields this API version does not document): whatever stock makes of
    it, in its place, and the text around it intact and in order."""
    _, streamed = _compare_native(provider, _call(PROVIDERS[provider], standin, f"-words-{WORDS}-unknown-frame", is_async=is_async), standin, patch)
    assert _content(streamed) == TEXT
    assert _built(streamed).choices[0].message.content == TEXT


# -- leaving early --------------------------------------------------------------------------


@SYNC_ASYNC
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_leaving_early_closes_the_connection(provider, is_async, standin, patch):
    """Leaving after 3 chunks of a long stream (break and drop a sync stream, `aclose()` an
    async one) closes the core's connection while the provider is still sending: the stand-in
    sends 10 frames, then holds the stream open, and sees the disconnect."""
    call_kwargs = {"messages": MESSAGES, "stream": True, "timeout": 10.0, "max_retries": 0,
                   **kwargs(PROVIDERS[provider], standin, f"-words-{WORDS}-cut-at-10-hang-mid-stream")}
    patch.on()
    standin.reset()
    before = stats.native_calls[provider]
    taken = []
    if is_async:

        async def leave():
            stream = await litellm.acompletion(**call_kwargs)
            async for chunk in stream:
                taken.append(chunk)
                if len(taken) == 3:
                    break
            await stream.aclose()

        asyncio.run(leave())
    else:
        stream = litellm.completion(**call_kwargs)
        for chunk in stream:
            taken.append(chunk)
            if len(taken) == 3:
                break
        del stream, chunk
    assert len(taken) == 3
    assert stats.native_calls[provider] == before + 1
    wait_for_disconnect(standin)
    assert len([r for r in standin.requests() if r["path"] != "/api/show"]) == 1


# -- the fast path ------------------------------------------------------------------------


@SYNC_ASYNC
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_fast_path_serves_steady_text_chunks(provider, is_async, standin, patch):
    """Issue 13's target: the steady text chunks of every provider's stream are built by the
    fast path (more than half of a 60-word stream's chunks), not by stock's per-chunk code.
    The equality of those chunks with stock's is the tests above."""
    call = _call(PROVIDERS[provider], standin, f"-words-{WORDS}", is_async=is_async)
    patch.on()
    before = stats.fast_stream_chunks.get(provider, 0)
    streamed = asyncio.run(call()) if is_async else call()
    fast = stats.fast_stream_chunks.get(provider, 0) - before
    assert streamed.error is None and _content(streamed) == TEXT
    chunks = len(streamed.chunks)
    assert fast > chunks / 2, f"{provider}: {fast} of {chunks} chunks from the fast path"


def _twice(call, is_async: bool, provider: str, fast: list):
    """A scenario of two streams one after the other; its outcome is the second's. `fast` gets
    how many chunks of each the fast path built."""

    def count():
        fast.append(stats.fast_stream_chunks.get(provider, 0))

    if is_async:
        async def both():
            count()
            await call()
            count()
            result = await call()
            count()
            return result
    else:
        def both():
            count()
            call()
            count()
            result = call()
            count()
            return result
    return both


@SYNC_ASYNC
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_second_stream_of_a_shape_is_learned_from_one_chunk(provider, is_async, standin, patch):
    """What the first stream taught about the shape of its steady frames is fitted to the next
    stream from one chunk stock builds there (its own ids and constants): the second stream's
    chunks, the wrapper's list, the built response and the callbacks are stock's, and the fast
    path builds one chunk more of it than of the first."""
    fast: list = []
    call = _twice(_call(PROVIDERS[provider], standin, f"-words-{WORDS}", is_async=is_async), is_async, provider, fast)
    comparison = compare(call, standin, patch, expect_callbacks=2)
    assert_same(comparison)
    streamed = comparison.patched.result
    assert streamed.error is None and _content(streamed) == TEXT
    start, first, second = fast[-3:]  # the patched run's
    assert first - start >= WORDS - 3, fast
    assert second - first == first - start + 1, fast


@pytest.mark.parametrize("provider", ["gemini", "ollama_chat", "openrouter"])
def test_a_shape_learned_in_another_stream_is_not_fitted_to_another_shape(provider, standin, patch):
    """A reasoning stream after a text stream: its thoughts are frames of another shape, and
    nothing learned from the text stream is used for them (they are learned from two chunks of
    their own); the answer after them is the text stream's shape again, so it may be. All equal
    stock."""
    text = _call(PROVIDERS[provider], standin, f"-words-{WORDS}", is_async=False)
    thinking = _call(REASONING[provider], standin, f"-think-words-{THOUGHTS}-words-{ANSWER_WORDS}", is_async=False)
    counts: list = []

    def count():
        counts.append(stats.fast_stream_chunks.get(provider, 0))

    def both():
        count()
        text()
        count()
        result = thinking()
        count()
        return result

    patch.on()
    before = stats.fast_stream_chunks.get(provider, 0)
    thinking()  # with nothing learned before
    alone = stats.fast_stream_chunks.get(provider, 0) - before
    patch.off()
    comparison = compare(both, standin, patch, expect_callbacks=2)
    assert_same(comparison)
    streamed = comparison.patched.result
    assert streamed.error is None and _content(streamed) == "".join(word_pieces(ANSWER_WORDS))
    start, after_text, after_thinking = counts[-3:]
    assert alone > THOUGHTS // 2, alone
    # At most the answer's second chunk more: the thoughts gain nothing from the text stream.
    assert alone <= after_thinking - after_text <= alone + 1, (alone, counts)


@pytest.fixture
def no_callbacks(monkeypatch):
    for name in ("callbacks", "success_callback", "_async_success_callback", "failure_callback",
                 "_async_failure_callback", "input_callback"):
        monkeypatch.setattr(litellm, name, [])


def _strict_view(call, is_async: bool) -> dict:
    streamed = asyncio.run(call()) if is_async else call()
    assert streamed.error is None, streamed.error
    return streamed.model_dump()


@SYNC_ASYNC
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_without_callbacks_chunks_and_the_list_are_stocks(provider, is_async, standin, patch, no_callbacks):
    """With nothing registered to observe stock's per-chunk logging job, neither the fast path
    nor stock's own chunks run it: every chunk (hidden params included), the wrapper's own
    list and `stream_chunk_builder` still equal stock's."""
    call = _call(PROVIDERS[provider], standin, f"-words-{WORDS}", is_async=is_async)
    patch.off()
    stock, stock_again = _strict_view(call, is_async), _strict_view(call, is_async)
    patch.on()
    patched = _strict_view(call, is_async)
    patch.off()
    volatile = set(diff_paths(stock, stock_again))
    mismatches = {p: v for p, v in diff_paths(stock, patched).items() if p not in volatile
                  and not p.endswith(_CLOCK_FIELDS + (".created_at",)) and not _stamped_by_litellm(p, v[0])}
    assert not mismatches, mismatches
    assert len(patched["chunks"]) >= WORDS and len(patched["wrapper_chunks"]) >= WORDS


@SYNC_ASYNC
@pytest.mark.parametrize("provider", ["gemini", "ollama_chat", "openai"])
def test_a_chunk_list_kept_mid_stream_holds_stocks_chunks(provider, is_async, standin, patch, no_callbacks):
    """Whoever reads the wrapper's chunk list may keep it and read it later directly (LiteLLM
    1.110's Router shares it with the stream wrapper it returns): every entry, then and
    after the stream, is a chunk equal to stock's, never one still to be built."""
    call_kwargs = {"messages": MESSAGES, "max_retries": 0, **kwargs(PROVIDERS[provider], standin, f"-words-{WORDS}"),
                   "stream": True}

    async def run_async():
        wrapper = await litellm.acompletion(**call_kwargs)
        seen, held = 0, None
        async for _ in wrapper:
            seen += 1
            if seen == WORDS // 2:
                held = wrapper.chunks
        return held

    def run():
        if is_async:
            return asyncio.run(run_async())
        wrapper = litellm.completion(**call_kwargs)
        held = None
        for seen, _ in enumerate(wrapper, 1):
            if seen == WORDS // 2:
                held = wrapper.chunks
        return held

    def view(chunks):
        return [(type(c).__name__, c.model_dump(exclude={"id", "created"})) for c in chunks]

    patch.off()
    stock = run()
    patch.on()
    patched = run()
    patch.off()
    assert all(type(c) is type(stock[0]) for c in patched)
    assert len(patched) == len(stock) > WORDS
    assert view(patched) == view(stock)
