"""Evidence gathered on this machine, for code the shipped record has not seen.

When the installed LiteLLM or OpenAI SDK has code a path relies on that no vetted release had
(reliance.py finds no shipped group for it), that path is probed before it may run: each of its
scenarios is called through LiteLLM with the patch off, then with the path patched on, then off
again, against a loopback stand-in (probe_standin.py), and everything a caller observes is compared: the
request that left (method, path, query, headers, JSON body), the returned object (its type, its
dump, its hidden params and response headers), the streamed chunks, the exception (class, status,
text). What differs between the two stock runs (ids, clocks) is what the patched run may differ
on; anything else differing, or a call the core did not serve, keeps the path stock.

* `run(paths)` — at install, for the paths in need (one call per scenario kind, sync): well
  under a second for a few paths; its outcome is cached per installed pair (reliance.py).
* `vet()` — `python -m edgequake_patch vet`: every path, every scenario (sync and async,
  streams, errors, a caller's aiohttp session), recorded as a local vet.

The probes never touch the application's state: LiteLLM's callbacks, cache and client cache are
set aside while they run and put back after, the patch's counters too, and the calls go to the
stand-in only (its own keys, its own base URL).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from ..decide import evidence

MESSAGES = [{"role": "user", "content": "Say hello."}]

# Headers that frame the connection, not the request: each HTTP stack writes its own.
_TRANSPORT_HEADERS = frozenset({"connection", "content-length", "host", "accept-encoding"})


@dataclass(frozen=True)
class Scenario:
    provider: str
    model: str
    base: str  # appended to the stand-in's URL
    key: str
    function: str = "completion"  # a LiteLLM function: completion, embedding, responses, rerank, ...
    stream: bool = False
    is_async: bool = False
    session: bool = False  # a caller's aiohttp session (shared_session=)
    error: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    quick: bool = False  # one of the few run at install

    @property
    def name(self) -> str:
        parts = [self.provider, self.function, "stream" if self.stream else "", "async" if self.is_async else "",
                 "session" if self.session else "", "error" if self.error else ""]
        return "/".join(p for p in parts if p)


_OPENAI = ("openai", "openai/gpt-4o-mini", "/v1", "sk-probe-openai-0123456789")
_AZURE = ("azure", "azure/gpt-4o-mini", "", "probe-azure-key-0123456789")
_AZURE_EXTRA = {"api_version": "2024-10-21"}
_LM_STUDIO = ("lm_studio", "lm_studio/qwen2.5-7b-instruct", "/v1", "lm-studio-probe-key")
_HTTP = (("xai", "xai/grok-3-mini", "/v1", "xai-probe-key-0123456789"),
         ("mistral", "mistral/mistral-small-latest", "/v1", "mistral-probe-key-0123456789"),
         ("openrouter", "openrouter/openai/gpt-4o-mini", "/api/v1", "sk-or-probe-key-0123456789"))
_ANTHROPIC = ("anthropic", "anthropic/claude-3-5-sonnet-20241022", "", "sk-ant-probe-key-0123456789")
_GEMINI = ("gemini", "gemini/gemini-2.0-flash", "/v1beta", "gemini-probe-key-0123456789")
_OLLAMA = (("ollama", "ollama/llama3.2", "", ""), ("ollama_chat", "ollama_chat/llama3.2", "", ""))


def _chat(provider: Tuple[str, str, str, str], extra: Mapping[str, Any] = {}, quick_stream: bool = True) -> List[Scenario]:
    """A provider's chat scenarios: sync and async, streamed and not, and an error; the quick
    ones are the sync call and (with quick_stream) the sync stream."""
    return [
        Scenario(*provider, extra=extra, quick=True),
        Scenario(*provider, stream=True, extra=extra, quick=quick_stream),
        Scenario(*provider, is_async=True, extra=extra),
        Scenario(*provider, stream=True, is_async=True, extra=extra),
        Scenario(*provider, error=True, extra=extra),
    ]


def _embedding(provider: Tuple[str, str, str, str], extra: Mapping[str, Any] = {}) -> List[Scenario]:
    return [Scenario(*provider, function="embedding", extra=extra, quick=True),
            Scenario(*provider, function="embedding", is_async=True, extra=extra)]


_STREAM_OPENAI = Scenario(*_OPENAI, stream=True, quick=True)
# (a model every supported release's cost map prices: stock logs the call's cost)
_MESSAGES = ("anthropic", "anthropic/claude-sonnet-4-20250514", "", _ANTHROPIC[3])
_JINA = ("jina_ai", "jina_ai/jina-reranker-v2-base-multilingual", "/v1", "jina-probe-key-0123456789")


def _responses(provider: Tuple[str, str, str, str], extra: Mapping[str, Any] = {}, quick: bool = False) -> List[Scenario]:
    return [Scenario(*provider, function="responses", extra=extra, quick=quick),
            Scenario(*provider, function="responses", stream=True, extra=extra),
            Scenario(*provider, function="responses", is_async=True, extra=extra),
            Scenario(*provider, function="responses", stream=True, is_async=True, extra=extra),
            Scenario(*provider, function="responses", error=True, extra=extra)]

#: Each path's scenarios: the calls it serves natively.
SCENARIOS: Dict[str, List[Scenario]] = {
    # Dispatch's own reliance (the context's fields) is exercised by every chat call; its
    # scenarios are judged only where the provider's own chat path is on (see run()).
    "dispatch": [Scenario(*provider, quick=True) for provider in (_OPENAI, _ANTHROPIC, _GEMINI, _OLLAMA[1], _HTTP[1])],
    "chat_openai_sdk": [*_chat(_OPENAI), *_chat(_AZURE, _AZURE_EXTRA, quick_stream=False),
                        *_chat(_LM_STUDIO, quick_stream=False)],
    "chat_http_handler": [s for provider in _HTTP for s in _chat(provider, quick_stream=provider[0] == "mistral")],
    "chat_anthropic": _chat(_ANTHROPIC),
    "chat_gemini": _chat(_GEMINI),
    "chat_ollama": [s for provider in _OLLAMA for s in _chat(provider)],
    "embedding_openai_sdk": [*_embedding(("openai", "openai/text-embedding-3-small", "/v1", _OPENAI[3])),
                             *_embedding(("azure", "azure/text-embedding-3-small", "", _AZURE[3]), _AZURE_EXTRA),
                             *_embedding(("mistral", "mistral/mistral-embed", "/v1", _HTTP[1][3]))],
    "embedding_lm_studio": _embedding(("lm_studio", "lm_studio/nomic-embed-text-v1.5", "/v1", _LM_STUDIO[3])),
    "embedding_gemini": _embedding(("gemini", "gemini/text-embedding-004", "/v1beta", _GEMINI[3])),
    "embedding_ollama": _embedding(("ollama", "ollama/nomic-embed-text", "", "")),
    "lean": [Scenario(*_OPENAI, quick=True), Scenario(*_OPENAI, is_async=True), Scenario(*_OPENAI, error=True)],
    "shared_session": [Scenario(*_OPENAI, is_async=True, session=True, quick=True),
                       Scenario(*_ANTHROPIC, is_async=True, session=True),
                       Scenario(*_OPENAI, is_async=True, session=True, stream=True)],
    "endpoints_http_handler": [
        *_responses(_OPENAI, quick=True), *_responses(_AZURE, {"api_version": "2025-03-01-preview"}),
        *(s for provider in _HTTP if provider[0] != "mistral" for s in _responses(provider)),
        *(Scenario(*_MESSAGES, function="anthropic_messages", is_async=True, **kind)
          for kind in ({"quick": True}, {"stream": True}, {"error": True})),
        Scenario("gemini", "gemini/imagen-3.0-generate-001", "/v1beta", _GEMINI[3], function="image_generation"),
        Scenario("gemini", "gemini/imagen-3.0-generate-001", "/v1beta", _GEMINI[3], function="image_generation",
                 is_async=True),
        Scenario("mistral", "mistral/voxtral-mini-latest", "/v1", _HTTP[1][3], function="transcription"),
        Scenario("mistral", "mistral/voxtral-mini-latest", "/v1", _HTTP[1][3], function="transcription", is_async=True),
        Scenario(*_JINA, function="rerank", quick=True), Scenario(*_JINA, function="rerank", is_async=True),
        Scenario(*_JINA, function="rerank", error=True),
        # (at install: one call per handler method's family, the rest in a vet)
        *(replace(s, quick=False) for s in _embedding(("jina_ai", "jina_ai/jina-embeddings-v3", "/v1", _JINA[3]))),
        *(replace(s, quick=False) for s in _embedding(("openrouter", "openrouter/openai/text-embedding-3-small",
                                                        "/api/v1", _HTTP[2][3]))),
    ],
    "fast_stream": [_STREAM_OPENAI, Scenario(*_ANTHROPIC, stream=True), Scenario(*_GEMINI, stream=True),
                    Scenario(*_OLLAMA[1], stream=True), Scenario(*_OPENAI, stream=True, is_async=True)],
}

#: Paths a path's calls also go through: probed together, since one cannot be on without them.
_NEEDS = {"lean": ("chat_openai_sdk",), "shared_session": ("chat_openai_sdk", "chat_anthropic"),
          "fast_stream": ("chat_openai_sdk", "chat_anthropic", "chat_gemini", "chat_ollama")}


# --- one call, observed ------------------------------------------------------------------------


def _kwargs(scenario: Scenario, base_url: str) -> Dict[str, Any]:
    model = scenario.model + ("-probe-error" if scenario.error else "")
    kwargs: Dict[str, Any] = {"model": model, "api_base": base_url + scenario.base, **scenario.extra}
    if scenario.key:
        kwargs["api_key"] = scenario.key
    if scenario.function == "embedding":
        kwargs["input"] = ["first probe", "second probe"]
    elif scenario.function == "responses":
        kwargs.update(input="Say hello.", stream=scenario.stream)
    elif scenario.function == "anthropic_messages":
        kwargs.update(messages=MESSAGES, max_tokens=64, stream=scenario.stream)
    elif scenario.function == "image_generation":
        kwargs["prompt"] = "A probe."
    elif scenario.function == "transcription":
        # (the multipart boundary differs from call to call in stock too: the probes compare
        # what stays the same)
        kwargs["file"] = ("probe.wav", b"RIFF" + bytes(64), "audio/wav")
    elif scenario.function == "rerank":
        kwargs.update(query="Which probe?", documents=["the first probe", "a second one"], top_n=2)
    else:
        kwargs.update(messages=MESSAGES, stream=scenario.stream, max_retries=0)
    return kwargs


def _call(scenario: Scenario, base_url: str) -> Any:
    """The scenario's outcome: ("result", view) or ("error", view)."""
    import litellm

    kwargs = _kwargs(scenario, base_url)
    if scenario.is_async:
        return _LOOP.run(_acall(scenario, kwargs))
    try:
        result = getattr(litellm, scenario.function)(**kwargs)
        if scenario.stream:
            return ("result", [_view(chunk) for chunk in result])
        return ("result", _view(result))
    except Exception as exc:  # noqa: BLE001 - an exception is an outcome to compare
        return ("error", _error_view(exc))


