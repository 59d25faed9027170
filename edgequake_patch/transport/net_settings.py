"""The network settings stock would send a request with, read off the client stock built.

Stock LiteLLM resolves TLS and proxy settings in many places (`litellm.ssl_verify`, per-call
`ssl_verify`, SSL_VERIFY, SSL_CERT_FILE, HTTP(S)_PROXY / ALL_PROXY / NO_PROXY read by httpx
when it builds a client, or per host by LiteLLM's aiohttp transport) and the rules differ
between versions and transports. Rather than re-implementing them, this module looks at the
object those rules produced: the httpx client (its mounts, its transports' connection pools
and SSL contexts) or LiteLLM's aiohttp transport (its SSL setting and its own per-host proxy
lookup), and turns what it finds into a `native.NetConfig` for the core.

What the core cannot reproduce raises `Unsupported(reason)`; the caller then leaves the request
to stock and counts the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import base64
import os
import ssl
import threading
import weakref
from typing import Any, Dict, Optional, Tuple
from urllib.parse import unquote, urlsplit

import httpx

from . import native


class Unsupported(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# Settings that change the TLS handshake in ways the core does not reproduce. They are read the
# way stock reads them (environment first, then the litellm attribute).


def global_refusal() -> Optional[str]:
    import litellm

    if os.getenv("SSL_CERTIFICATE", getattr(litellm, "ssl_certificate", None)):
        return "ssl_client_certificate"
    if os.getenv("SSL_SECURITY_LEVEL", getattr(litellm, "ssl_security_level", None)):
        return "ssl_ciphers"
    if os.getenv("SSL_ECDH_CURVE", getattr(litellm, "ssl_ecdh_curve", None)):
        return "ssl_ecdh_curve"
    return None


# ---------------------------------------------------------------------------------------------
# SSL contexts → (verify, trusted CA certificates)

_contexts: Dict[int, Tuple[Any, Any]] = {}  # id(ctx) -> (ctx kept alive so the id stays its own, result)
_lock = threading.Lock()


def _tls(ctx: Any) -> Tuple[bool, Optional[tuple]]:
    if ctx is False:
        return False, None
    if not isinstance(ctx, ssl.SSLContext):
        raise Unsupported("ssl_unknown")
    hit = _contexts.get(id(ctx))
    if hit is not None and hit[0] is ctx:
        result = hit[1]
    else:
        result = _read_context(ctx)
        with _lock:
            if len(_contexts) > 64:
                _contexts.clear()
            _contexts[id(ctx)] = (ctx, result)
    if isinstance(result, str):
        raise Unsupported(result)
    return result


def _read_context(ctx: ssl.SSLContext):
    if ctx.verify_mode == ssl.CERT_NONE:
        return False, None
    if not ctx.check_hostname:
        return "ssl_context_custom"  # verifies the chain but not the name: rustls always checks both
    # The certificates the context was loaded with (a cafile: what LiteLLM always builds). A
    # context that looks certificates up lazily in a directory lists none: leave it to stock.
    ders = ctx.get_ca_certs(binary_form=True)
    if not ders:
        return "ssl_context_unreadable"
    return True, tuple(ders)


# ---------------------------------------------------------------------------------------------
# Proxies


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("latin-1")).decode("ascii")


def _proxy_from_url(url: str) -> Tuple[str, Optional[str]]:
    """(proxy URL without credentials, Proxy-Authorization) from a URL as aiohttp takes it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unsupported("proxy_scheme")
    if parts.scheme == "https":
        raise Unsupported("proxy_https")
    auth = None
    if parts.username is not None:
        auth = _basic(unquote(parts.username), unquote(parts.password or ""))
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or 80
    return f"http://{host}:{port}", auth


def _httpcore_pool(pool: Any) -> Tuple[Any, Optional[str], Optional[str]]:
    """(ssl context, proxy URL, Proxy-Authorization) of an httpcore connection pool."""
    if getattr(pool, "_uds", None) is not None or getattr(pool, "_local_address", None) is not None:
        raise Unsupported("local_address")
    if getattr(pool, "_retries", 0):
        raise Unsupported("connect_retries")
    if getattr(pool, "_socket_options", None):
        raise Unsupported("socket_options")
    name = type(pool).__name__
    if name in ("ConnectionPool", "AsyncConnectionPool"):
        return pool._ssl_context, None, None
    if name in ("HTTPProxy", "AsyncHTTPProxy"):
        url = pool._proxy_url
        if url.scheme != b"http":
            raise Unsupported("proxy_https")
        auth = None
        for key, value in pool._proxy_headers:
            if key.lower() == b"proxy-authorization" and auth is None:
                auth = value.decode("latin-1")
            else:
                raise Unsupported("proxy_headers")
        host = url.host.decode("ascii")
        if ":" in host:
            host = f"[{host}]"
        return pool._ssl_context, f"http://{host}:{url.port or 80}", auth
    raise Unsupported("proxy_socks" if "SOCKS" in name.upper() else "custom_transport")


