"""Embeddings, patch off vs on, for openai, azure, mistral and lm_studio, sync and async."""

from __future__ import annotations

import re

import pytest

from tests.differential import EMBEDDING_PROVIDERS, QUICK_RETRY, assert_same, compare, litellm_call

SCENARIOS = {
    "one_string": {"input": "hello world"},
    "many_strings": {"input": ["hello", "world", "again"]},
    "token_ids": {"input": [[1, 2, 3], [4, 5]]},
    "dimensions": {"input": ["hello"], "dimensions": 4},
    "float_format": {"input": ["hello"], "encoding_format": "float"},
    "user": {"input": ["hello"], "user": "user-1234"},
}
ERROR_MARKERS = ["error-400", "error-401", "error-429", "error-500", "garbled", "wrong-shape"]
PROVIDERS = sorted(EMBEDDING_PROVIDERS)


def _call(provider_name, standin, *, is_async, suffix="", **overrides):
    kwargs = {**EMBEDDING_PROVIDERS[provider_name].kwargs(standin, suffix), "drop_params": True, **overrides}
    return litellm_call("embedding", kwargs, is_async=is_async)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_embedding_scenarios(provider, scenario, is_async, standin, patch):
    comparison = compare(_call(provider, standin, is_async=is_async, **SCENARIOS[scenario]), standin, patch)
    assert_same(comparison)
    assert comparison.stock.error is None, comparison.stock.error
    assert len(comparison.patched.result.data) >= 1
    assert len(comparison.patched.requests) == 1


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("marker", ERROR_MARKERS)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_embedding_errors(provider, marker, is_async, standin, patch):
    comparison = compare(_call(provider, standin, is_async=is_async, suffix=f"-{marker}{QUICK_RETRY}", input=["hi"]),
                         standin, patch)
    assert_same(comparison)
    if marker.startswith("error-"):
        assert comparison.stock.error is not None
    # (A 200 of the wrong shape is no error for stock embeddings: an empty response.)
    assert len(comparison.patched.requests) == len(comparison.stock.requests)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("provider", ["openai", "azure", "mistral"])
def test_sdk_identification_headers_as_stock(provider, is_async, standin, patch):
    """Embeddings through the OpenAI SDK carry its User-Agent and X-Stainless-* headers."""
    comparison = compare(_call(provider, standin, is_async=is_async, input=["hi"]), standin, patch)
    assert_same(comparison)
    sent = comparison.patched.requests[0]["headers"]
    # openai 2: "OpenAI/Python 2.x"; openai 3 names the client class ("AsyncAzureOpenAI/Python 3.x").
    assert re.match(r"^\w*OpenAI/Python \d", sent["user-agent"]), sent
    assert sent["x-stainless-lang"] == "python"
    assert sent["x-stainless-retry-count"] == "0"