async def _acall(scenario: Scenario, kwargs: Dict[str, Any]) -> Any:
    import litellm

    # (`anthropic_messages` is LiteLLM's async form; its sync one raises.)
    function = getattr(litellm, scenario.function if scenario.function == "anthropic_messages" else "a" + scenario.function)
    try:
        if scenario.session:
            import aiohttp

            async with aiohttp.ClientSession() as session:
                return await _aresult(await function(**kwargs, shared_session=session), scenario)
        return await _aresult(await function(**kwargs), scenario)
    except Exception as exc:  # noqa: BLE001
        return ("error", _error_view(exc))


async def _aresult(result: Any, scenario: Scenario) -> Any:
    if scenario.stream:
        return ("result", [_view(chunk) async for chunk in result])
    return ("result", _view(result))


_LOOP_THREAD = "edgequake-probe"


class _ProbeLoop:
    """One event loop for every async scenario of a probe run (LiteLLM's logging worker, bound
    to the loop of the last async call, complains each time that loop changes).

    It runs on the calling thread when no loop runs there: install() is often called inside the
    application's `import litellm` (the autoload hook), where a second thread importing LiteLLM
    would wait for that import to finish, and so would the probes. Called from inside a running
    loop (an async application's own install()), it runs on a thread of its own instead."""

    def __init__(self) -> None:
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None

    def run(self, coroutine: Any) -> Any:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                pass  # none here: the loop runs on this thread, call by call
            else:
                self._thread = threading.Thread(target=self._loop.run_forever, name=_LOOP_THREAD, daemon=True)
                self._thread.start()
        if self._thread is None:
            return self._loop.run_until_complete(coroutine)
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        """End the loop as asyncio.run ends its own: every task left (LiteLLM's logging worker)
        cancelled and awaited, async generators closed."""
        loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None:
            return

        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_asyncgens()

        try:
            if thread is None:
                loop.run_until_complete(drain())
            else:
                asyncio.run_coroutine_threadsafe(drain(), loop).result(timeout=10)
        finally:
            if thread is not None:
                loop.call_soon_threadsafe(loop.stop)
                thread.join()
            loop.close()


