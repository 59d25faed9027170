"""The lean handler (edgequake_patch/paths/lean_chat.py), patch off vs on.

Every scenario asserts that nothing observable differs from stock (request, response,
exception, callback payloads) AND which path the patched call took: the lean handler's
counter for calls it finished, the not-lean reasons for calls it handed on. A call inside the
whitelist whose answer is not a success is sent once by the lean handler and then replayed
through stock's own handler; those scenarios check the attempt count equals stock's.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Dict, Tuple

import litellm
import pytest
from litellm.integrations.custom_logger import CustomLogger

import edgequake_patch
from edgequake_patch.decide import routing
from edgequake_patch.transport import sdk_models
from edgequake_patch.state import stats
from tests import differential
from tests.differential import CHAT_PROVIDERS, QUICK_RETRY, assert_same, compare, litellm_call
from tests.test_chat_differential import ERROR_MARKERS, MESSAGES, SCENARIOS

LEAN_PROVIDERS = sorted(routing.LEAN_PROVIDERS)
# The lean handler finishes only answers the core parsed as the installed SDK would: with an SDK
# whose response models differ from the core's copies (some openai 2.x releases), it steps aside
# on every call (`sdk_models_changed`), and the regular native path serves them. This module's
# subject is then absent; tests/test_lean_steps_aside.py checks that step.
pytestmark = pytest.mark.skipif(not sdk_models.core_parses(),
                                reason="the installed SDK's response models differ from the core's copies")
ASYNC = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])


def _call(provider_name, standin, *, is_async, suffix="", **overrides):
    provider = CHAT_PROVIDERS[provider_name]
    kwargs = {"messages": MESSAGES, **provider.kwargs(standin, suffix), **overrides}
    return litellm_call("completion", kwargs, is_async=is_async)


def _paths(comparison) -> Tuple[int, Dict[str, int]]:
    """How a comparison's calls were served, over its three runs (as `Paths` counts around the
    comparison): lean, and why not. Read from the runs, so a comparison another test made of
    the same scenario (`compare(..., reuse=True)`) tells it too."""
    lean, not_lean = 0, Counter()
    for outcome in comparison.outcomes:
        lean += outcome.lean_calls
        not_lean.update(outcome.not_lean)
    return lean, dict(not_lean)


class Paths:
    """How the patched run's calls were served: lean, and why not, counted around a block."""

    def __enter__(self):
        self._lean = Counter(stats.lean_calls)
        self._not_lean = Counter(stats.not_lean)
        return self

    def __exit__(self, *exc):
        self.lean = sum((Counter(stats.lean_calls) - self._lean).values())
        self.not_lean = dict(Counter(stats.not_lean) - self._not_lean)


def test_lean_path_is_active_on_this_release():
    # On by the installed release's fingerprints: if this fails, every other assertion here is vacuous.
    from edgequake_patch.activation import pair_decision

    assert pair_decision.decision().on("lean"), pair_decision.decision().paths["lean"].reason


# --- inside the whitelist: finished by the lean handler ---------------------------------------


@ASYNC
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("provider", LEAN_PROVIDERS)
def test_success_scenarios_are_lean(provider, scenario, is_async, standin, patch):
    # The chat matrix's own comparison of this scenario (test_chat_differential), when it ran.
    comparison = compare(_call(provider, standin, is_async=is_async, **SCENARIOS[scenario]), standin, patch, reuse=True)
    lean, not_lean = _paths(comparison)
    assert_same(comparison)
    assert comparison.stock.error is None, comparison.stock.error
    assert lean == 1, not_lean
    assert not_lean == {}


@ASYNC
@pytest.mark.parametrize("provider", LEAN_PROVIDERS)
def test_status_counts_lean_calls(provider, is_async, standin, patch):
    before = edgequake_patch.status()["lean_calls"].get(provider, 0)
    comparison = compare(_call(provider, standin, is_async=is_async), standin, patch)
    assert_same(comparison)
    assert edgequake_patch.status()["lean_calls"][provider] == before + 1


@ASYNC
@pytest.mark.parametrize("provider", LEAN_PROVIDERS)
def test_flaky_429_retried_then_lean(provider, is_async, standin, patch):
    call = _call(provider, standin, is_async=is_async, suffix="-flaky-429-once" + QUICK_RETRY)
    comparison = compare(call, standin, patch, reuse=True)
    assert_same(comparison)
    assert len(comparison.patched.requests) == len(comparison.stock.requests) == 2
    assert _paths(comparison)[0] == 1


# --- inside the whitelist, answer not a success: one send, then stock's handler on it ----------


