"""Differential harness: run one scenario with the patch off and on and compare everything a
LiteLLM user can observe — the outbound request, the returned object, the exception, and the
payloads LiteLLM's callbacks receive.

What may legitimately differ between two runs (ids, timestamps, durations) is not guessed: the
scenario is run twice with the patch off, and the paths that differ between those two stock
runs are the only ones the patched run may differ on.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import gc
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import litellm
from litellm.integrations.custom_logger import CustomLogger

import edgequake_patch
from edgequake_patch.activation import probes
from edgequake_patch.state import stats

# Headers that describe the connection rather than the request: each HTTP stack frames its own
# (the length of the same JSON may differ with the serializer's escaping; the body itself is
# compared). Everything else is compared, the client's identification included (User-Agent,
# the SDK's X-Stainless-* headers): gateways and firewalls read them. A value stock itself varies
# from call to call is found by the two stock runs, like any other volatile value.
TRANSPORT_HEADERS = frozenset({"connection", "content-length", "host"})


def _request_view(recorded: Dict[str, Any]) -> Dict[str, Any]:
    headers = {k: v for k, v in recorded["headers"].items() if k not in TRANSPORT_HEADERS}
    return {
        "method": recorded["method"],
        "path": recorded["path"],
        "query": recorded["query"],
        "headers": headers,
        "body": recorded["body"],
    }


@dataclass
class Provider:
    name: str
    model: str
    path: str  # appended to the stand-in's base URL to make api_base
    key: str
    extra: Dict[str, Any] = field(default_factory=dict)

    def kwargs(self, standin, model_suffix: str = "") -> Dict[str, Any]:
        return {
            "model": self.model + model_suffix,
            "api_base": standin.base_url + self.path,
            "api_key": self.key,
            **self.extra,
        }


def block_python_connects(monkeypatch, port: int, what: str) -> List[Any]:
    """Make Python-level connects to 127.0.0.1:`port` fail (the core's own sockets are not
    Python's); returns the list of blocked addresses, so a test can tell stock tried."""
    import socket

    blocked: List[Any] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def _blocked(address) -> bool:
        return isinstance(address, tuple) and len(address) >= 2 and address[1] == port

    def connect(self, address):
        if _blocked(address):
            blocked.append(address)
            raise ConnectionRefusedError(111, f"Python sockets may not reach the {what}")
        return real_connect(self, address)

    def connect_ex(self, address):
        if _blocked(address):
            blocked.append(address)
            return 111
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return blocked


# Appended to the model of scenarios that answer with errors stock's SDK client retries: the
# stand-in then asks for a 1 ms wait (`retry-after-ms`), which the SDK and the core honour, in
# place of the SDK's own backoff (0.5 s, 1 s, 2 s... per retry). The attempts, the exception and
# the callbacks are what these comparisons check, and they are unchanged; the backoff's pacing
# is tests/test_faults.py's subject, where the stand-in does not shorten it.
QUICK_RETRY = "-retry-after-ms-1"


# Request fixtures several test modules share.
TINY_PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["location"],
        },
    },
}

