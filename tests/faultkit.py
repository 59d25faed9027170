"""Helpers the reliability tests share: a timed scenario, the exception chain as text, the
sockets this process holds open to a port, peak memory, and a listener that fails connections
at the socket level."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import struct
import threading
import time
from typing import Any, Callable, Iterator, List
from urllib.parse import parse_qs, urlsplit

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


# --- a listener that misbehaves at the socket level ----------------------------------------

# What a response looks like up to the point where the listener stops: a status line cut
# short, a head cut short, a head and part of a body (by Content-Length or chunked). Each stops
# inside something a client must wait for, so every way of stopping is a failure.
_PARTIAL_STATUS = b"HTTP/1.1 20"
_PARTIAL_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
_PARTIAL_BODY = b'{"id": "partial'
_HEAD_WITH_LENGTH = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n"
_HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"

# mode -> (read the request first?, bytes sent, how it ends: "rst", "close" or "stall").
RAW_MODES = {
    # Reset with the request still unread (the listener waits until it has arrived, so the
    # client's write is not part of the race).
    "rst-unread": (False, b"", "rst"),
    "rst-before-status": (True, b"", "rst"),
    "close-before-status": (True, b"", "close"),
    "rst-mid-status": (True, _PARTIAL_STATUS, "rst"),
    "close-mid-status": (True, _PARTIAL_STATUS, "close"),
    "rst-mid-headers": (True, _PARTIAL_HEAD, "rst"),
    "close-mid-headers": (True, _PARTIAL_HEAD, "close"),
    "rst-mid-body": (True, _HEAD_WITH_LENGTH + _PARTIAL_BODY, "rst"),
    "close-mid-body": (True, _HEAD_WITH_LENGTH + _PARTIAL_BODY, "close"),
    "rst-mid-chunked": (True, _HEAD_CHUNKED + b"40\r\n" + _PARTIAL_BODY, "rst"),
    "close-mid-chunked": (True, _HEAD_CHUNKED + b"40\r\n" + _PARTIAL_BODY, "close"),
    "stall-before-status": (True, b"", "stall"),
    "stall-mid-headers": (True, _PARTIAL_HEAD, "stall"),
    "stall-mid-body": (True, _HEAD_WITH_LENGTH + _PARTIAL_BODY, "stall"),
    # A TLS client talking to this plain listener: the listener answers its ClientHello the way
    # a plain HTTP server does, and the handshake fails.
    "plain-answers-tls": (False, b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", "close"),
}

# Before a reset, the bytes sent must have reached the client's reads; otherwise the reset
# overtakes them and the failure is an earlier phase's (a race, not the scenario).
_DELIVERY_PAUSE = 0.05
# How long the listener waits on a client (for its request, or for it to give up and close)
# before closing itself: past any timeout the tests set.
_STALL_LIMIT = 3.0


class RawListener:
    """A 127.0.0.1 TCP listener that fails every connection one way (`mode`, see RAW_MODES).

    It records what stock's differential harness reads off the provider stand-in: each HTTP
    request it received (`requests()`, in the stand-in's format), and every connection
    (`connections`), so a test can tell how many attempts a client made."""

    def __init__(self) -> None:
        self.mode = "rst-before-status"
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._records: list = []
        self._closing = False
        self._thread = threading.Thread(target=self._accept_loop, name="raw-listener", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._records)

    def requests(self) -> list:
        with self._lock:
            return [dict(r) for r in self._records if r]

    def close(self) -> None:
        self._closing = True
        self._server.close()

    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            record: dict = {}
            with self._lock:
                self._records.append(record)
            threading.Thread(target=self._serve, args=(conn, self.mode, record), daemon=True).start()

    def _serve(self, conn: socket.socket, mode: str, record: dict) -> None:
        read_first, sent, ending = RAW_MODES[mode]
        try:
            if mode == "plain-answers-tls":
                conn.settimeout(_STALL_LIMIT)
                conn.recv(65536)  # the ClientHello: no request
            else:
                parsed = _read_request(conn, peek=not read_first)
                if parsed is not None:
                    record.update(parsed)
            if sent:
                conn.sendall(sent)
            if ending == "rst":
                if sent:
                    time.sleep(_DELIVERY_PAUSE)
                # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif ending == "stall":
                conn.settimeout(_STALL_LIMIT)
                while conn.recv(65536):  # until the client gives up and closes
                    pass
            else:
                conn.shutdown(socket.SHUT_WR)
                conn.settimeout(_STALL_LIMIT)
                while conn.recv(65536):  # let the client close first: no RST from unread bytes
                    pass
        except OSError:
            pass
        finally:
            conn.close()


def _request_length(data: bytes) -> "int | None":
    """The length of the request at the start of `data`, None while it is incomplete."""
    head, found, body = data.partition(b"\r\n\r\n")
    if not found:
        return None
    if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        end = body.find(b"0\r\n\r\n")
        return None if end < 0 else len(head) + 4 + end + 5
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    length = len(head) + 4 + (int(match.group(1)) if match else 0)
    return length if len(data) >= length else None


def _read_request(conn: socket.socket, peek: bool = False) -> "dict | None":
    """One HTTP/1.1 request off `conn`, in the stand-in's record format (None if the client
    sent no complete request). `peek`: leave it in the socket, unread."""
    conn.settimeout(_STALL_LIMIT)
    deadline = time.monotonic() + _STALL_LIMIT
    data = b""
    while _request_length(data) is None and time.monotonic() < deadline:
        if peek:
            data = conn.recv(1 << 20, socket.MSG_PEEK)
            if not data:
                return None
            time.sleep(0.002)
        else:
            piece = conn.recv(65536)
            if not piece:
                return None
            data += piece
    if _request_length(data) is None:
        return None
    return _parse_request(data)


def _parse_request(data: bytes) -> dict:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    text = body.decode("utf-8", "replace")
    try:
        parsed_body = json.loads(text) if text.strip() else text
    except ValueError:
        parsed_body = text
    url = urlsplit(target)
    return {
        "method": method,
        "path": url.path,
        "query": parse_qs(url.query, keep_blank_values=True),
        "headers": headers,
        "body": parsed_body,
        "raw_body": text,
    }


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out
