"""Faults on the wire, patch off vs on: the patched call must end exactly as stock's does —
same exception class and status, same number of requests, about the same time — with no
panic text, no connection left open and nothing sent twice.

Providers: openai (the SDK-client family) and xai (LiteLLM's own HTTP handler family), sync
and async. Scenarios come from the stand-in's markers (tests/standin/README.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import litellm
import pytest

from tests.differential import CHAT_PROVIDERS, QUICK_RETRY, assert_same, compare, litellm_call, litellm_stream
from tests.faultkit import (
    Blackhole,
    assert_no_panic_text,
    closed_port,
    open_connections,
    timed,
)
from tests.standin import REPO_ROOT

MESSAGES = [{"role": "user", "content": "Say hello."}]
PROVIDERS = ["openai", "xai"]
BOTH = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
FAMILIES = pytest.mark.parametrize("provider", PROVIDERS)


def _kwargs(provider, standin, suffix="", **overrides):
    return {"messages": MESSAGES, **CHAT_PROVIDERS[provider].kwargs(standin, suffix), **overrides}


def _compare_timed(provider, standin, patch, *, is_async, suffix="", **overrides):
    times: list = []
    call = timed(litellm_call("completion", _kwargs(provider, standin, suffix, **overrides), is_async=is_async), times)
    comparison = compare(call, standin, patch)
    assert len(times) == 3, times
    _report(comparison, times)
    return comparison, times  # times: stock, stock again, patched


def _report(comparison, times):
    """One line per scenario for docs/reliability.md (shown with -s)."""
    def ending(outcome):
        error = getattr(outcome.result, "error", None) or outcome.error
        return type(error).__name__ if error is not None else "ok"

    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0]
    print(f"\nFAULT {test}: stock {ending(comparison.stock)} {len(comparison.stock.requests)} req "
          f"{times[0]:.2f}/{times[1]:.2f} s | patched {ending(comparison.patched)} "
          f"{len(comparison.patched.requests)} req {times[2]:.2f} s")


def _check_common(comparison, *, same_text=True, native=True):
    """What every fault must satisfy, whatever it is."""
    stock, patched = comparison.stock, comparison.patched
    if same_text:
        assert_same(comparison, native=native)
    if stock.error is not None:
        assert patched.error is not None, f"stock raised {stock.error!r}, patched returned"
        assert type(patched.error) is type(stock.error), (stock.error, patched.error)
        assert getattr(patched.error, "status_code", None) == getattr(stock.error, "status_code", None)
        assert_no_panic_text(patched.error)
    else:
        assert patched.error is None, patched.error
    # Never a request stock does not send.
    assert len(patched.requests) == len(stock.requests), (len(stock.requests), len(patched.requests))


# --- connection faults --------------------------------------------------------------------


@BOTH
@FAMILIES
def test_connection_refused(provider, is_async, standin, patch):
    base = f"http://127.0.0.1:{closed_port()}" + CHAT_PROVIDERS[provider].path
    comparison, times = _compare_timed(provider, standin, patch, is_async=is_async, api_base=base, max_retries=0)
    # Nothing was sent, so stock's own transport may raise its socket-level wording.
    _check_common(comparison, native=False)
    assert comparison.stock.error is not None
    assert not comparison.stock.requests
    assert times[2] < max(times[:2]) + 1.0, times


@pytest.mark.parametrize("max_retries", [0, 2])
@BOTH
@FAMILIES
def test_connect_timeout(provider, is_async, max_retries, standin, patch):
    with Blackhole() as hole:
        base = f"http://127.0.0.1:{hole.port}" + CHAT_PROVIDERS[provider].path
        comparison, times = _compare_timed(provider, standin, patch, is_async=is_async, api_base=base,
                                           timeout=0.5, max_retries=max_retries)
    _check_common(comparison, native=False)
    assert isinstance(comparison.stock.error, litellm.Timeout), comparison.stock.error
    # The per-call timeout is honoured at stock's granularity.
    assert abs(times[2] - min(times[:2])) < 0.4, times


@pytest.mark.parametrize("max_retries", [0, 2])
@BOTH
@FAMILIES
def test_read_timeout_honours_per_call_timeout(provider, is_async, max_retries, standin, patch):
    comparison, times = _compare_timed(provider, standin, patch, is_async=is_async, suffix="-slow-3000",
                                       timeout=0.6, max_retries=max_retries)
    _check_common(comparison)
    assert isinstance(comparison.patched.error, litellm.Timeout), comparison.patched.error
    if max_retries == 0:
        assert 0.55 < times[2] < 1.5, times
    assert abs(times[2] - min(times[:2])) < 0.4, times
    # The timed-out connection was closed, not left to the server.
    standin.wait_for_event("client_disconnected", timeout=5)


@BOTH
@FAMILIES
def test_server_closes_mid_body(provider, is_async, standin, patch):
    comparison, _ = _compare_timed(provider, standin, patch, is_async=is_async, suffix="-close-mid-body", max_retries=0)
    # The HTTP-handler family passes the transport's words through: they are stock's
    # transport's (see test_transport_failures). The SDK family says "Connection error.".
    _check_common(comparison)
    assert comparison.stock.error is not None


# --- bodies that are not what they claim --------------------------------------------------

BODY_FAULTS = ["garbled", "html-502", "not-json", "json-as-text", "json-as-html", "empty-body"]


@BOTH
@pytest.mark.parametrize("marker", BODY_FAULTS)
@FAMILIES
def test_body_faults(provider, marker, is_async, standin, patch):
    comparison, _ = _compare_timed(provider, standin, patch, is_async=is_async, suffix=f"-{marker}", max_retries=0)
    _check_common(comparison)


# --- status codes, retries and Retry-After ------------------------------------------------


# The SDK waits what Retry-After says (0: its own jittered backoff); LiteLLM's HTTP handler
# does not retry at all. (A 61 s Retry-After is waited in full by both too: measured, too slow
# to keep here.)
RETRY_AFTER = ["burst-1-429-retry-after-1", "burst-1-503-retry-after-1", "burst-2-429-retry-after-0"]


@BOTH
@pytest.mark.parametrize("marker", RETRY_AFTER)
@FAMILIES
def test_retry_after_is_honoured(provider, marker, is_async, standin, patch):
    comparison, times = _compare_timed(provider, standin, patch, is_async=is_async,
                                       suffix=f"-{marker}", max_retries=2)
    _check_common(comparison)
    stock_attempts = len(comparison.stock.requests)
    if stock_attempts > 1 and marker.endswith("retry-after-1"):
        # Stock waited the server's second before retrying: so must the patch.
        assert min(times[:2]) >= 0.95 and times[2] >= 0.95, times
    assert abs(times[2] - min(times[:2])) < 0.5, times


@pytest.mark.parametrize("failures,status,max_retries", [
    (1, 500, 0), (1, 500, 1), (2, 503, 1), (2, 503, 2), (2, 503, 3), (3, 500, 2),
])
@BOTH
@FAMILIES
def test_5xx_bursts(provider, is_async, failures, status, max_retries, standin, patch):
    # Which attempts are made and how the call ends is what each combination shows; the SDK's
    # backoff between them is waited in full in one (and in the Retry-After cases above), the
    # others ask the stand-in for a 1 ms retry-after-ms so their retries come at once.
    quick = "" if (failures, status, max_retries) == (2, 503, 2) else QUICK_RETRY
    comparison, _ = _compare_timed(provider, standin, patch, is_async=is_async,
                                   suffix=f"-burst-{failures}-{status}{quick}", max_retries=max_retries)
    _check_common(comparison)


# --- slow delivery ------------------------------------------------------------------------


@BOTH
@FAMILIES
def test_drip_within_timeout(provider, is_async, standin, patch):
    """The body's last bytes arrive one every 0.2 s, each gap inside the 0.6 s timeout while the
    five together (1 s) outlast it: the timeout is per read, as stock's."""
    comparison, times = _compare_timed(provider, standin, patch, is_async=is_async, suffix="-drip-200",
                                       timeout=0.6, max_retries=0)
    _check_common(comparison)
    assert abs(times[2] - min(times[:2])) < 0.5, times