TOOL_RESULT_TURN = [
    {"role": "user", "content": "Weather in Boston?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_abc123",
                "type": "function",
                "function": {"name": "get_current_weather", "arguments": '{"location": "Boston, MA"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_abc123", "content": '{"temp": 22}'},
]


CHAT_PROVIDERS = {
    p.name: p
    for p in (
        Provider("openai", "openai/gpt-4o-mini", "/v1", "sk-test-openai-0123456789"),
        Provider("lm_studio", "lm_studio/qwen2.5-7b-instruct", "/v1", "lm-studio-test-key-0123"),
        Provider("azure", "azure/gpt-4o-mini", "", "azure-test-key-0123456789", {"api_version": "2024-10-21"}),
        Provider("xai", "xai/grok-3-mini", "/v1", "xai-test-key-0123456789"),
        Provider("mistral", "mistral/mistral-small-latest", "/v1", "mistral-test-key-0123456789"),
        Provider("openrouter", "openrouter/openai/gpt-4o-mini", "/api/v1", "sk-or-test-key-0123456789"),
    )
}

EMBEDDING_PROVIDERS = {
    p.name: p
    for p in (
        Provider("openai", "openai/text-embedding-3-small", "/v1", "sk-test-openai-0123456789"),
        Provider("lm_studio", "lm_studio/nomic-embed-text-v1.5", "/v1", "lm-studio-test-key-0123"),
        Provider("azure", "azure/text-embedding-3-small", "", "azure-test-key-0123456789", {"api_version": "2024-10-21"}),
        Provider("mistral", "mistral/mistral-embed", "/v1", "mistral-test-key-0123456789"),
    )
}


def _capture() -> "Capture":
    """The one Capture registered with LiteLLM, emptied. (LiteLLM keeps the callback objects it
    has seen and ignores a second logger of the same class, so one instance serves every run.)"""
    global _CAPTURE
    if _CAPTURE is None:
        _CAPTURE = Capture()
    if _CAPTURE not in litellm.callbacks:
        litellm.callbacks = [_CAPTURE]
    with _CAPTURE._lock:
        _CAPTURE.raw.clear()
    return _CAPTURE


_CAPTURE = None


def wait_for_disconnect(standin, seconds: float = 5.0) -> None:
    """Until the stand-in sees the client close the connection. A dropped sync stream goes when
    its last reference does; LiteLLM's wrapper sits in reference cycles (and its logging threads
    hold it briefly), so garbage collection passes are run meanwhile."""
    deadline = time.monotonic() + seconds
    while not any(e["event"] == "client_disconnected" for e in standin.events()):
        assert time.monotonic() < deadline, "the stand-in did not see the connection close"
        gc.collect()
        time.sleep(0.05)


def _scenario_key(*parts: Any) -> str:
    """What a scenario sends, as text: `compare(..., reuse=True)` looks its comparison up by it.
    Values without a stable text (reprs with addresses) make a key no other call shares."""
    return json.dumps(parts, sort_keys=True, default=repr)


def litellm_call(function: str, kwargs: Dict[str, Any], *, is_async: bool) -> Callable[[], Any]:
    """A scenario for `run`: litellm.<function>(**kwargs), or its a-prefixed coroutine form."""
    if is_async:
        target = getattr(litellm, "a" + function)

        async def call():
            return await target(**kwargs)

    else:
        target = getattr(litellm, function)

        def call():
            return target(**kwargs)

    call.scenario_key = _scenario_key("call", function, is_async, kwargs)
    return call


class Streamed:
    """What a caller sees of a stream: the object returned, every chunk, how it ended, and
    `litellm.stream_chunk_builder` over the chunks."""

    def __init__(self, wrapper: Any, messages: Any):
        self.wrapper_type = f"{type(wrapper).__module__}.{type(wrapper).__qualname__}"
        self.is_stock_wrapper = isinstance(wrapper, litellm.CustomStreamWrapper)
        self.messages = messages
        self.chunks: List[Any] = []
        self.error: Optional[BaseException] = None
        self._wrapper = wrapper
        #: The wrapper's own chunk list once the stream is over (what stock aggregates usage and
        #: the complete response from, and a caller may read): the fast path builds some of its
        #: entries only when it is read.
        self.wrapper_chunks: List[Any] = []

    def finish(self) -> None:
        self.wrapper_chunks = list(getattr(self._wrapper, "chunks", None) or [])
        self._wrapper = None

    def model_dump(self) -> Dict[str, Any]:
        built = None
        if self.chunks and self.error is None:
            built = result_view(litellm.stream_chunk_builder(_fixed_tool_call_ids(self.chunks), messages=self.messages))
        return {
            "is_stock_wrapper": self.is_stock_wrapper,
            "chunks": [
                {"dump": plain(c), "hidden_params": plain(getattr(c, "_hidden_params", None))} for c in self.chunks
            ],
            "error": exception_view(self.error) if self.error is not None else None,
            "built": built,
            "wrapper_chunks": [
                {"dump": plain(c), "hidden_params": plain(getattr(c, "_hidden_params", None))} for c in self.wrapper_chunks
            ],
        }


def _fixed_tool_call_ids(chunks: List[Any]) -> List[Any]:
    """Copies of the chunks with every tool-call id the same. LiteLLM makes up random ids for
    providers that send none (Gemini), and when no chunk carries usage the builder counts
    tokens over the built message, id included: two stock runs then differ in usage by the
    luck of the draw, or agree by it. The ids themselves are compared chunk by chunk."""
    fixed = []
    for chunk in chunks:
        chunk = copy.deepcopy(chunk)
        for choice in getattr(chunk, "choices", None) or []:
            for call in getattr(getattr(choice, "delta", None), "tool_calls", None) or []:
                if getattr(call, "id", None):
                    call.id = "call_fixed"
        fixed.append(chunk)
    return fixed


def litellm_stream(kwargs: Dict[str, Any], *, is_async: bool, stop_after: Optional[int] = None) -> Callable[[], Any]:
    """A streaming scenario for `run`: completion(stream=True) consumed to the end (or only
    `stop_after` chunks, then closed); a failure while iterating is recorded with the chunks
    that came before it."""
    kwargs = {**kwargs, "stream": True}

    def take(streamed: Streamed, chunk: Any) -> bool:
        streamed.chunks.append(chunk)
        return stop_after is not None and len(streamed.chunks) >= stop_after

    if is_async:

        async def call():
            wrapper = await litellm.acompletion(**kwargs)
            streamed = Streamed(wrapper, kwargs["messages"])
            try:
                async for chunk in wrapper:
                    if take(streamed, chunk):
                        break
            except Exception as exc:  # noqa: BLE001 - part of the outcome
                streamed.error = exc
            streamed.finish()
            return streamed

    else:

        def call():
            wrapper = litellm.completion(**kwargs)
            streamed = Streamed(wrapper, kwargs["messages"])
            try:
                for chunk in wrapper:
                    if take(streamed, chunk):
                        break
            except Exception as exc:  # noqa: BLE001
                streamed.error = exc
            streamed.finish()
            return streamed

    call.scenario_key = _scenario_key("stream", is_async, stop_after, kwargs)
    return call


class Capture(CustomLogger):
    """Records what LiteLLM hands its callbacks, sync and async, success and failure."""

    def __init__(self):
        super().__init__()
        #: (event, kwargs, response object) as handed over. Viewed once the run has settled:
        #: LiteLLM's main thread can still be adding to a call's details (its hidden params)
        #: while a logging thread runs the callback, in stock as in patched runs, so a view taken
        #: inside the callback would show whichever of the two got there first.
        self.raw: List[Tuple[str, Dict[str, Any], Any]] = []
        self._lock = threading.Lock()
        #: Calls that started before this are not the scenario's: LiteLLM's logging worker can
        #: deliver another test's callbacks late, onto whichever event loop runs next.
        self.since: Optional[datetime.datetime] = None

    def _record(self, event: str, kwargs: Dict[str, Any], response_obj: Any, start_time: Any) -> None:
        since = self.since
        if since is not None and isinstance(start_time, datetime.datetime) and start_time < since:
            return
        with self._lock:
            self.raw.append((event, kwargs, response_obj))

    def views(self) -> List[Tuple[str, Dict[str, Any]]]:
        with self._lock:
            return [(event, _callback_view(kwargs, response_obj)) for event, kwargs, response_obj in self.raw]

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._record("success", kwargs, response_obj, start_time)

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._record("failure", kwargs, response_obj, start_time)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._record("async_success", kwargs, response_obj, start_time)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._record("async_failure", kwargs, response_obj, start_time)


_CALLBACK_KEYS = (
    "model",
    "custom_llm_provider",
    "input",
    "api_key",
    "optional_params",
    "litellm_params",
    "additional_args",
    "original_response",
    "response_cost",
    "response_headers",
    "exception",
    "standard_logging_object",
    "log_event_type",
)


def plain(value: Any) -> Any:
    """A JSON-comparable view of any object (pydantic models dumped, others by repr)."""
    if hasattr(value, "model_dump") and callable(value.model_dump):
        try:
            value = value.model_dump()
        except Exception:  # noqa: BLE001 - a repr is still comparable
            return repr(value)
    return _unclocked(json.loads(json.dumps(value, default=_default, sort_keys=True)))


# Durations stock writes into messages ("time taken=0.301 seconds"): measured, not meaningful.
_ELAPSED = re.compile(r"(time taken=)[0-9.]+")


# Object reprs stock logs ("<coroutine object … at 0x7f…>"): two stock runs may reuse an address.
_ADDRESS = re.compile(r" at 0x[0-9a-f]+>")


def _unclocked(value: Any) -> Any:
    if isinstance(value, str):
        return _without_patch_frames(_ADDRESS.sub(" at 0x…>", _ELAPSED.sub(r"\1<elapsed>", value)))
    if isinstance(value, list):
        return [_unclocked(v) for v in value]
    if isinstance(value, dict):
        return {k: _unclocked(v) for k, v in value.items()}
    return value


def _default(value: Any) -> Any:
    if isinstance(value, BaseException):
        return exception_view(value)
    return probes.jsonable(value)


# Frames of the HTTP stack below httpx's client: stock's are httpcore's, h11's or aiohttp's,
# the patch's are the core's (which has none in Python). Stock embeds tracebacks in some
# messages and in failure payloads, so these frames, and the exception chained beneath them
# ("The above exception was the direct cause..."), are the other difference the patch cannot
# avoid. The exception's class and text, and every frame above the transport, must match.
_TRANSPORT_FRAMES = ("/edgequake_patch/", "/httpx/_transports/", "/httpcore/", "/h11/", "/aiohttp/",
                     "/custom_httpx/aiohttp_transport.py", "/contextlib.py")
_CHAINED_CAUSE = re.compile(
    r"Traceback \(most recent call last\):\n(?:(?!Traceback \(most recent).)*?"
    r"\nThe above exception was the direct cause of the following exception:\n\n",
    re.S,
)


def _without_patch_frames(text: Any) -> Any:
    if not isinstance(text, str) or '  File "' not in text:
        return text
    text = _CHAINED_CAUSE.sub("", text)
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith('  File "'):
            skipping = any(marker in line for marker in _TRANSPORT_FRAMES)
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            out.append(line)
    return "".join(out)


def _callback_view(kwargs: Dict[str, Any], response_obj: Any) -> Dict[str, Any]:
    view = {key: plain(kwargs.get(key)) for key in _CALLBACK_KEYS}
    view["response_obj"] = plain(response_obj)
    return view


def exception_view(exc: BaseException) -> Dict[str, Any]:
    response = getattr(exc, "response", None)
    request = getattr(exc, "request", None)
    return {
        # What the exception carries of the HTTP exchange: a callback or a retry policy reads it.
        "response_status": getattr(response, "status_code", None),
        "response_headers": dict(response.headers) if hasattr(response, "headers") else None,
        "request": f"{request.method} {request.url}" if hasattr(request, "url") else None,
        "litellm_response_headers": plain(getattr(exc, "litellm_response_headers", None)),
        "class": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "str": str(exc),
        "status_code": getattr(exc, "status_code", None),
        "message": getattr(exc, "message", None),
        "llm_provider": getattr(exc, "llm_provider", None),
        "model": getattr(exc, "model", None),
        "max_retries": getattr(exc, "max_retries", None),
        "num_retries": getattr(exc, "num_retries", None),
    }


def result_view(result: Any) -> Any:
    if result is None:
        return None
    return {
        "type": f"{type(result).__module__}.{type(result).__qualname__}",
        "dump": plain(result),
        "hidden_params": plain(getattr(result, "_hidden_params", None)),
        "response_headers": plain(getattr(result, "_response_headers", None)),
    }


@dataclass
class Outcome:
    requests: List[Dict[str, Any]]
    result: Any
    error: Optional[BaseException]
    events: List[Tuple[str, Dict[str, Any]]]
    native_calls: int
    fallbacks: Dict[str, int]
    lean_calls: int = 0  # finished by the lean handler
    not_lean: Dict[str, int] = field(default_factory=dict)  # handed on, by reason

    def view(self) -> Dict[str, Any]:
        return {
            "requests": [_request_view(r) for r in self.requests],
            "result": result_view(self.result),
            "error": _unclocked(exception_view(self.error)) if self.error is not None else None,
            "callbacks": sorted((plain(e) for e in self.events), key=lambda e: e[0]),
        }


# After the callbacks a run expects have arrived, how long it waits for any more. A callback
# the patch would add (the same event logged twice) follows its twin: the patched run waits
# PATCHED_GRACE. Stock's count is the reference and does not move late (over ~1,800 measured
# stock and patched runs, no event ever arrived after the first ones, 0.3 s extra watched;
# the last came at most 53 ms after the call returned, p99 6 ms, all before the run settled):
# a stock run waits only STOCK_GRACE, for its loop's callback tasks to finish. Were stock ever to
# log late, its runs would show fewer events than the patched one: a failure, not a pass.
PATCHED_GRACE = 0.05
STOCK_GRACE = 0.01


def run(call: Callable[[], Any], standin, *, expect_callbacks: int = 1, settle: float = 5.0,
        grace: float = PATCHED_GRACE) -> Outcome:
    """Run `call` (a function, or a coroutine function for async scenarios) once."""
    standin.reset()
    capture = _capture()
    capture.since = datetime.datetime.now()
    before_native = sum(stats.native_calls.values())
    before_fallbacks = dict(stats.fallbacks)
    before_lean = sum(stats.lean_calls.values())
    before_not_lean = dict(stats.not_lean)
    outcome: Dict[str, Any] = {"result": None, "error": None}

    def settled() -> bool:
        return len(capture.raw) >= expect_callbacks

    if asyncio.iscoroutinefunction(call):

        async def in_loop():
            try:
                outcome["result"] = await call()
            except Exception as exc:  # noqa: BLE001 - the exception is part of the outcome
                outcome["error"] = exc
            # Async callbacks are tasks on this loop: let them run before the loop closes.
            deadline = time.monotonic() + settle
            while not settled() and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            await asyncio.sleep(grace)

        asyncio.run(in_loop())
    else:
        try:
            outcome["result"] = call()
        except Exception as exc:  # noqa: BLE001
            outcome["error"] = exc
        deadline = time.monotonic() + settle
        # Sync success callbacks run on LiteLLM's thread pool: wait for them.
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(grace)
    result, error = outcome["result"], outcome["error"]
    fallbacks = {k: v - before_fallbacks.get(k, 0) for k, v in stats.fallbacks.items() if v != before_fallbacks.get(k, 0)}
    not_lean = {k: v - before_not_lean.get(k, 0) for k, v in stats.not_lean.items() if v != before_not_lean.get(k, 0)}
    return Outcome(
        requests=standin.requests(),
        result=result,
        error=error,
        events=capture.views(),
        native_calls=sum(stats.native_calls.values()) - before_native,
        fallbacks=fallbacks,
        lean_calls=sum(stats.lean_calls.values()) - before_lean,
        not_lean=not_lean,
    )


def diff_paths(a: Any, b: Any, path: str = "") -> Dict[str, Tuple[Any, Any]]:
    """Every leaf path where a and b differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: Dict[str, Tuple[Any, Any]] = {}
        for key in set(a) | set(b):
            out.update(diff_paths(a.get(key, _MISSING), b.get(key, _MISSING), f"{path}.{key}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = {}
        for i, (x, y) in enumerate(zip(a, b)):
            out.update(diff_paths(x, y, f"{path}[{i}]"))
        return out
    return {} if a == b else {path: (a, b)}


_MISSING = "<missing>"
# Clocks and measured durations: two stock runs can agree on them by luck (the server's date
# has whole seconds; LiteLLM rounds some durations), which must not make them binding.
_CLOCK_FIELDS = (
    ".date", ".llm_provider-date", "-date",
    "._response_ms", ".response_ms", ".litellm_overhead_time_ms", ".response_time",
    ".startTime", ".endTime", ".completionStartTime", ".llm_api_duration_ms", ".api_call_start_time",
    ".queue_time_seconds", ".start_time", ".end_time", ".callback_duration_ms",
)


# On some releases (1.95.0) LiteLLM's sync wrapper hands the success handler to its thread pool
# *before* it sets the response's metadata (`update_response_metadata`: api base, model name,
# model id, cost, provider headers), so the standard logging payload the logging thread builds
# holds them or not depending on which thread runs first: in stock runs as in patched ones.
# Those values are compared where they are final, in the returned object's hidden params; in
# the payload they are binding only where that object's agree too.
_SET_AFTER_LOGGING = re.compile(
    r"\.standard_logging_object\.(?:hidden_params\.(api_base|litellm_model_name|model_id|response_cost|"
    r"additional_headers)|response_cost_failure_debug_info)\b")


def _logged_before_metadata(path: str, mismatches: Dict[str, Any]) -> bool:
    found = _SET_AFTER_LOGGING.search(path)
    if found is None:
        return False
    key = found.group(1)
    return not any(p.startswith(".result.hidden_params" + (f".{key}" if key else "")) for p in mismatches)


def _stamped_by_litellm(path: str, stock_value: Any) -> bool:
    """`created` is the provider's value, except where LiteLLM stamps its own clock (some of its
    streaming paths): only the provider's fixed value is binding."""
    from tests.standin.fixtures import CREATED

    return path.endswith(".created") and stock_value != CREATED


@dataclass
class Comparison:
    stock: Outcome
    patched: Outcome
    stock_view: Dict[str, Any]
    patched_view: Dict[str, Any]
    volatile: set
    mismatches: Dict[str, Tuple[Any, Any]]
    stock_again: Optional[Outcome] = None

    @property
    def outcomes(self) -> List[Outcome]:
        """The three runs, in the order they were made."""
        return [self.stock, self.stock_again, self.patched]


# Comparisons made with `reuse=True`, by scenario: several modules compare the very same call
# (the lean handler's tests repeat the chat matrix for the providers it serves, to check which
# path the patched call took); in one session it is run once and each test asserts its part.
_COMPARISONS: Dict[str, Comparison] = {}


def compare(call: Callable[[], Any], standin, patch, *, expect_callbacks: int = 1,
            racy: Tuple[str, ...] = (), reuse: bool = False) -> Comparison:
    """Stock twice (to learn what varies by itself), then patched; report every difference
    the patch introduces. `racy`: path endings stock itself leaves to a race between its own
    threads, which two stock runs may happen to agree on (each use says which race).

    `reuse=True`: the comparison an earlier test made of the same scenario (the same function,
    arguments and options; see `litellm_call`) is returned instead of running it again. Only for
    tests that change no other state (settings, environment, callbacks) a call depends on: the
    key is what the call is given, not what it reads from around it."""
    key = getattr(call, "scenario_key", None) if reuse else None
    if key is not None:
        key = _scenario_key(key, expect_callbacks, racy)
        if key in _COMPARISONS:
            return _COMPARISONS[key]
    comparison = _compare(call, standin, patch, expect_callbacks=expect_callbacks, racy=racy)
    if key is not None:
        _COMPARISONS[key] = comparison
    return comparison


def _compare(call: Callable[[], Any], standin, patch, *, expect_callbacks: int, racy: Tuple[str, ...]) -> Comparison:
    patch.off()
    stock = run(call, standin, expect_callbacks=expect_callbacks, grace=STOCK_GRACE)
    stock_again = run(call, standin, expect_callbacks=expect_callbacks, grace=STOCK_GRACE)
    patch.on()
    try:
        patched = run(call, standin, expect_callbacks=expect_callbacks)
    finally:
        patch.off()
    stock_view, again_view, patched_view = stock.view(), stock_again.view(), patched.view()
    volatile = set(diff_paths(stock_view, again_view))
    differing = diff_paths(stock_view, patched_view)
    mismatches = {
        p: v
        for p, v in differing.items()
        if p not in volatile and not p.endswith(_CLOCK_FIELDS + racy) and not _stamped_by_litellm(p, v[0])
        and not _logged_before_metadata(p, differing)
    }
    return Comparison(stock, patched, stock_view, patched_view, volatile, mismatches, stock_again)


def assert_same(comparison: Comparison, *, native: bool = True) -> None:
    detail = "\n".join(f"  {p}:\n    stock:   {v[0]!r}\n    patched: {v[1]!r}" for p, v in sorted(comparison.mismatches.items()))
    assert not comparison.mismatches, f"patched differs from stock:\n{detail}"
    if native:
        assert comparison.patched.native_calls >= 1, "the patched call did not go through the core"
        assert comparison.patched.fallbacks == {}, f"unexpected fallbacks: {comparison.patched.fallbacks}"
    assert edgequake_patch.is_installed() is False
