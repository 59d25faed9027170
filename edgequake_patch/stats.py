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
fallbacks: Counter = Counter()
parsed_answers: Counter = Counter()
#: Streamed chunks built by the fast stream path (fast_stream.py) rather than stock's chunk logic.
fast_stream_chunks: Counter = Counter()
#: Native calls the lean handler finished (lean_chat.py), per provider: a subset of native_calls.
lean_calls: Counter = Counter()
#: Why a call the lean handler could have served took the regular native path instead (not a
#: fallback to stock: those calls are native too).
not_lean: Counter = Counter()


def count_native(provider: str) -> None:
    native_calls[provider] += 1


def count_fallback(reason: str) -> None:
    fallbacks[reason] += 1


def count_parsed(wire_format: str) -> None:
    parsed_answers[wire_format] += 1


def count_fast_chunk(provider: str) -> None:
    fast_stream_chunks[provider] += 1


def count_lean(provider: str) -> None:
    lean_calls[provider] += 1


def count_not_lean(reason: str) -> None:
    not_lean[reason] += 1


def snapshot() -> Dict[str, Dict[str, int]]:
    return {"native_calls": dict(native_calls), "fallbacks": dict(fallbacks), "parsed_answers": dict(parsed_answers),
            "fast_stream_chunks": dict(fast_stream_chunks), "lean_calls": dict(lean_calls), "not_lean": dict(not_lean)}
