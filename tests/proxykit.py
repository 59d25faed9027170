"""A real LiteLLM Proxy in a subprocess, for the proxy tests: `litellm --config ...` from the
test interpreter's own environment, on an ephemeral port, against the provider stand-in.

Two arms start from the same config: stock (no EDGEQUAKE_PATCH) and patched (EDGEQUAKE_PATCH=1,
activated by the .pth in the proxy's worker, with this checkout's package first on PYTHONPATH).
The patched arm also gets tests/proxy_worker on PYTHONPATH, whose sitecustomize refuses Python's
own connections to the stand-in inside the proxy's processes (see that file), and the status
callback's counter file (edgequake_patch.proxy).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKER_HOOKS = ROOT / "tests" / "proxy_worker"
MASTER_KEY = "sk-edgequake-proxy-test-7f3a9c2e41b8d605"
STARTUP_BOUND = 120  # seconds: the proxy imports a lot on 2 shared cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def litellm_cli() -> str:
    return str(Path(sys.executable).parent / "litellm")


class Proxy:
    """One proxy process (tree). `post()` sends a request and returns (status, headers, body)."""

    def __init__(self, config: Dict[str, Any], *, patched: bool, block_port: Optional[int] = None,
                 args: Tuple[str, ...] = (), command: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None):
        self.dir = tempfile.mkdtemp(prefix="eqp-proxy-")
        self.config_path = os.path.join(self.dir, "config.yaml")
        with open(self.config_path, "w", encoding="utf-8") as out:
            yaml.safe_dump(config, out)
        self.port = free_port()
        self.patched = patched
        self.log_path = os.path.join(self.dir, "proxy.log")
        self.block_log = os.path.join(self.dir, "blocked.log")
        self.status_pattern = os.path.join(self.dir, "status-{pid}.json")
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("EDGEQUAKE", "EQP_", "PYTEST"))}
        environment.update({
            "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1", "NO_PROXY": "127.0.0.1,localhost",
            "LITELLM_MASTER_KEY": MASTER_KEY, "PYTHONUNBUFFERED": "1",
            "EDGEQUAKE_PATCH_STATUS_FILE": self.status_pattern, "EDGEQUAKE_PATCH_STATUS_INTERVAL": "0",
        })
        path = [str(ROOT)]
        if patched:
            environment["EDGEQUAKE_PATCH"] = "1"
            if block_port is not None:
                path.insert(0, str(WORKER_HOOKS))
                environment["EQP_BLOCK_PORT"] = str(block_port)
                environment["EQP_BLOCK_LOG"] = self.block_log
        environment["PYTHONPATH"] = os.pathsep.join(path)
        environment.update(env or {})
        self.command = command or [litellm_cli(), "--config", self.config_path, "--host", "127.0.0.1",
                                   "--port", str(self.port), *args]
        self.command = [part.replace("{port}", str(self.port)).replace("{config}", self.config_path) for part in self.command]
        if command is not None:
            environment["CONFIG_FILE_PATH"] = self.config_path
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.command, cwd=self.dir, env=environment, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self) -> "Proxy":
        deadline = time.monotonic() + STARTUP_BOUND
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the proxy exited ({self.process.returncode}):\n{self.log()[-4000:]}")
            try:
                status, _, _ = self.request("GET", "/health/liveliness", None, timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the proxy did not start within {STARTUP_BOUND} s:\n{self.log()[-4000:]}")

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def request(self, method: str, path: str, body: Any, headers: Optional[Dict[str, str]] = None,
                timeout: float = 60) -> Tuple[int, List[Tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            sent = {"Authorization": f"Bearer {MASTER_KEY}", **({"Content-Type": "application/json"} if payload else {}),
                    **(headers or {})}
            connection.request(method, path, body=payload, headers=sent)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def post(self, path: str, body: Any, **kwargs: Any) -> Tuple[int, List[Tuple[str, str]], bytes]:
        return self.request("POST", path, body, **kwargs)

    def blocked(self) -> List[str]:
        """Python-level connects the worker was refused during LiteLLM calls (patched arm with a
        block); the router's own model-info discovery outside calls is not listed."""
        try:
            with open(self.block_log, encoding="utf-8") as f:
                return [line for line in f.read().splitlines() if line.startswith("call ")]
        except FileNotFoundError:
            return []

    def counters(self) -> Dict[int, Dict[str, Any]]:
        """Each worker's counters, as its status callback last wrote them."""
        out = {}
        for name in os.listdir(self.dir):
            if name.startswith("status-") and name.endswith(".json"):
                with open(os.path.join(self.dir, name), encoding="utf-8") as f:
                    snapshot = json.load(f)
                out[snapshot["pid"]] = snapshot
        return out

    def total(self, counter: str) -> Dict[str, int]:
        summed: Dict[str, int] = {}
        for snapshot in self.counters().values():
            for key, value in snapshot[counter].items():
                summed[key] = summed.get(key, 0) + value
        return summed

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=5)
        self._log.close()


def start_both(config: Dict[str, Any], block_port: int, **kwargs: Any) -> Tuple[Proxy, Proxy]:
    """Stock and patched proxies from one config, started side by side (start-up dominates)."""
    stock = Proxy(config, patched=False, **kwargs)
    patched = Proxy(config, patched=True, block_port=block_port, **kwargs)
    try:
        stock.wait_ready()
        patched.wait_ready()
    except BaseException:
        stock.stop()
        patched.stop()
        raise
    return stock, patched


def sse_events(body: bytes) -> List[Any]:
    """The `data:` payloads of an SSE body, JSON-decoded where they are JSON."""
    events = []
    for line in body.decode("utf-8").splitlines():
        if line.startswith("data:"):
            data = line[5:].strip()
            try:
                events.append(json.loads(data))
            except ValueError:
                events.append(data)
    return events
