"""httpx transports whose requests travel through the Rust core.

Stock code (LiteLLM's HTTPHandler, the OpenAI SDK) keeps building requests and reading
responses; only the exchange itself is native. Two kinds of answer:

* whole: one `native.send`, body read and decoded in Rust, for ordinary calls;
* streamed: `native.open_stream`, for calls the router marked as streams. The response is
  handed over once its headers are in and its body is pulled chunk by chunk, so the first
  chunk reaches the caller as soon as the provider sends it, and closing the response (or
  breaking out of the loop that reads it) closes the connection. Its bytes are passed on as
  received: httpx undoes any Content-Encoding exactly as for stock.

Each transport sends every request once: retrying is the caller's business, as with stock.
Every request goes with the TLS trust and proxy the stock client would have used for its URL
(see net_settings). A connection that could not even be opened (refused, TLS handshake
rejected, proxy tunnel refused) sent nothing, so that request may still go the stock way,
through the transport the stock client would have picked, which raises the socket-level error
text stock callers see. So does a request whose settings the core cannot reproduce (counted).
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Iterator

import httpx

from . import native
from ..state import marks
from ..state import stats
from .net_settings import Resolver, Unsupported
from .transport_errors import as_httpx_error
from .wire_formats import whole_response

# Set by the core or meaningless for it: the core frames the request itself.
_FRAMING_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding"})
# For whole answers the core also negotiates compression and hands back decoded bodies, so
# httpx must not see the encoding a second time.
_WHOLE_ANSWER_HEADERS = _FRAMING_HEADERS | {"accept-encoding"}


def _request_headers(request: httpx.Request, dropped: frozenset) -> list:
    return [(k, v) for k, v in request.headers.multi_items() if k.lower() not in dropped]


def _aiohttp_framed(headers: list, request: httpx.Request, body: bytes, stock: Any) -> list:
    """The headers as LiteLLM's aiohttp transport puts them on the wire: aiohttp labels a body
    that has no Content-Type `application/octet-stream` (Ollama's requests carry none). The
    core is told not to add a Content-Type of its own, so a request httpx sends without one
    (the sync path) leaves without one too."""
    if body and not any(k.lower() == "content-type" for k, _ in headers) and _is_aiohttp_transport(stock):
        headers.append(("Content-Type", "application/octet-stream"))
    return headers


def _caller_session(resolver: Resolver, stock: Any) -> Any:
    """The caller's aiohttp session this request goes through in stock (None: LiteLLM's own
    session, or an httpx transport), or a counted reason why stock must send it."""
    caller = resolver.caller
    if caller is None or caller.transport is not stock:
        return None
    return caller.unusable() or caller


def _is_aiohttp_transport(transport: Any) -> bool:
    try:
        from litellm.llms.custom_httpx.aiohttp_transport import LiteLLMAiohttpTransport
    except ImportError:  # pragma: no cover - both supported releases have it
        return False
    return isinstance(transport, LiteLLMAiohttpTransport)


def _timeouts(request: httpx.Request):
    timeout = request.extensions.get("timeout") or {}
    return timeout.get("read"), timeout.get("connect")


class _Body:
    """The core's streamed body; closing it closes the connection."""

    def __init__(self, stream: Any, request: httpx.Request, stock: Any, on_close: Any = None):
        self._stream = stream
        self._request = request
        self._stock = stock  # whose wording a broken body is reported in
        self._received = 0
        #: Set by fast_stream.StreamCall.attach() before anyone reads: the body is then read as frames.
        self.feed = None
        self.started = False
        self._on_close = on_close  # frees a caller session's connection slot, once

    def _closed(self) -> None:
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    def close(self) -> None:
        self._stream.close()
        self._closed()

    def _broken(self, error: Any) -> Exception:
        """Stock's transport's exception for the body breaking as the core says (its words
        depend on the head's framing and on how much of the body had come)."""
        headers = httpx.Headers(self._stream.headers)
        return as_httpx_error(error, self._request, self._stock, headers=headers, received=self._received)


