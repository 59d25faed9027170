"""The httpx exception that stands for a core TransportError.

Both transports hand failures back to stock Python code (the OpenAI SDK, LiteLLM's
HTTPHandler) as the httpx exception that code already knows how to map: timeouts to its
timeout errors, the rest to its connection errors.
"""

from __future__ import annotations

from typing import Any

import httpx

_BY_KIND = {
    "connect_timeout": httpx.ConnectTimeout,
    "read_timeout": httpx.ReadTimeout,
    # Closed or reset after the request left. Not RemoteProtocolError: LiteLLM's async handler
    # re-sends a request that failed with that, which stock's own transport never triggers for
    # a broken response (it would be a second, billed request).
    "read": httpx.ReadError,
    "decode": httpx.DecodingError,
    "builder": httpx.UnsupportedProtocol,  # the request could not even be built
    "connect": httpx.ConnectError,
    "incomplete": httpx.ReadError,
}


def as_httpx_error(error: Any, request: httpx.Request) -> Exception:
    return _BY_KIND.get(getattr(error, "kind", "connect"), httpx.ConnectError)(str(error), request=request)


# A streamed body the peer closed before its end, in the words of the transport stock's client
# had: httpcore's (via h11) for httpx's own transports, aiohttp's for LiteLLM's aiohttp one.
# Callers see these texts in LiteLLM's exception messages and failure payloads.
_AIOHTTP_INCOMPLETE = {
    True: "Response payload is not completed: <TransferEncodingError: 400, "
          "message='Not enough data to satisfy transfer length header.'>",
    False: "Response payload is not completed: <ContentLengthError: 400, "
           "message='Not enough data to satisfy content length header.'>",
}


def _is_aiohttp(stock_transport: Any) -> bool:
    cls = type(stock_transport)
    return cls.__module__.startswith("litellm.") and "Aiohttp" in cls.__name__


def incomplete_body_error(stock_transport: Any, headers: httpx.Headers, received: int,
                          request: httpx.Request) -> Exception:
    """The exception stock's transport raises when the peer closes mid-body."""
    length = headers.get("content-length")
    chunked = length is None or not length.isdigit()
    if _is_aiohttp(stock_transport):
        return httpx.ReadError(_AIOHTTP_INCOMPLETE[chunked], request=request)
    if chunked:
        detail = "incomplete chunked read"
    else:
        detail = f"received {received} bytes, expected {length}"
    return httpx.RemoteProtocolError(
        f"peer closed connection without sending complete message body ({detail})", request=request
    )


def body_read_timeout_error(stock_transport: Any, request: httpx.Request) -> Exception:
    """The exception stock's transport raises when the next part of a body does not come in
    time: the socket's own words (httpcore), or aiohttp's."""
    if _is_aiohttp(stock_transport):
        return httpx.ReadTimeout("Timeout on reading data from socket", request=request)
    return httpx.ReadTimeout("timed out", request=request)