_LOOP = _ProbeLoop()


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=jsonable, sort_keys=True))


def jsonable(value: Any) -> Any:
    """What a comparison sees of a value JSON cannot hold: a pydantic model's dump, a mapping's
    items (httpx.Headers and friends), a set sorted, anything else its repr."""
    if hasattr(value, "model_dump"):
        try:
            return value.model_dump()
        except Exception:  # noqa: BLE001
            pass
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    return repr(value)


def _view(result: Any) -> Any:
    return {
        "type": f"{type(result).__module__}.{type(result).__qualname__}",
        "dump": _plain(result),
        "hidden_params": _plain(getattr(result, "_hidden_params", None)),
        "response_headers": _plain(getattr(result, "_response_headers", None)),
    }


def _error_view(exc: BaseException) -> Dict[str, Any]:
    response = getattr(exc, "response", None)
    return {"class": f"{type(exc).__module__}.{type(exc).__qualname__}", "str": str(exc),
            "status_code": getattr(exc, "status_code", None), "llm_provider": getattr(exc, "llm_provider", None),
            "response_status": getattr(response, "status_code", None)}


def _request_view(recorded: Mapping[str, Any]) -> Dict[str, Any]:
    return {"method": recorded["method"], "path": recorded["path"], "query": recorded["query"],
            "headers": {k: v for k, v in recorded["headers"].items() if k not in _TRANSPORT_HEADERS},
            "body": recorded["body"]}


