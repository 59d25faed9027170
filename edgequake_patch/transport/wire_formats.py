"""Whole Anthropic, Gemini and Ollama answers, parsed by the core's format modules
(`rust/anthropic.rs`, `rust/gemini.rs`, `rust/ollama.rs`).

Stock's parsers for these providers read a whole answer with `response.json()`. For a 2xx
answer to a marked call, the core classifies the request stock sent (endpoint, streamed or
not), checks the body against its typed model of that endpoint's answer, and builds the very
object `json.loads(body)` gives; the response handed to stock returns it from its first
`.json()`. The bytes stay as they were (`.content`, and `.text`, which LiteLLM logs as the
original response). A body the format module does not accept (not JSON, not the documented
shape) is handed over exactly as before, so stock parses it, or raises, itself.
"""

from __future__ import annotations

from typing import Any

import httpx

from . import native
from ..state import stats

#: The wire format each provider's calls use (Ollama's two prefixes share one API).
FORMAT_OF_PROVIDER = {"anthropic": "anthropic", "gemini": "gemini", "ollama": "ollama", "ollama_chat": "ollama"}

_NOTHING = object()


class ParsedResponse(httpx.Response):
    """An httpx.Response whose body the core has already parsed."""

    _parsed: Any = _NOTHING

    def json(self, **kwargs: Any) -> Any:
        parsed = self._parsed
        if parsed is _NOTHING or kwargs:
            return super().json(**kwargs)
        # Handed out once: like json.loads, a second call must not return an object the
        # first caller may have changed.
        self._parsed = _NOTHING
        return parsed


def whole_response(provider: str, reply: Any, request: httpx.Request, request_body: bytes) -> httpx.Response:
    """The httpx.Response for a whole answer the core received for `request`."""
    fmt = FORMAT_OF_PROVIDER.get(provider)
    if fmt is not None and 200 <= reply.status < 300:
        parsed = native.parse_answer(fmt, request.url.path, request_body, reply.body)
        if parsed is not None:
            stats.count_parsed(fmt)
            response = ParsedResponse(reply.status, headers=reply.headers, content=reply.body, request=request)
            response._parsed = parsed
            return response
    return httpx.Response(reply.status, headers=reply.headers, content=reply.body, request=request)
