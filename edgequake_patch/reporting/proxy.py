"""What a running LiteLLM Proxy (or any long-running LiteLLM host) shows of the patch.

* One start-up line, logged by the process that installs the patch (`startup_line()`, through
  the `edgequake_patch` logger): which LiteLLM, what decided its paths, which providers
  go native, and which paths stay stock on this release and why.
* Counters an operator can read from a running proxy, through a LiteLLM callback listed in the
  proxy's config:

      litellm_settings:
        callbacks: ["edgequake_patch.proxy.status_callback"]

  `status_callback` (an instance of `StatusCallback`, as the proxy requires) then logs one line
  of this worker's counters at most every `EDGEQUAKE_PATCH_STATUS_INTERVAL` seconds (default 60;
  after a call ends, so an idle proxy stays quiet), and, when `EDGEQUAKE_PATCH_STATUS_FILE` is
  set, also writes them as JSON to that file (`{pid}` in the name is replaced by the worker's
  process id: with several workers, each has its own file). Counters are per worker process.

Nothing here reads a request, a response or a key: only `edgequake_patch.status()`'s counts.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any, Dict, Optional

from litellm.integrations.custom_logger import CustomLogger

logger = logging.getLogger("edgequake_patch")

INTERVAL_VAR = "EDGEQUAKE_PATCH_STATUS_INTERVAL"
FILE_VAR = "EDGEQUAKE_PATCH_STATUS_FILE"
_DEFAULT_INTERVAL = 60.0


def startup_line(status: Optional[Dict[str, Any]] = None) -> str:
    """One line naming what is active in this process."""
    from .status import status as current_status

    status = status if status is not None else current_status()
    if not status.get("installed"):
        return f"edgequake_patch: not active in pid {os.getpid()} (LiteLLM {status.get('litellm_version')})"
    providers = sorted({p for hook in status.get("hooks", ()) for p in hook.get("providers", ())})
    off = sorted(name for name, path in (status.get("paths") or {}).items() if not path.get("on"))
    release = status.get("release") or "unknown"
    line = (
        f"edgequake_patch: active in pid {os.getpid()}: LiteLLM {status.get('litellm_version')} ({release}); "
        f"native providers: {', '.join(providers)}"
    )
    return line + (f"; stock paths on this release: {', '.join(off)}" if off else "")


def counters() -> Dict[str, Any]:
    """This process's counters (a subset of `status()`, cheap to take)."""
    from ..activation import patching
    from ..state import stats

    return {"pid": os.getpid(), "installed": patching.is_installed(), **stats.snapshot()}


def counters_line(snapshot: Optional[Dict[str, Any]] = None) -> str:
    snapshot = snapshot if snapshot is not None else counters()
    native = snapshot["native_calls"]
    fallbacks = snapshot["fallbacks"]
    return (
        f"edgequake_patch: pid {snapshot['pid']}: native calls {sum(native.values())} {_counts(native)}; "
        f"stock fallbacks {sum(fallbacks.values())} {_counts(fallbacks)}"
    )


def _counts(counts: Dict[str, int]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + "}"


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get(INTERVAL_VAR, _DEFAULT_INTERVAL)))
    except ValueError:
        return _DEFAULT_INTERVAL


class StatusCallback(CustomLogger):
    """A LiteLLM callback reporting this worker's patch counters (see the module's doc). It only
    reads counters after a call has ended; it changes nothing LiteLLM logs or returns."""

    def __init__(self) -> None:
        super().__init__()
        try:
            _ensure_handler()  # listing the callback is asking for its lines
        except Exception:  # noqa: BLE001 - must not keep a proxy from starting
            pass
        self._last = 0.0
        self._lock = threading.Lock()

    def report(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < _interval():
            return
        with self._lock:
            if not force and now - self._last < _interval():
                return
            self._last = now
            try:
                snapshot = counters()
                logger.info(counters_line(snapshot))
                path = os.environ.get(FILE_VAR)
                if path:
                    _write(path.replace("{pid}", str(snapshot["pid"])), snapshot)
            except Exception:  # noqa: BLE001 - a status report must never fail the host's call
                pass

    # LiteLLM calls these after each call (sync, async; success, failure).
    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.report()

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self.report()

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.report()

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self.report()


def _write(path: str, snapshot: Dict[str, Any]) -> None:
    """Atomically: a reader never sees half a file."""
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump(snapshot, out, sort_keys=True)
    os.replace(temporary, path)



def _ensure_handler() -> None:
    """A proxy does not configure the root logger (the LiteLLM CLI configures LiteLLM's own
    loggers, at WARNING), which would drop these INFO lines: the `edgequake_patch` logger then
    gets a stderr handler of its own. A host that configured logging keeps its configuration."""
    if not logger.hasHandlers():
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


def log_startup() -> None:
    """Log `startup_line()` once, at INFO, on the `edgequake_patch` logger (the autoload calls it
    where the LiteLLM Proxy's app is loaded)."""
    _ensure_handler()
    logger.info(startup_line())
    if hasattr(os, "register_at_fork"):
        # gunicorn (and `litellm --run_gunicorn`) import the app, and so install the patch, in
        # the master, then fork the workers: each says it is active too, naming its own pid.
        parent = os.getpid()
        os.register_at_fork(after_in_child=lambda: _log_forked(parent))


def _log_forked(parent: int) -> None:
    try:
        logger.info(f"edgequake_patch: active in pid {os.getpid()} (forked from pid {parent}, installed there)")
    except Exception:  # noqa: BLE001 - never fail a fork
        pass


#: The instance to name in a proxy config (`callbacks: ["edgequake_patch.proxy.status_callback"]`).
status_callback = StatusCallback()