def _differences(a: Any, b: Any, where: str = "") -> List[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                found.append(f"{where}/{key}")
            else:
                found.extend(_differences(a[key], b[key], f"{where}/{key}"))
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{where}/{i}")]
    return [] if a == b else [where or "/"]


# --- the runs ---------------------------------------------------------------------------------------


@contextmanager
def _set_aside() -> Iterator[None]:
    """LiteLLM's callbacks, response cache and client cache, and the patch's counters, set aside
    for the probes and put back exactly."""
    import litellm

    from ..state import stats

    names = ("callbacks", "success_callback", "failure_callback", "input_callback", "service_callback",
             "_async_success_callback", "_async_failure_callback", "_async_input_callback")
    saved = {name: getattr(litellm, name) for name in names if hasattr(litellm, name)}
    saved_cache = getattr(litellm, "cache", None)
    # (LiteLLM prints help banners around the error scenarios' exceptions unless told not to.)
    saved_quiet = getattr(litellm, "suppress_debug_info", False)
    counters = {name: getattr(stats, name).copy() for name in
                ("native_calls", "endpoint_calls", "fallbacks", "parsed_answers", "fast_stream_chunks",
                 "not_fast", "lean_calls", "not_lean")}
    # LiteLLM makes some module-level clients on first use (`module_level_aclient` on some
    # releases) and files them in the client cache in force: a probe can be that first use.
    names_before = set(vars(litellm))
    try:
        for name in saved:
            setattr(litellm, name, [])
        litellm.cache = None
        litellm.suppress_debug_info = True
        with _quiet():
            yield
    finally:
        for name, value in saved.items():
            setattr(litellm, name, value)
        litellm.cache = saved_cache
        litellm.suppress_debug_info = saved_quiet
        closed = _close_probe_clients()
        # A module-level client first made by a probe was just closed with the probes' cache:
        # forgotten, so that the application's first use makes its own, as it would have.
        for name in set(vars(litellm)) - names_before:
            if any(vars(litellm)[name] is client for client in closed):
                delattr(litellm, name)
        _LOOP.close()
        for name, value in counters.items():
            counter = getattr(stats, name)
            counter.clear()
            counter.update(value)


#: The client caches the probe runs' calls filled, closed when the probes end.
_probe_caches: List[Any] = []


@contextmanager
def _quiet() -> Iterator[None]:
    """What stock prints about the probes' own calls (LiteLLM logs the error scenarios' errors;
    some releases warn while logging a Responses answer) is not the application's business:
    dropped, on the probing threads only (the caller's, and the probe loop's)."""
    import logging
    import warnings

    caller = threading.get_ident()

    def probing() -> bool:
        return threading.get_ident() == caller or threading.current_thread().name == _LOOP_THREAD

    class _ProbeRecords(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not probing()

    records = _ProbeRecords()
    loggers = [logging.getLogger(name) for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")]
    shown = warnings.showwarning

    def show(*args: Any, **kwargs: Any) -> None:
        if not probing():
            shown(*args, **kwargs)

    for logger in loggers:
        logger.addFilter(records)
    warnings.showwarning = show
    try:
        yield
    finally:
        if warnings.showwarning is show:
            warnings.showwarning = shown
        for logger in loggers:
            logger.removeFilter(records)


@contextmanager
def _own_client_cache() -> Iterator[None]:
    """LiteLLM's client cache, swapped for a fresh one for one observation: neither run reuses
    the other's clients, and the application's cached clients are neither used nor dropped."""
    import litellm

    saved = getattr(litellm, "in_memory_llm_clients_cache", None)
    if saved is None:
        yield
        return
    fresh = type(saved)()
    _probe_caches.append(fresh)
    litellm.in_memory_llm_clients_cache = fresh
    try:
        yield
    finally:
        litellm.in_memory_llm_clients_cache = saved


def _close_probe_clients() -> List[Any]:
    """Close what the probes' calls built and cached (HTTP handlers, SDK clients, aiohttp
    sessions): async ones on the probe loop that made them. Returns the clients closed."""
    caches, _probe_caches[:] = list(_probe_caches), []
    closed: List[Any] = []
    for cache in caches:
        for client in list(getattr(cache, "cache_dict", {}).values()):
            close = getattr(client, "aclose", None) or getattr(client, "close", None)
            if not callable(close):
                continue
            closed.append(client)
            try:
                if asyncio.iscoroutinefunction(close):
                    _LOOP.run(close())
                else:
                    close()
            except Exception:  # noqa: BLE001 - a client that cannot close is only garbage
                pass
    return closed


def _observe(scenario: Scenario, server: Any) -> Tuple[Any, List[Dict[str, Any]]]:
    with _own_client_cache():
        outcome = _call(scenario, server.base_url)
    return outcome, [_request_view(r) for r in server.take()]


def _candidate(paths: Sequence[str], base: Any) -> Any:
    """A decision with `paths` (and what they need) on, the rest as `base` decided."""
    from ..decide import decision, reliance

    on = set(paths) | {"dispatch"}
    for name in paths:
        on.update(p for p in _NEEDS.get(name, ()) if base is None or base.on(p) or p in paths)
    states = {name: decision.PathState(True) if name in on or (base is not None and base.on(name))
              else decision.PathState(False, "not probed", f"probing:{name}") for name in reliance.PATH_NAMES}
    return decision.Decision(decision.installed_versions(), states)


def _own_counters() -> Dict[str, Tuple[Any, ...]]:
    from ..state import stats

    return {"lean": (stats.lean_calls,), "fast_stream": (stats.fast_stream_chunks,)}


def _probe(path: str, scenario: Scenario, server: Any, candidate: Any) -> Optional[str]:
    """None if the scenario is served natively with stock's outcome; else what differs."""
    from . import patching
    from ..state import stats

    # Stock before and after the patched run: a value stock derives from the clock (a `created`
    # second) differs between the two whenever the patched run could see another one.
    first, sent_first = _observe(scenario, server)
    # Served natively, and by the path itself where it has a counter of its own (the lean
    # handler, the fast stream chunks): a path that steps aside proves nothing of its own work.
    # (An error answer is handed to stock's handler by the lean handler, which counts only the
    # calls it finished.)
    counters = [stats.native_calls, *(() if scenario.error else _own_counters().get(path, ()))]
    before = [sum(counter.values()) for counter in counters]
    if not patching.apply(candidate):
        return "its hooks could not be applied"
    try:
        patched, sent_patched = _observe(scenario, server)
    finally:
        patching.uninstall()
    native = all(sum(counter.values()) > was for counter, was in zip(counters, before))
    second, sent_second = _observe(scenario, server)
    volatile = set(_differences([first, sent_first], [second, sent_second]))
    if not native:
        return f"{scenario.name} was not served natively" + (f" by {path}" if path in _own_counters() else "")
    # Where the patched run equals either stock run it is stock's (a first call may make a
    # one-time request, as Ollama's model lookup, that a later one does not repeat).
    against_second = set(_differences([second, sent_second], [patched, sent_patched]))
    differing = [d for d in _differences([first, sent_first], [patched, sent_patched])
                 if d not in volatile and d in against_second]
    if differing:
        return f"{scenario.name} differs from stock at {differing[0]}" + (
            f" and {len(differing) - 1} more" if len(differing) > 1 else "")
    return None


def _chat_path_good(provider: str, results: Mapping[str, Mapping[str, Any]], base: Any) -> bool:
    from ..decide import table

    path = table.dispatch_paths(table.COMPLETE).get(provider)
    if path in results:
        return bool(results[path]["on"])
    return base is None or base.on(path)


def run(paths: Sequence[str], thorough: bool = False, base: Any = None) -> Dict[str, Dict[str, Any]]:
    """{path: {"on", "source", "detail"}} for each of `paths` (quick scenarios unless
    `thorough`), with the other paths as `base` decided. Never raises: probes that cannot run
    keep their paths stock, saying why, marked `transient` (not evidence about the code)."""
    from . import patching
    from .probe_standin import ProbeStandin

    source = evidence.BY_LOCAL_VET if thorough else evidence.BY_PROBES
    results: Dict[str, Dict[str, Any]] = {}
    started = time.monotonic()
    if patching.is_installed():  # (the application's own hooks are never taken off to probe)
        return {p: {"on": False, "source": source, "transient": True,
                    "detail": "the patch was already installed: not probed"} for p in paths}
    try:
        with ProbeStandin() as server, _set_aside():
            candidate = _candidate(paths, base)
            # Dispatch last: its scenarios go through the providers' own chat paths, so only
            # those whose path is on (shipped) or passed its probes here can speak for it.
            for path in sorted(paths, key=lambda p: p == "dispatch"):
                scenarios = [s for s in SCENARIOS.get(path, ()) if thorough or s.quick]
                if path == "dispatch":
                    scenarios = [s for s in scenarios if _chat_path_good(s.provider, results, base)]
                problem = None if scenarios else "no scenario probes it"
                count = 0
                for scenario in scenarios:
                    problem = _probe(path, scenario, server, candidate)
                    count += 1
                    if problem:
                        break
                results[path] = {"on": problem is None, "source": source,
                                 "detail": problem or f"{count} scenario(s) served natively, identical to stock"}
    except Exception as exc:  # noqa: BLE001 - probes that fail to run prove nothing: stock serves
        for path in paths:
            results.setdefault(path, {"on": False, "source": source, "transient": True,
                                      "detail": f"the probes could not run ({exc.__class__.__name__}: {exc})"})
    elapsed = time.monotonic() - started
    for outcome in results.values():
        outcome["seconds"] = round(elapsed, 3)
    return results


def inside_litellm_import() -> bool:
    """Whether LiteLLM's own import is still running (the autoload hook installs from inside it)."""
    import sys

    module = sys.modules.get("litellm")
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))
