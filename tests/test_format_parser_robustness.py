"""Arbitrary answer bodies for Anthropic, Gemini and Ollama through the patched path: whether
the core's format module parses a body (and stock reads that object) or refuses it (and stock
parses the bytes), the call returns what stock returns or raises the exception class stock
raises, and the core never panics. Bodies: raw bytes, JSON of any shape, the providers'
documented answers with one field replaced by arbitrary JSON, and documented answers cut short.
"""

from __future__ import annotations

import asyncio
import json

import litellm
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgequake_patch.state import stats
from tests.differential import plain
from tests.native_formats import CHAT, MESSAGES, kwargs
from tests.netfixtures import RawServer
from tests.test_native_proof_formats import no_ollama_model_lookup  # noqa: F401 - the fixture
from tests.test_parser_robustness import json_values

# Documented whole answers (Anthropic Messages, Gemini generateContent, Ollama /api/generate
# and /api/chat references), with a tool call where the format has one.
ANSWERS = {
    "anthropic": {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant", "model": "claude-3-5-sonnet-20241022",
        "content": [{"type": "text", "text": "Hi! My name is Claude."},
                    {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"location": "Paris"}}],
        "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": 2095, "output_tokens": 503, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    },
    "gemini": {
        "candidates": [{"content": {"parts": [{"text": "AI learns patterns."}], "role": "model"}, "finishReason": "STOP",
                        "safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}], "index": 0}],
        "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 4, "totalTokenCount": 12},
        "modelVersion": "gemini-2.0-flash", "responseId": "mcHnaNu0Iqnd1e8Pz5ySsQ4",
    },
    "ollama": {
        "model": "llama3.2", "created_at": "2023-08-04T19:22:45.499127Z", "response": "The sky is blue.", "done": True,
        "done_reason": "stop", "context": [1, 2, 3], "total_duration": 5043500667, "load_duration": 5025959,
        "prompt_eval_count": 26, "prompt_eval_duration": 325953000, "eval_count": 290, "eval_duration": 4709213000,
    },
    "ollama_chat": {
        "model": "llama3.2", "created_at": "2023-12-12T14:13:43.416799Z",
        "message": {"role": "assistant", "content": "Hello! How are you today?"}, "done": True, "done_reason": "stop",
        "total_duration": 5191566416, "load_duration": 2154458, "prompt_eval_count": 26, "prompt_eval_duration": 383809000,
        "eval_count": 298, "eval_duration": 4799921000,
    },
}


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _replace(provider, choice, value):
    doc = json.loads(json.dumps(ANSWERS[provider]))
    paths = list(_paths(doc))
    path = paths[choice % len(paths)]
    if not path:
        return value
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def bodies(provider):
    answer = json.dumps(ANSWERS[provider]).encode()
    return st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.builds(lambda c, v: json.dumps(_replace(provider, c, v)).encode(), st.integers(0, 200), json_values),
        st.builds(lambda c: json.dumps(_replace(provider, c, None)).encode(), st.integers(0, 200)),
        st.integers(0, len(answer)).map(lambda cut: answer[:cut]),
        st.just(answer),
    )


@pytest.fixture(scope="module")
def raw():
    with RawServer() as server:
        yield server


def _without_ids(value):
    """LiteLLM stamps its own random ids on some tool calls: not the body's doing."""
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def _outcome(provider, server, is_async):
    call = {"messages": MESSAGES, **kwargs(CHAT[provider], server)}
    try:
        result = asyncio.run(litellm.acompletion(**call)) if is_async else litellm.completion(**call)
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome
        return ("error", type(exc), getattr(exc, "status_code", None), getattr(exc, "llm_provider", None))
    dump = plain(result)
    return ("ok", _without_ids(dump.get("choices")), dump.get("usage"))


_seen: dict = {}


def _check(raw, patch, provider, is_async, body):
    raw.respond(200, body)
    patch.off()
    stock = _outcome(provider, raw, is_async)
    patch.on()
    before = sum(stats.parsed_answers.values())
    try:
        patched = _outcome(provider, raw, is_async)
    except BaseException as exc:  # a panic is not an Exception: report it as such
        if type(exc).__name__ == "PanicException":
            pytest.fail(f"the core panicked on {body!r}: {exc}")
        raise
    finally:
        patch.off()
    assert patched == stock, f"body {body!r}"
    parsed = sum(stats.parsed_answers.values()) > before
    _seen.setdefault(provider, set()).add((stock[0], parsed))


@pytest.mark.parametrize("provider", sorted(CHAT))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_answer_body(raw, patch, no_ollama_model_lookup, provider, data):  # noqa: F811
    _check(raw, patch, provider, False, data.draw(bodies(provider)))


@pytest.mark.parametrize("provider", sorted(CHAT))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_answer_body_async(raw, patch, no_ollama_model_lookup, provider, data):  # noqa: F811
    _check(raw, patch, provider, True, data.draw(bodies(provider)))


def test_parsed_and_refused_bodies_were_both_exercised():
    """For every provider some bodies were parsed by the core and some refused (else the tests
    above prove little about one of the two paths)."""
    for provider in CHAT:
        kinds = _seen.get(provider, set())
        assert any(parsed for _, parsed in kinds), (provider, kinds)
        assert any(not parsed for _, parsed in kinds), (provider, kinds)
