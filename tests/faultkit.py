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
