"""Tests of the Rust core (edgequake_patch._native) on its own, against a local stdlib server.

Each scenario is a path on a small threaded http.server; the server records what it saw
(paths, headers, bodies, connections closed) so tests can assert on the wire, not just on
what the client reports.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import select
import signal
import socket
import struct
import threading
import time
import warnings
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edgequake_patch import _native as native

SECRET = "sk-SECRET-do-not-leak-0123456789"
AUTH = [("Authorization", f"Bearer {SECRET}")]


# --------------------------------------------------------------------------------------
# Test server
# --------------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.counters: dict[str, int] = {}
        self.closed_while_hanging = threading.Event()

    def hit(self, key: str) -> int:
        with self.lock:
            n = self.counters.get(key, 0)
            self.counters[key] = n + 1
            return n

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.counters.clear()
        self.closed_while_hanging.clear()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    rec: Recorder

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]] = (), ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        body = self._body()
        path = self.path.split("?", 1)[0]
        self.rec.requests.append({"method": self.command, "path": self.path, "headers": list(self.headers.items()), "body": body, "peer": self.client_address})
        key = path
        if path == "/echo":
            out = {"method": self.command, "path": self.path, "headers": [[k.lower(), v] for k, v in self.headers.items()], "body": body.decode("utf-8", "replace")}
            self._send(200, json.dumps(out).encode(), [("X-Multi", "a"), ("X-Multi", "b")])
        elif path == "/retry429":
            if self.rec.hit(key) == 0:
                self._send(429, b'{"error":"rate"}', [("retry-after", "0")])
            else:
                self._send(200, b'{"ok":true}')
        elif path == "/burst500":
            self.rec.hit(key)
            self._send(500, b'{"error":"boom"}', [("retry-after-ms", "1")])
        elif path == "/no-retry-500":
            self._send(500, b'{"error":"boom"}', [("x-should-retry", "false")])
        elif path == "/hang":
            # Read nothing more, answer nothing; report when the client goes away.
            conn = self.connection
            deadline = time.time() + 15
            while time.time() < deadline:
                r, _, _ = select.select([conn], [], [], 0.05)
                if r:
                    try:
                        if conn.recv(1) == b"":
                            self.rec.closed_while_hanging.set()
                            break
                    except OSError:
                        self.rec.closed_while_hanging.set()
                        break
            self.close_connection = True
        elif path == "/close-mid-body":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"partial\":")
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif path == "/notjson":
            self._send(200, b"<html>definitely not json</html>", ctype="text/html")
        elif path == "/gzip":
            self._send(200, gzip.compress(b'{"zipped":"yes"}'), [("Content-Encoding", "gzip")])
        elif path == "/badgzip":
            self._send(200, b"this is not gzip data at all", [("Content-Encoding", "gzip")])
        elif path.startswith("/enc/"):
            payload = b'{"encoded":"' + b"x" * 200 + b'"}'
            kind = path[len("/enc/"):]
            if kind == "gzip":
                self._send(200, gzip.compress(payload), [("Content-Encoding", "gzip")])
            elif kind == "gzip-truncated":
                self._send(200, gzip.compress(payload)[:-6], [("Content-Encoding", "gzip")])
            elif kind == "deflate-zlib":
                self._send(200, zlib.compress(payload), [("Content-Encoding", "deflate")])
            elif kind == "deflate-raw":
                c = zlib.compressobj(wbits=-15)
                self._send(200, c.compress(payload) + c.flush(), [("Content-Encoding", "deflate")])
            elif kind == "gzip-twice":
                self._send(200, gzip.compress(gzip.compress(payload)), [("Content-Encoding", "gzip, gzip")])
            elif kind == "identity-and-unknown":
                self._send(200, payload, [("Content-Encoding", "identity"), ("Content-Encoding", "x-custom")])
        else:
            self._send(404, b'{"error":"not found"}')


class QuickIdleHandler(Handler):
    """Closes keep-alive connections after 300 ms idle, like an aggressive proxy. (The limit
    also bounds reading a request, so it must leave room for a loaded CI machine.)"""

    timeout = 0.3


def _serve(handler_base):
    rec = Recorder()
    handler = type("H", (handler_base,), {"rec": rec})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return server, rec


@pytest.fixture(scope="module")
def server():
    srv, rec = _serve(Handler)
    yield f"http://127.0.0.1:{srv.server_address[1]}", rec
    srv.shutdown()


@pytest.fixture
def srv(server):
    base, rec = server
    rec.reset()
    return base, rec


def send(url, body=None, headers=AUTH, method="POST", timeout=10.0, connect_timeout=None, max_retries=0, retry="none"):
    return native.send(method, url, headers, body, timeout=timeout, connect_timeout=connect_timeout, max_retries=max_retries, retry=retry)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def assert_no_secret(err: BaseException) -> None:
    for text in (str(err), repr(err), getattr(err, "message", "")):
        assert SECRET not in text
        assert "api_key=" not in text


# --------------------------------------------------------------------------------------
# Request and response basics
# --------------------------------------------------------------------------------------


def test_post_json_echo_and_response_fields(srv):
    base, rec = srv
    payload = {"model": "x", "messages": [{"role": "user", "content": "héllo ✓"}], "temperature": 0.2, "n": 1, "stream": False}
    r = send(base + "/echo?q=1", payload, headers=AUTH + [("X-Custom", "v1")])
    assert r.status == 200
    assert r.attempts == 1
    assert r.url == base + "/echo?q=1"
    echoed = r.json()
    assert echoed["method"] == "POST"
    sent_headers = dict(echoed["headers"])
    assert sent_headers["authorization"] == f"Bearer {SECRET}"
    assert sent_headers["x-custom"] == "v1"
    assert sent_headers["content-type"] == "application/json"
    assert sent_headers["accept"] == "application/json"
    assert "gzip" in sent_headers["accept-encoding"] and "deflate" in sent_headers["accept-encoding"]
    assert "user-agent" not in sent_headers
    # Byte-identical to what httpx would send for json=payload.
    assert echoed["body"].encode() == json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    assert rec.requests[0]["body"] == echoed["body"].encode()
    # Response headers: lower-cased, in order, duplicates kept / joined.
    names = [k for k, _ in r.headers]
    assert names[:2] == ["server", "date"]
    assert ("x-multi", "a") in r.headers and ("x-multi", "b") in r.headers
    d = r.headers_dict()
    assert d["x-multi"] == "a, b"
    assert d["content-type"] == "application/json"
    assert isinstance(r.body, bytes) and json.loads(r.body) == echoed
    assert r.text() == r.body.decode()
    assert "200" in repr(r)


def test_caller_headers_are_not_overridden_and_bytes_body_is_verbatim(srv):
    base, _ = srv
    raw = b'{"b": 1,   "a": 2}'
    r = send(base + "/echo", raw, headers=[("Accept", "text/plain"), ("Content-Type", "application/x-custom")])
    h = r.json()["headers"]
    assert [v for k, v in h if k == "accept"] == ["text/plain"]
    assert [v for k, v in h if k == "content-type"] == ["application/x-custom"]
    assert r.json()["body"] == raw.decode()
    # No body: no content-type is invented.
    r = send(base + "/echo", None, method="GET", headers=[])
    h = dict(r.json()["headers"])
    assert "content-type" not in h and h["accept"] == "application/json"


def test_forwarded_request_gets_no_invented_content_type(srv):
    """A caller forwarding a request another HTTP stack framed (the httpx transports) turns the
    default off: a body without a Content-Type leaves without one, as httpx would send it."""
    base, _ = srv
    raw = b'{"model": "llama3.2"}'
    for is_stream in (False, True):
        if is_stream:
            opened = native.open_stream("POST", base + "/echo", [], raw, timeout=10.0, connect_timeout=None)
            chunks = []
            while (chunk := opened.next_chunk()) is not None:
                chunks.append(chunk)
            echoed = json.loads(b"".join(chunks))
        else:
            echoed = native.send(
                "POST", base + "/echo", [], raw, timeout=10.0, connect_timeout=None, max_retries=0, retry="none",
                default_content_type=False,
            ).json()
        assert "content-type" not in dict(echoed["headers"])
        assert echoed["body"] == raw.decode()
    # The default stays for the core's own callers.
    assert dict(send(base + "/echo", raw, headers=[]).json()["headers"])["content-type"] == "application/json"


def test_gzip_response_is_decoded(srv):
    base, _ = srv
    r = send(base + "/gzip")
    assert r.json() == {"zipped": "yes"}


@pytest.mark.parametrize("kind", ["gzip", "gzip-truncated", "deflate-zlib", "deflate-raw", "gzip-twice", "identity-and-unknown"])
def test_content_decoding_matches_httpx(srv, kind):
    import httpx

    base, _ = srv
    ours = send(base + "/enc/" + kind, method="GET", headers=[])
    with httpx.Client() as client:
        theirs = client.get(base + "/enc/" + kind)
    assert ours.status == theirs.status_code == 200
    assert ours.body == theirs.content
    # Headers exactly as received (httpx keeps Content-Encoding/Content-Length too).
    strip = lambda pairs: [(k.lower(), v) for k, v in pairs if k.lower() != "date"]  # noqa: E731
    assert strip(ours.headers) == strip(theirs.headers.multi_items())


def test_invalid_json_body_raises_value_error_on_json(srv):
    base, _ = srv
    r = send(base + "/notjson")
    assert r.status == 200
    assert r.text() == "<html>definitely not json</html>"
    with pytest.raises(ValueError) as ei:
        r.json()
    assert "Expecting value" in str(ei.value)


def test_keepalive_connection_closed_by_server_while_idle_is_not_an_error():
    srv, rec = _serve(QuickIdleHandler)
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        for i in range(3):
            if i:
                time.sleep(0.8)  # the server drops the idle connection after 300 ms
            r = send(base + "/echo", {"a": 1})
            assert r.status == 200 and r.attempts == 1
        assert len(rec.requests) == 3
    finally:
        srv.shutdown()


def test_connections_are_reused_across_calls_and_threads(srv):
    base, rec = srv
    for _ in range(3):
        assert send(base + "/echo", {"a": 1}).status == 200
    # A thread per call (as in thread-per-request servers) still reuses the warm connection.
    for _ in range(3):
        t = threading.Thread(target=lambda: send(base + "/echo", {"a": 1}))
        t.start()
        t.join()
    peers = {q["peer"] for q in rec.requests}
    assert len(rec.requests) == 6
    assert len(peers) == 1, peers


async def test_async_keepalive_connection_closed_by_server_while_idle():
    srv, rec = _serve(QuickIdleHandler)
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        for i in range(3):
            if i:
                await asyncio.sleep(0.8)  # the server drops the idle connection after 300 ms
            r = await native.send_async("POST", base + "/echo", [], {"a": 1}, timeout=5.0, connect_timeout=None, max_retries=0, retry="none")
            assert r.status == 200 and r.attempts == 1
    finally:
        srv.shutdown()


TLS_CHILD = r"""
import asyncio, json, ssl, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from edgequake_patch import _native as n

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        out = json.dumps({"tls": True, "got": json.loads(body)}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

d = sys.argv[1]
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(d + "/leaf.pem", d + "/leaf.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
threading.Thread(target=srv.serve_forever, daemon=True).start()
url = "https://localhost:%d/x" % srv.server_address[1]
kw = dict(timeout=10.0, connect_timeout=None, max_retries=0, retry="none")
try:
    r = n.send("POST", url, [], {"a": 1}, **kw)
    print("sync", r.status, r.json()["got"])
    async def a():
        return await n.send_async("POST", url, [], {"a": 2}, **kw)
    r = asyncio.run(a())
    print("async", r.status, r.json()["got"])
except n.TransportError as e:
    print("error", e.kind, e.sent)
"""


def test_https_with_trusted_and_untrusted_ca(tmp_path):
    import shutil
    import subprocess
    import sys

    if not shutil.which("openssl"):
        pytest.skip("openssl CLI not available to make test certificates")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=edgequake test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost")
    (tmp_path / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "ext.cnf")

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    base_env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # Roots are read when a client is built, so each case needs a fresh process.
    trusted = subprocess.run([sys.executable, "-c", TLS_CHILD, str(tmp_path)], env=dict(base_env, SSL_CERT_FILE=str(tmp_path / "ca.pem")),
                             capture_output=True, text=True, timeout=60)
    assert trusted.stdout.split("\n")[:2] == ["sync 200 {'a': 1}", "async 200 {'a': 2}"], trusted.stderr
    env = {k: v for k, v in base_env.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    untrusted = subprocess.run([sys.executable, "-c", TLS_CHILD, str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
    assert untrusted.stdout.strip() == "error connect False", untrusted.stderr


# --------------------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------------------


def test_429_then_200_retried_under_openai_sdk(srv):
    base, rec = srv
    hdrs = AUTH + [("X-Stainless-Retry-Count", "0")]
    t0 = time.monotonic()
    r = send(base + "/retry429", {"a": 1}, headers=hdrs, max_retries=2, retry="openai_sdk")
    elapsed = time.monotonic() - t0
    assert r.status == 200 and r.json() == {"ok": True}
    assert r.attempts == 2
    # retry-after: 0 is outside (0, 120], so the SDK's backoff applies: 0.5 s minus <=25% jitter.
    assert 0.37 <= elapsed < 2.0
    # The SDK numbers attempts in this header; so must we.
    counts = [dict((k.lower(), v) for k, v in q["headers"])["x-stainless-retry-count"] for q in rec.requests]
    assert counts == ["0", "1"]


def test_429_not_retried_under_none(srv):
    base, rec = srv
    r = send(base + "/retry429", {"a": 1}, max_retries=2, retry="none")
    assert r.status == 429 and r.attempts == 1
    assert r.headers_dict()["retry-after"] == "0"
    assert len(rec.requests) == 1


def test_500_burst_exhausts_retries_and_returns_last_response(srv):
    base, rec = srv
    r = send(base + "/burst500", {"a": 1}, max_retries=2, retry="openai_sdk")
    assert r.status == 500
    assert r.attempts == 3
    assert r.json() == {"error": "boom"}
    assert rec.counters["/burst500"] == 3


def test_x_should_retry_false_stops_retries(srv):
    base, rec = srv
    r = send(base + "/no-retry-500", {"a": 1}, max_retries=3, retry="openai_sdk")
    assert r.status == 500 and r.attempts == 1
    assert len(rec.requests) == 1


def test_unknown_retry_policy_is_rejected(srv):
    base, rec = srv
    with pytest.raises(ValueError):
        send(base + "/echo", {"a": 1}, retry="aggressive")
    assert rec.requests == []


# --------------------------------------------------------------------------------------
# Transport errors
# --------------------------------------------------------------------------------------


def test_connection_refused_is_connect_not_sent():
    url = f"http://127.0.0.1:{free_port()}/v1/chat/completions?api_key={SECRET}"
    with pytest.raises(native.TransportError) as ei:
        send(url, {"a": 1})
    e = ei.value
    assert isinstance(e, Exception)
    assert e.kind == "connect"
    assert e.sent is False
    assert e.attempts == 1
    assert str(e) == e.message
    assert "127.0.0.1" in e.message and "/v1/chat/completions" in e.message
    assert not hasattr(e, "timeout_seconds")
    assert_no_secret(e)


def test_connection_refused_retried_under_openai_sdk():
    url = f"http://127.0.0.1:{free_port()}/x"
    t0 = time.monotonic()
    with pytest.raises(native.TransportError) as ei:
        send(url, {"a": 1}, max_retries=1, retry="openai_sdk")
    assert ei.value.kind == "connect" and ei.value.sent is False
    assert ei.value.attempts == 2
    assert time.monotonic() - t0 >= 0.37


def test_read_timeout_is_sent(srv):
    base, rec = srv
    t0 = time.monotonic()
    with pytest.raises(native.TransportError) as ei:
        send(base + f"/hang?api_key={SECRET}", {"a": 1}, timeout=0.3)
    elapsed = time.monotonic() - t0
    e = ei.value
    assert e.kind == "read_timeout"
    assert e.sent is True
    assert e.attempts == 1
    assert e.timeout_seconds == pytest.approx(0.3)
    assert 0.29 <= elapsed < 2.0
    assert_no_secret(e)
    # Giving up closes the connection.
    assert rec.closed_while_hanging.wait(2.0)


def test_connect_timeout_when_server_never_accepts():
    # A listener with a full backlog drops SYNs, so connecting hangs.
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
        time.sleep(0.05)
        t0 = time.monotonic()
        try:
            send(f"http://127.0.0.1:{port}/x", {"a": 1}, timeout=5.0, connect_timeout=0.3)
        except native.TransportError as e:
            if e.kind == "read_timeout" or e.kind == "read":
                pytest.skip("kernel accepted the connection despite the full backlog")
            assert e.kind == "connect_timeout", e.message
            assert e.sent is False
            assert e.timeout_seconds == pytest.approx(0.3)
            assert time.monotonic() - t0 < 2.0
        else:
            pytest.skip("kernel accepted the connection despite the full backlog")
    finally:
        for c in fillers:
            c.close()
        lst.close()


def test_server_closing_mid_body_is_incomplete(srv):
    base, _ = srv
    with pytest.raises(native.TransportError) as ei:
        send(base + "/close-mid-body", {"a": 1}, headers=AUTH)
    e = ei.value
    # A clean close before the body's end, with what stock's transports word it by: the head's
    # framing and how much of the body had come.
    assert e.kind == "incomplete"
    assert (e.phase, e.os_error) == ("body", None)
    assert e.received == len(b'{"partial":')
    assert ("content-length", "100") in e.headers
    assert e.sent is True
    assert e.attempts == 1
    assert_no_secret(e)


def test_bad_gzip_body_is_decode_error(srv):
    base, _ = srv
    with pytest.raises(native.TransportError) as ei:
        send(base + "/badgzip")
    assert ei.value.kind == "decode"
    assert ei.value.sent is True


def test_builder_errors_send_nothing_and_hide_values(srv):
    base, rec = srv
    with pytest.raises(native.TransportError) as ei:
        send("not a url", {"a": 1})
    assert ei.value.kind == "builder" and ei.value.sent is False and ei.value.attempts == 0
    with pytest.raises(native.TransportError) as ei:
        send(base + "/echo", {"a": 1}, headers=[("Authorization", f"Bearer {SECRET}\r\nX-Evil: 1")])
    assert ei.value.kind == "builder"
    assert "authorization" in ei.value.message.lower()
    assert_no_secret(ei.value)
    with pytest.raises(native.TransportError) as ei:
        send(base + "/echo", {"a": 1}, headers=[("Authorization", "Bearer ünïcode")])
    assert ei.value.kind == "builder"
    assert rec.requests == []


@pytest.mark.parametrize(
    "body",
    [{"a": b"bytes"}, {"a": object()}, [float("nan")], {"x": float("inf")}, {1: "int key"}, {"s": {1, 2}}],
    ids=["bytes", "object", "nan", "inf", "int-key", "set"],
)
def test_unserializable_body_is_type_error_before_sending(srv, body):
    base, rec = srv
    with pytest.raises(TypeError):
        send(base + "/echo", body)
    with pytest.raises(TypeError):
        native.send_async("POST", base + "/echo", [], body, timeout=1.0, connect_timeout=None, max_retries=0, retry="none")
    time.sleep(0.05)
    assert rec.requests == []


def test_sigint_style_interrupt_stops_a_blocked_call(srv):
    base, rec = srv

    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted()

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        t0 = time.monotonic()
        with pytest.raises(Interrupted):
            send(base + "/hang", {"a": 1}, timeout=30.0)
        assert time.monotonic() - t0 < 2.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert rec.closed_while_hanging.wait(2.0)


# --------------------------------------------------------------------------------------
# Async
# --------------------------------------------------------------------------------------


async def asend(url, body=None, headers=AUTH, timeout=10.0, max_retries=0, retry="none"):
    return await native.send_async("POST", url, headers, body, timeout=timeout, connect_timeout=None, max_retries=max_retries, retry=retry)


async def test_async_send_and_concurrency(srv):
    base, rec = srv
    rs = await asyncio.gather(*[asend(base + "/echo", {"i": i}) for i in range(25)])
    assert [json.loads(r.json()["body"])["i"] for r in rs] == list(range(25))
    assert all(r.status == 200 and r.attempts == 1 for r in rs)
    assert len(rec.requests) == 25


async def test_async_retries_and_errors(srv):
    base, _ = srv
    r = await asend(base + "/burst500", {"a": 1}, max_retries=1, retry="openai_sdk")
    assert r.status == 500 and r.attempts == 2
    with pytest.raises(native.TransportError) as ei:
        await asend(f"http://127.0.0.1:{free_port()}/x", {"a": 1})
    assert ei.value.kind == "connect" and ei.value.sent is False
    assert_no_secret(ei.value)
    with pytest.raises(native.TransportError) as ei:
        await asend(base + "/hang", {"a": 1}, timeout=0.2)
    assert ei.value.kind == "read_timeout" and ei.value.sent is True


async def test_async_cancellation_closes_the_connection(srv):
    base, rec = srv
    task = asyncio.ensure_future(asend(base + "/hang", {"a": 1}, timeout=30.0))
    await asyncio.sleep(0.2)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The server sees the connection go away promptly: the Rust future was dropped.
    assert await asyncio.get_running_loop().run_in_executor(None, rec.closed_while_hanging.wait, 3.0)
    # And the client still works afterwards.
    assert (await asend(base + "/echo", {"a": 1})).status == 200


async def test_async_wait_for_timeout_cancels(srv):
    base, rec = srv
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asend(base + "/hang", {"a": 1}, timeout=30.0), 0.2)
    assert await asyncio.get_running_loop().run_in_executor(None, rec.closed_while_hanging.wait, 3.0)


def test_async_across_several_event_loops(srv):
    base, _ = srv
    for _ in range(3):
        r = asyncio.run(asend(base + "/echo", {"a": 1}))
        assert r.status == 200


# --------------------------------------------------------------------------------------
# Fork safety
# --------------------------------------------------------------------------------------


def test_forked_child_can_send(srv):
    base, rec = srv
    # Warm up both runtimes and pools in the parent first.
    assert send(base + "/echo", {"who": "parent"}).status == 200
    assert asyncio.run(asend(base + "/echo", {"who": "parent-async"})).status == 200

    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            r = send(base + "/echo", {"who": "child"})
            ok = r.status == 200 and json.loads(r.json()["body"]) == {"who": "child"}
            r2 = asyncio.run(asend(base + "/echo", {"who": "child-async"}))
            ok = ok and r2.status == 200 and json.loads(r2.json()["body"]) == {"who": "child-async"}
            code = 0 if ok else 2
        except BaseException:
            code = 3
        os._exit(code)

    deadline = time.monotonic() + 20
    while True:
        wpid, status = os.waitpid(pid, os.WNOHANG)
        if wpid:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("forked child hung")
        time.sleep(0.02)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    # The parent's pools are untouched by the child.
    assert send(base + "/echo", {"who": "parent-again"}).status == 200
    assert asyncio.run(asend(base + "/echo", {"who": "parent-async-again"})).status == 200
    bodies = [q["body"] for q in rec.requests]
    assert b'{"who":"child"}' in bodies and b'{"who":"child-async"}' in bodies


# --------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------


def test_loads_dumps_match_stdlib():
    doc = {"a": [1, 2.5, -0.0, 1e16, 1e-05, True, False, None, 10**30], "é": "✓\n\"", "n": {"x": {}}}
    assert native.dumps(doc) == json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    text = json.dumps(doc)
    assert native.loads(text) == json.loads(text)
    assert native.loads(text.encode()) == json.loads(text)
    assert native.loads(bytearray(text.encode())) == json.loads(text)
    big = native.loads(b"[123456789012345678901234567890, 1.0, 1]")
    assert big == [123456789012345678901234567890, 1.0, 1]
    assert [type(v) for v in big] == [int, float, int]
    assert native.loads(b"true") is True
    with pytest.raises(ValueError):
        native.loads(b'{"a": }')
    with pytest.raises(TypeError):
        native.loads(123)


def test_dumps_survives_hostile_containers():
    class BadItems(dict):
        def items(self):
            return [1, 2]

    with pytest.raises(TypeError):
        native.dumps({"a": BadItems(x=1)})

    shared = [1, 2, 3]

    class Mutating(dict):
        def items(self):
            shared.clear()
            return super().items()

    # json.dumps gives the same answers; what matters is no crash on the shrinking list.
    assert native.dumps([Mutating(a=1), shared]) == b'[{"a":1},[]]'
    assert native.dumps([shared]) == b"[[]]"


# --------------------------------------------------------------------------------------
# OpenAI shapes, against the installed SDK
# --------------------------------------------------------------------------------------

openai = pytest.importorskip("openai")
from openai.types import CreateEmbeddingResponse  # noqa: E402
from openai.types.chat import ChatCompletion  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _core_models_for_installed_sdk():
    """The core reproduces the models of the SDK generation installed (openai 2 or 3)."""
    from edgequake_patch.transport import sdk_models

    sdk_models.core_parses()


def _stock_dump(model_cls, obj, **dump_options):
    """What stock LiteLLM gets: the SDK constructs (lenient) and LiteLLM calls model_dump()
    (from LiteLLM 1.108, with exclude_unset=True)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from openai._models import construct_type

        return construct_type(type_=model_cls, value=json.loads(json.dumps(obj))).model_dump(**dump_options)


def _assert_same(ours, theirs, path="$"):
    assert type(ours) is type(theirs), f"{path}: {type(ours)} != {type(theirs)}"
    if isinstance(ours, dict):
        assert list(ours) == list(theirs), f"{path}: key order {list(ours)} != {list(theirs)}"
        for k in ours:
            _assert_same(ours[k], theirs[k], f"{path}.{k}")
    elif isinstance(ours, list):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _assert_same(a, b, f"{path}[{i}]")
    else:
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"


BASIC = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "system_fingerprint": "fp_1",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there!"}, "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
}

TOOLS = {
    "id": "chatcmpl-2",
    "object": "chat.completion",
    "created": 1700000001,
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                    {"id": "call_2", "type": "custom", "custom": {"name": "grep", "input": "foo"}},
                    {"id": "call_3", "function": {"name": "no_type", "arguments": "{}"}, "provider_extra": 1},
                ],
                "annotations": [{"type": "url_citation", "url_citation": {"end_index": 5, "start_index": 0, "title": "t", "url": "https://x"}}],
            },
        }
    ],
    "usage": {
        "prompt_tokens": 50,
        "completion_tokens": 20,
        "total_tokens": 70,
        "completion_tokens_details": {"reasoning_tokens": 5, "accepted_prediction_tokens": 0, "audio_tokens": 0, "rejected_prediction_tokens": 0},
        "prompt_tokens_details": {"cached_tokens": 10, "audio_tokens": 0, "vendor_extra": "kept"},
    },
    "service_tier": "default",
}

