"""vcrpy records what stock LiteLLM sends and receives; that cassette is the reference the
native path is held to.

1. Record: stock call against the stand-in, every HTTP exchange into a cassette.
2. Replay: stock again with the cassette in `none` mode (no network): same response, so the
   cassette is a complete reference.
3. Native: the patched call, still inside the `none` cassette. vcrpy hooks Python's HTTP
   stacks, so any Python-level request would raise; the call succeeds because it leaves
   through the core. The request the stand-in saw equals the cassette's request, and the
   response equals the one stock built from the cassette.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import litellm
import pytest
import vcr

from tests.differential import CHAT_PROVIDERS, EMBEDDING_PROVIDERS, plain

SEMANTIC_HEADERS = ("authorization", "api-key", "http-referer", "x-title", "openai-organization", "x-trace-id")


def _vcr(record_mode: str) -> vcr.VCR:
    return vcr.VCR(record_mode=record_mode, match_on=["method", "scheme", "host", "port", "path", "query"],
                   decode_compressed_response=True)


def _headers(headers) -> dict:
    flat = {k.lower(): (v[0] if isinstance(v, list) else v) for k, v in dict(headers).items()}
    return {k: flat[k] for k in SEMANTIC_HEADERS if k in flat}


def _response_view(response) -> dict:
    return plain(response)


CASES = [("chat", name) for name in sorted(CHAT_PROVIDERS)] + [("embedding", name) for name in sorted(EMBEDDING_PROVIDERS)]


@pytest.mark.parametrize("kind,provider", CASES, ids=[f"{k}-{p}" for k, p in CASES])
def test_native_request_and_response_match_stock_cassette(kind, provider, standin, patch, tmp_path):
    cassette = str(tmp_path / f"{kind}-{provider}.yaml")
    if kind == "chat":
        kwargs = {
            "messages": [{"role": "user", "content": "Say hello."}],
            "temperature": 0.2,
            "extra_headers": {"X-Trace-Id": "trace-7"},
            **CHAT_PROVIDERS[provider].kwargs(standin),
        }
        call = lambda: litellm.completion(**kwargs)  # noqa: E731
    else:
        kwargs = {"input": ["hello", "world"], **EMBEDDING_PROVIDERS[provider].kwargs(standin)}
        call = lambda: litellm.embedding(**kwargs)  # noqa: E731

    patch.off()
    with _vcr("all").use_cassette(cassette) as recorded:
        stock = call()
    assert len(recorded.requests) == 1, "stock made a different number of requests than expected"
    reference_request = recorded.requests[0]
    reference_body = json.loads(recorded.responses[0]["body"]["string"])

    with _vcr("none").use_cassette(cassette):
        replayed = call()
    assert _response_view(replayed) == _response_view(stock)

    patch.on()
    standin.reset()
    with _vcr("none").use_cassette(cassette) as guard:
        patched = call()
    assert guard.play_count == 0, "the patched call went through a Python HTTP stack"
    (sent,) = standin.requests()
    url = urlparse(reference_request.uri)
    assert sent["method"] == reference_request.method
    assert sent["path"] == url.path
    assert sent["query"] == parse_qs(url.query)
    assert sent["body"] == json.loads(reference_request.body)
    assert _headers(sent["headers"]) == _headers(reference_request.headers)
    assert _response_view(patched) == _response_view(replayed)
    # And the patched response is built from what the provider actually answered.
    if kind == "chat":
        assert patched.choices[0].message.content == reference_body["choices"][0]["message"]["content"]
        assert patched.usage.total_tokens == reference_body["usage"]["total_tokens"]
    elif isinstance(reference_body["data"][0]["embedding"], list):
        assert [d["embedding"] for d in patched.data] == [d["embedding"] for d in reference_body["data"]]
    else:  # base64 on the wire (Azure): the decoded vectors are compared through `replayed` above
        assert len(patched.data) == len(reference_body["data"])
