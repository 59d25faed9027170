"""A caller's aiohttp session: the LiteLLM Proxy's shared one (`data["shared_session"]`), or the
one an SDK caller passes as `shared_session=`.

LiteLLM hands such a session to its aiohttp transport (`LiteLLMAiohttpTransport(client=session,
owns_session=False)`), which then sends every request of that client through it. A session is a
connection pool plus settings, and some of those settings change what goes on the wire:

* default headers, merged under each request's own headers (aiohttp's `_prepare_headers`);
* a cookie jar: cookies it holds for the URL are sent, `Set-Cookie` answers are stored;
* a default proxy (`proxy=`, `proxy_auth=`), and with `trust_env` the environment's proxy;
* connector limits (`limit`, `limit_per_host`): requests past them wait for a slot;
* the connector's TLS setting, where LiteLLM's transport does not override it per request.

Those are reproduced here for the core: headers and cookies by aiohttp's own code, the limits by
counting the native requests in flight per session. Settings the core cannot reproduce make
`refusal()` name them (`session_unsupported:<setting>`), and those requests stay stock's,
counted. Settings that the transport overrides on every request (the session's timeout,
`auto_decompress`, redirects) or that only pace the pool (keep-alive, DNS cache) change nothing
a request or its answer shows, and are not read.
"""

from __future__ import annotations

import asyncio
import inspect
import ssl
import weakref
from collections import Counter
from typing import Any, List, Optional, Tuple

import aiohttp
from aiohttp import ClientRequest, ClientResponse, ClientSession, CookieJar, DummyCookieJar, TCPConnector
from multidict import CIMultiDict
from yarl import URL


def caller_session(transport: Any) -> Optional[ClientSession]:
    """The session a LiteLLM aiohttp transport sends through when a caller gave it one (it does
    not own it), else None (LiteLLM's own session, made from LiteLLM's settings)."""
    session = getattr(transport, "client", None)
    if isinstance(session, ClientSession) and getattr(transport, "_owns_session", True) is False:
        return session
    return None


# ---------------------------------------------------------------------------------------------
# Settings the core cannot reproduce (read once per session: aiohttp fixes them at construction)

def _defaults() -> dict:
    params = inspect.signature(ClientSession.__init__).parameters
    return {name: params[name].default for name in ("max_line_size", "max_field_size", "max_headers") if name in params}


_SESSION_DEFAULTS = _defaults()
_KNOWN_RESOLVERS = tuple(
    cls for cls in (getattr(aiohttp, "ThreadedResolver", None), getattr(aiohttp, "AsyncResolver", None)) if cls
)


def _from_litellm(obj: Any) -> bool:
    """LiteLLM's own additions to the sessions it builds (the proxy's): a pool-wait trace that
    only logs when a request waited a second for an aiohttp connection (the core has no aiohttp
    pool to wait for), a socket factory that turns on TCP keep-alive probes."""
    return (getattr(obj, "__module__", "") or "").startswith("litellm.")


def refusal(session: ClientSession, transport_ssl: Any) -> Optional[str]:
    """The first setting of `session` the core cannot reproduce, as a counted reason."""
    reason = _refusal(session, transport_ssl)
    return None if reason is None else f"session_unsupported:{reason}"


