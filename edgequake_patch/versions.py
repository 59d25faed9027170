"""Which LiteLLM releases the patch supports, decided without importing LiteLLM.

The hooks replace LiteLLM's private per-provider dispatch functions, so every release in the
range is one the test suite has run against (CI tests both ends). Outside it, `install()`
refuses and LiteLLM runs unpatched.
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Optional, Tuple

Version = Tuple[int, ...]

OLDEST_SUPPORTED = "1.95.0"
NEWEST_SUPPORTED = "1.110.2"
# Releases that were published compromised: never patched, even inside the range.
COMPROMISED = frozenset({"1.82.7", "1.82.8"})

_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)")


def parse(version: str) -> Optional[Version]:
    """The numeric release part of a version string; None if it has none."""
    match = _RELEASE.match(version.strip())
    return tuple(int(part) for part in match.groups()) if match else None


def in_range(version: str, oldest: str, newest: str) -> bool:
    parsed = parse(version)
    return parsed is not None and parse(oldest) <= parsed <= parse(newest)  # type: ignore[operator]


# What may follow the release numbers: a pre-release or development build comes before its
# release, a post-release after it; a local label ("+...") changes neither.
_BEFORE_RELEASE = re.compile(r"^[-_.]?(a|b|c|rc|alpha|beta|pre|preview|dev)", re.IGNORECASE)


def _outside_at_the_ends(version: str) -> bool:
    """A build of an end release that is not that release: a pre-release of the oldest is
    older than it, a post-release (or anything else) of the newest is newer. Neither was tested."""
    match = _RELEASE.match(version.strip())
    if match is None:
        return False
    suffix = version.strip()[match.end():].split("+", 1)[0]
    if not suffix:
        return False
    release = parse(version)
    if release == parse(OLDEST_SUPPORTED) and _BEFORE_RELEASE.match(suffix):
        return True
    return release == parse(NEWEST_SUPPORTED) and not _BEFORE_RELEASE.match(suffix)


def installed_litellm() -> Optional[str]:
    try:
        return metadata.version("litellm")
    except metadata.PackageNotFoundError:
        return None


def unsupported_reason(version: Optional[str]) -> Optional[str]:
    """Why this LiteLLM must not be patched, or None when it may be."""
    if version is None:
        return "litellm is not installed"
    if version in COMPROMISED:
        return f"litellm {version} is a compromised release"
    if not in_range(version, OLDEST_SUPPORTED, NEWEST_SUPPORTED) or _outside_at_the_ends(version):
        return f"litellm {version} is outside the supported range {OLDEST_SUPPORTED}..{NEWEST_SUPPORTED}"
    return None
