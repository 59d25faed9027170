"""The core's Anthropic, Gemini and Ollama format modules are on the production path: a whole
2xx answer of a marked call is parsed in Rust and stock's parser reads that object, while a
body the typed models refuse reaches stock as bytes, which then raises its own error."""

from __future__ import annotations

import asyncio
import json

import httpx
import litellm
import pytest

from edgequake_patch.transport import native, wire_formats
from edgequake_patch.state import stats
from tests.differential import assert_same, compare, litellm_call
from tests.native_formats import CHAT, EMBEDDING, MESSAGES, kwargs
from tests.test_native_proof_formats import no_ollama_model_lookup  # noqa: F401 - the fixture

FORMAT = wire_formats.FORMAT_OF_PROVIDER


def _run(function, call_kwargs, is_async):
    if is_async:
        return asyncio.run(getattr(litellm, "a" + function)(**call_kwargs))
    return getattr(litellm, function)(**call_kwargs)


@pytest.fixture
def handed_to_stock(monkeypatch):
    """Records each object the core parsed and whether stock's `.json()` got that very object."""
    record = {"parsed": [], "read": []}
    real_parse = native.parse_answer
    real_json = wire_formats.ParsedResponse.json

    def parse_answer(*args):
        out = real_parse(*args)
        record["parsed"].append(out)
        return out

    def read(self, **kw):
        out = real_json(self, **kw)
        record["read"].append(out)
        return out

    monkeypatch.setattr(native, "parse_answer", parse_answer)
    monkeypatch.setattr(wire_formats.ParsedResponse, "json", read)
    return record


def _check_handed_over(record):
    parsed = [p for p in record["parsed"] if p is not None]
    assert len(parsed) == 1, record
    assert any(r is parsed[0] for r in record["read"]), "stock never read the object the core built"


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(CHAT))
def test_chat_answer_is_parsed_by_the_core(provider, is_async, standin, patch, no_ollama_model_lookup, handed_to_stock):  # noqa: F811
    patch.on()
    before = stats.parsed_answers[FORMAT[provider]]
    response = _run("completion", {"messages": MESSAGES, **kwargs(CHAT[provider], standin)}, is_async)
    assert response.choices[0].message.content == "Hello from the stand-in."
    assert stats.parsed_answers[FORMAT[provider]] == before + 1
    _check_handed_over(handed_to_stock)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", sorted(EMBEDDING))
def test_embedding_answer_is_parsed_by_the_core(provider, is_async, standin, patch, handed_to_stock):
    patch.on()
    before = stats.parsed_answers[FORMAT[provider]]
    response = _run("embedding", {"input": ["hello", "world"], **kwargs(EMBEDDING[provider], standin)}, is_async)
    assert len(response.data) == 2 and len(response.data[1]["embedding"]) == 8
    assert stats.parsed_answers[FORMAT[provider]] == before + 1
    _check_handed_over(handed_to_stock)


@pytest.mark.parametrize("provider", sorted(CHAT))
def test_streams_are_left_to_stock(provider, standin, patch, no_ollama_model_lookup):  # noqa: F811
    patch.on()
    before = dict(stats.parsed_answers)
    chunks = list(litellm.completion(messages=MESSAGES, stream=True, **kwargs(CHAT[provider], standin)))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the stand-in."
    assert dict(stats.parsed_answers) == before


@pytest.mark.parametrize("marker", ["garbled", "wrong-shape", "empty-body", "not-json"])
@pytest.mark.parametrize("provider", sorted(CHAT))
def test_a_refused_body_reaches_stock_which_raises_its_own_error(provider, marker, standin, patch, no_ollama_model_lookup):  # noqa: F811
    before = dict(stats.parsed_answers)
    call = litellm_call("completion", {"messages": MESSAGES, **kwargs(CHAT[provider], standin, f"-{marker}")}, is_async=False)
    comparison = compare(call, standin, patch)
    # The exception's class and text (patch frames aside), or whatever stock makes of it
    # (LiteLLM 1.106 turns an Ollama `{"foo": "bar"}` into an empty answer).
    assert_same(comparison)
    assert type(comparison.patched.error) is type(comparison.stock.error)
    assert comparison.stock.error is not None or marker == "wrong-shape"
    assert dict(stats.parsed_answers) == before


