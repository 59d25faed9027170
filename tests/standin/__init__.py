"""Provider stand-in: a local OpenAI-wire-format HTTP server run as a separate process.

    from tests.standin import StandIn

    with StandIn.start() as standin:          # or: standin = StandIn(); standin.start()
        base = standin.base_url               # http://127.0.0.1:<port>
        ...                                   # point the client at f"{base}/v1"
        recorded = standin.requests()         # list of recorded requests
        standin.reset()

Control calls use urllib from the calling process (with proxies disabled), so make them
before or after any socket blocking in the test. See README.md for the scenario table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Optional

__all__ = ["StandIn", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]

# Environment variables never passed to the server process (they would make the
# interpreter auto-load the patch via its .pth file, or route localhost through a proxy).
_STRIPPED_ENV_PREFIXES = ("EDGEQUAKE",)


class _HybridMethod:
    """`StandIn.start()` builds and starts an instance; `instance.start()` starts that one."""

    def __get__(self, obj, cls):
        if obj is None:
            def on_class(*args, **kwargs):
                return cls(*args, **kwargs)._start()
            return on_class
        return obj._start


class StandIn:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 20.0,
                 env: Optional[dict] = None, verbose: bool = False):
        self.host = host
        self.port: Optional[int] = None
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._env = env
        self._verbose = verbose
        self._proc: Optional[subprocess.Popen] = None
        self._tmpdir: Optional[str] = None
        self._log_file = None
        self.log_path: Optional[str] = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- lifecycle ----------------------------------------------------------------------

    start = _HybridMethod()

    def _start(self) -> "StandIn":
        if self._proc is not None:
            return self
        self._tmpdir = tempfile.mkdtemp(prefix="standin-")
        port_file = os.path.join(self._tmpdir, "port")
        self.log_path = os.path.join(self._tmpdir, "server.log")
        self._log_file = open(self.log_path, "wb")

        env = dict(os.environ if self._env is None else self._env)
        for name in list(env):
            if name.upper().startswith(_STRIPPED_ENV_PREFIXES):
                del env[name]
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
        cmd = [sys.executable, "-m", "tests.standin.server",
               "--host", self.host, "--port", str(self._requested_port),
               "--port-file", port_file, "--parent-pid", str(os.getpid())]
        if self._verbose:
            cmd.append("--verbose")
        self._proc = subprocess.Popen(
            cmd, cwd=str(REPO_ROOT), env=env, stdin=subprocess.DEVNULL,
            stdout=self._log_file, stderr=subprocess.STDOUT,
        )

        deadline = time.monotonic() + self._startup_timeout
        while True:
            port = _read_port(port_file)
            if port is not None:
                self.port = port
                break
            if self._proc.poll() is not None:
                log = self._log_tail()
                self.stop()
                raise RuntimeError(f"stand-in server exited during startup:\n{log}")
            if time.monotonic() > deadline:
                log = self._log_tail()
                self.stop()
                raise RuntimeError(f"stand-in server did not start within "
                                   f"{self._startup_timeout}s:\n{log}")
            time.sleep(0.02)
        self.health()
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> "StandIn":
        return self._start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self):  # best effort; prefer stop() / the context manager
        try:
            self.stop()
        except Exception:
            pass

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- addresses ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("stand-in not started")
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "") -> str:
        return self.base_url + (path if path.startswith("/") or not path else "/" + path)

    # -- control API --------------------------------------------------------------------

    def requests(self) -> list:
        """Recorded requests, in order: {method, path, query, headers, body, raw_body}."""
        return self._control("GET", "/__requests")

    def events(self) -> list:
        """Connection events, e.g. {"event": "client_disconnected", "path": ..., ...}."""
        return self._control("GET", "/__events")

    def reset(self) -> None:
        """Clear recorded requests, events and flaky-scenario counters."""
        self._control("POST", "/__reset")

    def health(self) -> dict:
        return self._control("GET", "/__health")

    def wait_for_event(self, event: str = "client_disconnected", timeout: float = 5.0,
                       **match: Any) -> dict:
        """Poll /__events until an event with this name (and matching fields) appears."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events():
                if e.get("event") == event and all(e.get(k) == v for k, v in match.items()):
                    return e
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event!r} event matching {match} within {timeout}s")
            time.sleep(0.02)

    def _control(self, method: str, path: str) -> Any:
        req = urllib.request.Request(self.base_url + path, method=method,
                                     data=b"" if method == "POST" else None)
        with self._opener.open(req, timeout=10) as resp:
            return json.loads(resp.read().decode("utf-8"))

    def _log_tail(self, limit: int = 4000) -> str:
        try:
            if self._log_file is not None:
                self._log_file.flush()
            with open(self.log_path, "rb") as f:
                return f.read()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""


def _read_port(path: str) -> Optional[int]:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
