"""Arbitrary response bytes through the patched path: whatever a server sends, the patched call
returns what stock returns or raises the exception class stock raises, and the core never
panics (a PanicException is a BaseException: no `except Exception` in a host app catches it).

openai goes through the core's JSON parser and response shaper; xai (LiteLLM's own handler)
through the core's transport, with stock parsing. Bodies come from hypothesis: raw bytes, JSON
of any shape, and chat completions with one field replaced by arbitrary JSON.
"""

from __future__ import annotations

import asyncio
import json

import litellm
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edgequake_patch.state import stats
from tests.differential import plain
from tests.netfixtures import RawServer

COMPLETION = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "created": 1677652288,
    "model": "gpt-4o-mini",
    "system_fingerprint": "fp_44709d6fcb",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there."},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _replace(path_choice, value):
    doc = json.loads(json.dumps(COMPLETION))
    paths = [
        (), ("choices",), ("choices", 0), ("choices", 0, "message"), ("choices", 0, "message", "content"),
        ("choices", 0, "message", "role"), ("choices", 0, "finish_reason"), ("usage",), ("usage", "total_tokens"),
        ("created",), ("id",), ("choices", 0, "logprobs"), ("choices", 0, "message", "tool_calls"),
    ]
    path = paths[path_choice % len(paths)]
    if not path:
        return value
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(_replace, st.integers(min_value=0, max_value=50), json_values).map(lambda d: json.dumps(d).encode()),
    st.builds(lambda d, cut: json.dumps(d).encode()[:cut], st.just(COMPLETION), st.integers(min_value=0, max_value=300)),
)

_seen: set = set()  # outcome kinds met, checked at the end of the module

MODELS = {"openai": "openai/gpt-4o-mini", "xai": "xai/grok-3-mini"}


@pytest.fixture(scope="module")
def raw():
    with RawServer() as server:
        yield server


def _outcome(provider: str, server: RawServer, is_async: bool):
    kwargs = dict(model=MODELS[provider], messages=[{"role": "user", "content": "Hi"}],
                  api_base=server.base_url + "/v1", api_key="sk-test-0123456789", max_retries=0)
    try:
        if is_async:
            result = asyncio.run(litellm.acompletion(**kwargs))
        else:
            result = litellm.completion(**kwargs)
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome
        return ("error", type(exc), getattr(exc, "status_code", None), getattr(exc, "llm_provider", None))
    dump = plain(result)
    return ("ok", dump.get("choices"), dump.get("usage"), dump.get("object"))


@pytest.mark.parametrize("provider", sorted(MODELS))
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, status=st.sampled_from([200, 200, 200, 400, 404, 422]))
# Found by this test: a 2xx whose message content is a list, which stock's conversion rejects.
@example(body=b'{"id": "chatcmpl-123", "object": "chat.completion", "created": 1677652288, "model": "gpt-4o-mini", '
              b'"choices": [{"index": 0, "message": {"role": "assistant", "content": []}, "logprobs": null, '
              b'"finish_reason": "stop"}], "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}}',
         status=200)
def test_any_response_bytes(raw, patch, provider, is_async, body, status):
    raw.respond(status, body)
    patch.off()
    stock = _outcome(provider, raw, is_async)
    patch.on()
    before = sum(stats.native_calls.values())
    try:
        patched = _outcome(provider, raw, is_async)
    except BaseException as exc:  # a panic is not an Exception: report it as such
        if type(exc).__name__ == "PanicException":  # pyo3's, registered as pyo3_runtime.PanicException
            pytest.fail(f"the core panicked on {body!r}: {exc}")
        raise
    finally:
        patch.off()
    assert patched == stock, f"status {status}, body {body!r}"
    _seen.add(stock[0])
    assert sum(stats.native_calls.values()) == before + 1, "the patched call did not go through the core"


def test_both_outcomes_were_exercised():
    """The generated bodies produced successes and failures alike (else the test above proves
    little)."""
    assert _seen == {"ok", "error"}


# ---------------------------------------------------------------------------------------------
# Streams: arbitrary event-stream bytes, split anywhere. The core hands the bytes over as they
# arrive and stock's own SSE parsing reads them, so whatever the framing, the patched stream
# yields stock's chunks and stock's error.


def _chunk(content: str, finish=None) -> bytes:
    event = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1694268190, "model": "gpt-4o-mini",
             "choices": [{"index": 0, "delta": {"content": content}, "logprobs": None, "finish_reason": finish}]}
    return json.dumps(event).encode()


sse_lines = st.one_of(
    st.text(max_size=8).map(lambda t: b"data: " + _chunk(t)),
    st.just(b"data: " + _chunk("", "stop")),
    st.just(b"data: [DONE]"),
    st.just(b": keep-alive"),
    st.just(b"event: message"),
    st.just(b""),
    st.binary(max_size=24),
    json_values.map(lambda v: b"data: " + json.dumps(v).encode()),
    st.builds(lambda t, cut: (b"data: " + _chunk(t))[:cut], st.text(max_size=8), st.integers(min_value=0, max_value=80)),
)


@st.composite
def sse_streams(draw):
    newline = draw(st.sampled_from([b"\n", b"\r\n", b"\n\n", b"\r\n\r\n"]))
    body = newline.join(draw(st.lists(sse_lines, min_size=0, max_size=8)))
    if draw(st.booleans()):
        body += newline + b"data: [DONE]" + newline
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(body)), max_size=6)))
    pieces, last = [], 0
    for cut in cuts + [len(body)]:
        pieces.append(body[last:cut])
        last = cut
    return pieces


def _stream_outcome(provider: str, server: RawServer, is_async: bool):
    kwargs = dict(model=MODELS[provider], messages=[{"role": "user", "content": "Hi"}], stream=True,
                  api_base=server.base_url + "/v1", api_key="sk-test-0123456789", max_retries=0)
    chunks, error = [], None

    async def consume_async():
        async for chunk in await litellm.acompletion(**kwargs):
            chunks.append(chunk)

    try:
        if is_async:
            asyncio.run(consume_async())
        else:
            for chunk in litellm.completion(**kwargs):
                chunks.append(chunk)
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome
        error = (type(exc), getattr(exc, "status_code", None))
    return [plain(c).get("choices") for c in chunks], error


@pytest.mark.parametrize("provider", sorted(MODELS))
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=sse_streams())
# Found by this test: two equal content frames with no role frame before them (the first chunk
# stock sends is unlike later ones, so it must not arm the fast stream path).
@example(pieces=[b'data: {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1694268190, '
                 b'"model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"content": "0"}, "logprobs": null, '
                 b'"finish_reason": null}]}\n\n' * 2 + b'data: [DONE]\n\n'])
def test_any_event_stream(raw, patch, provider, is_async, pieces):
    raw.respond_stream(pieces)
    patch.off()
    stock = _stream_outcome(provider, raw, is_async)
    patch.on()
    before = sum(stats.native_calls.values())
    try:
        patched = _stream_outcome(provider, raw, is_async)
    except BaseException as exc:
        if type(exc).__name__ == "PanicException":
            pytest.fail(f"the core panicked on {pieces!r}: {exc}")
        raise
    finally:
        patch.off()
    assert patched == stock, f"pieces {pieces!r}"
    assert sum(stats.native_calls.values()) == before + 1, "the patched stream did not go through the core"
    _seen_streams.add("error" if stock[1] else ("chunks" if stock[0] else "empty"))


_seen_streams: set = set()


def test_streams_exercised_chunks_and_errors():
    assert {"chunks", "error"} <= _seen_streams