@BOTH
@FAMILIES
def test_drip_one_byte_per_second(provider, is_async, standin, patch):
    """One byte a second with a 0.5 s timeout: stock's timeout class, at stock's time."""
    comparison, times = _compare_timed(provider, standin, patch, is_async=is_async, suffix="-drip-1000",
                                       timeout=0.5, max_retries=0)
    _check_common(comparison)
    assert isinstance(comparison.stock.error, litellm.Timeout), comparison.stock.error
    assert abs(times[2] - min(times[:2])) < 0.4, times


# --- streams that break or slow down half-way -------------------------------------------


def _compare_stream(provider, standin, patch, *, is_async, suffix, **overrides):
    times: list = []
    kwargs = _kwargs(provider, standin, suffix, max_retries=0, **overrides)
    call = timed(litellm_stream(kwargs, is_async=is_async), times)
    # Stock logs sync chunks on a worker thread that writes `log_event_type` into the dict the
    # failure callback gets: a race inside stock (see test_stream_differential).
    comparison = compare(call, standin, patch, racy=(".log_event_type",))
    _report(comparison, times)
    assert_same(comparison)
    stock, patched = comparison.stock.result, comparison.patched.result
    assert (stock.error is None) == (patched.error is None), (stock.error, patched.error)
    if stock.error is not None:
        assert type(patched.error) is type(stock.error)
        assert getattr(patched.error, "status_code", None) == getattr(stock.error, "status_code", None)
        assert_no_panic_text(patched.error)
    assert len(patched.chunks) == len(stock.chunks)
    assert len(comparison.patched.requests) == len(comparison.stock.requests) == 1
    return comparison, times