# ---------------------------------------------------------------------------------------------
# From a stock transport (and the request URL) to a NetConfig

_configs: Dict[Tuple, Any] = {}


def _config(verify: bool, ders: Optional[tuple], proxy: Optional[str], auth: Optional[str]) -> Any:
    # Keyed by the identity of the certificate tuple (one per SSL context, see _tls), which the
    # entry keeps alive so the id stays its own.
    key = (verify, id(ders), proxy, auth)
    hit = _configs.get(key)
    if hit is not None and hit[0] is ders:
        return hit[1]
    cfg = native.NetConfig(verify=verify, ca_certs=ders, proxy=proxy, proxy_authorization=auth)
    with _lock:
        if len(_configs) > 64:
            _configs.clear()
        _configs[key] = (ders, cfg)
    return cfg


def _is_aiohttp_transport(transport: Any) -> bool:
    return hasattr(transport, "_ssl_verify") and hasattr(transport, "_get_proxy_settings")


class WouldSuspend(Exception):
    """`run_now` was given a coroutine that waits for something: not ours to drive."""


def run_now(coroutine: Any) -> Any:
    """The result of a coroutine that has it already, without an event loop (it never suspends:
    LiteLLM's proxy lookup only reads the environment; aiohttp's body reader after the loss was
    fed in). One that would suspend is closed and WouldSuspend raised."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise WouldSuspend()


def _aiohttp_proxy(transport: Any, request: httpx.Request, session: Any = None) -> Optional[str]:
    try:
        proxy = run_now(transport._get_proxy_settings(request))
    except WouldSuspend:
        raise Unsupported("proxy_lookup") from None
    if proxy is None and session is not None:
        # A caller's session may carry a proxy of its own, used when the request names none.
        from . import aiohttp_session

        proxy = aiohttp_session.default_proxy(session)
    if proxy is None and _session_trusts_env(transport):
        # With no proxy passed, an aiohttp session that trusts the environment looks one up
        # itself, by aiohttp's own rules.
        from aiohttp.helpers import get_env_proxy_for_url
        from yarl import URL

        try:
            found, auth = get_env_proxy_for_url(URL(str(request.url)))
        except LookupError:
            return None
        if auth is not None:
            found = found.with_user(auth.login).with_password(auth.password)
        return str(found)
    return proxy


def _session_trusts_env(transport: Any) -> bool:
    session = transport.client
    if callable(session) and not hasattr(session, "trust_env"):
        import litellm
        from litellm.secret_managers.main import str_to_bool

        return bool(litellm.aiohttp_trust_env or str_to_bool(os.getenv("AIOHTTP_TRUST_ENV", "False")) is True)
    return bool(getattr(session, "trust_env", False))


def _caller_session(transport: Any, request: httpx.Request) -> Any:
    """The caller's aiohttp session LiteLLM's transport sends through (the LiteLLM Proxy's
    shared one, an SDK caller's `shared_session=`), after checking the core reproduces it; None
    when the transport uses a session of LiteLLM's own."""
    from . import aiohttp_session

    session = aiohttp_session.caller_session(transport)
    if session is None:
        return None
    reason = aiohttp_session.refusal(session, transport._ssl_verify) or aiohttp_session.netrc_refusal(
        session, request.url.host
    )
    if reason is not None:
        raise Unsupported(reason)
    return session


def for_transport(transport: Any, request: httpx.Request) -> Any:
    """The NetConfig for sending `request` the way `transport` (stock's) would send it."""
    if isinstance(transport, (httpx.HTTPTransport, httpx.AsyncHTTPTransport)):
        ctx, proxy, auth = _httpcore_pool(transport._pool)
    elif _is_aiohttp_transport(transport):
        ctx = transport._ssl_verify  # LiteLLM's per-request TLS override, when it has one
        session = _caller_session(transport, request)
        if ctx is None and session is not None:
            from . import aiohttp_session

            ctx = aiohttp_session.connector_ssl(session)
        if ctx is None:
            raise Unsupported("ssl_unknown")
        proxy, auth = None, None
        found = _aiohttp_proxy(transport, request, session)
        if found:
            if session is not None and session.headers and request.url.scheme == "https":
                # aiohttp sends the session's default headers in the proxy's CONNECT too
                raise Unsupported("session_unsupported:proxy_headers")
            proxy, auth = _proxy_from_url(found)
    else:
        raise Unsupported("custom_transport")
    verify, ders = _tls(ctx)
    return _config(verify, ders, proxy, auth)


class Resolver:
    """Where an httpx client stock built would send each request, and with what settings.

    Keeps the client's own transport and mounts (httpx's rule: the first mount whose pattern
    matches the URL; a mount of None means the client's transport) and caches the answer per
    origin, as both httpx (mounts are fixed at construction) and LiteLLM's aiohttp transport
    (proxy looked up once per host) do.
    """

    def __init__(self, transport: Any, mounts: Dict[Any, Any]):
        self.transport = transport
        self.mounts = dict(mounts)
        self._by_origin: Dict[Tuple, Tuple[Any, Any]] = {}
        self.by_url: Dict[Tuple, Any] = {}  # for_httpx_client's answers by base URL
        # Read when stock built the client, as stock reads them.
        refusal = global_refusal()
        self._refusal = Unsupported(refusal) if refusal else None
        # LiteLLM's aiohttp transport re-reads its trust-env switch on every request (the proxy
        # it then looks up is cached per host): answers are cached per state of that switch.
        self._switched = any(_is_aiohttp_transport(t) for t in self._transports())
        #: A caller's aiohttp session the stock transport sends through (aiohttp_session.py):
        #: its headers, cookies and connection limits apply to every native request.
        self.caller = self._caller() if self._switched else None

    def close(self) -> None:
        for transport in self._transports():
            transport.close()

    async def aclose(self) -> None:
        for transport in self._transports():
            await transport.aclose()

    def _caller(self) -> Any:
        from . import aiohttp_session

        for transport in self._transports():
            session = aiohttp_session.caller_session(transport) if _is_aiohttp_transport(transport) else None
            if session is not None:
                return aiohttp_session.CallerSession(session, transport)
        return None

    def _transports(self):
        seen = [self.transport]
        for transport in self.mounts.values():
            if transport is not None and all(transport is not t for t in seen):
                seen.append(transport)
        return seen

    def stock_transport(self, url: httpx.URL) -> Any:
        for pattern, transport in self.mounts.items():
            if pattern.matches(url):
                return self.transport if transport is None else transport
        return self.transport

    def switches(self) -> Any:
        if not self._switched:
            return None
        import litellm

        return (getattr(litellm, "disable_aiohttp_trust_env", None), os.environ.get("DISABLE_AIOHTTP_TRUST_ENV"))

    def resolve(self, request: httpx.Request, switches: Any = False) -> Tuple[Any, Any]:
        """(stock's transport for this request, NetConfig or an Unsupported to raise)."""
        url = request.url
        key = (url.scheme, url.host, url.port, self.switches() if switches is False else switches)
        hit = self._by_origin.get(key)
        if hit is None:
            transport = self.stock_transport(url)
            try:
                if self._refusal is not None:
                    raise self._refusal
                answer = for_transport(transport, request)
            except Unsupported as refused:
                answer = refused
            hit = (transport, answer)
            if len(self._by_origin) < 256:
                self._by_origin[key] = hit
        return hit


_client_resolvers: "weakref.WeakKeyDictionary[Any, Resolver]" = weakref.WeakKeyDictionary()


def resolver_for(client: Any) -> Resolver:
    """The Resolver of an httpx client stock built (the SDK family's), made once per client."""
    resolver = _client_resolvers.get(client)
    if resolver is None:
        resolver = Resolver(client._transport, client._mounts)
        try:
            _client_resolvers[client] = resolver
        except TypeError:
            pass
    return resolver


@dataclass(frozen=True)
class ClientSettings:
    """How a stock httpx client (the SDK family's, which stock builds and the core replaces)
    sends to its base URL, resolved once per client and carried by the native client as a
    plain value: the TLS trust and proxy (`net`, a NetConfig), the caller's aiohttp session its
    requests go through (`caller`, or None), and the state of the switch stock re-reads per
    request that the answer was resolved under (`switches`). `resolver` serves the transports
    built on the same client (streams, replays), which resolve per request as stock does."""

    resolver: Resolver
    net: Any
    caller: Any
    switches: Any


def client_settings(client: Any, url: str) -> ClientSettings:
    """The settings of requests to `url` through `client`; raises Unsupported where the core
    cannot send them as stock's client would."""
    resolver = resolver_for(client)
    switches = resolver.switches()
    answer = resolver.by_url.get((url, switches))
    if answer is None:
        _, answer = resolver.resolve(httpx.Request("POST", url), switches)
        if len(resolver.by_url) < 256:
            resolver.by_url[(url, switches)] = answer
    if isinstance(answer, Unsupported):
        raise answer
    caller = resolver.caller
    if caller is not None and caller.transport is not resolver.stock_transport(httpx.URL(url)):
        caller = None  # the base URL is mounted on another transport: the session is not used
    return ClientSettings(resolver, answer, caller, switches)
