"""The LiteLLM Proxy as deployed: `litellm --config config.yaml` started as a subprocess, stock
and patched (EDGEQUAKE_PATCH=1, through the .pth in the proxy's worker), against the provider
stand-in. The same requests go to both; every answer must be the same, and the patched proxy's
upstream calls must be native: its worker's Python sockets cannot reach the stand-in (see
tests/proxy_worker/sitecustomize.py), and its status callback counts them.

What "the same" means, precisely: status, the JSON body (or every SSE event of a stream) and the
`x-litellm-*` headers, except what the stock proxy itself varies from call to call. That is not
guessed: each request goes to the stock proxy twice, and only the paths where those two answers
differ (ids LiteLLM makes up, its clock in `created`, call ids, measured durations) may differ
in the patched answer. Durations, and a `created` LiteLLM stamps from its own clock (whole
seconds), are never binding, even when two stock runs agree on them.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any, Dict, List, Tuple

import pytest

from tests.differential import QUICK_RETRY, _stamped_by_litellm, diff_paths
from tests.proxykit import Proxy, sse_events, start_both

# Headers that carry measured durations (x-litellm-response-duration-ms, -overhead-duration-ms,
# -callback-duration-ms): two stock answers can agree on them by luck. Every other x-litellm-*
# header (costs, model id and group, attempted retries and fallbacks, version) is binding unless
# the two stock answers differ on it (the call id; the key's cumulative spend).
_DURATION_HEADERS = ("duration-ms",)


def _model(name: str, model: str, base: str, **params: Any) -> Dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": model, "api_base": base, **params}}


def proxy_config(standin) -> Dict[str, Any]:
    b = standin.base_url
    models = [
        _model("gpt", "openai/gpt-4o-mini", b + "/v1", api_key="sk-test-openai-0123456789"),
        _model("claude", "anthropic/claude-3-5-haiku-20241022", b, api_key="sk-ant-test-0123456789"),
        _model("gemini", "gemini/gemini-2.0-flash", b, api_key="gemini-test-key-0123456789"),
        _model("llama", "ollama_chat/llama3.1", b),
        _model("llama-generate", "ollama/llama3.1", b),
        _model("embed-openai", "openai/text-embedding-3-small", b + "/v1", api_key="sk-test-openai-0123456789"),
        _model("embed-gemini", "gemini/text-embedding-004", b, api_key="gemini-test-key-0123456789"),
        _model("embed-ollama", "ollama/nomic-embed-text", b),
        # Upstream errors; the quick-retry marker makes the SDK's retries (which stock and the
        # core both make) wait 1 ms instead of their backoff.
        *(_model(f"gpt-{status}", f"openai/gpt-4o-mini-error-{status}{QUICK_RETRY}", b + "/v1",
                 api_key="sk-test-openai-0123456789") for status in (401, 429, 500)),
        _model("claude-429", "anthropic/claude-3-5-haiku-error-429", b, api_key="sk-ant-test-0123456789"),
        # The router's fallback: this one always fails, and the proxy falls back to "gpt".
        _model("broken", f"openai/gpt-4o-mini-error-500{QUICK_RETRY}", b + "/v1", api_key="sk-test-openai-0123456789"),
        # The router's timeout: the provider answers after 3 s, the deployment allows 0.5 s.
        _model("gpt-slow", "openai/gpt-4o-mini-slow-3000", b + "/v1", api_key="sk-test-openai-0123456789",
               timeout=0.5, max_retries=0),
        _model("claude-slow", "anthropic/claude-3-5-haiku-slow-3000", b, api_key="sk-ant-test-0123456789",
               timeout=0.5),
        # A provider the patch leaves to stock: with Python's sockets blocked it cannot answer,
        # which shows the block bites inside the patched proxy's worker.
        _model("stock-only", "deepseek/deepseek-chat", b + "/v1", api_key="sk-test-deepseek-0123456789"),
        # For /v1/messages: a model LiteLLM's cost map prices on every supported release.
        _model("claude-4", "anthropic/claude-sonnet-4-20250514", b, api_key="sk-ant-test-0123456789"),
    ]
    return {
        "model_list": models,
        "router_settings": {"num_retries": 0},
        "litellm_settings": {
            "callbacks": ["edgequake_patch.proxy.status_callback"],
            "fallbacks": [{"broken": ["gpt"]}],
        },
    }


@pytest.fixture(scope="module")
def proxies(standin):
    stock, patched = start_both(proxy_config(standin), standin.port)
    yield stock, patched
    stock.stop()
    patched.stop()


MESSAGES = [{"role": "user", "content": "Say hello."}]


def _view(status: int, headers: List[Tuple[str, str]], body: bytes, stream: bool) -> Dict[str, Any]:
    litellm_headers = {k.lower(): v for k, v in headers if k.lower().startswith("x-litellm-")}
    if stream:
        content: Any = sse_events(body)
    else:
        try:
            content = json.loads(body)
        except ValueError:
            content = body.decode("utf-8", "replace")
    return {"status": status, "headers": litellm_headers, "body": content}


def compare(proxies, path: str, body: Dict[str, Any], *, stream: bool = False) -> Dict[str, Any]:
    """Stock twice, patched once; the patched answer's view, after asserting it is stock's."""
    stock, patched = proxies
    first = _view(*stock.post(path, body), stream)
    again = _view(*stock.post(path, body), stream)
    answer = _view(*patched.post(path, body), stream)
    volatile = set(diff_paths(first, again))
    mismatches = {
        p: v for p, v in diff_paths(first, answer).items()
        if p not in volatile and not any(marker in p for marker in _DURATION_HEADERS)
        and not _stamped_by_litellm(p, v[0])  # LiteLLM's clock, in whole seconds
        and not _same_but_elapsed(*v)
    }
    assert not mismatches, "patched proxy differs from stock:\n" + "\n".join(
        f"  {p}: stock {v[0]!r} / patched {v[1]!r}" for p, v in sorted(mismatches.items()))
    return answer


# Durations LiteLLM writes into messages ("time taken=0.501 seconds"): measured, so two runs may
# differ in the last digit; test_router_timeout checks the patched one is a real duration.
_ELAPSED = re.compile(r"(time taken=)[0-9.]+")


def _same_but_elapsed(stock: Any, patched: Any) -> bool:
    return (isinstance(stock, str) and isinstance(patched, str)
            and _ELAPSED.sub(r"\1N", stock) == _ELAPSED.sub(r"\1N", patched))


def wait_for_counts(proxy: Proxy, provider: str, at_least: int, bound: float = 10.0) -> Dict[str, int]:
    """The patched worker's native calls for `provider`, once its status callback reported at
    least `at_least` (the callback runs after the answer was sent)."""
    deadline = time.monotonic() + bound
    while True:
        native = proxy.total("native_calls")
        if native.get(provider, 0) >= at_least or time.monotonic() > deadline:
            return native
        time.sleep(0.05)


CHAT_MODELS = {"gpt": "openai", "claude": "anthropic", "gemini": "gemini", "llama": "ollama_chat",
               "llama-generate": "ollama"}


@pytest.mark.parametrize("model", sorted(CHAT_MODELS))
def test_chat(proxies, model):
    before = proxies[1].total("native_calls").get(CHAT_MODELS[model], 0)
    answer = compare(proxies, "/v1/chat/completions", {"model": model, "messages": MESSAGES})
    assert answer["status"] == 200
    assert answer["body"]["choices"][0]["message"]["content"] == "Hello from the stand-in."
    assert wait_for_counts(proxies[1], CHAT_MODELS[model], before + 1).get(CHAT_MODELS[model], 0) >= before + 1
    assert proxies[1].blocked() == []


@pytest.mark.parametrize("model", sorted(CHAT_MODELS))
def test_stream(proxies, model):
    before = proxies[1].total("native_calls").get(CHAT_MODELS[model], 0)
    answer = compare(proxies, "/v1/chat/completions", {"model": model, "messages": MESSAGES, "stream": True},
                     stream=True)
    assert answer["status"] == 200
    text = "".join((e["choices"][0]["delta"].get("content") or "") for e in answer["body"]
                   if isinstance(e, dict) and e.get("choices"))
    assert text == "Hello from the stand-in."
    assert answer["body"][-1] == "[DONE]"
    assert wait_for_counts(proxies[1], CHAT_MODELS[model], before + 1).get(CHAT_MODELS[model], 0) >= before + 1
    assert proxies[1].blocked() == []


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_responses_route(proxies, stream):
    """`/v1/responses` (the Responses API) on an openai deployment: stock's answer, native."""
    before = proxies[1].total("native_calls").get("openai", 0)
    answer = compare(proxies, "/v1/responses", {"model": "gpt", "input": "Say hello.", "stream": stream}, stream=stream)
    assert answer["status"] == 200, answer
    if stream:
        assert answer["body"][-1]["type"] == "response.completed"
    else:
        assert answer["body"]["output"][0]["content"][0]["text"] == "Hello from the stand-in."
    assert wait_for_counts(proxies[1], "openai", before + 1).get("openai", 0) >= before + 1
    assert proxies[1].blocked() == []


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_messages_route(proxies, stream):
    """`/v1/messages` (Anthropic's interface, what Anthropic-native clients use) on an anthropic
    deployment: stock's answer, native."""
    before = proxies[1].total("native_calls").get("anthropic", 0)
    body = {"model": "claude-4", "messages": MESSAGES, "max_tokens": 64, "stream": stream}
    answer = compare(proxies, "/v1/messages", body, stream=stream)
    assert answer["status"] == 200, answer
    if stream:
        assert answer["body"][-1]["type"] == "message_stop"
    else:
        assert answer["body"]["content"][0]["text"] == "Hello from the stand-in."
    assert wait_for_counts(proxies[1], "anthropic", before + 1).get("anthropic", 0) >= before + 1
    assert proxies[1].blocked() == []


