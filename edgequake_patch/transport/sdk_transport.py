"""A Rust-backed stand-in for the OpenAI SDK client, handed to LiteLLM's own OpenAI and Azure
handlers for calls the router accepted.

Stock code keeps doing everything around the exchange; this object does what the SDK would do
on the wire (URL, auth headers, JSON body with extra_body/extra_query/extra_headers, the SDK's
retry policy) and hands back the parsed body in the SDK's `model_dump()` shape.

Only a well-formed success takes the fast path. Every other outcome (an HTTP error, a refused
connection, a timeout, a body that is not a chat completion) is *replayed* through a real SDK
client whose transport returns what the core already received: the SDK raises or returns
exactly what it would have, with no second request and no retry (the core already retried).
"""

from __future__ import annotations

import array
import base64
import functools
import inspect
import weakref
from contextvars import ContextVar
from typing import Any, Callable, Dict, Optional, Tuple

import httpx
import openai
from openai._constants import RAW_RESPONSE_HEADER
from openai._legacy_response import LegacyAPIResponse
from openai._models import FinalRequestOptions
from pydantic import BaseModel, PrivateAttr
from openai.lib.azure import BaseAzureClient

from . import native, net_settings, sdk_models
from ..state import marks
from ..state import stats
from .native_transport import NativeAsyncTransport, NativeTransport
from .transport_errors import as_httpx_error

# The SDK's per-request options: not body fields.
_REQUEST_OPTIONS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
# The generic post's request options the native client reproduces; any other (files, a post
# parser, an idempotency key, ...) leaves that call to the SDK.
_POST_OPTIONS = frozenset({"headers", "params", "extra_json", "timeout", "max_retries", "security"})
_NOT_GIVEN = object()


def _create_params(method: Callable) -> frozenset:
    return frozenset(p for p in inspect.signature(method).parameters if p != "self")


# Keyword arguments the SDK's create() accepts; anything else makes the SDK raise TypeError,
# so such a call is left to the SDK (it will raise exactly that).
_CHAT_PARAMS = _create_params(openai.resources.chat.completions.Completions.create)
_EMBEDDING_PARAMS = _create_params(openai.resources.embeddings.Embeddings.create)


@functools.lru_cache(maxsize=256)
def _sdk_base_url(base_url: str) -> httpx.URL:
    """The client's base URL as the SDK holds it: an httpx.URL ending in '/'.
    (Stock logs `client._base_url._uri_reference`, so it must be the real type.)"""
    url = httpx.URL(base_url)
    if not url.raw_path.endswith(b"/"):
        url = url.copy_with(raw_path=url.raw_path + b"/")
    return url


def _timeouts(timeout: Any) -> Tuple[Optional[float], Optional[float]]:
    """(read, connect) seconds for the core from what the SDK would get: a number applies to
    every phase; a Timeout's read and connect phases map one to one. openai 3 holds its own
    `httpx2.Timeout` where openai 2 held an `httpx.Timeout`: both have the same phases."""
    if timeout is None or isinstance(timeout, (int, float)):
        return timeout, None
    if type(timeout).__name__ == "Timeout" and hasattr(timeout, "read") and hasattr(timeout, "connect"):
        return timeout.read, timeout.connect
    raise _Refused("timeout_not_seconds")


