"""Connections that fail at the socket level, stock against patched, call by call.

A raw listener (tests/faultkit.RawListener) fails every connection one way: reset with the
request unread, reset or closed cleanly before the status line, in the middle of the head, or in
the middle of the body (Content-Length and chunked), or stalled before the head or mid-body;
plus the connect phase (refused, timed out, a TLS handshake the listener cannot answer). Each
failure is run through the four HTTP paths: the OpenAI SDK (`openai/`) and LiteLLM's own
handler (`anthropic/`, `gemini/` streams), sync and async, whole answers and streams; and the
handler's async path once more over httpx's async transport (LiteLLM's aiohttp one off).

The patched call must surface the failure as stock's transport does: the same exception, with
the same class and message all the way down to the transport's own exception in the chain,
the same failure-callback payload, and the same number of requests and connections at the
listener. LiteLLM's decisions on top (its async handler's one re-send of a failed connection,
whose rule changed in 1.108) then stay LiteLLM's: the counts check them.
"""

from __future__ import annotations

import inspect
import traceback

import litellm
import pytest

from edgequake_patch.transport import http_transport
from tests.differential import CHAT_PROVIDERS, assert_same, compare, litellm_call, litellm_stream
from tests.faultkit import Blackhole, RawListener, assert_no_panic_text, closed_port, exception_chain
from tests.native_formats import ANTHROPIC, GEMINI

MESSAGES = [{"role": "user", "content": "Say hello."}]
PROVIDERS = {"openai": CHAT_PROVIDERS["openai"], "anthropic": ANTHROPIC, "gemini": GEMINI}

# Failures after the connection was made, served by the listener (faultkit.RAW_MODES). A status
# line cut short fails in the same phase as headers cut short, and a stall mid-head waits on the
# same timer as one before it: those run on one path only (test_more_of_the_head_phase).
SOCKET_MODES = [
    "rst-unread", "rst-before-status", "close-before-status", "rst-mid-headers", "close-mid-headers",
    "rst-mid-body", "close-mid-body", "rst-mid-chunked", "close-mid-chunked",
    "stall-before-status", "stall-mid-body",
]
# Failures while connecting: nothing is sent, and the patch leaves the last try to stock's own
# transport (see native_transport), so its exception is stock's by construction.
CONNECT_MODES = ["refused", "connect-timeout", "tls-handshake"]
# For the stalls and the connect timeout: the listener never answers, so only the suite's pace
# depends on it.
SHORT_TIMEOUT = 0.2

# The one failure the core cannot word as stock's aiohttp transport does: a peer that sends part
# of a response head and then closes cleanly. aiohttp quotes what it had parsed of that head
# ("<RawResponseMessage(...)>"); hyper, under the core, does not say whether any of the head had
# arrived, so the patch words it as a close before the head ("Server disconnected"). Class,
# requests, and everything else match; httpx's transports say the same in both cases.
PARTIAL_HEAD_CLOSE = {"close-mid-status", "close-mid-headers"}
AIOHTTP_UNREPRODUCED = "Server disconnected"


@pytest.fixture(scope="module")
def listener():
    server = RawListener()
    yield server
    server.close()


class _Counted:
    """The listener as the differential harness sees it, also noting how many connections each
    run made (a run starts with reset() and ends with requests())."""

    def __init__(self, listener: RawListener):
        self.listener = listener
        self.connections: list = []

    def reset(self) -> None:
        self.listener.reset()

    def requests(self) -> list:
        self.connections.append(self.listener.connections)
        return self.listener.requests()


def _transport_error(exc):
    """The transport's own exception in the chain (httpx's, which stock's transports raise and
    LiteLLM / the SDK wrap), or None."""
    for e in exception_chain(exc):
        if type(e).__module__.split(".")[0] == "httpx":
            return e
    return None


def _ending(outcome):
    """The exception a caller saw: raised by the call, or by the stream while iterating."""
    return outcome.error or getattr(outcome.result, "error", None)


