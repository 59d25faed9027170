"""Counters behind `status()`: native calls per provider, fallbacks per reason, whole answers
the core's format modules parsed (per wire format: anthropic, gemini, ollama), streamed chunks
the fast stream path built, and calls the lean handler finished (or why it did not serve them).

Plain dict increments under the GIL: a lost update under free-threading would only skew a
diagnostic counter, and a lock would cost every call.
"""

from __future__ import annotations

from collections import Counter
from typing import Dict

native_calls: Counter = Counter()
#: The same native calls per (endpoint, provider): ("chat", "openai"), ("rerank", "jina_ai").
endpoint_calls: Counter = Counter()
fallbacks: Counter = Counter()
parsed_answers: Counter = Counter()
#: Streamed chunks built by the fast stream path (fast_stream.py) rather than stock's chunk logic.
fast_stream_chunks: Counter = Counter()
#: Why stock's chunk logic built chunks the fast stream path might have built: per streamed call
#: the path does not read ("debug_logging", "max_streaming_duration", "path_off"), per stream
#: whose learning hit something unexpected ("learning_error"), per pair of chunks that did not
#: teach a shape ("unlearnable": stock keeps building that kind of chunk, and learns again from
#: the next two).
not_fast: Counter = Counter()
#: Native calls the lean handler finished (lean_chat.py), per provider: a subset of native_calls.
lean_calls: Counter = Counter()
#: Why a call the lean handler could have served took the regular native path instead (not a
#: fallback to stock: those calls are native too).
not_lean: Counter = Counter()


def count_native(provider: str, endpoint: str = "chat") -> None:
    native_calls[provider] += 1
    endpoint_calls[endpoint, provider] += 1


def by_endpoint() -> Dict[str, Dict[str, int]]:
    """endpoint -> provider -> native calls."""
    table: Dict[str, Dict[str, int]] = {}
    for (endpoint, provider), count in endpoint_calls.items():
        table.setdefault(endpoint, {})[provider] = count
    return table


def count_fallback(reason: str) -> None:
    fallbacks[reason] += 1


def count_parsed(wire_format: str) -> None:
    parsed_answers[wire_format] += 1


def count_not_fast(reason: str) -> None:
    not_fast[reason] += 1


def count_lean(provider: str) -> None:
    lean_calls[provider] += 1


def count_not_lean(reason: str) -> None:
    not_lean[reason] += 1


def snapshot() -> Dict[str, Dict[str, int]]:
    return {"native_calls": dict(native_calls), "endpoint_calls": by_endpoint(), "fallbacks": dict(fallbacks), "parsed_answers": dict(parsed_answers),
            "fast_stream_chunks": dict(fast_stream_chunks), "not_fast": dict(not_fast), "lean_calls": dict(lean_calls),
            "not_lean": dict(not_lean)}
