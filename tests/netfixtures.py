"""Network stand-ins for the network-settings tests: a throw-away certificate authority, a TLS
front for the provider stand-in, and a recording HTTP proxy. All run on loopback threads in the
test process and are generated at test time (no key material in the repository)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import select
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


# ---------------------------------------------------------------------------------------------
# Certificates


@dataclass
class Pki:
    ca_pem: str  # path: the CA certificate (what a client is told to trust)
    cert_pem: str  # path: the server's certificate chain (leaf)
    key_pem: str  # path: the server's private key


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(directory: str, label: str = "edgequake test", san: bool = True) -> Pki:
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it. With
    `san=False` the server certificate names localhost in its subject CN only (OpenSSL still
    matches that; rustls/webpki does not)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{label} CA"))
        .issuer_name(_name(f"{label} CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if san:
        leaf = leaf.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    leaf = (
        leaf
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = Pki(*(os.path.join(directory, f"{label.replace(' ', '-')}-{n}.pem") for n in ("ca", "cert", "key")))
    with open(paths.ca_pem, "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths.cert_pem, "wb") as f:
        f.write(leaf.public_bytes(serialization.Encoding.PEM))
    with open(paths.key_pem, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths


# ---------------------------------------------------------------------------------------------
# Plumbing


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    socks = [a, b]
    try:
        while True:
            readable, _, _ = select.select(socks, [], [], 30)
            if not readable:
                return
            for s in readable:
                other = b if s is a else a
                data = s.recv(65536)
                if not data:
                    return
                other.sendall(data)
    except (OSError, ssl.SSLError):
        return
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


class _Server:
    def __init__(self):
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:  # pragma: no cover - overridden
        conn.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TlsFront(_Server):
    """Terminates TLS with the given certificate and relays the plain bytes to `upstream_port`.
    Counts completed and failed handshakes."""

    def __init__(self, upstream_port: int, pki: Pki):
        self.upstream_port = upstream_port
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(pki.cert_pem, pki.key_pem)
        self.handshakes = 0
        self.failed_handshakes = 0
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            self.failed_handshakes += 1
            conn.close()
            return
        self.handshakes += 1
        tls.settimeout(None)
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        _pipe(tls, upstream)

    def base_url(self, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}"


class RecordingProxy(_Server):
    """A forward proxy: absolute-form requests for http:// targets are relayed (with
    `Connection: close`, so each connection carries one exchange), CONNECT opens a tunnel for
    https:// ones. Records (method, target, Proxy-Authorization) for each request it sees."""

    def __init__(self):
        self._records: List[Tuple[str, str, Optional[str]]] = []
        self._lock = threading.Lock()
        super().__init__()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def records(self) -> List[Tuple[str, str, Optional[str]]]:
        with self._lock:
            return list(self._records)

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        head = b""
        try:
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    conn.close()
                    return
                head += chunk
        except OSError:
            conn.close()
            return
        raw_head, rest = head.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers: Dict[str, str] = {}
        kept: List[str] = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
            if not name.lower().startswith("proxy-") and name.strip().lower() != "connection":
                kept.append(line)
        with self._lock:
            self._records.append((method, target, headers.get("proxy-authorization")))
        conn.settimeout(None)
        try:
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
                upstream.settimeout(None)
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                _pipe(conn, upstream)
                return
            from urllib.parse import urlsplit

            parts = urlsplit(target)
            upstream = socket.create_connection((parts.hostname, parts.port or 80), timeout=10)
            upstream.settimeout(None)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            out = f"{method} {path} {version}\r\n" + "".join(f"{line}\r\n" for line in kept) + "Connection: close\r\n\r\n"
            upstream.sendall(out.encode("latin-1") + rest)
            _pipe(conn, upstream)
        except OSError:
            conn.close()


class RawServer(_Server):
    """Answers every request with the status, headers and body set in `respond` (one exchange
    per connection): for bodies no well-behaved stand-in would send."""

    def __init__(self):
        self.status = 200
        self.headers: List[Tuple[str, str]] = [("Content-Type", "application/json")]
        self.body = b"{}"
        self.pieces: Optional[List[bytes]] = None
        super().__init__()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def respond(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.status, self.body, self.pieces = status, body, None
        self.headers = [("Content-Type", content_type)]

    def respond_stream(self, pieces: List[bytes]) -> None:
        """A 200 event stream whose body is written in these pieces (chunked encoding, each piece
        in its own TCP segment), so the reader sees the bytes split exactly there."""
        self.status, self.body, self.pieces = 200, b"", list(pieces)
        self.headers = [("Content-Type", "text/event-stream")]

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, rest = data.split(b"\r\n\r\n", 1)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(rest) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                rest += chunk
            status, body, pieces = self.status, self.body, self.pieces
            if pieces is not None:
                import time

                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                head = ["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Connection: close"]
                head += [f"{k}: {v}" for k, v in self.headers]
                conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
                for piece in pieces:
                    if piece:
                        conn.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                        time.sleep(0.0005)
                conn.sendall(b"0\r\n\r\n")
                return
            lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
            lines += [f"{k}: {v}" for k, v in self.headers]
            conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        except OSError:
            pass
        finally:
            conn.close()
