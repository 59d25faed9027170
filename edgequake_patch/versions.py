"""Which LiteLLM releases the patch may run on, decided without importing LiteLLM.

* Below `OLDEST_SUPPORTED` the hooks' targets (LiteLLM's per-provider dispatch functions) do
  not exist: `install()` refuses. So it does for the compromised releases.
* A *tested* release is one recorded in `fingerprints.json`: the suite ran against it and the
  fingerprints of everything the patch relies on were recorded (`scripts/vet.sh VERSION`).
* Any newer release is decided by evidence, not by its number: each path runs if what it
  relies on is unchanged from a tested release (reliance.py). No upper bound is kept here.

This module stands alone (no imports from the package), so the scripts can read the release
ends from it (`runpy.run_path("edgequake_patch/versions.py")`).
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

Version = Tuple[int, ...]

OLDEST_SUPPORTED = "1.95.0"
# Releases that were published compromised: never patched.
COMPROMISED = frozenset({"1.82.7", "1.82.8"})

#: The recorded fingerprints of the tested releases (generated, see reliance.py).
FINGERPRINTS = Path(__file__).with_name("fingerprints.json")

_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)")


def parse(version: str) -> Optional[Version]:
    """The numeric release part of a version string; None if it has none."""
    match = _RELEASE.match(version.strip())
    return tuple(int(part) for part in match.groups()) if match else None


_records: Optional[List[Dict[str, Any]]] = None


def records() -> List[Dict[str, Any]]:
    """The tested releases' records: {"versions": {package: version}, "fingerprints": {...}}.
    A missing or unreadable file means no release is tested: every path then stays stock."""
    global _records
    if _records is None:
        try:
            with open(FINGERPRINTS, encoding="utf-8") as fh:
                _records = list(json.load(fh).get("records", []))
        except (OSError, ValueError):
            _records = []
    return _records


def tested_releases() -> List[str]:
    """The tested LiteLLM releases, oldest first."""
    found = {str(r["versions"].get("litellm")) for r in records()}
    return sorted((v for v in found if parse(v) is not None), key=lambda v: parse(v))  # type: ignore[arg-type,return-value]


#: The newest tested release (CI tests it and the oldest supported one); releases after it are
#: served as far as their fingerprints allow.
NEWEST_SUPPORTED = (tested_releases() or [OLDEST_SUPPORTED])[-1]


# What may follow the release numbers: a pre-release or development build comes before its
# release; a post-release or local label does not.
_BEFORE_RELEASE = re.compile(r"^[-_.]?(a|b|c|rc|alpha|beta|pre|preview|dev)", re.IGNORECASE)


def _before_oldest(version: str) -> bool:
    """Older than the oldest supported release, pre-releases of it included."""
    release = parse(version)
    if release is None:
        return True
    oldest = parse(OLDEST_SUPPORTED)
    if release != oldest:
        return release < oldest  # type: ignore[operator]
    match = _RELEASE.match(version.strip())
    suffix = version.strip()[match.end():].split("+", 1)[0]  # type: ignore[union-attr]
    return bool(_BEFORE_RELEASE.match(suffix))


def installed(distribution: str) -> Optional[str]:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def installed_litellm() -> Optional[str]:
    return installed("litellm")


def unsupported_reason(version: Optional[str]) -> Optional[str]:
    """Why this LiteLLM must not be patched at all, or None when it may be (each path is then
    decided by reliance.py)."""
    if version is None:
        return "litellm is not installed"
    if version in COMPROMISED:
        return f"litellm {version} is a compromised release"
    if _before_oldest(version):
        return f"litellm {version} is older than the oldest supported release {OLDEST_SUPPORTED}"
    return None
