"""The fixed-response upstream of bench/bench_proxy.py: Debian's nginx (bench.fixed_server's)
answering

* `/openai/v1/chat/completions`            one canned OpenAI chat completion;
* `/openai-stream/v1/chat/completions`     an OpenAI chat completion stream of 500 content chunks;
* `/anthropic/v1/messages`                 one canned Anthropic Messages answer;
* `/anthropic-stream/v1/messages`          an Anthropic Messages stream of 500 text deltas.

Every answer is a static file (a POST to a static file is a 405 in nginx, turned back into the
file), so the server never is the bottleneck. The proxy chooses stream or not per request; the bench's
proxy config points a streaming and a non-streaming model of each provider at the matching
prefix.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from bench.fixed_server import CHAT_COMPLETION, STREAM_CHUNKS, FixedServer, sse_stream

ANTHROPIC_MESSAGE = {
    "id": "msg_bench",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "text", "text": "Hello there! How can I help?"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 9, "output_tokens": 8, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
}


def anthropic_stream(chunks: int = STREAM_CHUNKS) -> bytes:
    """A Messages API stream with `chunks` text deltas, framed as the API reference shows."""

    def event(kind: str, data: dict) -> str:
        return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"

    start = {**ANTHROPIC_MESSAGE, "content": [], "stop_reason": None, "usage": {"input_tokens": 9, "output_tokens": 1}}
    parts = [event("message_start", {"type": "message_start", "message": start}),
             event("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}})]
    parts += [event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": f" word{i}"}})
              for i in range(chunks)]
    parts += [event("content_block_stop", {"type": "content_block_stop", "index": 0}),
              event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                      "usage": {"output_tokens": chunks}}),
              event("message_stop", {"type": "message_stop"})]
    return "".join(parts).encode()


class _Answer(NamedTuple):
    """A static answer at an exact path (what bench.fixed_server.FixedServer serves)."""

    path: str
    content_type: str
    body: bytes


def _answers() -> list:
    """The four answers, at the paths the bench's proxy config sends to (api_base + the
    provider's route)."""
    as_json = lambda body: json.dumps(body, separators=(",", ":")).encode()  # noqa: E731
    return [
        _Answer("/openai/v1/chat/completions", "application/json", as_json(CHAT_COMPLETION)),
        _Answer("/anthropic/v1/messages", "application/json", as_json(ANTHROPIC_MESSAGE)),
        _Answer("/openai-stream/v1/chat/completions", "text/event-stream", sse_stream(STREAM_CHUNKS)),
        _Answer("/anthropic-stream/v1/messages", "text/event-stream", anthropic_stream()),
    ]


class ProxyUpstream(FixedServer):
    """`with ProxyUpstream() as upstream: upstream.base_url` — nginx on a free loopback port,
    answering the four paths above with static files."""

    def __init__(self) -> None:
        super().__init__(files=_answers())