# ---------------------------------------------------------------------------------------
# The response handed to stock, directly.

ANTHROPIC_REQUEST = json.dumps(
    {"model": "claude-sonnet-4-20250514", "max_tokens": 1024, "messages": [{"role": "user", "content": "Hello, world"}]}
).encode()
# The Messages API reference's example answer (key order as the reference prints it).
ANTHROPIC_ANSWER = (
    b'{"content":[{"text":"Hi! My name is Claude.","type":"text"}],"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF",'
    b'"model":"claude-sonnet-4-20250514","role":"assistant","stop_reason":"end_turn","stop_sequence":null,'
    b'"type":"message","usage":{"input_tokens":2095,"output_tokens":503}}'
)


class _Reply:
    def __init__(self, status, body, headers=(("content-type", "application/json"),)):
        self.status, self.body, self.headers = status, body, list(headers)


def _request(path="/v1/messages", body=ANTHROPIC_REQUEST):
    return httpx.Request("POST", "http://standin" + path, content=body)


def test_the_parsed_response_reads_like_stock():
    response = wire_formats.whole_response("anthropic", _Reply(200, ANTHROPIC_ANSWER), _request(), ANTHROPIC_REQUEST)
    assert isinstance(response, wire_formats.ParsedResponse)
    assert response.content == ANTHROPIC_ANSWER and response.text == ANTHROPIC_ANSWER.decode()
    first = response.json()
    assert first == json.loads(ANTHROPIC_ANSWER)
    assert list(first) == list(json.loads(ANTHROPIC_ANSWER))  # key order too
    first["content"].clear()
    second = response.json()  # a fresh object, as json.loads gives
    assert second == json.loads(ANTHROPIC_ANSWER) and second is not first


@pytest.mark.parametrize(
    "provider, status, path, request_body, body",
    [
        ("anthropic", 500, "/v1/messages", ANTHROPIC_REQUEST, ANTHROPIC_ANSWER),  # not 2xx
        ("xai", 200, "/v1/messages", ANTHROPIC_REQUEST, ANTHROPIC_ANSWER),  # no format module
        ("anthropic", 200, "/v1/messages", ANTHROPIC_REQUEST, ANTHROPIC_ANSWER[:-1]),  # cut short
        ("anthropic", 200, "/v1/messages", ANTHROPIC_REQUEST, ANTHROPIC_ANSWER.replace(b'"assistant"', b'"user"')),
        ("anthropic", 200, "/v1/messages", json.dumps({**json.loads(ANTHROPIC_REQUEST), "stream": True}).encode(), ANTHROPIC_ANSWER),
        ("ollama_chat", 200, "/api/chat", b'{"model":"m","messages":[]}', b'{"model":"m","created_at":"t","message":{"role":"assistant","content":"x"},"done":true}'),  # streams by default
        ("gemini", 200, "/v1beta/models/m:generateContent", b'{"contents":[]}', b'{"error":{"code":400}}'),
    ],
    ids=["error-status", "other-provider", "truncated", "wrong-role", "stream-request", "ollama-default-stream", "gemini-error-object"],
)
def test_answers_the_models_refuse_are_handed_over_as_bytes(provider, status, path, request_body, body):
    before = dict(stats.parsed_answers)
    response = wire_formats.whole_response(provider, _Reply(status, body), _request(path, request_body), request_body)
    assert type(response) is httpx.Response
    assert response.content == body
    assert dict(stats.parsed_answers) == before


def test_a_large_answer_is_parsed_too_and_counted_in_status():
    """Above 64 KiB the core checks the body with the GIL released; the object is the same."""
    import edgequake_patch

    request_body = b'{"model":"nomic-embed-text","input":["a","b"]}'
    answer = {"model": "nomic-embed-text", "embeddings": [[0.0123456789 * i - 3 for i in range(1024)] for _ in range(8)],
              "total_duration": 14143917, "load_duration": 1019500, "prompt_eval_count": 8}
    body = json.dumps(answer).encode()
    assert len(body) > 64 * 1024
    before = stats.parsed_answers["ollama"]
    response = wire_formats.whole_response("ollama", _Reply(200, body), _request("/api/embed", request_body), request_body)
    assert isinstance(response, wire_formats.ParsedResponse)
    assert response.json() == answer
    assert edgequake_patch.status()["parsed_answers"]["ollama"] == before + 1
