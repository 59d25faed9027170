"""A local stand-in for provider HTTP APIs (OpenAI wire format), run as a separate process.

    python -m tests.standin.server --port 0 --port-file /tmp/x.port

Prints exactly one line on stdout, ``LISTENING <port>``, once the socket is listening (and
writes the port to --port-file, atomically). Everything else (only unexpected internal errors)
goes to stderr. Scenarios are chosen per request by markers in the model name; see README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import re
import signal
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional
from urllib.parse import parse_qs, unquote

from aiohttp import web

if __package__:
    from . import fixtures, providers
else:  # run as a plain script: python tests/standin/server.py
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import fixtures  # type: ignore[no-redef]
    import providers  # type: ignore[no-redef]


HANG_SECONDS = 3600.0
MAX_SLOW_MS = 3_600_000
CLIENT_MAX_SIZE = 256 * 1024 * 1024
SCENARIO_HEADER = "x-standin-scenario"

# --------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------

# Marker -> meaning. Checked in this order; the first match wins (longer markers first,
# so "hang-mid-stream" is not read as "hang"). `error-NNN` and `slow-<ms>` are patterns.
MARKERS: list[str] = [
    "close-mid-stream",   # stream: send a few SSE events, then abort the connection
    "hang-mid-stream",    # stream: send a few SSE events, then never finish
    "close-mid-body",     # headers + Content-Length, half the body, then abort the connection
    "sse-quirks",         # stream: CRLF line ends, comments, event: lines, data split over lines
    "sse-bytewise",       # stream: every byte of the first events in its own TCP write
    "stall-after-first",  # stream: the first event, then a 1.5 s pause, then the rest
    "flaky-429-once",     # first request per scenario key -> 429 (retry-after: 0), then normal
    "flaky-500-once",     # first request per scenario key -> 500, then normal
    "ctx-length",         # 400 context_length_exceeded
    "content-policy",     # 400 content_policy_violation
    "html-502",           # 502 with an nginx HTML body
    "garbled",            # 200 application/json, truncated JSON
    "not-json",           # 200 text/html page
    "empty-body",         # 200 application/json, empty body
    "wrong-shape",        # 200 {"foo": "bar"}
    "json-as-text",       # 200, the normal JSON answer labelled text/plain
    "json-as-html",       # 200, the normal JSON answer labelled text/html
    "hang",               # never answer (cancelled when the client disconnects)
]


def _marker_re(marker: str) -> re.Pattern:
    return re.compile(r"(?<![a-z0-9])" + re.escape(marker) + r"(?![a-z0-9])")


_MARKER_RES = [(m, _marker_re(m)) for m in MARKERS]
_ERROR_RE = re.compile(r"(?<![a-z0-9])error-(\d{3})(?![0-9])")
_SLOW_RE = re.compile(r"(?<![a-z0-9])slow-(\d+)(?![0-9])")
# Fault-suite patterns (tests/test_faults.py):
_BURST_RE = re.compile(r"(?<![a-z0-9])burst-(\d+)-(\d{3})(?![0-9])")   # N x status, then normal
_RETRY_AFTER_RE = re.compile(r"(?<![a-z0-9])retry-after-(\d+)(?![0-9])")  # retry-after header value
_RETRY_AFTER_MS_RE = re.compile(r"(?<![a-z0-9])retry-after-ms-(\d+)(?![0-9])")  # retry-after-ms on every error
_HUGE_RE = re.compile(r"(?<![a-z0-9])huge-(\d+)(?![0-9])")  # content of this many MiB
_DRIP_RE = re.compile(r"(?<![a-z0-9])drip-(\d+)(?![0-9])")  # body tail one byte per <ms>
_CUT_AT_RE = re.compile(r"(?<![a-z0-9])cut-at-(\d+)(?![0-9])")  # mid-stream faults after <n> events
DRIP_TAIL_BYTES = 5
MAX_HUGE_MIB = 512
_DEPLOYMENT_RE = re.compile(r"/deployments/([^/]+)(?:/|$)")
_GEMINI_MODEL_RE = re.compile(r"/models/([^/:]+):")


@dataclass
class Scenario:
    kind: Optional[str] = None       # a MARKERS entry, "error", or None (normal answer)
    status: Optional[int] = None     # for kind == "error"
    slow_ms: int = 0
    burst: int = 0                   # for kind == "burst": failures before success
    retry_after: Optional[str] = None  # retry-after header on 429/503 answers
    retry_after_ms: Optional[str] = None  # retry-after-ms header on every 4xx/5xx answer
    huge_mib: int = 0
    drip_ms: int = 0
    cut_at: Optional[int] = None     # OpenAI streams: where mid-stream scenarios strike

    def describe(self) -> str:
        parts = []
        if self.slow_ms:
            parts.append(f"slow-{self.slow_ms}")
        if self.huge_mib:
            parts.append(f"huge-{self.huge_mib}")
        if self.drip_ms:
            parts.append(f"drip-{self.drip_ms}")
        if self.kind == "error":
            parts.append(f"error-{self.status}")
        elif self.kind == "burst":
            parts.append(f"burst-{self.burst}-{self.status}")
        elif self.kind:
            parts.append(self.kind)
        return "+".join(parts) or "default"


def parse_scenario(text: str) -> Scenario:
    text = text.lower()
    sc = Scenario()
    m = _SLOW_RE.search(text)
    if m:
        sc.slow_ms = min(int(m.group(1)), MAX_SLOW_MS)
    m = _RETRY_AFTER_RE.search(text)
    if m:
        sc.retry_after = m.group(1)
    m = _RETRY_AFTER_MS_RE.search(text)
    if m:
        sc.retry_after_ms = m.group(1)
    m = _HUGE_RE.search(text)
    if m:
        sc.huge_mib = min(int(m.group(1)), MAX_HUGE_MIB)
    m = _DRIP_RE.search(text)
    if m:
        sc.drip_ms = min(int(m.group(1)), MAX_SLOW_MS)
    m = _CUT_AT_RE.search(text)
    if m:
        sc.cut_at = int(m.group(1))
    m = _BURST_RE.search(text)
    if m and 400 <= int(m.group(2)) <= 599:
        sc.kind, sc.burst, sc.status = "burst", int(m.group(1)), int(m.group(2))
        return sc
    for marker, rx in _MARKER_RES:
        if rx.search(text):
            sc.kind = marker
            return sc
    m = _ERROR_RE.search(text)
    if m:
        status = int(m.group(1))
        if 400 <= status <= 599:
            sc.kind, sc.status = "error", status
    return sc


# --------------------------------------------------------------------------------------
# State and per-request context
# --------------------------------------------------------------------------------------


@dataclass
class State:
    records: list = field(default_factory=list)
    events: list = field(default_factory=list)
    counters: dict = field(default_factory=dict)

    def reset(self) -> None:
        self.records.clear()
        self.events.clear()
        self.counters.clear()


@dataclass
class Ctx:
    request: web.Request
    state: State
    method: str
    path: str
    body: Any                 # parsed JSON, or the raw text when not JSON
    raw: bytes
    record_index: int
    model: str                # requested model (body "model", else Azure deployment)
    deployment: Optional[str]
    scenario: Scenario
    scenario_key: str
    aborted_by_server: bool = False
    dialect: str = "openai"   # wire format of the matched route: error bodies and headers follow it
    markers: str = ""         # where markers are read: scenario header, path and model, lowercased
    form: Optional[list] = None  # multipart/form-data: the parts, with their `content` bytes

    @property
    def json_body(self) -> Optional[dict]:
        return self.body if isinstance(self.body, dict) else None

    def event(self, name: str, **extra: Any) -> None:
        self.state.events.append({
            "event": name,
            "method": self.method,
            "path": self.path,
            "model": self.model,
            "scenario": self.scenario.describe(),
            "request_index": self.record_index,
            **extra,
        })

    def base_headers(self) -> dict:
        # Keyed on the JSON's meaning, not its bytes: two clients may order keys differently.
        # A multipart body by its parts (the boundary is random).
        try:
            if self.form is not None:
                canonical = json.dumps(self.body, sort_keys=True).encode()
            else:
                canonical = json.dumps(json.loads(self.raw), sort_keys=True).encode()
        except ValueError:
            canonical = self.raw
        rid = hashlib.sha256(self.method.encode() + b" " + self.path.encode() + b"\n" + canonical)
        if self.dialect == "anthropic":
            return {
                "request-id": "req_" + rid.hexdigest()[:24],
                "anthropic-organization-id": "org-standin",
                "anthropic-ratelimit-requests-limit": "50",
                "anthropic-ratelimit-requests-remaining": "49",
                "anthropic-ratelimit-requests-reset": "2025-03-10T01:26:00Z",
                "anthropic-ratelimit-tokens-limit": "40000",
                "anthropic-ratelimit-tokens-remaining": "39000",
            }
        if self.dialect == "gemini":
            return {"server-timing": "gfet4t7; dur=412", "x-request-id": rid.hexdigest()[:32]}
        if self.dialect == "ollama":
            return {}
        if self.dialect == "jina":
            # Rate limit headers named in Jina's API reference (https://api.jina.ai/openapi.json).
            return {"x-ratelimit-remaining-requests": "499", "x-ratelimit-remaining-tokens": "999000"}
        return {
            "openai-version": "2020-10-01",
            "openai-processing-ms": "7",
            "openai-organization": "org-standin",
            "x-request-id": "req_" + rid.hexdigest()[:32],
        }


# --------------------------------------------------------------------------------------
# Response helpers (all scenarios that shape delivery live here)
# --------------------------------------------------------------------------------------


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def json_response(ctx: Ctx, payload: Any, status: int = 200, headers: Optional[dict] = None) -> web.Response:
    h = ctx.base_headers()
    if headers:
        h.update(headers)
    return web.Response(body=_dumps(payload), status=status, headers=h, content_type="application/json")


def error_response(ctx: Ctx, status: int, payload: dict, headers: Optional[dict] = None) -> web.Response:
    return json_response(ctx, payload, status=status, headers=headers)


def _abort(ctx: Ctx) -> None:
    ctx.aborted_by_server = True
    ctx.event("server_aborted")
    transport = ctx.request.transport
    if transport is not None:
        transport.abort()


async def _flush(ctx: Ctx, limit: float = 2.0) -> None:
    """Wait until what was written so far has left the transport's buffer."""
    transport = ctx.request.transport
    deadline = asyncio.get_running_loop().time() + limit
    await asyncio.sleep(0)
    while (transport is not None and not transport.is_closing()
           and transport.get_write_buffer_size() > 0
           and asyncio.get_running_loop().time() < deadline):
        await asyncio.sleep(0.005)