def _gemini_streams_take_the_call_timeout() -> bool:
    """LiteLLM 1.95 streams Gemini with the handler's own timeout (6000 s), not the call's: a
    stall there lasts as long as the listener's patience, and a connect timeout as long as the
    kernel's SYN retries. Later releases pass the call's timeout on."""
    from litellm.llms.vertex_ai.gemini import vertex_and_google_ai_studio_gemini as gemini

    return "timeout" in inspect.signature(gemini.make_call).parameters


def _run(mode, provider, stream, is_async, listener, patch, base=None):
    kwargs = {"messages": MESSAGES, **PROVIDERS[provider].kwargs(listener)}
    if base is not None:
        kwargs["api_base"] = base + PROVIDERS[provider].path
    timed = mode.startswith("stall") or mode == "connect-timeout"
    if timed and provider == "gemini" and stream and not _gemini_streams_take_the_call_timeout():
        pytest.skip("this LiteLLM streams Gemini without the call's timeout")
    kwargs["timeout"] = SHORT_TIMEOUT if timed else 5.0
    if provider == "openai":
        kwargs["max_retries"] = 0  # the SDK's backoff would only slow the suite: same failure
    call = litellm_stream(kwargs, is_async=is_async) if stream else litellm_call("completion", kwargs, is_async=is_async)
    counted = _Counted(listener)
    # Races inside stock, between the caller's thread and the logging worker that runs a
    # stream's failure logging: the worker writes `log_event_type` into the dict the failure
    # callback gets (see test_stream_differential), and formats the exception's traceback while
    # the caller is still unwinding it (the payload's traceback has more or fewer outer frames).
    racy = (".log_event_type", ".error_information.traceback") if stream else ()
    comparison = compare(call, counted, patch, racy=racy)
    return comparison, counted.connections


def _check(comparison, connections, *, native=True, extra_connections=0, unreproduced=None):
    stock, patched = _ending(comparison.stock), _ending(comparison.patched)
    assert stock is not None and patched is not None, (stock, patched)
    assert type(patched) is type(stock), (stock, patched)
    assert_no_panic_text(patched)
    # The core's own error is nowhere in what a traceback of it shows (stock embeds tracebacks in
    # some messages and payloads).
    assert "TransportError" not in "".join(traceback.format_exception(patched))
    # Down to the transport's own exception: class and words.
    stock_transport, patched_transport = _transport_error(stock), _transport_error(patched)
    assert stock_transport is not None, stock
    assert type(patched_transport) is type(stock_transport), (stock_transport, patched_transport)
    if unreproduced is None:
        assert str(patched_transport) == str(stock_transport), (str(stock_transport), str(patched_transport))
        assert_same(comparison, native=native)
    else:
        # Everything that differs is the transport's words, quoted: nothing else.
        stock_words = str(stock_transport)
        assert str(patched_transport) == unreproduced, str(patched_transport)
        for path, (was, now) in comparison.mismatches.items():
            assert isinstance(was, str) and was.replace(stock_words, unreproduced) == now, (path, was, now)
        comparison.mismatches.clear()
        assert_same(comparison, native=native)
    # What the failure callbacks were handed (compared whole by assert_same; named here so a
    # failure says so).
    stock_events = [e for e in comparison.stock_view["callbacks"] if "failure" in e[0]]
    patched_events = [e for e in comparison.patched_view["callbacks"] if "failure" in e[0]]
    assert len(patched_events) == len(stock_events) >= 1
    # Never a request stock does not send; LiteLLM's own re-send, where stock makes it, included.
    assert len(comparison.patched.requests) == len(comparison.stock.requests), comparison.stock.requests
    assert connections[0] == connections[1], connections  # stock is steady
    assert connections[2] == connections[0] + extra_connections, connections


def _path_id(provider, stream, is_async):
    return f"{provider}-{'stream' if stream else 'whole'}-{'async' if is_async else 'sync'}"


# The SDK family and LiteLLM's handler, each whole and streamed, sync and async; Gemini's
# streams, which LiteLLM reads its own way (its whole answers take Anthropic's path exactly).
PATHS = [
    pytest.param(provider, stream, is_async, id=_path_id(provider, stream, is_async))
    for provider, streams in (("openai", (False, True)), ("anthropic", (False, True)), ("gemini", (True,)))
    for stream in streams
    for is_async in (False, True)
]