LOGPROBS = {
    "id": "chatcmpl-3",
    "object": "chat.completion",
    "created": 1700000002,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Hi", "audio": {"id": "a1", "data": "AAA=", "expires_at": 1700000100, "transcript": "Hi"}},
            "logprobs": {
                "content": [
                    {"token": "Hi", "bytes": [72, 105], "logprob": -1, "top_logprobs": [{"token": "Hi", "bytes": [72, 105], "logprob": -1}, {"token": "Yo", "bytes": None, "logprob": -2.5}]}
                ],
                "refusal": None,
            },
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}

EXTRAS_AND_MISSING = {
    "id": "gen-xyz",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok", "reasoning_content": "thinking...", "provider_specific_fields": {"a": [1, {"b": 2}]}}, "finish_reason": "stop", "stop_reason": None, "matched_stop": 1},
        {"message": {"content": ["list", "content"]}},
    ],
    "created": 1,
    "model": "m",
    "object": "chat.completion",
    "prompt_logprobs": None,
    "kv_transfer_params": {"x": 1},
}

# Same as TOOLS without the call lacking a "type", which strict validation rejects.
TOOLS_VALID = json.loads(json.dumps(TOOLS))
del TOOLS_VALID["choices"][0]["message"]["tool_calls"][2]

CHAT_SAMPLES = {"basic": BASIC, "tools": TOOLS, "tools-valid": TOOLS_VALID, "logprobs": LOGPROBS, "extras-and-missing": EXTRAS_AND_MISSING}