class _SyncBody(_Body, httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        self.started = True
        try:
            if self.feed is not None:
                yield from self.feed.frames()
                return
            next_chunk = self._stream.next_chunk
            while (chunk := next_chunk()) is not None:
                self._received += len(chunk)
                yield chunk
        except native.TransportError as error:
            broken = self._broken(error)
            raise broken from broken.__cause__
        finally:
            # Also when the reader gives up (an exception thrown in, the generator closed).
            self._stream.close()


class _AsyncBody(_Body, httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.started = True
        stream = self._stream
        try:
            if self.feed is not None:
                async for frame in self.feed.frames_async():
                    yield frame
                return
            if _is_aiohttp_transport(self._stock):
                async for piece in self._as_aiohttp_reads():
                    yield piece
                return
            while True:
                chunk = stream.try_next()  # a chunk already read ahead costs no await
                if chunk is False:
                    chunk = await stream.next_async()
                if chunk is None:
                    return
                self._received += len(chunk)
                yield chunk
        except native.TransportError as error:
            broken = self._broken(error)
            raise broken from broken.__cause__
        finally:
            # Also when the task reading is cancelled while waiting for a chunk.
            stream.close()
            self._closed()

    async def _as_aiohttp_reads(self) -> AsyncIterator[bytes]:
        """The body in the pieces LiteLLM's aiohttp transport hands out: each read takes all
        that has arrived, up to its chunk size (callers of a raw byte stream, such as
        `/v1/messages` streams, see those pieces)."""
        from litellm.llms.custom_httpx.aiohttp_transport import AiohttpResponseStream

        size = AiohttpResponseStream.CHUNK_SIZE
        stream = self._stream
        buffered = bytearray()
        ended = False
        broken = None  # what arrived before a break is handed out first, as aiohttp does
        while True:
            if not buffered and not ended:
                if broken is not None:
                    raise broken
                chunk = stream.try_next()
                if chunk is False:
                    chunk = await stream.next_async()
                if chunk is None:
                    ended = True
                else:
                    self._received += len(chunk)
                    buffered += chunk
            while len(buffered) < size and not ended and broken is None:
                try:
                    more = stream.try_next()  # arrived already: the same read takes it
                except native.TransportError as error:
                    broken = error
                    break
                if more is False:
                    break
                if more is None:
                    ended = True
                else:
                    self._received += len(more)
                    buffered += more
            if not buffered:
                if broken is not None:
                    raise broken
                return
            piece = bytes(buffered[:size])
            del buffered[:size]
            yield piece

    async def aclose(self) -> None:
        self._stream.close()
        self._closed()


def _streamed(opened: Any, request: httpx.Request, body_class: type, stock: Any, call: Any,
              on_close: Any = None) -> httpx.Response:
    body = body_class(opened, request, stock, on_close)
    response = httpx.Response(opened.status, headers=opened.headers, stream=body, request=request)
    if call is not True:  # a fast_stream.StreamCall: the body may be read as frames
        call.attach(body, opened.status, response.headers)
    return response


class NativeTransport(httpx.BaseTransport):
    def __init__(self, provider: str, resolver: Resolver):
        self.provider = provider
        self.resolver = resolver  # the stock client's transports, and the settings they send with

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        stock, net = self.resolver.resolve(request)
        if isinstance(net, Unsupported):
            marks.refuse(net.reason)
            return stock.handle_request(request)
        read, connect = _timeouts(request)
        streamed = marks.active_stream.get()
        body = request.read()
        try:
            if streamed:
                opened = native.open_stream(
                    request.method, str(request.url), _request_headers(request, _FRAMING_HEADERS),
                    body, timeout=read, connect_timeout=connect, net=net,
                )
            else:
                reply = native.send(
                    request.method, str(request.url), _request_headers(request, _WHOLE_ANSWER_HEADERS),
                    body, timeout=read, connect_timeout=connect, max_retries=0, retry="none", net=net,
                    default_content_type=False,
                )
        except native.TransportError as error:
            if not error.sent and error.kind == "connect":
                marks.refuse("connect_failed_before_send")
                return stock.handle_request(request)
            stats.count_native(self.provider, marks.active_endpoint.get())
            failed = as_httpx_error(error, request, stock)
            raise failed from failed.__cause__
        stats.count_native(self.provider, marks.active_endpoint.get())
        if streamed:
            return _streamed(opened, request, _SyncBody, stock, streamed)
        # Anthropic, Gemini and Ollama answers may come back parsed by the core (wire_formats).
        return whole_response(self.provider, reply, request, body)

    def close(self) -> None:
        self.resolver.close()


class NativeAsyncTransport(httpx.AsyncBaseTransport):
    def __init__(self, provider: str, resolver: Resolver):
        self.provider = provider
        self.resolver = resolver

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        stock, net = self.resolver.resolve(request)
        if isinstance(net, Unsupported):
            marks.refuse(net.reason)
            return await stock.handle_async_request(request)
        caller = _caller_session(self.resolver, stock)
        if isinstance(caller, str):
            marks.refuse(caller)
            return await stock.handle_async_request(request)
        if caller is None:
            return await self._send(request, stock, net, None, None)
        slot = await caller.slot(request.url, (request.extensions.get("timeout") or {}).get("pool"))
        if slot is None:
            # No connection slot freed up within the pool timeout: stock's connector, under the
            # same limits, decides what happens to this request.
            marks.refuse("session_connector_limit")
            return await stock.handle_async_request(request)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                caller.release(slot)

        try:
            response = await self._send(request, stock, net, caller, release)
        except BaseException:
            release()
            raise
        if not isinstance(response.stream, _AsyncBody):
            release()  # a whole answer: its connection is free again
        return response

    async def _send(self, request: httpx.Request, stock: Any, net: Any, caller: Any, release: Any) -> httpx.Response:
        read, connect = _timeouts(request)
        streamed = marks.active_stream.get()
        body = await request.aread()
        dropped = _FRAMING_HEADERS if streamed else _WHOLE_ANSWER_HEADERS
        if caller is None:
            headers = _request_headers(request, dropped)
        else:
            # The session's default headers go under the request's own (all of them: a default
            # is added only where the request lacks that header), then the framing ones go.
            merged = caller.headers(request.headers.multi_items(), str(request.url))
            headers = [(k, v) for k, v in merged if k.lower() not in dropped]
        headers = _aiohttp_framed(headers, request, body, stock)
        try:
            if streamed:
                opened = await native.open_stream_async(
                    request.method, str(request.url), headers, body, timeout=read, connect_timeout=connect, net=net,
                )
            else:
                reply = await native.send_async(
                    request.method, str(request.url), headers, body, timeout=read, connect_timeout=connect,
                    max_retries=0, retry="none", net=net, default_content_type=False,
                )
        except native.TransportError as error:
            if not error.sent and error.kind == "connect":
                marks.refuse("connect_failed_before_send")
                return await stock.handle_async_request(request)
            stats.count_native(self.provider, marks.active_endpoint.get())
            failed = as_httpx_error(error, request, stock)
            raise failed from failed.__cause__
        stats.count_native(self.provider, marks.active_endpoint.get())
        if caller is not None:
            caller.store_cookies((opened if streamed else reply).headers, str(request.url))
        if streamed:
            return _streamed(opened, request, _AsyncBody, stock, streamed, release)
        return whole_response(self.provider, reply, request, body)

    async def aclose(self) -> None:
        await self.resolver.aclose()