@ASYNC
@pytest.mark.parametrize("marker", ERROR_MARKERS)
@pytest.mark.parametrize("provider", LEAN_PROVIDERS)
def test_errors_after_a_lean_send_are_stocks(provider, marker, is_async, standin, patch):
    call = _call(provider, standin, is_async=is_async, suffix=f"-{marker}{QUICK_RETRY}")
    comparison = compare(call, standin, patch, reuse=True)
    assert_same(comparison)
    assert len(comparison.patched.requests) == len(comparison.stock.requests)
    assert _paths(comparison) == (0, {"replayed_through_stock": 1})


@ASYNC
@pytest.mark.parametrize("max_retries", [0, 1, 3])
@pytest.mark.parametrize("provider", LEAN_PROVIDERS)
def test_attempts_for_5xx_after_a_lean_send(provider, max_retries, is_async, standin, patch):
    call = _call(provider, standin, is_async=is_async, suffix="-error-503" + QUICK_RETRY, max_retries=max_retries)
    comparison = compare(call, standin, patch, reuse=True)
    assert_same(comparison)
    assert len(comparison.patched.requests) == len(comparison.stock.requests) == max_retries + 1
    assert _paths(comparison)[1] == {"replayed_through_stock": 1}


@ASYNC
@pytest.mark.parametrize("provider", LEAN_PROVIDERS)
def test_timeout_after_a_lean_send(provider, is_async, standin, patch):
    call = _call(provider, standin, is_async=is_async, suffix="-slow-1500", timeout=0.3, max_retries=0)
    comparison = compare(call, standin, patch, reuse=True)
    assert_same(comparison)
    assert isinstance(comparison.patched.error, litellm.Timeout), comparison.patched.error
    assert _paths(comparison)[1] == {"replayed_through_stock": 1}
    # The time stock's handler writes into the message (async: masked by the comparison, a
    # measured value) is the exchange's, as stock measures it: not the instant the replay took.
    taken = [re.search(r"time taken=([0-9.]+) seconds", str(o.error)) for o in (comparison.stock, comparison.patched)]
    assert (taken[0] is None) == (taken[1] is None)
    for found in taken:
        assert found is None or 0.3 <= float(found.group(1)) < 1.2, found


class CountingLogger(CustomLogger):
    """How often LiteLLM's Logging object reports the provider exchange to callbacks."""

    def __init__(self):
        super().__init__()
        self.counts: Counter = Counter()

    def log_pre_api_call(self, model, messages, kwargs):
        self.counts["pre"] += 1

    def log_post_api_call(self, kwargs, response_obj, start_time, end_time):
        self.counts["post"] += 1


@ASYNC
@pytest.mark.parametrize("marker", ["", "-error-429", "-not-json", "-error-422+drop_params"])
def test_pre_and_post_call_logged_as_often_as_stock(marker, is_async, standin, patch, monkeypatch):
    """The lean handler logs `pre_call` before it sends; when it hands the answer to stock's
    handler, stock's `pre_call` for that exchange is skipped, so callbacks see each exchange
    once, including a second request stock's handler makes itself (422 under drop_params)."""
    counter = CountingLogger()
    monkeypatch.setattr(litellm, "input_callback", [counter])
    monkeypatch.setattr(litellm, "success_callback", [counter])
    if marker.endswith("+drop_params"):
        # Stock's handler reads the module setting (the call's drop_params does not reach it).
        marker = marker.split("+")[0]
        monkeypatch.setattr(litellm, "drop_params", True)
    call = _call("openai", standin, is_async=is_async, suffix=marker, max_retries=0)
    counts = []
    for on in (False, True):
        (patch.on if on else patch.off)()
        counter.counts.clear()
        differential.run(call, standin, expect_callbacks=0, settle=0.2)
        counts.append(dict(counter.counts))
    patch.off()
    assert counts[0] == counts[1]
    assert counts[0].get("pre") == (2 if litellm.drop_params else 1), counts


# A 2xx that stock's response conversion rejects (message content a list): the lean handler has
# already logged `post_call` when its conversion fails, and hands the exchange to stock's handler.
_REJECTED_2XX = (b'{"id": "chatcmpl-123", "object": "chat.completion", "created": 1677652288, "model": "gpt-4o-mini", '
                 b'"choices": [{"index": 0, "message": {"role": "assistant", "content": []}, "logprobs": null, '
                 b'"finish_reason": "stop"}], "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}}')