@pytest.mark.parametrize("name", list(CHAT_SAMPLES))
def test_openai_sdk_shape_matches_sdk(name):
    obj = CHAT_SAMPLES[name]
    ours = native.openai_sdk_shape(native.loads(json.dumps(obj)))
    _assert_same(ours, _stock_dump(ChatCompletion, obj))


@pytest.mark.parametrize("name", list(CHAT_SAMPLES))
def test_openai_sdk_shape_excluding_unset_matches_sdk(name):
    obj = CHAT_SAMPLES[name]
    ours = native.openai_sdk_shape(native.loads(json.dumps(obj)), exclude_unset=True)
    _assert_same(ours, _stock_dump(ChatCompletion, obj, exclude_unset=True))


@pytest.mark.parametrize("name", ["basic", "tools-valid", "logprobs"])
def test_openai_sdk_shape_matches_model_validate_for_valid_bodies(name):
    obj = CHAT_SAMPLES[name]
    ours = native.openai_sdk_shape(native.loads(json.dumps(obj)))
    _assert_same(ours, ChatCompletion.model_validate(obj).model_dump())


def test_openai_sdk_shape_does_not_alias_input():
    obj = native.loads(json.dumps(EXTRAS_AND_MISSING))
    out = native.openai_sdk_shape(obj)
    out["choices"][0]["message"]["provider_specific_fields"]["a"].append("mutated")
    assert obj["choices"][0]["message"]["provider_specific_fields"]["a"] == [1, {"b": 2}]