async def _hang(ctx: Ctx) -> None:
    await asyncio.sleep(HANG_SECONDS)


async def send_json(ctx: Ctx, payload: Any, status: int = 200) -> web.StreamResponse:
    """Send a successful JSON answer, honouring the delivery scenarios."""
    kind = ctx.scenario.kind
    if kind == "hang-mid-stream":  # not a streaming request: plain hang
        await _hang(ctx)
    if ctx.scenario.huge_mib:
        return await _send_huge(ctx, payload, status)
    if ctx.scenario.drip_ms:
        return await _send_drip(ctx, _dumps(payload), status)
    if kind in ("json-as-text", "json-as-html"):
        return web.Response(body=_dumps(payload), status=status, headers=ctx.base_headers(),
                            content_type="text/plain" if kind == "json-as-text" else "text/html")
    if kind in ("close-mid-body", "close-mid-stream"):
        return await _cut_mid_body(ctx, _dumps(payload), "application/json", status)
    return json_response(ctx, payload, status=status)


async def send_bytes(ctx: Ctx, data: bytes, content_type: str, status: int = 200) -> web.StreamResponse:
    """Send a successful non-JSON answer (audio, plain text), honouring the delivery scenarios
    that apply to any body: hang(-mid-stream), drip-<ms>, close-mid-body / close-mid-stream."""
    kind = ctx.scenario.kind
    if kind == "hang-mid-stream":
        await _hang(ctx)
    if ctx.scenario.drip_ms:
        return await _send_drip(ctx, data, status, content_type)
    if kind in ("close-mid-body", "close-mid-stream"):
        return await _cut_mid_body(ctx, data, content_type, status)
    return web.Response(body=data, status=status, headers=ctx.base_headers(), content_type=content_type)