def _refusal(session: ClientSession, transport_ssl: Any) -> Optional[str]:
    if type(session) is not ClientSession:
        return "session_class"  # a subclass may send its own way
    connector = session.connector
    if type(connector) is not TCPConnector:
        return "connector"  # Unix sockets, named pipes, custom connectors
    if getattr(connector, "_local_addr_infos", None):
        return "local_address"
    if getattr(connector, "_family", 0):
        return "address_family"
    if _KNOWN_RESOLVERS and not isinstance(getattr(connector, "_resolver", None), _KNOWN_RESOLVERS):
        return "resolver"  # may map host names to addresses DNS would not give
    if getattr(connector, "_force_close", False):
        return "force_close"  # a new connection per request: the core keeps them open
    factory = getattr(connector, "_socket_factory", None)
    if factory is not None and not _from_litellm(factory):
        return "socket_factory"
    if transport_ssl is None:  # the connector's TLS setting applies
        connector_ssl = connector._ssl
        if connector_ssl is not True and connector_ssl is not False:
            # a fingerprint, or a context that may carry a client certificate Python cannot list
            return "ssl_context"
    if session._raise_for_status:
        return "raise_for_status"
    if any(not _from_litellm(getattr(trace, "_trace_config_ctx_factory", None)) for trace in session.trace_configs):
        return "trace_configs"
    if getattr(session, "_middlewares", None):
        return "middlewares"
    if session._request_class is not ClientRequest:
        return "request_class"
    if session._response_class is not ClientResponse:
        return "response_class"
    if getattr(session, "_base_url", None) is not None:
        return "base_url"
    if session.version != aiohttp.HttpVersion11:
        return "http_version"
    if getattr(session, "_default_auth", None) is not None:  # the attribute: aiohttp deprecates the property
        return "auth"
    if session.skip_auto_headers:
        return "skip_auto_headers"
    for name, default in _SESSION_DEFAULTS.items():
        if getattr(session, f"_{name}", default) != default:
            return "header_limits"  # stock refuses answers with longer or more headers
    if type(session.cookie_jar) not in (CookieJar, DummyCookieJar):
        return "cookie_jar"
    return None


def connector_ssl(session: ClientSession) -> Any:
    """The TLS setting aiohttp uses when the request names none: the connector's (checked by
    `refusal` to be True or False), as the context aiohttp builds for it."""
    if session.connector._ssl is False:
        return False
    return ssl.create_default_context()


def default_proxy(session: ClientSession) -> Optional[str]:
    """The session's own proxy (`ClientSession(proxy=..., proxy_auth=...)`), used when the
    request names none, as a URL with its credentials."""
    proxy = getattr(session, "_default_proxy", None)
    if proxy is None:
        return None
    url = URL(str(proxy))
    auth = getattr(session, "_default_proxy_auth", None)
    if auth is not None and url.user is None:
        url = url.with_user(auth.login).with_password(auth.password)
    return str(url)


def netrc_refusal(session: ClientSession, host: Optional[str]) -> Optional[str]:
    """With `trust_env`, aiohttp adds Basic credentials from ~/.netrc (or $NETRC) for the host."""
    if not session.trust_env or not host:
        return None
    from aiohttp.helpers import basicauth_from_netrc, netrc_from_env

    netrc = netrc_from_env()
    if netrc is None:
        return None
    try:
        basicauth_from_netrc(netrc, host)
    except LookupError:
        return None
    return "session_unsupported:netrc"


# ---------------------------------------------------------------------------------------------
# Per request


