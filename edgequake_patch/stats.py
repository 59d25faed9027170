"""Counters behind `status()`: native calls per provider and fallbacks per reason.

Plain dict increments under the GIL: a lost update under free-threading would only skew a
diagnostic counter, and a lock would cost every call.
"""

from __future__ import annotations

from collections import Counter
from typing import Dict

native_calls: Counter = Counter()
fallbacks: Counter = Counter()


def count_native(provider: str) -> None:
    native_calls[provider] += 1


def count_fallback(reason: str) -> None:
    fallbacks[reason] += 1


def snapshot() -> Dict[str, Dict[str, int]]:
    return {"native_calls": dict(native_calls), "fallbacks": dict(fallbacks)}