async def _cut_mid_body(ctx: Ctx, data: bytes, content_type: str, status: int) -> web.StreamResponse:
    """The head with the whole body's Content-Length, half the body, then the connection aborted."""
    resp = web.StreamResponse(status=status, headers=ctx.base_headers())
    resp.content_type = content_type
    resp.content_length = len(data)
    await resp.prepare(ctx.request)
    await resp.write(data[: len(data) // 2])
    await _flush(ctx)
    _abort(ctx)
    return resp


async def _send_huge(ctx: Ctx, payload: Any, status: int) -> web.StreamResponse:
    """The answer with its first choice's content (a Response's first output text) replaced by `huge_mib` MiB of "a", written
    in 1 MiB pieces (the server never holds the whole body)."""
    marker = "\u0000HUGE\u0000"
    payload = json.loads(json.dumps(payload))
    if payload.get("object") == "response":  # Responses API: the first output_text part
        payload["output"][0]["content"][0]["text"] = marker
    else:
        payload["choices"][0]["message"]["content"] = marker
    head, tail = _dumps(payload).split(json.dumps(marker).strip('"').encode(), 1)
    size = ctx.scenario.huge_mib * 1024 * 1024
    resp = web.StreamResponse(status=status, headers=ctx.base_headers())
    resp.content_type = "application/json"
    resp.content_length = len(head) + size + len(tail)
    await resp.prepare(ctx.request)
    await resp.write(head)
    chunk = b"a" * (1024 * 1024)
    for _ in range(ctx.scenario.huge_mib):
        await resp.write(chunk)
    await resp.write(tail)
    await resp.write_eof()
    return resp


async def _send_drip(ctx: Ctx, data: bytes, status: int,
                     content_type: str = "application/json") -> web.StreamResponse:
    """Headers and all but the last DRIP_TAIL_BYTES at once, then one byte per `drip_ms`."""
    resp = web.StreamResponse(status=status, headers=ctx.base_headers())
    resp.content_type = content_type
    resp.content_length = len(data)
    await resp.prepare(ctx.request)
    cut = max(0, len(data) - DRIP_TAIL_BYTES)
    await resp.write(data[:cut])
    for i in range(cut, len(data)):
        await _flush(ctx)
        await asyncio.sleep(ctx.scenario.drip_ms / 1000.0)
        await resp.write(data[i:i + 1])
    await resp.write_eof()
    return resp


async def send_sse(ctx: Ctx, events: list) -> web.StreamResponse:
    """Send a `text/event-stream` answer ending with `data: [DONE]`."""
    frames = [fixtures.sse_event(e) for e in events] + [fixtures.SSE_DONE]
    if fixtures.StreamMarkers(ctx.markers).unknown_frame:
        frames.insert(len(events) // 2, fixtures.SSE_COMMENT)
    if ctx.scenario.kind == "sse-quirks":
        frames = [_quirky(f) for f in frames]
        frames.insert(0, b": keep-alive comment\r\n\r\n")
    cut = ctx.scenario.cut_at if ctx.scenario.cut_at is not None else 2
    return await send_stream(ctx, frames, cut=min(cut, len(events)))


async def send_stream(ctx: Ctx, frames: list, content_type: str = "text/event-stream",
                      cut: Optional[int] = None) -> web.StreamResponse:
    """Send pre-encoded stream frames (SSE events or NDJSON lines), honouring the delivery
    scenarios: cut or stall after the first `cut` frames (2 by default), byte-wise frames,
    a stall after the first."""
    kind = ctx.scenario.kind
    headers = ctx.base_headers()
    headers["Cache-Control"] = "no-cache"
    resp = web.StreamResponse(status=200, headers=headers)
    resp.content_type = content_type
    resp.charset = "utf-8"
    await resp.prepare(ctx.request)
    cut = min(2, len(frames)) if cut is None else cut
    if ctx.scenario.cut_at is not None:  # `cut-at-<n>`: the mid-stream fault after n frames, any route
        cut = min(ctx.scenario.cut_at, len(frames))
    for i, frame in enumerate(frames):
        if i == cut and kind in ("close-mid-stream", "close-mid-body"):
            await _flush(ctx)
            _abort(ctx)
            return resp
        if i == cut and kind == "hang-mid-stream":
            await _flush(ctx)
            await _hang(ctx)
        if i == cut and ctx.scenario.drip_ms:  # drip-<ms>: this frame's start, byte by byte
            for b in range(min(DRIP_TAIL_BYTES, len(frame))):
                await _flush(ctx)
                await asyncio.sleep(ctx.scenario.drip_ms / 1000.0)
                await resp.write(frame[b:b + 1])
            await resp.write(frame[DRIP_TAIL_BYTES:])
            continue
        if kind == "sse-bytewise" and i < 3:
            for b in range(len(frame)):  # one byte per segment: frames split at every byte
                await resp.write(frame[b:b + 1])
                await _flush(ctx)
            continue
        await resp.write(frame)
        if kind == "stall-after-first" and i == 0:
            await _flush(ctx)
            await asyncio.sleep(STALL_SECONDS)
    await resp.write_eof()
    return resp


def _retry_headers(sc: Scenario, status: int) -> Optional[dict]:
    """429 always carries retry-after (0 unless `retry-after-<s>`); 503 only when asked."""
    if status == 429:
        return {"retry-after": sc.retry_after or "0"}
    if status == 503 and sc.retry_after is not None:
        return {"retry-after": sc.retry_after}
    return None


STALL_SECONDS = 1.5


def _quirky(frame: bytes) -> bytes:
    """The same event with what SSE allows around it: an `event:` line, the data split over two
    `data:` lines (joined back with a newline, which JSON ignores), CRLF line ends, a comment."""
    event = b"event: message"
    if frame.startswith(b"event: "):  # a named event (Responses API): keep its name
        event, frame = frame.split(b"\n", 1)
    payload = frame[len(b"data: "):].rstrip(b"\n")
    cut = payload.find(b",")
    lines = [event]
    if cut > 0 and payload.startswith(b"{"):
        lines += [b"data: " + payload[: cut + 1], b"data: " + payload[cut + 1:]]
    else:
        lines.append(b"data: " + payload)
    lines.append(b": comment between events")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def status_error(ctx: Ctx, status: int, message: Optional[str] = None) -> dict:
    """The error body the route's provider sends for this status."""
    if ctx.dialect == "anthropic":
        return providers.anthropic_error(status, ctx.base_headers()["request-id"], message)
    if ctx.dialect == "gemini":
        return providers.gemini_error(status, message)
    if ctx.dialect == "ollama":
        return providers.ollama_error(status, message)
    if ctx.dialect == "jina":
        return providers.jina_error(status, message)
    return fixtures.status_error(status, ctx.model)


_CONTEXT_LENGTH = {
    "anthropic": providers.ANTHROPIC_CONTEXT_LENGTH,
    "gemini": providers.GEMINI_CONTEXT_LENGTH,
    "ollama": providers.OLLAMA_CONTEXT_LENGTH,
    "jina": providers.JINA_CONTEXT_LENGTH,
}


async def apply_scenario(ctx: Ctx) -> Optional[web.StreamResponse]:
    """Scenarios that replace the normal answer. None means: answer normally."""
    response = await _scenario_response(ctx)
    ms = ctx.scenario.retry_after_ms
    if ms is not None and response is not None and response.status >= 400:
        # The OpenAI SDK (and the core, which follows it) waits this long before a retry
        # instead of its own backoff of 0.5 s, 1 s, 2 s...: the same attempts, without the wait.
        response.headers["retry-after-ms"] = ms
    return response


async def _scenario_response(ctx: Ctx) -> Optional[web.StreamResponse]:
    sc = ctx.scenario
    if sc.slow_ms:
        await asyncio.sleep(sc.slow_ms / 1000.0)
    kind = sc.kind
    if kind is None:
        return None
    if kind == "error":
        return error_response(ctx, sc.status, status_error(ctx, sc.status), _retry_headers(sc, sc.status))
    if kind == "burst":
        counter_key = f"burst|{ctx.scenario_key}"
        ctx.state.counters[counter_key] = ctx.state.counters.get(counter_key, 0) + 1
        if ctx.state.counters[counter_key] > sc.burst:
            return None
        return error_response(ctx, sc.status, status_error(ctx, sc.status), _retry_headers(sc, sc.status))
    if kind == "hang":
        await _hang(ctx)
        return None
    if kind in ("flaky-429-once", "flaky-500-once"):
        counter_key = f"{kind}|{ctx.scenario_key}"
        ctx.state.counters[counter_key] = ctx.state.counters.get(counter_key, 0) + 1
        if ctx.state.counters[counter_key] > 1:
            return None
        if kind == "flaky-429-once":
            return error_response(ctx, 429, status_error(ctx, 429), _retry_headers(sc, 429))
        return error_response(ctx, 500, status_error(ctx, 500))
    if kind in ("ctx-length", "content-policy") and ctx.dialect != "openai":
        message = _CONTEXT_LENGTH[ctx.dialect] if kind == "ctx-length" else "Output blocked by content filtering policy"
        return error_response(ctx, 400, status_error(ctx, 400, message))
    if kind == "ctx-length":
        return error_response(ctx, 400, fixtures.context_length_error())
    if kind == "content-policy":
        return error_response(ctx, 400, fixtures.content_policy_error())
    if kind == "html-502":
        return web.Response(status=502, text=fixtures.NGINX_502_HTML, content_type="text/html",
                            headers={"Server": "nginx"})
    if kind == "garbled":
        return web.Response(status=200, text=fixtures.GARBLED_JSON, content_type="application/json",
                            headers=ctx.base_headers())
    if kind == "not-json":
        return web.Response(status=200, text=fixtures.NOT_JSON_HTML, content_type="text/html")
    if kind == "empty-body":
        return web.Response(status=200, body=b"", content_type="application/json",
                            headers=ctx.base_headers())
    if kind == "wrong-shape":
        return json_response(ctx, fixtures.WRONG_SHAPE)
    return None  # delivery scenarios (close-mid-*, hang-mid-stream) are handled when sending


# --------------------------------------------------------------------------------------
# Route handlers: path suffix -> handler. Add new provider endpoints here.
# --------------------------------------------------------------------------------------

Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]


def _require_model(ctx: Ctx) -> Optional[web.Response]:
    if ctx.json_body is None:
        return error_response(ctx, 400, fixtures.invalid_json_error())
    if not ctx.model:
        return error_response(ctx, 400, fixtures.missing_model_error())
    return None


async def handle_chat_completions(ctx: Ctx) -> web.StreamResponse:
    bad = _require_model(ctx)
    if bad is not None:
        return bad
    body = ctx.json_body
    messages = body.get("messages")
    if messages is None:
        return error_response(ctx, 400, fixtures.missing_parameter_error("messages"))
    if not isinstance(messages, list):
        return error_response(ctx, 400, fixtures.error_object(
            "Invalid type for 'messages': expected an array of objects, but got "
            f"{type(messages).__name__} instead.", "invalid_request_error", "messages", "invalid_type"))
    if not messages:
        return error_response(ctx, 400, fixtures.empty_array_error("messages"))
    if body.get("stream") is True:
        return await send_sse(ctx, fixtures.chat_completion_chunks(body, ctx.model, ctx.markers, ctx.path))
    return await send_json(ctx, fixtures.chat_completion(body, ctx.model, ctx.markers, ctx.path))


def _require_model_and_input(ctx: Ctx) -> Optional[web.Response]:
    """OpenAI's 400 for a body without `model`, or without `input`."""
    bad = _require_model(ctx)
    if bad is None and ctx.json_body.get("input") is None:
        bad = error_response(ctx, 400, fixtures.missing_parameter_error("input"))
    return bad


async def handle_embeddings(ctx: Ctx) -> web.StreamResponse:
    bad = _require_model_and_input(ctx)
    if bad is not None:
        return bad
    body = ctx.json_body
    try:
        payload = fixtures.embeddings(body, ctx.model)
    except fixtures.InvalidInput:
        return error_response(ctx, 400, fixtures.invalid_input_error())
    return await send_json(ctx, payload)


async def handle_responses(ctx: Ctx) -> web.StreamResponse:
    """OpenAI's Responses API (also Azure OpenAI, xAI and OpenRouter): the same scenarios as
    chat completions; streams are named SSE events without a `[DONE]` sentinel."""
    bad = _require_model_and_input(ctx)
    if bad is not None:
        return bad
    body = ctx.json_body
    plan = fixtures.ResponsesPlan(body, ctx.model, ctx.markers, ctx.path)
    if body.get("stream") is True:
        events = plan.events()
        frames = [fixtures.sse_named_event(name, data) for name, data in events]
        # Mid-stream scenarios strike after the first text delta (the events before it carry
        # no text), as on Anthropic's stream.
        first_delta = next((i for i, (name, _) in enumerate(events) if name == "response.output_text.delta"), 3)
        if fixtures.StreamMarkers(ctx.markers).unknown_frame:
            frames.insert(len(frames) // 2, fixtures.SSE_COMMENT)
        if ctx.scenario.kind == "sse-quirks":
            frames = [_quirky(f) for f in frames]
            frames.insert(0, b": keep-alive comment\r\n\r\n")
        return await send_stream(ctx, frames, cut=first_delta + 1)
    return await send_json(ctx, plan.response())


def _dialect(name: str) -> Callable[[Handler], Handler]:
    def mark(handler: Handler) -> Handler:
        handler.dialect = name  # type: ignore[attr-defined]
        return handler
    return mark


def _provider_body(ctx: Ctx, required: str) -> Optional[web.Response]:
    """The checks a provider makes before generating: a JSON object with `required` in it."""
    if ctx.json_body is None:
        return error_response(ctx, 400, status_error(ctx, 400, "Invalid JSON payload received."))
    if required not in ctx.json_body:
        return error_response(ctx, 400, status_error(ctx, 400, f"{required}: Field required"))
    return None


@_dialect("anthropic")
async def handle_anthropic_messages(ctx: Ctx) -> web.StreamResponse:
    bad = _provider_body(ctx, "messages") or _provider_body(ctx, "max_tokens")
    if bad is not None:
        return bad
    plan = providers.AnthropicPlan(ctx.json_body, ctx.model, ctx.markers)
    if ctx.json_body.get("stream") is True:
        events = plan.events()
        # Mid-stream scenarios cut after the first content delta: the events before it
        # (message_start, content_block_start, ping) carry no content a caller would see.
        first_delta = next(i for i, (name, _) in enumerate(events) if name == "content_block_delta")
        return await send_stream(ctx, [providers.anthropic_sse(n, d) for n, d in events], cut=first_delta + 1)
    return await send_json(ctx, plan.message())


@_dialect("gemini")
async def handle_gemini_generate(ctx: Ctx) -> web.StreamResponse:
    bad = _provider_body(ctx, "contents")
    if bad is not None:
        return bad
    return await send_json(ctx, providers.GeminiPlan(ctx.json_body, ctx.model, ctx.markers).response())


@_dialect("gemini")
async def handle_gemini_stream(ctx: Ctx) -> web.StreamResponse:
    bad = _provider_body(ctx, "contents")
    if bad is not None:
        return bad
    chunks = providers.GeminiPlan(ctx.json_body, ctx.model, ctx.markers).chunks()
    if ctx.request.query.get("alt") == "sse":
        return await send_stream(ctx, [providers.gemini_sse(c) for c in chunks])
    # Without alt=sse the API streams one JSON array.
    return await send_json(ctx, chunks)


@_dialect("gemini")
async def handle_gemini_batch_embed(ctx: Ctx) -> web.StreamResponse:
    bad = _provider_body(ctx, "requests")
    if bad is not None:
        return bad
    return await send_json(ctx, providers.gemini_batch_embeddings(ctx.json_body))


@_dialect("gemini")
async def handle_gemini_embed(ctx: Ctx) -> web.StreamResponse:
    bad = _provider_body(ctx, "content")
    if bad is not None:
        return bad
    return await send_json(ctx, providers.gemini_embedding(ctx.json_body))


async def _ollama_generation(ctx: Ctx, chat: bool) -> web.StreamResponse:
    bad = _provider_body(ctx, "model")
    if bad is not None:
        return bad
    plan = providers.OllamaPlan(ctx.json_body, ctx.model, chat=chat, markers=ctx.markers)
    # Ollama streams unless told not to.
    if ctx.json_body.get("stream", True) is not False:
        lines = [providers.ndjson_line(x) for x in plan.lines()]
        return await send_stream(ctx, lines, content_type="application/x-ndjson")
    return await send_json(ctx, plan.response())


@_dialect("ollama")
async def handle_ollama_generate(ctx: Ctx) -> web.StreamResponse:
    return await _ollama_generation(ctx, chat=False)


@_dialect("ollama")
async def handle_ollama_chat(ctx: Ctx) -> web.StreamResponse:
    return await _ollama_generation(ctx, chat=True)


@_dialect("ollama")
async def handle_ollama_embed(ctx: Ctx) -> web.StreamResponse:
    bad = _provider_body(ctx, "model") or _provider_body(ctx, "input")
    if bad is not None:
        return bad
    return await send_json(ctx, providers.ollama_embed(ctx.json_body, ctx.model))


@_dialect("ollama")
async def handle_ollama_show(ctx: Ctx) -> web.StreamResponse:
    body = ctx.json_body or {}
    name = body.get("model") or body.get("name")
    if not isinstance(name, str):
        return error_response(ctx, 400, status_error(ctx, 400, "missing model"))
    return await send_json(ctx, providers.ollama_show(name))


async def _built(ctx: Ctx, required: tuple, build: Callable[[dict, str], dict]) -> web.StreamResponse:
    """A JSON answer built from the request body once its required fields are there; a request
    the builder refuses gets the provider's 400 with its reason."""
    for name in required:
        bad = _provider_body(ctx, name)
        if bad is not None:
            return bad
    try:
        payload = build(ctx.json_body, ctx.model)
    except (providers.InvalidProviderRequest, providers.InvalidRerankRequest) as exc:
        return error_response(ctx, 400, status_error(ctx, 400, str(exc)))
    return await send_json(ctx, payload)


@_dialect("jina")
async def handle_jina_rerank(ctx: Ctx) -> web.StreamResponse:
    return await _built(ctx, ("query", "documents"), providers.jina_rerank)


@_dialect("gemini")
async def handle_gemini_predict(ctx: Ctx) -> web.StreamResponse:
    """Imagen on the Gemini API (`/v1beta/models/{imagen model}:predict`)."""
    return await _built(ctx, ("instances",), providers.imagen_predict)


def _form_checks(ctx: Ctx, file_alternatives: tuple = ()) -> Optional[web.Response]:
    """What an upload endpoint checks first: a multipart body, a model, a file (or one of the
    fields that name the audio another way)."""
    if ctx.form is None:
        return error_response(ctx, 400, fixtures.error_object(
            "Expected a multipart/form-data body.", "invalid_request_error"))
    if not ctx.model:
        return error_response(ctx, 400, fixtures.missing_parameter_error("model"))
    if providers.form_file(ctx.form) is None and not any(providers.form_value(ctx.form, f) for f in file_alternatives):
        return error_response(ctx, 400, fixtures.missing_parameter_error("file"))
    return None


async def handle_audio_transcriptions(ctx: Ctx) -> web.StreamResponse:
    """`/v1/audio/transcriptions`: Mistral's answer for its (Voxtral) models, OpenAI's otherwise."""
    bad = _form_checks(ctx, ("file_url", "file_id"))
    if bad is not None:
        return bad
    if fixtures.is_mistral_model(ctx.model):
        return await send_json(ctx, providers.mistral_transcription(ctx.form, ctx.model))
    payload = providers.openai_transcription(ctx.form)
    if providers.form_value(ctx.form, "response_format") == "text":
        return await send_bytes(ctx, (payload["text"] + "\n").encode(), "text/plain")
    return await send_json(ctx, payload)


async def handle_xai_stt(ctx: Ctx) -> web.StreamResponse:
    """xAI's speech to text (`/v1/stt`)."""
    if ctx.form is None:
        return error_response(ctx, 400, fixtures.error_object(
            "Expected a multipart/form-data body.", "invalid_request_error"))
    if providers.form_file(ctx.form) is None and not providers.form_value(ctx.form, "url"):
        return error_response(ctx, 400, fixtures.error_object(
            "Either file or url must be provided.", "invalid_request_error", "file"))
    return await send_json(ctx, providers.xai_transcription(ctx.form))


async def handle_audio_speech(ctx: Ctx) -> web.StreamResponse:
    """`/v1/audio/speech`: Mistral's JSON (base64 audio) for its models, OpenAI's audio bytes
    otherwise."""
    if ctx.json_body is None:
        return error_response(ctx, 400, fixtures.invalid_json_error())
    if not isinstance(ctx.json_body.get("input"), str):
        return error_response(ctx, 400, fixtures.missing_parameter_error("input"))
    if fixtures.is_mistral_model(ctx.model):
        return await send_json(ctx, providers.mistral_speech(ctx.json_body))
    if not ctx.model:
        return error_response(ctx, 400, fixtures.missing_model_error())
    data, content_type = providers.openai_speech(ctx.json_body)
    return await send_bytes(ctx, data, content_type)


ROUTES: dict[str, Handler] = {
    "/chat/completions": handle_chat_completions,
    "/embeddings": handle_embeddings,
    "/responses": handle_responses,
    "/rerank": handle_jina_rerank,
    "/audio/transcriptions": handle_audio_transcriptions,
    "/audio/speech": handle_audio_speech,
    "/stt": handle_xai_stt,
    "/v1/messages": handle_anthropic_messages,
    ":generateContent": handle_gemini_generate,
    ":streamGenerateContent": handle_gemini_stream,
    ":batchEmbedContents": handle_gemini_batch_embed,
    ":embedContent": handle_gemini_embed,
    ":predict": handle_gemini_predict,
    "/api/generate": handle_ollama_generate,
    "/api/chat": handle_ollama_chat,
    "/api/embed": handle_ollama_embed,
    "/api/show": handle_ollama_show,
}


def find_route(path: str) -> Optional[Handler]:
    stripped = path.rstrip("/") or "/"
    for suffix in sorted(ROUTES, key=len, reverse=True):  # longest suffix wins
        if stripped.endswith(suffix):
            return ROUTES[suffix]
    return None


# --------------------------------------------------------------------------------------
# Control endpoints (not recorded)
# --------------------------------------------------------------------------------------


def _control_routes(state: State) -> dict:
    async def requests_(request: web.Request) -> web.Response:
        return web.json_response(state.records)

    async def events_(request: web.Request) -> web.Response:
        return web.json_response(state.events)

    async def reset_(request: web.Request) -> web.Response:
        state.reset()
        return web.json_response({"ok": True})

    async def health_(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "pid": os.getpid(), "requests": len(state.records)})

    return {"/__requests": requests_, "/__events": events_, "/__reset": reset_, "/__health": health_}


# --------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------


def _headers_dict(request: web.Request) -> dict:
    out: dict = {}
    for k, v in request.headers.items():
        k = k.lower()
        out[k] = f"{out[k]}, {v}" if k in out else v
    return out


_BOUNDARY_RE = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_DISPOSITION_PARAM_RE = re.compile(r';\s*([a-zA-Z*]+)="((?:[^"\\]|\\.)*)"|;\s*([a-zA-Z*]+)=([^;\s]+)')


def parse_multipart(raw: bytes, content_type: str) -> Optional[list]:
    """The parts of a multipart/form-data body (RFC 7578), in order: {name, filename (None for a
    plain field), content_type (None when the part has none), length, sha256 (hex, of the
    part's content), value (the text of a plain field, when it is UTF-8), content (bytes)}.
    None when the body is not one (no boundary, no closing delimiter)."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    m = _BOUNDARY_RE.search(content_type)
    if not m:
        return None
    delimiter = b"\r\n--" + (m.group(1) or m.group(2)).encode("latin-1")
    segments = (b"\r\n" + raw).split(delimiter)
    parts: list = []
    for segment in segments[1:]:
        if segment.startswith(b"--"):
            return parts
        head, sep, content = segment.partition(b"\r\n\r\n")
        if not sep:
            return None
        headers = {}
        for line in head.split(b"\r\n"):
            key, colon, value = line.decode("utf-8", "replace").partition(":")
            if colon:
                headers[key.strip().lower()] = value.strip()
        params = {}
        for pm in _DISPOSITION_PARAM_RE.finditer(headers.get("content-disposition", "")):
            if pm.group(1):
                params[pm.group(1).lower()] = pm.group(2).replace('\\"', '"')
            else:
                params[pm.group(3).lower()] = pm.group(4)
        part = {
            "name": params.get("name"),
            "filename": params.get("filename"),
            "content_type": headers.get("content-type"),
            "length": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        if part["filename"] is None:
            try:
                part["value"] = content.decode("utf-8")
            except UnicodeDecodeError:
                pass
        part["content"] = content
        parts.append(part)
    return None  # no closing delimiter


def recorded_parts(parts: list) -> list:
    """The parts as recorded (JSON): everything but the content bytes."""
    return [{k: v for k, v in p.items() if k != "content"} for p in parts]


def _parse_body(raw: bytes) -> tuple[Any, str]:
    text = raw.decode("utf-8", "replace")
    if not text.strip():
        return text, text
    try:
        return json.loads(text), text
    except (ValueError, RecursionError):
        return text, text


def make_dispatch(state: State) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    control = _control_routes(state)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        path = request.path
        if path in control:
            return await control[path](request)

        method = request.method
        try:
            raw = await request.read()
            read_error = None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # client went away mid-body, bad chunking, too large...
            raw, read_error = b"", f"{type(exc).__name__}: {exc}"
        body, text = _parse_body(raw)
        form = parse_multipart(raw, request.headers.get("Content-Type", "")) if read_error is None else None
        if form is not None:
            body = recorded_parts(form)
        record = {
            "method": method,
            "path": path,
            "query": parse_qs(request.query_string, keep_blank_values=True),
            "headers": _headers_dict(request),
            "body": body,
            "raw_body": text,
        }
        state.records.append(record)
        index = len(state.records) - 1

        model = body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else ""
        if form is not None:
            model = providers.form_value(form, "model") or ""
        m = _DEPLOYMENT_RE.search(path)
        deployment = unquote(m.group(1)) if m else None
        header_sc = request.headers.get(SCENARIO_HEADER, "")
        marker_text = " ".join(x for x in (header_sc, path, model) if x).lower()
        scenario = parse_scenario(marker_text)
        key = "|".join(x for x in (header_sc, deployment or "", model) if x) or path
        if not model:  # Gemini names the model in the path
            g = _GEMINI_MODEL_RE.search(path)
            model = unquote(g.group(1)) if g else ""
        handler = find_route(path)
        ctx = Ctx(request=request, state=state, method=method, path=path, body=body, raw=raw,
                  record_index=index, model=model or deployment or "", deployment=deployment,
                  scenario=scenario, scenario_key=key,
                  dialect=getattr(handler, "dialect", "openai"), markers=marker_text, form=form)

        try:
            if read_error is not None:
                ctx.event("request_body_error", error=read_error)
                return error_response(ctx, 400, fixtures.invalid_json_error())
            if handler is None or method != "POST":
                return error_response(ctx, 404, fixtures.invalid_url_error(method, path))
            replaced = await apply_scenario(ctx)
            if replaced is not None:
                return replaced
            return await handler(ctx)
        except asyncio.CancelledError:
            if not ctx.aborted_by_server:
                ctx.event("client_disconnected")
            raise
        except ConnectionError:
            if not ctx.aborted_by_server:
                ctx.event("client_disconnected")
            raise
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
            ctx.event("internal_error", error=detail)
            traceback.print_exc(file=sys.stderr)
            return error_response(ctx, 500, fixtures.internal_error(detail))

    return dispatch


def build_app(state: Optional[State] = None) -> web.Application:
    state = state or State()
    app = web.Application(client_max_size=CLIENT_MAX_SIZE)
    app["state"] = state
    app.router.add_route("*", "/{tail:.*}", make_dispatch(state))
    return app


# --------------------------------------------------------------------------------------
# Process entry point
# --------------------------------------------------------------------------------------


def _quiet_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.CRITICAL
    for name in ("aiohttp", "aiohttp.access", "aiohttp.server", "aiohttp.web", "asyncio"):
        logging.getLogger(name).setLevel(level)
    if verbose:
        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)


def _write_port_file(path: str, port: int) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


async def _watch_parent(pid: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            stop.set()
            return
        except PermissionError:
            pass
        await asyncio.sleep(0.5)


async def serve(host: str, port: int, port_file: Optional[str], parent_pid: Optional[int]) -> None:
    loop = asyncio.get_running_loop()
    if os.environ.get("STANDIN_VERBOSE") != "1":
        loop.set_exception_handler(lambda _loop, _context: None)
    runner = web.AppRunner(build_app(), access_log=None, handler_cancellation=True,
                           shutdown_timeout=0.25)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    actual_port = runner.addresses[0][1]
    if port_file:
        _write_port_file(port_file, actual_port)
    sys.stdout.write(f"LISTENING {actual_port}\n")
    sys.stdout.flush()

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    watcher = asyncio.ensure_future(_watch_parent(parent_pid, stop)) if parent_pid else None
    await stop.wait()
    if watcher is not None:
        watcher.cancel()
    try:
        await asyncio.wait_for(runner.cleanup(), timeout=1.0)
    except BaseException:
        pass


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description="Provider stand-in HTTP server for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    parser.add_argument("--port-file", default=None, help="write the chosen port here once listening")
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="exit when this process no longer exists")
    parser.add_argument("--verbose", action="store_true", help="aiohttp/asyncio logs to stderr")
    args = parser.parse_args(argv)
    if args.verbose:
        os.environ["STANDIN_VERBOSE"] = "1"
    _quiet_logging(args.verbose)
    try:
        asyncio.run(serve(args.host, args.port, args.port_file, args.parent_pid))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
