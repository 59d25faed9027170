"""The httpx exception that stands for a core TransportError: the one the transport stock would
have used raises for the same failure.

Stock code reads failures off httpx exceptions: the OpenAI SDK by class (timeouts apart from
the rest), LiteLLM's handlers by class too (its async handler re-sends a request that failed
with some classes, and which ones changed in 1.108), and both quote the message in theirs. So a
failure is worded by the transport stock would have sent the request with, from what the core
saw of it (its kind, and for a connection that had been answering: the phase it broke in, the
OS error or clean close that broke it, what had come of the body):

* httpx's own transports (every sync client; async ones where LiteLLM's aiohttp transport is
  off): httpcore's words as httpx maps them. On asyncio (anyio), socket errors and timeouts
  carry no text.
* LiteLLM's aiohttp transport: the exception aiohttp's own response protocol records when a
  connection that delivered the same bytes is lost the same way, mapped by the installed
  LiteLLM's own `map_aiohttp_exceptions` (so its class is that release's decision: a reset
  before the response head is a ConnectError up to 1.106 and a ReadError from 1.108).

Failures this cannot word as stock does keep the core's words, in the class by kind.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable, Optional

import httpx

from .net_settings import _is_aiohttp_transport, run_now

# The class by kind, for what cannot be worded as stock's transport would (see the end of the
# module docstring).
_BY_KIND = {
    "connect_timeout": httpx.ConnectTimeout,
    "read_timeout": httpx.ReadTimeout,
    "read": httpx.ReadError,
    # Closed before the response was complete. Not RemoteProtocolError, which LiteLLM's async
    # handler (up to 1.106) answers with a second request: without knowing the transport, a
    # class that never makes LiteLLM send what stock might not.
    "incomplete": httpx.ReadError,
    "decode": httpx.DecodingError,
    "builder": httpx.UnsupportedProtocol,  # the request could not even be built
    "connect": httpx.ConnectError,
}


def as_httpx_error(error: Any, request: httpx.Request, stock: Any = None, *,
                   headers: Any = None, received: Optional[int] = None) -> Exception:
    """The exception `stock` (the transport stock would have sent `request` with) raises for the
    failure the core reported as `error`. For a streamed body, `headers` and `received` are the
    response head and the body bytes handed out before it broke (a whole answer's come with
    the error)."""
    kind = getattr(error, "kind", "connect")
    word = _WORDERS.get(_flavour(stock))
    if word is not None:
        if headers is None and getattr(error, "headers", None) is not None:
            headers, received = httpx.Headers(error.headers), error.received
        worded = word(kind, error, request, headers, received or 0)
        if worded is not None:
            return _without_the_core(worded, error)
    return _BY_KIND.get(kind, httpx.ConnectError)(str(error), request=request)


def _without_the_core(exc: Exception, error: Any) -> Exception:
    """`exc` with the core's error taken out of its chain. Callers word a failure while handling
    the core's error, so Python makes that error the context of every exception raised meanwhile
    (aiohttp's, in a replay), and tracebacks, which stock embeds in some messages and failure
    payloads, would show it where stock shows its transport's own exceptions only."""
    seen = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if e.__context__ is error:
            e.__context__ = None
        todo += [e.__cause__, e.__context__]
    return exc


def _flavour(stock: Any) -> Optional[str]:
    if isinstance(stock, httpx.AsyncHTTPTransport):
        return "anyio"
    if isinstance(stock, httpx.HTTPTransport):
        return "httpcore"
    if stock is not None and _is_aiohttp_transport(stock):
        return "aiohttp"
    return None


def _phase(error: Any) -> str:
    return getattr(error, "phase", "") or ""


def _os_error(error: Any) -> Optional[OSError]:
    """The OSError the connection broke with, as Python raises it for that errno (a reset is a
    ConnectionResetError, with the C library's text)."""
    errno = getattr(error, "os_error", None)
    if errno is None:
        return None
    return OSError(errno, os.strerror(errno))


# --- httpx's transports (httpcore over h11) ---------------------------------------------------


def _httpcore_words(kind: str, error: Any, request: httpx.Request, headers: Any, received: int,
                    on_anyio: bool = False) -> Optional[Exception]:
    if kind == "read_timeout":
        # The socket's own "timed out"; anyio's timeout has no text.
        return httpx.ReadTimeout("" if on_anyio else "timed out", request=request)
    if kind == "connect_timeout":
        return httpx.ConnectTimeout("" if on_anyio else "timed out", request=request)
    if kind == "incomplete":
        if _phase(error) == "body" and headers is not None:
            return _peer_closed_mid_body(headers, received, request)
        if _phase(error) == "head":
            # h11 still waiting for the response head when the socket reads empty.
            return httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return None
    if kind == "read" and _phase(error) in ("head", "body"):
        lost = _os_error(error)
        if lost is None:
            return None
        # httpcore reads the socket for the response; its error is the socket's (anyio's
        # broken stream has no text of its own).
        return httpx.ReadError("" if on_anyio else str(lost), request=request)
    return None


def _anyio_words(kind: str, error: Any, request: httpx.Request, headers: Any, received: int) -> Optional[Exception]:
    return _httpcore_words(kind, error, request, headers, received, on_anyio=True)


def _peer_closed_mid_body(headers: Any, received: int, request: httpx.Request) -> Exception:
    """h11's words for a body the peer closed before its end, by the body's framing."""
    length = headers.get("content-length")
    if length is not None and length.isdigit() and "chunked" not in headers.get("transfer-encoding", "").lower():
        detail = f"received {received} bytes, expected {length}"
    else:
        detail = "incomplete chunked read"
    return httpx.RemoteProtocolError(
        f"peer closed connection without sending complete message body ({detail})", request=request
    )


# --- LiteLLM's aiohttp transport --------------------------------------------------------------


def _aiohttp_words(kind: str, error: Any, request: httpx.Request, headers: Any, received: int) -> Optional[Exception]:
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - LiteLLM's aiohttp transport needs it
        return None
    if kind == "read_timeout":
        # aiohttp's read timer, for the head and each piece of the body alike.
        raised: Optional[BaseException] = aiohttp.SocketTimeoutError("Timeout on reading data from socket")
    elif kind == "connect_timeout":
        # aiohttp names the request's URL (as LiteLLM hands it over: already encoded).
        raised = aiohttp.ConnectionTimeoutError(f"Connection timeout to host {_aiohttp_url(request)}")
    elif kind in ("read", "incomplete") and _phase(error) in ("head", "body"):
        lost = _os_error(error)
        if kind == "read" and lost is None:
            return None
        raised = _aiohttp_loss(_phase(error), headers, received, lost)
    else:
        return None
    if raised is None:
        return None
    mapped = _litellm_mapped(raised)
    if isinstance(mapped, httpx.RequestError):
        mapped.request = request
        return mapped
    return None


def _aiohttp_url(request: httpx.Request) -> str:
    from yarl import URL

    return str(URL(str(request.url), encoded=True).with_fragment(None))


def _litellm_mapped(raised: BaseException) -> BaseException:
    """What the installed LiteLLM's aiohttp transport turns aiohttp's exception into (its own
    mapping, run on it: the cause stays chained as in stock)."""
    from litellm.llms.custom_httpx.aiohttp_transport import map_aiohttp_exceptions

    try:
        with map_aiohttp_exceptions():
            raise raised
    except Exception as mapped:  # noqa: BLE001 - the mapping's answer is the point
        return mapped
    return raised  # pragma: no cover - the block above always raises


class _NoSocket(asyncio.Transport):
    """Where aiohttp's response protocol is connected for a replay: nothing behind it."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


_FILLER = b"\0" * 65536


def _aiohttp_loss(phase: str, headers: Any, received: int, lost: Optional[OSError]) -> Optional[BaseException]:
    """The exception aiohttp's response protocol records when the connection is lost (`lost`:
    the OS error, None for a clean close) after delivering what the core received: nothing of
    the head (`phase` "head"), or a head with the response's framing and `received` body bytes
    (`phase` "body": the content's value does not change aiohttp's words, its length does).
    Run on aiohttp's own protocol and parser, so the words are the installed aiohttp's."""
    try:
        from aiohttp.client_proto import ResponseHandler

        loop = asyncio.get_running_loop()
        protocol = ResponseHandler(loop)
        protocol.connection_made(_NoSocket())
        # As LiteLLM's transport asks for responses: bodies not decompressed, and a body with
        # no length read until the connection ends.
        protocol.set_response_params(read_until_eof=True, auto_decompress=False)
        payload = None
        if phase == "body":
            if headers is None:
                return None
            protocol.data_received(_head_with_framing(headers))
            _message, payload = run_now(protocol.read())
            if "chunked" not in headers.get("transfer-encoding", "").lower():
                left = received
                while left > 0:
                    piece = _FILLER[:min(left, len(_FILLER))]
                    protocol.data_received(piece)
                    payload.read_nowait(-1)  # what a reader took: kept out of memory
                    left -= len(piece)
        protocol.connection_lost(lost)
        return payload.exception() if payload is not None else protocol.exception()
    except Exception:  # noqa: BLE001 - an aiohttp this replay does not fit: the core's words
        return None


def _head_with_framing(headers: Any) -> bytes:
    """A response head framing its body as `headers` did (chunked, a length, or neither)."""
    lines = [b"HTTP/1.1 200 OK"]
    if "chunked" in headers.get("transfer-encoding", "").lower():
        lines.append(b"Transfer-Encoding: chunked")
    elif headers.get("content-length") is not None:
        lines.append(b"Content-Length: " + headers["content-length"].encode("latin-1"))
    return b"\r\n".join(lines) + b"\r\n\r\n"


_WORDERS: "dict[Optional[str], Callable[..., Optional[Exception]]]" = {
    "httpcore": _httpcore_words,
    "anyio": _anyio_words,
    "aiohttp": _aiohttp_words,
}
