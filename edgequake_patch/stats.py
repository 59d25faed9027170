"""Counters behind `status()`: native calls per provider and fallbacks per reason.

Plain dict increments under the GIL: a lost update under free-threading would only skew a
diagnostic counter, and a lock would cost every call.
"""

from __future__ import annotations

from collections import Counter
from typing import Dict

native_calls: Counter = Counter()
fallbacks: Counter = Counter()
#: Native calls the lean handler finished (lean_chat.py), per provider: a subset of native_calls.
lean_calls: Counter = Counter()
#: Why a call the lean handler could have served took the regular native path instead (not a
#: fallback to stock: those calls are native too).
not_lean: Counter = Counter()


def count_native(provider: str) -> None:
    native_calls[provider] += 1


def count_fallback(reason: str) -> None:
    fallbacks[reason] += 1


def count_lean(provider: str) -> None:
    lean_calls[provider] += 1


def count_not_lean(reason: str) -> None:
    not_lean[reason] += 1


def snapshot() -> Dict[str, Dict[str, int]]:
    return {"native_calls": dict(native_calls), "fallbacks": dict(fallbacks),
            "lean_calls": dict(lean_calls), "not_lean": dict(not_lean)}
