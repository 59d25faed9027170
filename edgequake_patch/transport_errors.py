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
}


def as_httpx_error(error: Any, request: httpx.Request) -> Exception:
    return _BY_KIND.get(getattr(error, "kind", "connect"), httpx.ConnectError)(str(error), request=request)