EMBEDDING_MODELS = {"embed-openai": "openai", "embed-gemini": "gemini", "embed-ollama": "ollama"}


@pytest.mark.parametrize("model", sorted(EMBEDDING_MODELS))
def test_embeddings(proxies, model):
    before = proxies[1].total("native_calls").get(EMBEDDING_MODELS[model], 0)
    answer = compare(proxies, "/v1/embeddings", {"model": model, "input": ["hello", "world"]})
    assert answer["status"] == 200
    assert [len(item["embedding"]) for item in answer["body"]["data"]] == [8, 8]
    assert wait_for_counts(proxies[1], EMBEDDING_MODELS[model], before + 1).get(EMBEDDING_MODELS[model], 0) >= before + 1
    assert proxies[1].blocked() == []


@pytest.mark.parametrize("model, status", [("gpt-401", 401), ("gpt-429", 429), ("gpt-500", 500), ("claude-429", 429)])
def test_upstream_errors(proxies, model, status):
    answer = compare(proxies, "/v1/chat/completions", {"model": model, "messages": MESSAGES})
    assert answer["status"] == status
    assert "error" in answer["body"]
    assert proxies[1].blocked() == []


def test_router_fallback(proxies):
    answer = compare(proxies, "/v1/chat/completions", {"model": "broken", "messages": MESSAGES})
    assert answer["status"] == 200
    assert answer["body"]["choices"][0]["message"]["content"] == "Hello from the stand-in."
    assert answer["headers"].get("x-litellm-attempted-fallbacks") == "1"
    assert proxies[1].blocked() == []