class _Refused(Exception):
    """The request cannot be expressed by the core; nothing has been sent."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# Replaying an outcome through the real SDK

#: An exchange the lean handler (lean_chat.py) already made for this call, which then hands the
#: call to stock's handler: the next send of this call answers with it instead of sending, so
#: stock's own code turns it into its result or exception and nothing is sent twice.
prefetched: ContextVar[Any] = ContextVar("edgequake_patch_prefetched", default=None)


def _take_prefetched(is_async: bool) -> Optional[Callable[..., Any]]:
    """A stand-in for native.send(_async) answering with the prefetched exchange, or None."""
    outcome = prefetched.get()
    if outcome is None:
        return None
    prefetched.set(None)  # once: a second request stock makes (drop_params, say) really goes out

    def sync_send(*_args: Any, **_kwargs: Any) -> Any:
        if isinstance(outcome, native.TransportError):
            raise outcome
        return outcome

    if not is_async:
        return sync_send

    def async_send(*_args: Any, **_kwargs: Any) -> Any:
        async def answered():
            return sync_send()

        return answered()

    return async_send


class _Replay(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport that answers once with what the core received. A failure is raised
    as the transport of the SDK client stock would have used raises it (`resolver`: that
    client's, which knows its transport per URL)."""

    def __init__(self, outcome: Any, resolver: Any = None):
        self.outcome = outcome
        self.resolver = resolver

    def _answer(self, request: httpx.Request) -> httpx.Response:
        outcome = self.outcome
        if isinstance(outcome, native.TransportError):
            stock = self.resolver.stock_transport(request.url) if self.resolver is not None else None
            failed = as_httpx_error(outcome, request, stock)
            raise failed from failed.__cause__
        return httpx.Response(outcome.status, headers=outcome.headers, content=outcome.body, request=request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._answer(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self._answer(request)


# ---------------------------------------------------------------------------------------------
# The client


class NativeSdkClient:
    """What LiteLLM's OpenAI handlers use of an `openai.OpenAI` / `AsyncOpenAI` client.

    Instantiated through the SDK-class subclasses below (stock checks `isinstance(client,
    AzureOpenAI | OpenAI)`); the SDK's own __init__ never runs, no httpx client exists.
    """

    def __init__(
        self,
        *,
        provider: str,
        is_async: bool,
        api_key: Optional[str],
        base_url: str,
        auth_headers: Dict[str, str],
        timeout: Any,
        max_retries: int,
        real: Any,
        organization: Optional[str] = None,
        project: Optional[str] = None,
        query: Optional[Dict[str, str]] = None,
        deployments: bool = False,
        settings: Any = None,
    ):
        self.provider = provider
        self.is_async = is_async
        self.api_key = api_key
        self.organization = organization
        self.project = project
        self.timeout = timeout
        self.max_retries = max_retries
        self._sdk_url = _sdk_base_url(base_url)
        self._base = str(self._sdk_url)
        self._query = query
        self._auth_headers = auth_headers
        self._headers_memo: Dict[Any, list] = {}
        # Azure's SDK client routes deployment endpoints to /deployments/{model}/...
        self._deployments = deployments and "/deployments" not in self._sdk_url.path
        self._real = real
        #: How stock's SDK client sends (net_settings.ClientSettings): its TLS trust and proxy
        #: (`net`), the caller's aiohttp session it sends through (`caller`: async clients built
        #: with `shared_session`; its headers, cookies and connection limits apply), resolved once.
        self.settings = settings
        self._net = settings.net if settings is not None else None
        self._caller = settings.caller if settings is not None else None
        self.chat = _Chat(self)
        self.embeddings = _Endpoint(self, "embeddings", _EMBEDDING_PARAMS)

    # The SDK keeps its base URL in a field whose name is its own business (`_base_url` until
    # openai 3.62, then `_configured_base_url` behind a `_base_url` property). Stock reads both
    # spellings (`client._base_url._uri_reference` in its logging): the native client answers
    # them from its own URL, relying on neither field.
    @property
    def _base_url(self) -> httpx.URL:
        return self._sdk_url

    @property
    def base_url(self) -> httpx.URL:
        return self._sdk_url

    @base_url.setter
    def base_url(self, url: Any) -> None:
        self._sdk_url = _sdk_base_url(str(url))
        self._base = str(self._sdk_url)

    # --- what the handlers call -------------------------------------------------------------

    def post(self, path: str, *, body: Any = None, options: Any = None, cast_to: Any = None,
             stream: bool = False, stream_cls: Any = None, **more: Any):
        """The SDK's generic POST. Stock uses it for embeddings without SDK defaults and, from
        LiteLLM 1.108.1, for chat (with the raw-response header in `options`, streams included)."""
        options = options or {}

        def call_stock(client):
            extra = {"stream": stream, "stream_cls": stream_cls} if stream or stream_cls is not None else {}
            return client.post(path, body=body, options=options, cast_to=cast_to, **extra, **more)

        if stream:
            return call_stock(self.streaming_client())
        if more or set(options) - _POST_OPTIONS:
            return _Endpoint(self, path.strip("/"), None)._stock("sdk_unknown_option", call_stock)
        name = path.strip("/")
        endpoint = self.embeddings if name == "embeddings" else _Endpoint(self, name, None)
        kwargs = {"extra_headers": options.get("headers"), "extra_query": options.get("params"),
                  "extra_body": options.get("extra_json")}
        if "timeout" in options:
            kwargs["timeout"] = options["timeout"]
        if "max_retries" in options:
            kwargs["max_retries"] = options["max_retries"]
        if "security" in options:
            kwargs["security"] = options["security"]
        return endpoint.send(dict(body or {}), kwargs, call_stock, raw_header=False)

    # --- building the request the SDK would build -------------------------------------------

    def build(self, path: str, body: Dict[str, Any], options: Dict[str, Any], raw_header: bool = True) -> Tuple[str, list]:
        """URL and headers as the SDK sends them for `options` (the create() keywords, or the
        generic post's options under the same names). `raw_header`: the call is a
        `with_raw_response` one, which adds the SDK's raw-response header (every stock path does)."""
        model = body.get("model") if self._deployments else None
        url = f"{self._base}deployments/{model}/{path}" if model is not None else self._base + path
        query = dict(self._query) if self._query else {}
        extra_query = options.get("extra_query")
        if extra_query:
            query.update(extra_query)
        if query:
            url = str(httpx.URL(url, params=query))
        custom = dict(self._auth_headers)  # Azure's: the SDK adds them per request
        extra_headers = options.get("extra_headers")
        if raw_header:
            custom[RAW_RESPONSE_HEADER] = "true"
        if extra_headers:
            custom.update(extra_headers)
        timeout = options.get("timeout", _NOT_GIVEN)
        return url, self._sdk_headers(custom, timeout, options.get("security"))

    def _sdk_headers(self, custom: Dict[str, Any], timeout: Any, security: Any) -> list:
        """The headers the SDK client stock would use sends with these per-request headers and
        timeout, built by that client's own code (so they are the SDK's for its version: user
        agent, X-Stainless-* platform headers, auth, retry count 0, read timeout). Memoised per
        client: they are a pure function of those inputs. The core rewrites the retry count on
        each retry, as the SDK does."""
        if not (timeout is _NOT_GIVEN or timeout is None or isinstance(timeout, (int, float))):
            # A Timeout object is not hashable; its repr names every phase.
            timeout_key: Any = (type(timeout).__module__, repr(timeout))
        else:
            timeout_key = timeout
        try:
            key = (tuple(custom.items()), timeout_key, None if security is None else tuple(sorted(security.items())))
            cached = self._headers_memo.get(key)
        except TypeError:  # unhashable values: build them every time
            key, cached = None, None
        if cached is None:
            fields: Dict[str, Any] = {"method": "post", "url": "/", "headers": custom}
            if timeout is not _NOT_GIVEN:
                fields["timeout"] = timeout
            if security is not None:
                fields["security"] = security
            built = self._real._build_headers(FinalRequestOptions.construct(**fields), retries_taken=0)
            cached = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in built.raw]
            if key is not None:
                if len(self._headers_memo) >= 64:
                    self._headers_memo.clear()
                self._headers_memo[key] = cached
        return cached

    def streaming_client(self) -> Any:
        """For streams the real SDK does everything (its retry loop, its Stream of chunks) on a
        copy of the client stock would have used whose transport is the core, which hands the
        body over as it arrives."""
        real = self._real
        # The TLS and proxy settings of the client stock would have used go along.
        resolver = self.settings.resolver
        if self.is_async:
            http_client = httpx.AsyncClient(transport=NativeAsyncTransport(self.provider, resolver))
        else:
            http_client = httpx.Client(transport=NativeTransport(self.provider, resolver))
        return real.copy(http_client=http_client)

    def replay(self, outcome: Any, call_stock: Callable[[Any], Any]):
        """Run the real SDK over what the core received (no network, no retry): a copy of the
        client stock would have used, whose transport answers with that outcome."""
        replayed = _Replay(outcome, self.settings.resolver)
        http_client = (httpx.AsyncClient if self.is_async else httpx.Client)(transport=replayed)
        return call_stock(self._real.copy(http_client=http_client, max_retries=0))


class NativeOpenAI(NativeSdkClient, openai.OpenAI):
    pass


class NativeAsyncOpenAI(NativeSdkClient, openai.AsyncOpenAI):
    pass


class NativeAzureOpenAI(NativeSdkClient, openai.AzureOpenAI):
    pass


class NativeAsyncAzureOpenAI(NativeSdkClient, openai.AsyncAzureOpenAI):
    pass


def native_client(*, azure_sdk: bool = False, is_async: bool, **kwargs: Any) -> NativeSdkClient:
    """The native client of the SDK class stock would have built."""
    cls = {
        (False, False): NativeOpenAI,
        (True, False): NativeAsyncOpenAI,
        (False, True): NativeAzureOpenAI,
        (True, True): NativeAsyncAzureOpenAI,
    }[(is_async, azure_sdk)]
    return cls(is_async=is_async, **kwargs)


class _Chat:
    __slots__ = ("completions",)

    def __init__(self, client: NativeSdkClient):
        self.completions = _Endpoint(client, "chat/completions", _CHAT_PARAMS)


class _Endpoint:
    """`client.<endpoint>` and `client.<endpoint>.with_raw_response` at once: stock only uses
    the raw-response form, whose result has `.headers` and `.parse()`."""

    __slots__ = ("client", "path", "params", "with_raw_response")

    def __init__(self, client: NativeSdkClient, path: str, params: Optional[frozenset]):
        self.client = client
        self.path = path
        self.params = params
        self.with_raw_response = self

    def create(self, **kwargs: Any):
        resource = self.path.replace("/", ".")

        def call_stock(client):
            target = client.chat.completions if resource == "chat.completions" else getattr(client, resource)
            return target.with_raw_response.create(**kwargs)

        if self.params is not None and not kwargs.keys() <= self.params:
            return self._stock("sdk_unknown_parameter", call_stock)
        if kwargs.get("stream") is True:
            return call_stock(self.client.streaming_client())
        body = {k: v for k, v in kwargs.items() if k not in _REQUEST_OPTIONS}
        decode = False
        if self.path == "embeddings" and "encoding_format" not in body:
            # The SDK's embeddings.create() asks for base64 and decodes it back to floats.
            body["encoding_format"] = "base64"
            decode = True
        return self.send(body, kwargs, call_stock, decode_base64=decode)

    # --- the exchange ----------------------------------------------------------------------

    def send(self, body: Dict[str, Any], options: Dict[str, Any], call_stock: Callable[[Any], Any],
             decode_base64: bool = False, raw_header: bool = True):
        client = self.client
        try:
            extra_body = options.get("extra_body")
            if extra_body:
                body = {**body, **extra_body}
            url, headers = client.build(self.path, body, options, raw_header=raw_header)
            timeout, connect_timeout = _timeouts(options.get("timeout", client.timeout))
        except _Refused as refused:
            return self._stock(refused.reason, call_stock)
        except (TypeError, ValueError):  # headers the SDK itself would reject: it raises them
            return self._stock("headers_not_sendable", call_stock)
        max_retries = options.get("max_retries", client.max_retries)
        prefetched_send = _take_prefetched(client.is_async)
        caller = client._caller
        if caller is not None and prefetched_send is None:
            unusable = caller.unusable()
            if unusable is not None:
                return self._stock(unusable, call_stock)
            headers = session_headers(caller, headers, url)
            return self._send_in_session(
                caller, url, headers, body, call_stock, decode_base64,
                timeout=timeout, connect_timeout=connect_timeout, max_retries=max_retries,
                pool=_pool_timeout(options.get("timeout", client.timeout)),
            )
        send = prefetched_send or (native.send_async if client.is_async else native.send)
        try:
            pending = send(
                "POST", url, headers, body,
                timeout=timeout, connect_timeout=connect_timeout, max_retries=max_retries, retry="openai_sdk",
                net=client._net,
            )
        except native.TransportError as error:  # sync only: the async form raises when awaited
            if _never_connected(error):
                return self._last_try_stock(call_stock)
            stats.count_native(client.provider, marks.active_endpoint.get())
            return client.replay(error, call_stock)
        except (TypeError, ValueError):
            # The core serializes before anything is sent: stock may still serve this call.
            return self._stock("body_not_json", call_stock)
        if client.is_async:
            return self._finish_async(pending, call_stock, decode_base64)
        return self._finish(pending, call_stock, decode_base64)

    async def _send_in_session(self, caller: Any, url: str, headers: list, body: Any, call_stock, decode_base64: bool,
                               *, timeout: Any, connect_timeout: Any, max_retries: int, pool: Any):
        """The async exchange through a caller's session: within its connection limits, its
        cookies stored from the answer."""
        slot = await caller.slot(httpx.URL(url), pool)
        if slot is None:
            return await self._stock("session_connector_limit", call_stock)
        try:
            try:
                response = await native.send_async(
                    "POST", url, headers, body, timeout=timeout, connect_timeout=connect_timeout,
                    max_retries=max_retries, retry="openai_sdk", net=self.client._net,
                )
            except (TypeError, ValueError):
                return await self._stock("body_not_json", call_stock)
            except native.TransportError as error:
                if _never_connected(error):
                    return await self._last_try_stock(call_stock)
                stats.count_native(self.client.provider, marks.active_endpoint.get())
                return await self.client.replay(error, call_stock)
        finally:
            caller.release(slot)
        caller.store_cookies(response.headers, url)
        result = self._finish(response, call_stock, decode_base64)
        if inspect.isawaitable(result):
            return await result
        return result

    def _last_try_stock(self, call_stock: Callable[[Any], Any]):
        """Every attempt failed to connect, so nothing was sent: one more attempt, stock's own
        (the core already waited out the SDK's retries). Where stock's TLS stack accepts a
        server certificate rustls does not (a CN-only certificate, say), stock then succeeds as
        it would have; otherwise it raises its own error."""
        marks.refuse("connect_failed_before_send")
        return call_stock(self.client._real.copy(max_retries=0))

    def _stock(self, reason: str, call_stock: Callable[[Any], Any]):
        marks.refuse(reason)
        return call_stock(self.client._real)

    async def _finish_async(self, pending, call_stock, decode_base64=False):
        try:
            response = await pending
        except native.TransportError as error:
            if _never_connected(error):
                return await self._last_try_stock(call_stock)
            stats.count_native(self.client.provider, marks.active_endpoint.get())
            return await self.client.replay(error, call_stock)
        result = self._finish(response, call_stock, decode_base64)
        if inspect.isawaitable(result):
            return await result
        return result

    def _finish(self, response, call_stock, decode_base64=False):
        client = self.client
        stats.count_native(client.provider, marks.active_endpoint.get())
        if 200 <= response.status < 300:
            try:
                parsed = response.json()
                shaped = self._shape(parsed)
            except ValueError:
                return client.replay(response, call_stock)
            return NativeRawResponse(response.headers_dict(), shaped, self.path, decode_base64, parsed)
        return client.replay(response, call_stock)

    def _shape(self, parsed: Any):
        if not sdk_models.core_parses():
            raise ValueError("the installed SDK's models differ from the core's: the SDK parses")
        if self.path == "chat/completions":
            return native.openai_sdk_shape(parsed)
        if self.path == "embeddings":
            return native.openai_sdk_shape_embedding(parsed)
        raise ValueError("no fast path for this endpoint")


# Headers the core frames itself; a session default of one of these never reaches the wire
# through httpx's client either (which sets them).
_FRAMED = frozenset({"host", "content-length", "connection", "transfer-encoding", "accept-encoding"})


def session_headers(caller: Any, headers: list, url: str) -> list:
    """The SDK's headers as a caller's session sends them (its defaults and cookies added)."""
    return [(k, v) for k, v in caller.headers(headers, url) if k.lower() not in _FRAMED]


def _pool_timeout(timeout: Any) -> Any:
    """How long aiohttp's connector waits for a free connection: the request's pool timeout."""
    if timeout is None or isinstance(timeout, (int, float)):
        return timeout
    return getattr(timeout, "pool", None)


def _never_connected(error: Any) -> bool:
    return error.kind == "connect" and not error.sent


class NativeRawResponse(LegacyAPIResponse):
    """The part of the SDK's LegacyAPIResponse that stock reads: `.headers` and `.parse()`.
    A subclass, because stock asserts the type; the SDK's __init__ (an httpx response, the
    client, request options) never runs."""

    def __init__(self, headers: Dict[str, str], shaped: Dict[str, Any], path: str, decode_base64: bool = False,
                 body: Any = None):
        self._native_headers = headers
        self._shaped = shaped
        self._body = body  # the parsed JSON, for dumps other than the plain one
        self._path = path
        self._decode_base64 = decode_base64

    @property
    def headers(self) -> Dict[str, str]:  # type: ignore[override]
        return self._native_headers

    def parse(self):
        if self._path == "embeddings":
            # Stock hands the parsed object itself to its logging, so it must be the SDK's type.
            from openai._models import construct_type
            from openai.types import CreateEmbeddingResponse

            parsed = construct_type(type_=CreateEmbeddingResponse, value=self._shaped)
            if self._decode_base64:
                _decode_embeddings(parsed)
            return parsed
        return _Parsed.of(self._shaped, self._body)


def _decode_embeddings(parsed: Any) -> None:
    """The SDK's post-parser for the base64 it asked for (float32, little-endian)."""
    if not parsed.data:
        raise ValueError("No embedding data received")
    for item in parsed.data:
        if isinstance(item.embedding, str):
            item.embedding = array.array("f", base64.b64decode(item.embedding)).tolist()


class _Parsed(BaseModel):
    """What `parse()` returns for a chat completion: stock only dumps it. A pydantic model,
    because from LiteLLM 1.108 stock's Azure handler rejects anything else and then dumps it
    with `exclude_unset=True`.

    The plain `model_dump()` is the core's SDK-shaped dict, and so is the one excluding unset
    fields (the core reproduces both, tested against the SDK). Any other dump is the SDK's own:
    the SDK's ChatCompletion is built (as the SDK builds it, without validation) from the
    body, only then, and asked for it."""

    _dump: Any = PrivateAttr()
    _body: Any = PrivateAttr()

    @classmethod
    def of(cls, dump: Dict[str, Any], body: Any) -> "_Parsed":
        # pydantic's __init__ would validate the (empty) field set for nothing: fill the slots
        # a model instance has directly.
        parsed = cls.__new__(cls)
        object.__setattr__(parsed, "__dict__", {})
        object.__setattr__(parsed, "__pydantic_fields_set__", set())
        object.__setattr__(parsed, "__pydantic_extra__", None)
        object.__setattr__(parsed, "__pydantic_private__", {"_dump": dump, "_body": body})
        return parsed

    def model_dump(self, **kwargs: Any) -> Dict[str, Any]:  # type: ignore[override]
        private = self.__pydantic_private__
        if not kwargs:
            return private["_dump"]
        if kwargs == {"exclude_unset": True}:  # what stock asks from 1.108
            return native.openai_sdk_shape(private["_body"], exclude_unset=True)
        from openai._models import construct_type
        from openai.types.chat import ChatCompletion

        return construct_type(type_=ChatCompletion, value=private["_body"]).model_dump(**kwargs)


# ---------------------------------------------------------------------------------------------
# The transport hooks: stock obtains its SDK client (from its own cache, with its own settings),
# and a native client with exactly those settings is handed over in its place.


def _caller_client(args, kwargs, position: int) -> Any:
    return args[position] if len(args) > position else kwargs.get("client")


def openai_client(wrapped, instance, args, kwargs):
    """On OpenAIChatCompletion._get_openai_client(is_async, api_key, api_base, api_version,
    timeout, max_retries, organization, client, ...)."""
    provider = marks.active_call.get()
    if provider is None:
        return wrapped(*args, **kwargs)
    if _caller_client(args, kwargs, 7) is not None:
        marks.refuse("caller_client")
        return wrapped(*args, **kwargs)
    return from_sdk_client(wrapped(*args, **kwargs), provider)


def azure_client(wrapped, instance, args, kwargs):
    """On BaseAzureLLM.get_azure_openai_client(api_key, api_base, api_version, client, ...)."""
    provider = marks.active_call.get()
    if provider is None:
        return wrapped(*args, **kwargs)
    if _caller_client(args, kwargs, 3) is not None:
        marks.refuse("caller_client")
        return wrapped(*args, **kwargs)
    return from_sdk_client(wrapped(*args, **kwargs), provider)


_AZURE_KEY_SENTINEL = "<missing API key>"


def from_sdk_client(real: Any, provider: str) -> Any:
    """A native client with the settings of `real`, the SDK client stock would have used;
    `real` itself wherever the core cannot reproduce what it would do (counted)."""
    try:
        return native_for(real, provider)
    except _Refused as refused:
        marks.refuse(refused.reason)
        return real


# Native clients by the SDK client they reproduce. Stock's client cache hands out the same SDK
# client call after call, and everything a native client holds is fixed when that client is
# built, except the network answer of an aiohttp transport, which follows a switch stock
# re-reads per request: that switch is part of the cache entry.
_natives: "weakref.WeakKeyDictionary[Any, Tuple[Any, NativeSdkClient]]" = weakref.WeakKeyDictionary()


def native_for(real: Any, provider: str) -> NativeSdkClient:
    """The native client for `real`; raises _Refused (uncounted) if the core cannot be it."""
    cacheable = type(real) in _CACHEABLE
    if cacheable:
        cached = _natives.get(real)
        if cached is not None:
            key, client = cached
            # The switch state now, read through the resolver the client's settings hold (no
            # lookup of the SDK client's resolver per call).
            if key == (provider, client.settings.resolver.switches()):
                return client
    client = _build_native(real, provider)
    if cacheable:
        _natives[real] = ((provider, client.settings.switches), client)
    return client


# Exactly the OpenAI SDK's own client classes (a subclass could change what the client sends per
# request). Azure clients are not cached: stock's Azure handler adjusts its clients per call.
_CACHEABLE = frozenset({openai.OpenAI, openai.AsyncOpenAI})


def _build_native(real: Any, provider: str) -> NativeSdkClient:
    reason = _sdk_client_refusal(real)
    if reason is not None:
        raise _Refused(reason)
    try:
        # What the SDK's own httpx client would send with: its SSL context, its proxy mounts, a
        # caller's aiohttp session (LiteLLM builds async clients over `shared_session`).
        settings = net_settings.client_settings(real._client, str(real.base_url))
    except net_settings.Unsupported as refused:
        raise _Refused(refused.reason) from None
    azure = isinstance(real, BaseAzureClient)
    if azure:
        token = real._azure_ad_token
        if token is not None:
            auth = {"Authorization": f"Bearer {token}"}
        elif real.api_key and real.api_key != _AZURE_KEY_SENTINEL:
            auth = {"api-key": real.api_key}
        else:
            auth = {}
    else:
        auth = real.auth_headers
    return native_client(
        azure_sdk=azure,
        provider=provider,
        is_async=isinstance(real, openai.AsyncOpenAI),
        api_key=real.api_key,
        base_url=str(real.base_url),
        # Only Azure's: the SDK adds them per request. Every other client's auth and custom
        # headers are part of the SDK's default headers, which `_sdk_headers` asks it for.
        auth_headers=dict(auth) if azure else {},
        organization=real.organization,
        project=real.project,
        timeout=real.timeout,
        max_retries=real.max_retries,
        query=dict(real._custom_query) if real._custom_query else None,
        deployments=azure,
        real=real,
        settings=settings,
    )


def _sdk_client_refusal(real: Any) -> Optional[str]:
    if not isinstance(real, (openai.OpenAI, openai.AsyncOpenAI)):
        return "unexpected_client"
    if getattr(real, "_workload_identity_auth", None) is not None or getattr(real, "_provider_runtime", None) is not None:
        return "workload_identity"
    if isinstance(real, BaseAzureClient) and real._azure_ad_token_provider is not None:
        return "azure_ad_token_provider"
    if not isinstance(real.api_key, str) and not isinstance(real, BaseAzureClient):
        return "api_key_provider"
    if "?" in str(real.base_url):
        return "api_base_unexpressed"
    return None
