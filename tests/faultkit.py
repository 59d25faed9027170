"""Helpers the reliability tests share: a timed scenario, the exception chain as text, the
sockets this process holds open to a port, peak memory."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from typing import Any, Callable, Iterator, List

# Text that would mean the core's internals reached the user: a Rust panic, or the core
# naming itself in a message stock would word as Python's.
PANIC_TEXT = re.compile(r"panicked|PanicException|\brust\b", re.IGNORECASE)


def timed(call: Callable[[], Any], times: List[float]) -> Callable[[], Any]:
    """`call` (sync or coroutine function), appending each run's wall time to `times`."""
    if asyncio.iscoroutinefunction(call):

        async def run_async():
            start = time.monotonic()
            try:
                return await call()
            finally:
                times.append(time.monotonic() - start)

        return run_async

    def run():
        start = time.monotonic()
        try:
            return call()
        finally:
            times.append(time.monotonic() - start)

    return run


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """exc, its __cause__ and __context__, recursively (each once)."""
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend((e.__cause__, e.__context__))


def exception_texts(exc: BaseException) -> List[str]:
    """Everything a user could print of an exception chain: str, repr, args, message."""
    texts = []
    for e in exception_chain(exc):
        texts += [str(e), repr(e), repr(e.args), str(getattr(e, "message", ""))]
        response = getattr(e, "response", None)
        if response is not None:
            try:
                texts.append(response.text)
            except Exception:  # noqa: BLE001 - a streamed or closed body has no text
                pass
    return texts


def assert_no_panic_text(exc: BaseException) -> None:
    for text in exception_texts(exc):
        match = PANIC_TEXT.search(text)
        assert match is None, f"{match.group(0)!r} in the exception text: {text[:500]!r}"


def _socket_inodes() -> set:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def open_connections(port: int) -> int:
    """TCP sockets of this process connected to 127.0.0.1:<port> that are not closed yet
    (ESTABLISHED or CLOSE_WAIT: a socket the peer closed but we still hold is a leak too)."""
    mine = _socket_inodes()
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if int(remote.rsplit(":", 1)[1], 16) == port and state in ("01", "08") and inode in mine:
                count += 1
    return count


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Blackhole:
    """A loopback port whose accept queue is full: a SYN to it is dropped, so a connect
    neither succeeds nor is refused until the client gives up (a deterministic connect
    timeout without leaving the machine)."""

    def __enter__(self) -> "Blackhole":
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(0)
        self.port = self.server.getsockname()[1]
        self.fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(s)
        time.sleep(0.1)
        return self

    def __exit__(self, *exc) -> None:
        for s in self.fillers:
            s.close()
        self.server.close()


def rss_bytes() -> int:
    """Resident set size now, from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# Runs in a fresh interpreter: imports LiteLLM once, then forks a child per job read from stdin
# (a JSON line: code and argv). The child starts from a just-imported LiteLLM as a fresh
# interpreter would, without paying the import (2-3 s) again; its `ru_maxrss` counts from the
# RSS it was forked with, the same for every child, so peaks compare as between fresh processes.
_ZYGOTE = r"""
import json, os, sys
import litellm
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sys.argv = ["-c", *job["argv"]]
            exec(compile(job["code"], "<job>", "exec"), {"__name__": "__main__"})
            code = 0
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    print("\0" + json.dumps(os.waitstatus_to_exitcode(status)), flush=True)
"""


class Zygote:
    """`python -c code args...` for many runs that each need a fresh process with LiteLLM
    imported, importing it once: `with Zygote(cwd, env) as z: exit_code, stdout = z.run(code, args)`.
    stderr of every run goes to `z.stderr_path`."""

    def __init__(self, cwd: str, env: dict):
        self.cwd, self.env = cwd, env

    def __enter__(self) -> "Zygote":
        import subprocess
        import sys
        import tempfile

        self._stderr = tempfile.NamedTemporaryFile(prefix="zygote-", suffix=".log", delete=False)
        self.stderr_path = self._stderr.name
        self.proc = subprocess.Popen([sys.executable, "-c", _ZYGOTE], cwd=self.cwd, env=self.env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     start_new_session=True, bufsize=1)
        return self

    def run(self, code: str, args: List[str], timeout: float = 300.0):
        """(exit code, stdout) of one run."""
        import json
        import selectors

        self.proc.stdin.write(json.dumps({"code": code, "argv": args}) + "\n")
        self.proc.stdin.flush()
        out, deadline = b"", time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            # Raw reads (a buffered reader could hold the end line while select waits for more),
            # until the zygote's line after the run's output, "\0<exit code>", is complete.
            while not (out.endswith(b"\n") and out.rstrip(b"\n").rpartition(b"\n")[2].startswith(b"\0")):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.close()
                    raise TimeoutError(f"no answer within {timeout} s")
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise RuntimeError(f"the zygote exited: {self.stderr_tail()}")
                out += chunk
        text = out.decode()
        body, _, end = text.rpartition("\0")
        return json.loads(end), body

    def stderr_tail(self, limit: int = 3000) -> str:
        with open(self.stderr_path, errors="replace") as f:
            return f.read()[-limit:]

    def close(self) -> None:
        import signal

        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - stuck: end it and its children
            self.close()
        self.close()
        self._stderr.close()
        os.unlink(self.stderr_path)