@pytest.mark.parametrize("model", ["gpt-429", "claude-429"])
def test_router_retries(proxies, standin, model):
    """The router's own retries (a request's `num_retries`): the same final answer, and the same
    number of requests reaching the provider from either proxy, every attempt native."""
    body = {"model": model, "messages": MESSAGES, "num_retries": 2}
    answer = compare(proxies, "/v1/chat/completions", body)
    assert answer["status"] == 429
    sent = []
    for proxy in proxies:
        standin.reset()
        status, _, _ = proxy.post("/v1/chat/completions", body)
        assert status == 429
        sent.append(len(standin.requests()))
    assert sent[0] == sent[1] and sent[0] >= 3, sent  # the first attempt and the router's two retries
    assert proxies[1].blocked() == []


@pytest.mark.parametrize("model", ["gpt-slow", "claude-slow"])
def test_router_timeout(proxies, model):
    """A deployment's timeout: the provider is still thinking when it runs out, in both
    proxies alike (the proxy's 408, LiteLLM's timeout message)."""
    started = time.monotonic()
    answer = compare(proxies, "/v1/chat/completions", {"model": model, "messages": MESSAGES})
    assert answer["status"] == 408, answer
    assert "imeout" in json.dumps(answer["body"])
    # The duration in the message is the exchange's: the 0.5 s the deployment allowed.
    taken = [float(t) for t in re.findall(r"time taken=([0-9.]+)", answer["body"]["error"]["message"])]
    assert taken and all(0.5 <= t < 2.0 for t in taken), taken
    assert time.monotonic() - started < 3 * 3.0  # each of the three calls gave up before the provider answered
    assert proxies[1].blocked() == []