@ASYNC
# LiteLLM dumps that answer's message (content a list where its model wants text) and pydantic
# warns, in the stock run as in the patched one: this test's own provocation, filtered here only.
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning:pydantic.main")
def test_post_call_logged_as_often_as_stock_when_conversion_fails(is_async, patch, monkeypatch):
    """Stock's handler logs `post_call`, then its conversion raises (the sync handler logs the
    failure through `post_call` again). The lean handler has logged that exchange's `post_call`
    before handing over, so stock's re-run must not log it a second time."""
    import asyncio

    from tests.netfixtures import RawServer

    counter = CountingLogger()
    monkeypatch.setattr(litellm, "input_callback", [counter])
    outcomes = []
    with RawServer() as raw:
        raw.respond(200, _REJECTED_2XX)
        kwargs = dict(model="openai/gpt-4o-mini", messages=MESSAGES, api_base=raw.base_url + "/v1",
                      api_key="sk-test-0123456789", max_retries=0)
        for on in (False, True):
            (patch.on if on else patch.off)()
            counter.counts.clear()
            lean_before = stats.not_lean["replayed_through_stock"]
            try:
                if is_async:
                    asyncio.run(litellm.acompletion(**kwargs))
                else:
                    litellm.completion(**kwargs)
                error = None
            except Exception as exc:  # noqa: BLE001 - the outcome
                error = type(exc)
            outcomes.append((dict(counter.counts), error, stats.not_lean["replayed_through_stock"] - lean_before))
    patch.off()
    (stock_counts, stock_error, _), (patched_counts, patched_error, handed_over) = outcomes
    assert stock_error is not None and patched_error is stock_error
    assert stock_counts["pre"] == 1 and stock_counts["post"] >= 1, stock_counts
    assert patched_counts == stock_counts
    assert handed_over == 0  # the exchange was a 2xx: it reached the lean conversion first


# --- outside the whitelist: the regular native path --------------------------------------------


@ASYNC
def test_service_callback_keeps_the_regular_path(is_async, standin, patch, monkeypatch):
    # Stock's timing decorator reports each exchange to `litellm.service_callback`'s monitors.
    monkeypatch.setattr(litellm, "service_callback", ["some-monitor"])
    with Paths() as paths:
        comparison = compare(_call("openai", standin, is_async=is_async), standin, patch)
    assert_same(comparison)
    assert paths.lean == 0
    assert paths.not_lean == {"service_callback": 1}


@ASYNC
def test_base_llm_http_handler_switch_keeps_the_regular_path(is_async, standin, patch, monkeypatch):
    monkeypatch.setenv("EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER", "True")
    with Paths() as paths:
        comparison = compare(_call("openai", standin, is_async=is_async), standin, patch)
    assert_same(comparison)
    assert paths.lean == 0
    assert paths.not_lean == {"base_llm_http_handler": 1}


class AgenticHook(CustomLogger):
    async def async_should_run_chat_completion_agentic_loop(self, **kwargs):
        return False, {}


def test_agentic_hook_keeps_the_regular_path(standin, patch, monkeypatch):
    differential._capture()
    monkeypatch.setattr(litellm, "callbacks", [*litellm.callbacks, AgenticHook()])
    with Paths() as paths:
        comparison = compare(_call("openai", standin, is_async=True), standin, patch)
    assert_same(comparison)
    assert paths.lean == 0
    assert paths.not_lean == {"agentic_hook": 1}


@ASYNC
def test_streams_keep_the_regular_path(is_async, standin, patch):
    with Paths() as paths:
        comparison = compare(
            differential.litellm_stream({"messages": MESSAGES, **CHAT_PROVIDERS["openai"].kwargs(standin)}, is_async=is_async),
            standin, patch,
        )
    assert_same(comparison)
    assert paths.lean == 0
    assert paths.not_lean == {"stream": 1}


@ASYNC
def test_changed_release_keeps_the_regular_path(is_async, standin, patch, monkeypatch):
    # As install() leaves routing on a release that changed what the lean handler reproduces.
    monkeypatch.setattr(routing, "apply", lambda decision: routing._paths_off.update(lean="litellm_changed:lean"))
    monkeypatch.setattr(routing, "_paths_off", {})
    with Paths() as paths:
        comparison = compare(_call("openai", standin, is_async=is_async), standin, patch)
    assert_same(comparison)
    assert paths.lean == 0
    assert paths.not_lean == {"litellm_changed:lean": 1}


