"""Applying the hook table (decide/table.py): a decision's rows wrapped in place, and put back
exactly. A row is applied when one of its paths is on for the installed release; a dispatch row
also when they are off, so that routing refuses and counts their calls.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..decide import versions
from ..decide.table import Hook, planned

_lock = threading.RLock()
# hook -> (owner object, attribute, the exact object that was there before, the wrapper set)
_installed: Dict[Hook, Tuple[Any, str, Any, Any]] = {}
_warned: set = set()


def native_core_error() -> Optional[str]:
    """Why the Rust core cannot be imported, or None. By module name, so a core removed or
    broken after the package was first imported is noticed."""
    try:
        importlib.import_module("edgequake_patch.transport.native")
    except ImportError as exc:
        return f"{exc.__class__.__name__}: {exc}"
    return None


def _resolve(hook: Hook) -> Tuple[Any, str]:
    """(owner, attribute) of the first of the row's symbols the installed release has."""
    owner_module: Any = importlib.import_module(hook.module)
    for symbol in hook.symbols:
        owner = owner_module
        *path, attribute = symbol.split(".")
        try:
            for part in path:
                owner = getattr(owner, part)
        except AttributeError:
            continue
        if hasattr(owner, attribute):
            return owner, attribute
    raise AttributeError(f"{' / '.join(f'{hook.module}.{s}' for s in hook.symbols)} does not exist")


def _load_wrapper(hook: Hook) -> Callable:
    module_name, function = hook.wrapper.split(":")
    return getattr(importlib.import_module(module_name), function)


def _warn_once(key: str, message: str) -> None:
    import warnings

    if key not in _warned:
        _warned.add(key)
        warnings.warn(f"edgequake_patch: {message}; LiteLLM left unpatched", RuntimeWarning, stacklevel=4)


def apply(decision: Any) -> bool:
    """Patch the rows `decision` plans (install(); probes.py, with a candidate decision, between
    stock's runs and its own). A symbol that cannot be resolved leaves LiteLLM untouched."""
    import wrapt

    from ..decide import routing  # (httpx: not imported for a status report without LiteLLM)

    with _lock:
        version = versions.installed_litellm()
        # Resolve everything first: a missing symbol must leave LiteLLM untouched.
        plan = []
        for hook in planned(decision):
            try:
                owner, attribute = _resolve(hook)
                wrapper = _load_wrapper(hook)
            except (ImportError, AttributeError) as exc:
                if not any(decision.on(path) for path in hook.paths):
                    continue  # its paths are off: stock serves them, hooked or not
                _warn_once(hook.name, f"cannot hook {hook.name} on litellm {version} ({exc})")
                return False
            plan.append((hook, owner, attribute, wrapper))
        routing.apply(decision)
        for hook, owner, attribute, wrapper in plan:
            # vars() rather than getattr(): a method lives on the class, and uninstall must put
            # back exactly the object that was in that namespace (a function, not a bound method).
            original = vars(owner)[attribute] if attribute in vars(owner) else getattr(owner, attribute)
            wrapped = wrapt.FunctionWrapper(original, wrapper)
            setattr(owner, attribute, wrapped)
            _installed[hook] = (owner, attribute, original, wrapped)
        return True


def uninstall() -> None:
    with _lock:
        for hook, (owner, attribute, original, _wrapped) in list(_installed.items()):
            setattr(owner, attribute, original)
            del _installed[hook]


def is_installed() -> bool:
    return bool(_installed)


def installed_hooks() -> List[Dict[str, Any]]:
    symbols = []
    for hook, (owner, attribute, _original, _wrapped) in _installed.items():
        qualname = getattr(owner, "__qualname__", None) if isinstance(owner, type) else None
        symbol = f"{hook.module}.{qualname}.{attribute}" if qualname else f"{hook.module}.{attribute}"
        symbols.append({"symbol": symbol, "providers": list(hook.providers), "paths": list(hook.paths)})
    return symbols