def test_calls_are_native_in_the_worker(proxies):
    """The counters the patched worker reports: native calls, and no fallback for the proxy's
    shared aiohttp session (the reason every call stayed stock before)."""
    _, patched = proxies
    status, _, body = patched.post("/v1/chat/completions", {"model": "gpt", "messages": MESSAGES})
    assert status == 200, body
    native = wait_for_counts(patched, "openai", 1)
    assert native.get("openai", 0) >= 1
    fallbacks = patched.total("fallbacks")
    assert not any(reason.startswith(("caller_session", "session_")) for reason in fallbacks), fallbacks
    counters = patched.counters()
    assert counters and all(c["installed"] for c in counters.values())
    log = patched.log()
    assert "edgequake_patch: active in pid" in log  # the start-up line
    assert "native calls" in log and "stock fallbacks" in log  # the status callback's line


def test_python_sockets_are_blocked_in_the_patched_worker(proxies):
    """The control: a provider the patch leaves to stock needs Python's sockets, and in the
    patched proxy's worker it cannot have them, while the stock proxy answers."""
    stock, patched = proxies
    status, _, _ = stock.post("/v1/chat/completions", {"model": "stock-only", "messages": MESSAGES})
    assert status == 200
    status, _, _ = patched.post("/v1/chat/completions", {"model": "stock-only", "messages": MESSAGES})
    assert status != 200
    assert patched.blocked(), "the block never bit: it proves nothing"
    os.remove(patched.block_log)  # the other tests assert their calls were never refused


def test_router_cooldown(standin):
    """The router's cooldowns: with no failure allowed, a deployment that failed is cooled down
    (LiteLLM cools down deployments of groups that have more than one), and once both are, the
    router refuses the next request itself. The same sequence of answers from both proxies (each
    has its own router state), the failing calls native in the patched one."""
    b = standin.base_url
    config = {
        "model_list": [_model("cool", f"openai/gpt-4o-mini-error-500{QUICK_RETRY}", b + "/v1",
                              api_key="sk-test-openai-0123456789", max_retries=0),
                       _model("cool", f"openai/gpt-4o-error-500{QUICK_RETRY}", b + "/v1",
                              api_key="sk-test-openai-0123456789", max_retries=0)],
        "router_settings": {"num_retries": 0, "allowed_fails": 0, "cooldown_time": 60},
        "litellm_settings": {"callbacks": ["edgequake_patch.proxy.status_callback"]},
    }
    stock, patched = start_both(config, standin.port)
    try:
        def sequence(proxy):
            return [_view(*proxy.post("/v1/chat/completions", {"model": "cool", "messages": MESSAGES}), False)
                    for _ in range(3)]

        standin.reset()
        stock_answers = sequence(stock)
        stock_sent = len(standin.requests())
        standin.reset()
        patched_answers = sequence(patched)
        patched_sent = len(standin.requests())
        assert [a["status"] for a in stock_answers] == [a["status"] for a in patched_answers]
        assert [a["status"] for a in stock_answers[:2]] == [500, 500], stock_answers
        # The third request never reached the provider: the router refused it, all cooled down.
        assert stock_sent == patched_sent == 2
        assert "cooldown" in json.dumps(stock_answers[2]["body"]).lower(), stock_answers[2]
        for mine, theirs in zip(patched_answers, stock_answers):
            assert mine["body"]["error"]["type"] == theirs["body"]["error"]["type"]
            assert mine["body"]["error"]["code"] == theirs["body"]["error"]["code"]
        assert wait_for_counts(patched, "openai", 2).get("openai", 0) == 2
        assert patched.blocked() == []
    finally:
        stock.stop()
        patched.stop()
