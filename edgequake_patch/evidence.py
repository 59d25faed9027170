"""The evidence each path's decision rests on: what the project ships, and what this machine
gathered for releases the project has not seen.

*Shipped* (`evidence.json`, written by `scripts/evidence.py`): for each path and component
(litellm, openai), the groups of registry releases whose fingerprints of what that path relies on
are identical, each with the releases in it and the outcome of the compact differential suite on
one of them ("passed", "failed"). A group is named by its digest (reliance.group_digest), so the
installed code, whatever its version number says, finds its group or none.

*Local* (`~/.cache/edgequake-patch/local/`, or EDGEQUAKE_PATCH_CACHE): what probes on this machine
(probes.py) or an operator's `python -m edgequake_patch vet` found for a group the shipped record
lacks, keyed by the installed versions and holding the digests they were found for, so it is
never applied to other code. The whole decision is cached there too, per installed pair, so
the fingerprints are taken at most once per pair.

This module reads and writes data only: no LiteLLM import, no decision (reliance.py decides).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

SHIPPED = Path(__file__).with_name("evidence.json")

PASSED = "passed"
FAILED = "failed"

#: Who decided a path: the shipped record, probes run on this machine, or an operator's vet.
BY_SHIPPED = "shipped record"
BY_PROBES = "probes on this machine"
BY_LOCAL_VET = "local vet"


class Shipped:
    """The shipped record, read once."""

    def __init__(self, document: Mapping[str, Any]):
        self.document = document
        self.paths: Mapping[str, Mapping[str, Mapping[str, Any]]] = document.get("paths", {})
        self.symbols: Mapping[str, Sequence[str]] = document.get("symbols", {})
        self.declared: Optional[str] = document.get("declared")

    def group(self, path: str, component: str, digest: str) -> Optional[Mapping[str, Any]]:
        return self.paths.get(path, {}).get(component, {}).get(digest)

    def known(self, ref: str) -> Sequence[str]:
        """Every fingerprint `ref` had on a vetted release."""
        return self.symbols.get(ref, ())

    def releases(self, component: str) -> List[str]:
        found = set()
        for per_component in self.paths.values():
            for group in per_component.get(component, {}).values():
                if group.get("outcome") == PASSED:
                    found.update(group.get("releases", ()))
        return sorted(found, key=_version_key)

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.document, sort_keys=True).encode()).hexdigest()[:16]


_shipped: Optional[Shipped] = None


def shipped() -> Shipped:
    """The shipped record (or the one EDGEQUAKE_PATCH_EVIDENCE names: a newer record than the
    installed package's, or none at all); an unreadable one is empty (every path then needs
    local evidence)."""
    global _shipped
    if _shipped is None:
        try:
            with open(os.environ.get("EDGEQUAKE_PATCH_EVIDENCE") or SHIPPED, encoding="utf-8") as fh:
                _shipped = Shipped(json.load(fh))
        except (OSError, ValueError):
            _shipped = Shipped({})
    return _shipped


def _version_key(version: str) -> Tuple[int, ...]:
    parts = []
    for part in version.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def document(grouped: Mapping[str, Mapping[str, Mapping[str, Sequence[str]]]],
             state: Mapping[Tuple[str, str, str], Tuple[str, Mapping[str, Any]]], runs: Sequence[Mapping[str, Any]],
             harvested: Mapping[str, Mapping[str, Mapping[str, str]]], declared: str) -> Dict[str, Any]:
    """The shipped record (scripts/evidence.py write): groups with their releases, outcome and
    the run that decided it (`state`), and every fingerprint seen on a vetted release (to name, on other
    code, which symbol is new)."""
    paths: Dict[str, Dict[str, Dict[str, Any]]] = {}
    symbols: Dict[str, set] = {}
    for path, per_component in grouped.items():
        for component, found in per_component.items():
            for digest, members in found.items():
                decided = state.get((path, component, digest))
                if decided is None:
                    continue  # never vetted: not shipped (probes decide such code on the machine)
                outcome, run = decided
                entry = {"releases": list(members), "outcome": outcome,
                         "vetted_on": {"litellm": run["litellm"], "openai": run["openai"]}}
                paths.setdefault(path, {}).setdefault(component, {})[digest] = entry
                if outcome == PASSED:
                    for version in members:
                        for ref, value in harvested[component][version].items():
                            symbols.setdefault(ref, set()).add(value)
    return {
        "about": "Generated by scripts/evidence.py from the registry's releases and the vetting runs; never "
                 "edited by hand. See edgequake_patch/evidence.py.",
        "declared": declared,
        "paths": paths,
        "symbols": {ref: sorted(values) for ref, values in sorted(symbols.items())},
        "runs": [
            {k: r[k] for k in ("litellm", "openai", "outcome", "failed_paths", "untested_paths", "passed", "failed", "skipped",
                                 "date")
             if k in r}
            for r in sorted(runs, key=lambda r: (_version_key(str(r["litellm"])), _version_key(str(r["openai"]))))
        ],
    }


# --- this machine's evidence ---------------------------------------------------------------------


def cache_dir() -> Path:
    base = os.environ.get("EDGEQUAKE_PATCH_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache") / "edgequake-patch"


def _install_stamp(package: str) -> str:
    """The installed distribution's version and the size and time of its RECORD: a reinstall of
    the same version (another build, an edited file put back by pip) is other evidence."""
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        return f"{package}-none"
    stamp = f"{package}-{dist.version}"
    try:
        record = Path(str(dist.locate_file(""))) / f"{dist.metadata['Name'].replace('-', '_')}-{dist.version}.dist-info" / "RECORD"
        info = record.stat()
        stamp += f"-{info.st_size}-{int(info.st_mtime)}"
    except (OSError, TypeError, KeyError):
        pass
    return stamp


def local_key(installed: Mapping[str, Optional[str]], declared: str) -> str:
    """The file name of this machine's evidence and decision for the installed versions."""
    from . import __version__

    parts = [f"{c}={v}" for c, v in sorted(installed.items())] + [_install_stamp(c) for c in sorted(installed)]
    parts += [f"edgequake_patch-{__version__}", declared, shipped().digest]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def read_local(key: str) -> Dict[str, Any]:
    try:
        with open(cache_dir() / "local" / f"{key}.json", encoding="utf-8") as fh:
            found = json.load(fh)
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}


def write_local(key: str, content: Mapping[str, Any]) -> None:
    """Best effort: a read-only home only costs the next process the same work again."""
    target = cache_dir() / "local"
    try:
        target.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(content, fh, indent=1, sort_keys=True)
        os.replace(tmp, target / f"{key}.json")
    except OSError:
        pass
