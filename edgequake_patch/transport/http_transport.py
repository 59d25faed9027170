"""LiteLLM's own HTTPHandler / AsyncHTTPHandler, with the Rust core as their httpx transport.

Used for the providers LiteLLM serves through `base_llm_http_handler` (xai, mistral,
openrouter). Stock code builds the URL, headers and body, posts them, masks errors and parses
the response exactly as it always does; only the bytes travel through the core. Because the
handler's own `post()` runs around the native exchange, its timing, error classes, messages
and its one reconnect-retry on the async path stay stock's.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Optional

from ..state import marks
from .native_transport import NativeAsyncTransport, NativeTransport
from .net_settings import Resolver

# Stock handlers built exactly as LiteLLM's getters build them (same timeout, default headers,
# redirect policy), whose httpx client then sends through the core. Kept per configuration
# like LiteLLM's own client cache; the connection pool itself lives in the core.
_handlers: "OrderedDict[Any, Any]" = OrderedDict()
_MAX_HANDLERS = 64
_lock = threading.Lock()


def _nativize(client: Any, provider: str, is_async: bool) -> Any:
    """Keep the stock httpx client's settings; change only where its bytes go. Its transport and
    mounts (env proxies, NO_PROXY) stay known to the resolver, which reads the TLS and proxy
    settings each request must be sent with off them."""
    resolver = Resolver(client._transport, client._mounts)
    client._transport = (NativeAsyncTransport if is_async else NativeTransport)(provider, resolver)
    client._mounts = {}
    return client


def _default_timeout() -> Any:
    from litellm.llms.custom_httpx import http_handler

    return http_handler._default_cached_client_timeout()


def _build_handler(provider: str, is_async: bool, params: Optional[dict], timeout: Any, session: Any = None) -> Any:
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler, HTTPHandler

    handler_params = {k: v for k, v in (params or {}).items() if k != "disable_aiohttp_transport"}
    if params is None:
        handler_params["timeout"] = _default_timeout() if timeout is _UNSET else timeout
    if session is not None:
        # As stock's getter builds a handler for a caller's session: its aiohttp transport then
        # sends through that session, and the resolver reads the session's settings off it.
        handler_params["shared_session"] = session
    if is_async:
        handler = AsyncHTTPHandler(**handler_params)
        _nativize(handler.client, provider, True)
        make_client = handler.create_client
        # Stock retries a refused/broken connection once on a fresh client: that attempt
        # must go through the core too.
        handler.create_client = lambda *a, **k: _nativize(make_client(*a, **k), provider, True)
    else:
        handler = HTTPHandler(**handler_params)
        _nativize(handler.client, provider, False)
    return handler


_UNSET = object()


def _native_handler(provider: str, is_async: bool, params: Optional[dict], timeout: Any = _UNSET,
                    session: Any = None) -> Any:
    # Per call: a cheap hashable key (LiteLLM passes {"ssl_verify": None} or a timeout). A
    # caller's session is part of it (held by the key: a closed session's handler ages out).
    try:
        key = (provider, is_async, tuple(params.items()) if params is not None else None, timeout, session)
        hash(key)
    except TypeError:
        key = (provider, is_async, repr(params), repr(timeout), session)
    handler = _handlers.get(key)
    if handler is None:
        with _lock:
            handler = _handlers.get(key)
            if handler is None:
                handler = _build_handler(provider, is_async, params, timeout, session)
                _handlers[key] = handler
                while len(_handlers) > _MAX_HANDLERS:
                    _handlers.popitem(last=False)
    return handler


def sync_client(wrapped, _instance, args, kwargs):
    """On the `get_httpx_client(params)` LiteLLM's generic handler uses."""
    provider = marks.active_call.get()
    if provider is None:
        return wrapped(*args, **kwargs)
    params = args[0] if args else kwargs.get("params")
    return _native_handler(provider, False, params)


def async_client(wrapped, _instance, args, kwargs):
    """On `get_async_httpx_client(llm_provider, params, shared_session)`."""
    provider = marks.active_call.get()
    if provider is None:
        return wrapped(*args, **kwargs)
    params = args[1] if len(args) > 1 else kwargs.get("params")
    shared_session = args[2] if len(args) > 2 else kwargs.get("shared_session")
    if shared_session is None:
        return _native_handler(provider, True, params)
    # Stock's getter returns its cached handler, built for whichever session the first call of
    # this configuration brought: that is the session stock sends through, so it is asked (as
    # stock asks it, creating and caching the handler on a miss) and its session is the one
    # the native handler reproduces.
    return _native_handler(provider, True, params, session=_session_of(wrapped(*args, **kwargs)))


def _session_of(stock_handler: Any) -> Any:
    """The caller's aiohttp session a stock AsyncHTTPHandler sends through, or None."""
    from .aiohttp_session import caller_session

    client = getattr(stock_handler, "client", None)
    return caller_session(getattr(client, "_transport", None))


def new_sync_handler(wrapped, _instance, args, kwargs):
    """On the `HTTPHandler` class where a handler builds one per call (OpenAI-compatible
    embeddings): a native handler with the same timeout instead."""
    provider = marks.active_call.get()
    if provider is None or args or set(kwargs) - {"timeout"}:
        return wrapped(*args, **kwargs)
    return _native_handler(provider, False, None, kwargs.get("timeout"))


def _module_level_clients() -> tuple:
    import litellm

    # Read from the module's namespace: `getattr` would create them (they are lazy).
    namespace = vars(litellm)
    return namespace.get("module_level_client"), namespace.get("module_level_aclient")


def module_client_post(wrapped, instance, args, kwargs):
    """On `HTTPHandler.post` / `AsyncHTTPHandler.post`. During a marked call, a post through
    LiteLLM's module-level client goes through a native handler with that client's timeout
    instead; every other handler (stock's, or a native one) posts as it always does."""
    provider = marks.active_call.get()
    if provider is None or instance is None:
        return wrapped(*args, **kwargs)
    sync_client, async_client = _module_level_clients()
    if instance is sync_client:
        is_async = False
    elif instance is async_client:
        is_async = True
    else:
        return wrapped(*args, **kwargs)
    native_handler = _native_handler(provider, is_async, None, instance.client.timeout)
    if not _same_client_settings(instance.client, native_handler.client):
        # An application may install its own module-level handler (custom headers, auth, hooks):
        # the native one would not carry those, so that client keeps posting itself.
        marks.refuse("caller_client")
        return wrapped(*args, **kwargs)
    return native_handler.post(*args, **kwargs)


def _same_client_settings(stock: Any, native_client: Any) -> bool:
    """Whether the native handler's httpx client sends as the module-level one would: the same
    default headers, base URL, redirect policy, and no auth or event hooks of its own."""
    return (
        type(stock) is type(native_client)
        and stock.headers == native_client.headers
        and stock.base_url == native_client.base_url
        and stock.follow_redirects == native_client.follow_redirects
        and stock.auth is None
        and not any(stock.event_hooks.values())
    )