class CallerSession:
    """What one caller's session adds to each native request."""

    def __init__(self, session: ClientSession, transport: Any):
        self.session = session
        self.transport = transport  # stock's transport that sends through it
        jar = session.cookie_jar
        self._jar = None if type(jar) is DummyCookieJar else jar
        self._slots = _slots_of(session)

    def unusable(self) -> Optional[str]:
        """Why stock would not send through this session now: it was closed, or it belongs to
        another event loop. LiteLLM's transport then makes a session of its own (and some
        releases close the caller's), so those requests are left to it."""
        session = self.session
        if session.closed:
            return "session_closed"
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return "session_other_loop"
        loop = getattr(session, "_loop", None)
        if loop is not running or loop.is_closed():
            return "session_other_loop"
        return None

    def headers(self, headers: List[Tuple[str, str]], url: str) -> List[Tuple[str, str]]:
        """The request's headers as the session sends them: its default headers under the
        request's own, then the cookies its jar holds for the URL (both by aiohttp's code)."""
        session = self.session
        if not session.headers and self._jar is None:
            return headers
        merged = session._prepare_headers(CIMultiDict(headers))
        if self._jar is not None:
            cookies = self._jar.filter_cookies(URL(url))
            if cookies:
                holder = _HeaderHolder(merged)
                ClientRequest.update_cookies(holder, cookies)  # type: ignore[arg-type]
                merged = holder.headers
        return list(merged.items())

    def store_cookies(self, response_headers: Any, url: str) -> None:
        """The answer's Set-Cookie headers into the jar, as aiohttp stores them."""
        if self._jar is None:
            return
        raw = [value for name, value in _pairs(response_headers) if name.lower() == "set-cookie"]
        if raw:
            self._jar.update_cookies_from_headers(raw, URL(url))

    async def slot(self, url: Any, timeout: Optional[float]) -> Optional[Any]:
        """A connection slot under the connector's limits (a key to release), or None when none
        freed up within `timeout` (the request's pool timeout, as aiohttp's connector waits)."""
        return await self._slots.acquire((url.scheme, url.host, url.port), timeout)

    def try_slot(self, url: Any) -> Optional[Any]:
        """A connection slot if one is free now, else None."""
        return self._slots.try_acquire((url.scheme, url.host, url.port))

    def release(self, key: Any) -> None:
        self._slots.release(key)


# One count per session: several native clients (an SDK client, a generic handler, one per
# provider) may send through the same session, and its connector bounds them all together.
_slots_by_session: "weakref.WeakKeyDictionary[ClientSession, _Slots]" = weakref.WeakKeyDictionary()


def _slots_of(session: ClientSession) -> "_Slots":
    slots = _slots_by_session.get(session)
    if slots is None:
        connector = session.connector
        slots = _slots_by_session.setdefault(session, _Slots(connector.limit, connector.limit_per_host))
    return slots


class _HeaderHolder:
    """What aiohttp's `ClientRequest.update_cookies` reads and writes of a request."""

    __slots__ = ("headers",)

    def __init__(self, headers: CIMultiDict):
        self.headers = headers


def _pairs(headers: Any):
    if hasattr(headers, "multi_items"):
        return headers.multi_items()
    if hasattr(headers, "items") and not isinstance(headers, list):
        return headers.items()
    return headers


class _Slots:
    """In-flight native requests per session and per host, bounded as aiohttp's connector
    bounds its connections (0: no bound). A request past a bound waits for one to end."""

    def __init__(self, limit: int, per_host: int):
        self.limit = limit or 0
        self.per_host = per_host or 0
        self.total = 0
        self.by_host: Counter = Counter()
        self._waiters: List[asyncio.Future] = []

    def _full(self, key: Any) -> bool:
        return (self.limit and self.total >= self.limit) or (self.per_host and self.by_host[key] >= self.per_host)

    def try_acquire(self, key: Any) -> Optional[Any]:
        if not self.limit and not self.per_host:
            return key
        if self._full(key):
            return None
        self.total += 1
        self.by_host[key] += 1
        return key

    async def acquire(self, key: Any, timeout: Optional[float]) -> Optional[Any]:
        if not self.limit and not self.per_host:
            return key
        if self._full(key):
            loop = asyncio.get_running_loop()
            deadline = None if timeout is None else loop.time() + timeout
            while self._full(key):
                waiter = loop.create_future()
                self._waiters.append(waiter)
                try:
                    left = None if deadline is None else deadline - loop.time()
                    if left is not None and left <= 0:
                        return None
                    await asyncio.wait_for(waiter, left)
                except asyncio.TimeoutError:
                    return None
                finally:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
        self.total += 1
        self.by_host[key] += 1
        return key

    def release(self, key: Any) -> None:
        if not self.limit and not self.per_host:
            return
        self.total -= 1
        self.by_host[key] -= 1
        if not self.by_host[key]:
            del self.by_host[key]
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:  # each re-checks the bound it waits on
            if not waiter.done():
                waiter.set_result(None)