@BOTH
@FAMILIES
def test_stream_closed_mid_way(provider, is_async, standin, patch):
    comparison, times = _compare_stream(provider, standin, patch, is_async=is_async, suffix="-close-mid-stream")
    assert comparison.patched.result.error is not None
    assert len(comparison.patched.result.chunks) >= 1


@BOTH
@FAMILIES
def test_stream_drip_within_timeout(provider, is_async, standin, patch):
    """Mid-stream, a frame arrives one byte every 0.2 s, each gap inside the 0.6 s timeout while
    the five together (1 s) outlast it."""
    comparison, times = _compare_stream(provider, standin, patch, is_async=is_async, suffix="-drip-200", timeout=0.6)
    assert comparison.patched.result.error is None
    assert abs(times[2] - min(times[:2])) < 0.5, times


@BOTH
@FAMILIES
def test_stream_drip_past_timeout(provider, is_async, standin, patch):
    """Mid-stream, one byte a second with a 0.5 s timeout: stock's timeout, at stock's time."""
    comparison, times = _compare_stream(provider, standin, patch, is_async=is_async, suffix="-drip-1000", timeout=0.5)
    assert comparison.patched.result.error is not None
    assert abs(times[2] - min(times[:2])) < 0.4, times


# --- nothing left open --------------------------------------------------------------------


@pytest.mark.parametrize("marker", ["close-mid-body", "slow-2000", "garbled", "error-500", "html-502",
                                    "stream-close-mid-stream", "stream-hang-mid-stream"])
@BOTH
@FAMILIES
def test_faults_leave_no_connection_open(provider, marker, is_async, standin, patch):
    patch.on()
    streamed = marker.startswith("stream-")
    kwargs = _kwargs(provider, standin, "-" + marker.removeprefix("stream-"), timeout=0.3, max_retries=0)
    if streamed:
        stream_call = litellm_stream(kwargs, is_async=is_async)

        async def call_async():
            return _raise_stream_error(await stream_call())

        def call_sync():
            return _raise_stream_error(stream_call())

        call = call_async if is_async else call_sync
    else:
        call = litellm_call("completion", kwargs, is_async=is_async)

    def once():
        try:
            return asyncio.run(call()) if is_async else call()
        except Exception as exc:  # noqa: BLE001 - every one of these fails
            assert_no_panic_text(exc)
            return exc

    once()
    baseline = open_connections(standin.port)
    for _ in range(5):
        assert isinstance(once(), Exception)
    time.sleep(0.2)
    # Pooled keep-alive connections may stay (stock keeps them too); failures must not add any.
    assert open_connections(standin.port) <= max(baseline, 1), (baseline, open_connections(standin.port))


def _raise_stream_error(streamed):
    if streamed.error is not None:
        raise streamed.error
    return streamed


# --- a 100 MB answer ----------------------------------------------------------------------

_HUGE_CHILD = r"""
import json, os, resource, sys, time, asyncio
import litellm, edgequake_patch
if sys.argv[1] == "patched":
    assert edgequake_patch.install()
kwargs = json.loads(sys.argv[2])
start = time.monotonic()
try:
    if sys.argv[3] == "async":
        r = asyncio.run(litellm.acompletion(**kwargs))
    else:
        r = litellm.completion(**kwargs)
    outcome = {"ok": True, "length": len(r.choices[0].message.content), "id": r.id}
except Exception as e:
    outcome = {"ok": False, "class": type(e).__name__, "text": str(e)[:300]}
outcome["seconds"] = time.monotonic() - start
outcome["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
outcome["native"] = sum(edgequake_patch.status()["native_calls"].values())
print(json.dumps(outcome))
"""


def _huge_run(mode, provider, is_async, standin, mib):
    kwargs = _kwargs(provider, standin, f"-huge-{mib}", timeout=120, max_retries=0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEQUAKE")}
    proc = subprocess.run([sys.executable, "-c", _HUGE_CHILD, mode, json.dumps(kwargs), "async" if is_async else "sync"],
                          cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@FAMILIES
def test_100mb_response(provider, is_async, standin, record_property):
    mib = 100
    stock = _huge_run("stock", provider, is_async, standin, mib)
    patched = _huge_run("patched", provider, is_async, standin, mib)
    print(f"\n100 MiB {provider} {'async' if is_async else 'sync'}: stock {stock}\n  patched {patched}")
    record_property("stock", stock)
    record_property("patched", patched)
    assert patched["native"] >= 1
    assert patched["ok"] == stock["ok"], (stock, patched)
    if stock["ok"]:
        assert patched["length"] == stock["length"] == mib * 1024 * 1024
        assert patched["id"] == stock["id"]
    else:
        assert patched["class"] == stock["class"], (stock, patched)
    # No worse than stock on memory (a little slack for the core's own buffers).
    assert patched["peak_rss_mb"] <= stock["peak_rss_mb"] * 1.1 + 50, (stock, patched)
