"""The status, for people and for machines: `python -m edgequake_patch [--json]`, or
`print(edgequake_patch.report())` inside a running app (where the counters are that app's).

Built on `status()`, with what it leaves implicit spelled out: per provider, which calls the
core serves; per path, what it covers and why it is off; which wire formats the core parses;
and which compiled core was loaded. Nothing here may raise: a missing LiteLLM or a core that
does not load is what the report is for.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any, Dict, List, Optional

from .._version import __version__
from .status import status as current_status
from .terminal import Painted, Style

#: Providers in the README's order (ollama_chat is Ollama's /api/chat).
PROVIDERS = ("openai", "azure", "anthropic", "gemini", "mistral", "ollama", "ollama_chat", "lm_studio",
             "openrouter", "xai")
#: The providers whose streams the fast stream path serves (fast_stream.py; imported from there
#: when LiteLLM is importable, this is its fallback for the report).
_FAST_STREAM_PROVIDERS = ("openai", "lm_studio", "azure", "xai", "mistral", "openrouter", "anthropic", "gemini", "ollama", "ollama_chat")
#: The wire formats the core's format modules parse, and the chat path their answers come on.
_FORMAT_PATHS = {"anthropic": "chat_anthropic", "gemini": "chat_gemini", "ollama": "chat_ollama"}
#: Why a provider has no embedding row: LiteLLM's own coverage, not the patch's.
_NO_EMBEDDING = {"ollama_chat": "LiteLLM embeds through ollama/"}


def collect(try_install: bool = False) -> Dict[str, Any]:
    """Everything the report shows, as plain data (the `--json` output). With `try_install`,
    and the patch not installed, `install()` is tried and undone, to say whether it would work
    in this environment (the command line does; an app asking about itself does not)."""
    from ..activation import patching

    trial = _try_install() if try_install and not patching.is_installed() else None
    status = current_status()
    paths = _paths(status)
    stopped = _stopped(status)
    return {
        "versions": {
            "edgequake_patch": __version__,
            "litellm": status["litellm_version"],
            "openai": _installed("openai"),
            "python": sys.version.split()[0],
        },
        "release": status.get("release"),
        "release_error": status.get("release_error"),
        "vetted_releases": status["vetted_releases"],
        "supported_range": status["supported_range"],
        "unsupported_reason": status["unsupported_reason"],
        "native_core": _core(status),
        "installed": status["installed"],
        "install_trial": trial,
        "stopped": stopped,  # why nothing at all is native here, or None
        "hooks": status["hooks"],
        "paths": paths,
        "providers": {p: _provider(p, paths, stopped) for p in PROVIDERS},
        "endpoints": _endpoints(paths, stopped),
        "wire_formats": _wire_formats(status, paths, stopped),
        "litellm_rust_route": status["litellm_rust_route"],
        "counters": {k: status[k] for k in ("native_calls", "endpoint_calls", "fallbacks", "lean_calls", "not_lean",
                                             "fast_stream_chunks", "parsed_answers")},
    }


def _installed(distribution: str) -> Optional[str]:
    from ..decide import versions

    return versions.installed(distribution)


def _core(status: Dict[str, Any]) -> Dict[str, Any]:
    core: Dict[str, Any] = {"loaded": status["native_core"], "error": status["native_core_error"],
                            "file": None, "version": None, "profile": None, "target": None}
    if not core["loaded"]:
        return core
    try:
        native = importlib.import_module("edgequake_patch._native")
        core["file"] = getattr(native, "__file__", None)
        build_info = getattr(native, "build_info", None)  # a core built before it existed has none
        if build_info is not None:
            core.update({k: v for k, v in dict(build_info()).items() if k in ("version", "profile", "target")})
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        core["error"] = f"{exc.__class__.__name__}: {exc}"
    return core


def _try_install() -> Dict[str, Any]:
    """Install and uninstall once; the RuntimeWarning a refusal raises becomes the reason."""
    from ..activation import install, patching

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ok = install.install()
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return {"ok": False, "hooks": 0, "reason": f"install() raised {exc.__class__.__name__}: {exc}"}
        count = len(patching.installed_hooks())
        patching.uninstall()
    reasons = [str(w.message).replace("edgequake_patch: ", "", 1) for w in caught if issubclass(w.category, RuntimeWarning)]
    return {"ok": ok, "hooks": count, "reason": None if ok else (reasons[0] if reasons else "install() returned False")}


def _stopped(status: Dict[str, Any]) -> Optional[str]:
    """Why nothing at all can be native here, or None."""
    if status["unsupported_reason"]:
        return status["unsupported_reason"]
    if not status["native_core"]:
        return f"the native core does not load ({status['native_core_error']})"
    if status.get("release_error"):
        return status["release_error"]
    dispatch = status["paths"].get("dispatch")
    if dispatch is not None and not dispatch["on"]:
        return dispatch["reason"]
    return None


def _paths(status: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    try:
        from ..decide import reliance

        what = {p.name: p.what for p in reliance.PATHS}
    except Exception:  # noqa: BLE001 - the descriptions are a nicety
        what = {}
    return {name: {**state, "what": what.get(name, "")} for name, state in status["paths"].items()}


def _path_state(path: Optional[str], paths: Dict[str, Dict[str, Any]], stopped: Optional[str]) -> Dict[str, Any]:
    # `path_off`: the path itself is off (rather than everything, for the reason in `stopped`).
    if stopped is not None:
        return {"native": False, "path": path, "path_off": False, "reason": stopped}
    state = paths.get(path or "")
    if state is None:
        return {"native": False, "path": path, "path_off": False, "reason": "not decided (see release_error)"}
    return {"native": bool(state["on"]), "path": path, "path_off": not state["on"], "reason": state["reason"]}


def _dispatch_paths() -> Dict[str, Dict[str, str]]:
    from ..decide import table

    return table.endpoint_paths()


def _endpoints(paths: Dict[str, Dict[str, Any]], stopped: Optional[str]) -> Dict[str, Dict[str, Any]]:
    """endpoint -> provider -> its state, for every endpoint but chat (the provider table's),
    and embedding for the providers the provider table has no row for (jina_ai)."""
    try:
        from ..decide import table

        served = table.endpoint_paths()
    except Exception:  # noqa: BLE001 - its imports missing: nothing is native anyway
        return {}
    return {
        endpoint: {provider: _path_state(path, paths, stopped) for provider, path in providers.items()
                   if endpoint != "embedding" or provider not in PROVIDERS}
        for endpoint, providers in served.items() if endpoint != "chat"
    }


def _provider(provider: str, paths: Dict[str, Dict[str, Any]], stopped: Optional[str]) -> Dict[str, Any]:
    dispatch = _dispatch_paths()
    chat = _path_state(dispatch["chat"].get(provider), paths, stopped)
    stream = dict(chat)
    fast = _path_state("fast_stream", paths, stopped)
    stream["fast"] = bool(chat["native"] and provider in _fast_stream_providers() and fast["native"])
    embedding_path = dispatch["embedding"].get(provider)
    if embedding_path is None:
        embedding: Dict[str, Any] = {"native": None, "path": None, "path_off": False,
                                     "reason": _NO_EMBEDDING.get(provider, "LiteLLM has no embeddings for it")}
    else:
        embedding = _path_state(embedding_path, paths, stopped)
    lean = _path_state("lean", paths, stopped)
    return {"chat": chat, "stream": stream, "embedding": embedding,
            "lean": bool(chat["native"] and provider in _lean_providers() and lean["native"])}


def _fast_stream_providers() -> frozenset:
    try:
        from ..paths import fast_stream

        return frozenset(fast_stream.STREAM_FORMATS)
    except Exception:  # noqa: BLE001 - LiteLLM missing: nothing streams natively anyway
        return frozenset(_FAST_STREAM_PROVIDERS)


def _lean_providers() -> frozenset:
    try:
        from ..decide import routing

        return routing.LEAN_PROVIDERS
    except Exception:  # noqa: BLE001 - its imports (httpx) missing: nothing is native anyway
        return frozenset()


def _wire_formats(status: Dict[str, Any], paths: Dict[str, Dict[str, Any]], stopped: Optional[str]) -> Dict[str, Any]:
    generation = status["openai_sdk_models"]
    if stopped is not None:
        openai: Dict[str, Any] = {"native": False, "reason": stopped}
    elif generation is None:
        openai = {"native": False, "sdk_models_differ": True,
                  "reason": "the installed openai SDK's response models differ from the core's copies: "
                            "the SDK parses OpenAI-style answers (from the core's bytes)"}
    else:
        openai = {"native": True, "reason": None, "sdk_generation": generation}
    formats = {"openai": openai}
    for name, path in _FORMAT_PATHS.items():
        state = _path_state(path, paths, stopped)
        formats[name] = {"native": state["native"], "reason": state["reason"]}
    return formats


# ---------------------------------------------------------------------------------------------
# Text


def render(data: Dict[str, Any], style: Optional[Style] = None, in_process: bool = False) -> str:
    """The report as text. `in_process`: asked from inside the app, whose counters are live."""
    s = style or Style()
    on, off = Painted("on", "green"), Painted("off", "yellow")
    v = data["versions"]
    lines = [s.paint(f"edgequake-patch {v['edgequake_patch']}", "bold") + s.paint("  status in this environment", "dim")]
    head: List[List[Any]] = [
        ["litellm", v["litellm"] or Painted("not installed", "red"), _release_text(data)],
        ["openai", v["openai"] or "not installed", _openai_text(data)],
        ["python", v["python"], sys.executable],
        ["native core", *_core_text(data["native_core"])],
        ["install()", *_install_text(data, in_process)],
        # Off is the normal state; on means some chat calls bypass the patch.
        ["LiteLLM Rust route", Painted("on", "yellow") if data["litellm_rust_route"] else Painted("off", "dim"),
         "its calls never reach the provider dispatch, so the patch does not see them"
         if data["litellm_rust_route"] else ""],
    ]
    lines += s.table(head)

    lines += ["", s.paint("By provider", "bold") + s.paint("  (native: through the Rust core; stock: LiteLLM's own HTTP stack)", "dim")]
    rows: List[List[Any]] = [[Painted("provider", "dim"), Painted("chat", "dim"), Painted("stream", "dim"),
                              Painted("embedding", "dim")]]
    if data["stopped"]:
        lines.append("  " + s.paint(f"everything stock: {data['stopped']}", "yellow"))
    for provider, p in data["providers"].items():
        chat = _native_cell(p["chat"], "lean handler" if p["lean"] else "")
        stream = _native_cell(p["stream"], "fast chunks" if p["stream"]["fast"] else "")
        rows.append([provider, chat, stream, _native_cell(p["embedding"], "")])
    lines += s.table(rows)

    lines += ["", s.paint("Other endpoints", "bold") + s.paint("  (LiteLLM's endpoints beyond chat, by provider)", "dim")]
    rows = [[Painted("endpoint", "dim"), Painted("providers", "dim")]]
    for endpoint, providers in data["endpoints"].items():
        if providers:
            cells = [f"{provider} {_native_cell(state, '').text}" for provider, state in providers.items()]
            rows.append([endpoint, ", ".join(cells)])
    lines += s.table(rows)

    lines += ["", s.paint("Paths", "bold") + s.paint(f"  ({_paths_note(data)})", "dim")]
    if not data["paths"]:
        lines.append("  none decided: " + (data["unsupported_reason"] or data["release_error"] or "unknown"))
    rows = []
    for name, state in data["paths"].items():
        why = state["reason"] if not state["on"] else f"{state['what']}; {state['source']}: {state['evidence']}"
        rows.append([on if state["on"] else off, name, Painted(why, "dim") if state["on"] else Painted(why, "yellow")])
    lines += s.table(rows)

    lines += ["", s.paint("Wire formats the core parses", "bold") + s.paint("  (else LiteLLM / the SDK parses the core's bytes)", "dim")]
    rows = []
    for name, state in data["wire_formats"].items():
        if state["native"]:
            why = f"as openai {state['sdk_generation']}.x SDK models" if name == "openai" else "whole answers, checked against the core's typed model"
        else:
            why = state["reason"]
        rows.append([on if state["native"] else off, name, Painted(why, "dim" if state["native"] else "yellow")])
    lines += s.table(rows)

    lines += ["", s.paint("Counters", "bold") + s.paint("  (this process)", "dim")]
    counters = data["counters"]
    if not any(counters.values()):
        lines.append("  no calls yet" + ("" if in_process else
                     ": this command runs in a process of its own. Inside your app, "
                     "print(edgequake_patch.report()) shows that app's counters."))
    else:
        lines += s.table([[name, _counts(_flat(values))] for name, values in counters.items() if values])
    return "\n".join(lines)


def _paths_note(data: Dict[str, Any]) -> str:
    if data["release"]:
        return ("each path on where the code it relies on was vetted: by the shipped record, by probes on "
                "this machine, or by `python -m edgequake_patch vet`")
    return "not decided"


def _release_text(data: Dict[str, Any]) -> Any:
    if data["unsupported_reason"]:
        return Painted(data["unsupported_reason"], "red")
    vetted = data["vetted_releases"]["litellm"]
    span = f"{vetted[0]} to {vetted[-1]}, {len(vetted)} releases" if vetted else "none"
    if data["release"]:
        colour = None if data["release"].startswith("every path on") else "yellow"
        text = f"{data['release']} (shipped evidence: {span})"
        return Painted(text, colour) if colour else text
    return Painted(data.get("release_error") or "not decided", "red")


def _openai_text(data: Dict[str, Any]) -> Any:
    state = data["wire_formats"]["openai"]
    if state["native"]:
        return f"the core reproduces its response models (generation {state['sdk_generation']})"
    return Painted(state["reason"], "yellow") if state.get("sdk_models_differ") else ""


def _core_text(core: Dict[str, Any]) -> List[Any]:
    if not core["loaded"]:
        return [Painted("not loaded", "red"), Painted(core["error"] or "", "red")]
    if core["profile"] is None:
        build = "a build without build_info() (older than this package?)"
    else:
        build = f"{core['version']} {core['profile']} build, {core['target']}"
    state = Painted("loaded", "green") if core["profile"] != "debug" else Painted("loaded, DEBUG build (slow)", "yellow")
    return [state, f"{build}: {core['file']}"]


def _install_text(data: Dict[str, Any], in_process: bool) -> List[Any]:
    count = len(data["hooks"])
    if data["installed"]:
        return [Painted("installed", "green"), f"{count} LiteLLM symbols hooked in this process"]
    trial = data["install_trial"]
    if trial is None:
        return [Painted("not installed", "yellow"), "edgequake_patch.install(), or EDGEQUAKE_PATCH=1 at start"]
    if trial["ok"]:
        return [Painted("works", "green"), f"hooks {trial['hooks']} LiteLLM symbols here (tried, then undone)"]
    return [Painted("refused", "red"), trial["reason"]]


def _native_cell(state: Dict[str, Any], extra: str) -> Painted:
    if state["native"] is None:
        return Painted("—", "dim")
    if state["native"]:
        return Painted("native" + (f" ({extra})" if extra else ""), "green")
    return Painted(f"stock ({state['path']} off)" if state.get("path_off") else "stock", "yellow")


def _flat(values: Dict[str, Any]) -> Dict[str, int]:
    """{endpoint: {provider: n}} as {"endpoint/provider": n}; flat counters as they are."""
    return {f"{k}/{sub}": n for k, v in values.items() for sub, n in v.items()} if any(
        isinstance(v, dict) for v in values.values()) else values


def _counts(values: Dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))