def test_openai_sdk_shape_rejects_wrong_shapes():
    for bad in [[], "x", {}, {"choices": {}}, {"choices": None}, {"choices": [1]}, {"choices": [{"index": 0}]}]:
        with pytest.raises(ValueError) as ei:
            native.openai_sdk_shape(bad)
        assert not isinstance(ei.value, native.ShapeUnsupported)


def test_openai_sdk_shape_refuses_what_only_the_sdk_reproduces():
    # Validation would coerce "9" to 9 inside the Optional usage; construct would not.
    obj = dict(BASIC, usage={"prompt_tokens": "9", "completion_tokens": 3, "total_tokens": 12})
    with pytest.raises(native.ShapeUnsupported):
        native.openai_sdk_shape(obj)
    assert issubclass(native.ShapeUnsupported, ValueError)
    with pytest.raises(native.ShapeUnsupported):
        native.openai_sdk_shape(dict(BASIC, moderation={"input": {}, "output": {}}))


def test_openai_schema_matches_installed_sdk():
    from edgequake_patch.transport import sdk_models

    models = sdk_models.sdk_models()
    assert sdk_models.core_parses(), "no schema generation in the core matches the installed openai SDK"
    schema = native.openai_schema()
    assert set(schema) == set(models)
    for name, cls in models.items():
        assert schema[name] == list(cls.model_fields), name
    import openai

    assert sdk_models.generation() == int(openai.__version__.split(".")[0])