# Connect failures take one of two ways in the patch, whatever the path: the SDK family's whole
# answers (sdk_transport) or the httpx transports (native_transport), streamed or not.
CONNECT_PATHS = [
    pytest.param(provider, stream, is_async, id=_path_id(provider, stream, is_async))
    for provider, stream in (("openai", False), ("anthropic", False), ("anthropic", True))
    for is_async in (False, True)
]


def _aiohttp_underneath(is_async: bool) -> bool:
    return is_async and not litellm.disable_aiohttp_transport


@pytest.mark.parametrize("provider,stream,is_async", PATHS)
@pytest.mark.parametrize("mode", SOCKET_MODES)
def test_socket_failure(mode, provider, stream, is_async, listener, patch):
    listener.mode = mode
    comparison, connections = _run(mode, provider, stream, is_async, listener, patch)
    unreproduced = AIOHTTP_UNREPRODUCED if mode in PARTIAL_HEAD_CLOSE and _aiohttp_underneath(is_async) else None
    _check(comparison, connections, unreproduced=unreproduced)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("mode", ["rst-mid-status", "close-mid-status", "stall-mid-headers"])
def test_more_of_the_head_phase(mode, is_async, listener, patch):
    listener.mode = mode
    comparison, connections = _run(mode, "anthropic", False, is_async, listener, patch)
    unreproduced = AIOHTTP_UNREPRODUCED if mode in PARTIAL_HEAD_CLOSE and _aiohttp_underneath(is_async) else None
    _check(comparison, connections, unreproduced=unreproduced)


@pytest.fixture
def httpx_async_transport(monkeypatch):
    """LiteLLM's async handler over httpx's own async transport (aiohttp's off), on clients
    built for it: stock's cached ones and its module-level client (which streams use; built
    lazily, so dropping it has LiteLLM build another under the switch) are rebuilt."""
    def flush():
        cache = getattr(litellm, "in_memory_llm_clients_cache", None)
        if cache is not None:
            cache.flush_cache()
        http_transport._handlers.clear()

    flush()
    monkeypatch.setattr(litellm, "disable_aiohttp_transport", True)
    monkeypatch.delattr(litellm, "module_level_aclient", raising=False)
    yield
    flush()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("mode", ["rst-before-status", "close-before-status", "close-mid-headers",
                                  "rst-mid-body", "close-mid-chunked", "stall-before-status"])
def test_socket_failure_over_httpx_async(mode, stream, listener, patch, httpx_async_transport):
    """httpx on asyncio words resets and timeouts without text, and up to 1.106 LiteLLM re-sends
    on its RemoteProtocolError too."""
    listener.mode = mode
    comparison, connections = _run(mode, "anthropic", stream, True, listener, patch)
    _check(comparison, connections)


@pytest.mark.parametrize("provider,stream,is_async", CONNECT_PATHS)
@pytest.mark.parametrize("mode", CONNECT_MODES)
def test_connect_failure(mode, provider, stream, is_async, listener, patch):
    if mode == "refused":
        comparison, connections = _run(mode, provider, stream, is_async, listener, patch,
                                       base=f"http://127.0.0.1:{closed_port()}")
        _check(comparison, connections, native=False)
    elif mode == "connect-timeout":
        with Blackhole() as hole:
            comparison, connections = _run(mode, provider, stream, is_async, listener, patch,
                                           base=f"http://127.0.0.1:{hole.port}")
        _check(comparison, connections, native=False)
    else:
        listener.mode = "plain-answers-tls"
        comparison, connections = _run(mode, provider, stream, is_async, listener, patch,
                                       base=listener.base_url.replace("http://", "https://"))
        # The core's handshake failed before anything was sent; stock's transport then makes
        # its own attempt, which fails as it does for stock: one more handshake, no request.
        _check(comparison, connections, native=False, extra_connections=1)
        assert not comparison.patched.requests