def test_stock_client_cache_is_read_with_stocks_key(standin, patch, monkeypatch):
    """The lean handler reads stock's client cache under the key stock's getter stores the
    client with: after the first call built it, the getter is not needed again."""
    from edgequake_patch.paths import lean_chat

    built = []
    getter = lean_chat._client_getter()

    def counting(*args, **kwargs):
        built.append(kwargs["is_async"])
        return getter(*args, **kwargs)

    monkeypatch.setattr(lean_chat, "_client_getter", lambda: counting)
    litellm.in_memory_llm_clients_cache.flush_cache()
    patch.on()
    kwargs = {"messages": MESSAGES, **CHAT_PROVIDERS["openai"].kwargs(standin), "api_key": "sk-cache-key-test"}
    with Paths() as paths:
        for _ in range(3):
            litellm.completion(**kwargs)
    patch.off()
    assert paths.lean == 3
    assert built == [False]


class DetailsLogger(CustomLogger):
    """Which call details a success callback receives (names, and how many API timing windows
    stock's timing decorator recorded), beyond the values the differential view compares."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def _keep(self, kwargs):
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        # `has_logged_*` flags are set by LiteLLM's sync and async success handlers, which run
        # concurrently (a pool thread and the loop): whether one is in yet is a race, in stock too.
        keys = sorted(k for k in kwargs if not k.startswith("has_logged_"))
        self.seen.append((keys, len(metadata.get("llm_api_timing_windows", ())),
                          kwargs.get("llm_api_duration_ms") is not None))

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._keep(kwargs)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._keep(kwargs)


# One instance: LiteLLM ignores a second logger of a class it has already registered.
DETAILS = DetailsLogger()


@ASYNC
def test_call_details_match_stock(is_async, standin, patch, monkeypatch):
    details = DETAILS
    differential._capture()  # the harness's own logger stays registered, next to this one
    monkeypatch.setattr(litellm, "callbacks", [*litellm.callbacks, details])
    call = _call("openai", standin, is_async=is_async)
    seen = []
    for on in (False, True):
        (patch.on if on else patch.off)()
        details.seen.clear()
        differential.run(call, standin, expect_callbacks=1)
        deadline = time.monotonic() + 5
        while not details.seen and time.monotonic() < deadline:  # sync callbacks: LiteLLM's pool
            time.sleep(0.01)
        seen.append(list(details.seen))
    patch.off()
    assert seen[0] and seen[0] == seen[1]
    assert seen[1][0][2] is True  # llm_api_duration_ms recorded


@ASYNC
def test_unprocessable_with_drop_params_resends_as_stock(is_async, standin, patch, monkeypatch):
    """Stock's handler answers a 422 under `litellm.drop_params` with a second request of its
    own: after a lean send, that second request is stock's (sent through the core), the first
    is not repeated."""
    monkeypatch.setattr(litellm, "drop_params", True)
    with Paths() as paths:
        call = _call("openai", standin, is_async=is_async, suffix="-error-422", temperature=0.2, max_retries=0)
        comparison = compare(call, standin, patch)
    assert_same(comparison)
    assert len(comparison.patched.requests) == len(comparison.stock.requests) == 2
    assert paths.not_lean == {"replayed_through_stock": 1}


@ASYNC
@pytest.mark.parametrize("source", ["call", "environment"])
def test_organization_as_stock(source, is_async, standin, patch, monkeypatch):
    import openai

    overrides = {}
    if source == "call":
        overrides["organization"] = "org-from-call"
    else:
        monkeypatch.setenv("OPENAI_ORGANIZATION", "org-from-env")
    monkeypatch.setattr(openai, "organization", None)
    with Paths() as paths:
        comparison = compare(_call("openai", standin, is_async=is_async, **overrides), standin, patch)
    assert_same(comparison)
    assert paths.lean == 1
    sent = comparison.patched.requests[0]["headers"]
    assert sent.get("openai-organization") == f"org-from-{source if source == 'call' else 'env'}", sent
    assert openai.organization == sent["openai-organization"]  # stock's side effect, kept


@ASYNC
def test_module_level_headers_as_stock(is_async, standin, patch, monkeypatch):
    monkeypatch.setattr(litellm, "headers", {"X-Global-Header": "from-litellm-headers"})
    with Paths() as paths:
        comparison = compare(_call("openai", standin, is_async=is_async), standin, patch)
    assert_same(comparison)
    assert paths.lean == 1
    assert comparison.patched.requests[0]["headers"].get("x-global-header") == "from-litellm-headers"


@ASYNC
def test_httpx_timeout_as_stock(is_async, standin, patch):
    import httpx

    with Paths() as paths:
        call = _call("openai", standin, is_async=is_async, timeout=httpx.Timeout(30.0, connect=5.0))
        comparison = compare(call, standin, patch)
    assert_same(comparison)
    assert paths.lean == 1