def test_a_changed_sdk_model_turns_the_core_parsing_off(monkeypatch):
    from edgequake_patch.transport import sdk_models
    from openai.types.chat import chat_completion

    fields = dict(chat_completion.ChatCompletion.model_fields)
    fields["a_field_no_generation_has"] = fields["id"]
    monkeypatch.setattr(sdk_models, "sdk_models", lambda: {"ChatCompletion": type("M", (), {"model_fields": fields})})
    assert sdk_models._matching_generation() is None


EMBEDDING = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -2, 3.5e-05]}, {"object": "embedding", "index": 1, "embedding": [1, 2], "extra": True}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 5, "total_tokens": 5},
}


def test_embedding_shape_matches_sdk():
    ours = native.openai_sdk_shape_embedding(native.loads(json.dumps(EMBEDDING)))
    _assert_same(ours, _stock_dump(CreateEmbeddingResponse, EMBEDDING))
    missing = {"data": [{"embedding": [1]}]}
    _assert_same(native.openai_sdk_shape_embedding(missing), _stock_dump(CreateEmbeddingResponse, missing))
    with pytest.raises(ValueError):
        native.openai_sdk_shape_embedding({"object": "list"})


def test_embedding_base64_decoding_matches_sdk_post_parser():
    import array

    floats = [0.1, -2.0, 3.5e-05, 1e30]
    b64 = base64.b64encode(struct.pack("<4f", *floats)).decode()
    obj = dict(EMBEDDING, data=[{"object": "embedding", "index": 0, "embedding": b64}])
    ours = native.openai_sdk_shape_embedding(obj, decode_base64=True)
    # The SDK's own post-parser for encoding_format it chose itself.
    expected = array.array("f", base64.b64decode(b64)).tolist()
    assert ours["data"][0]["embedding"] == expected
    assert all(type(v) is float for v in ours["data"][0]["embedding"])
    # Without the flag the string passes through, as when the caller asked for base64.
    assert native.openai_sdk_shape_embedding(obj)["data"][0]["embedding"] == b64
