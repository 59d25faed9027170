"""Which paths run on the installed code, from the evidence: each path's group of code looked up
in the shipped record, or in this machine's evidence for exactly that code. Pure: what gathers
the evidence on this machine, and keeps the decision, is activation/pair_decision.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import evidence, versions
from .reliance import COMPONENTS, MISSING, NO_SOURCE, component_of, group_digest

# ---------------------------------------------------------------------------------------------
# The decision


@dataclass(frozen=True)
class PathState:
    on: bool
    #: Why the path is off, for people; None when on.
    reason: Optional[str] = None
    #: The counted fallback reason for the calls it would have served ("litellm_changed:<path>").
    code: Optional[str] = None
    #: What decided it on: evidence.BY_SHIPPED, BY_PROBES or BY_LOCAL_VET (None when off).
    source: Optional[str] = None
    #: The evidence in words ("litellm as 1.108.0 to 1.108.14, vetted on 1.108.14 with openai 3.63.0").
    evidence: Optional[str] = None
    #: The installed code's group digest per component (what local evidence is recorded against).
    digests: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    versions: Mapping[str, Optional[str]]
    paths: Mapping[str, PathState] = field(default_factory=dict)

    def on(self, path: str) -> bool:
        state = self.paths.get(path)
        return state is not None and state.on

    @property
    def summary(self) -> str:
        """One line: what decided this release's paths."""
        sources = sorted({s.source for s in self.paths.values() if s.on and s.source})
        off = sum(1 for s in self.paths.values() if not s.on)
        if not sources:
            return "every path stock"
        words = "every path on" if not off else f"{len(self.paths) - off} of {len(self.paths)} paths on"
        return f"{words}, by {' and '.join(sources)}"


def installed_versions() -> Dict[str, Optional[str]]:
    return {c: versions.installed_litellm() if c == "litellm" else versions.installed(c) for c in COMPONENTS}


def _span(releases: Sequence[str]) -> str:
    return releases[0] if len(releases) == 1 else f"{releases[0]} to {releases[-1]}"


def decide_paths(
    refs: Mapping[str, Sequence[str]],
    shipped: Any,
    current: Mapping[str, str],
    installed: Mapping[str, Optional[str]],
    local: Optional[Mapping[str, Mapping[str, Any]]] = None,
) -> Dict[str, PathState]:
    """Each path on iff, for each component it relies on, the installed code's group is one the
    shipped record has vetted (`shipped`: evidence.Shipped), or, for code the record lacks, this
    machine's evidence (`local`: {path: {"digests", "on", "source", "detail"}}) was gathered for
    exactly this code and passed. A group whose vetting failed is off, whatever else says."""
    result: Dict[str, PathState] = {}
    for path, path_refs in refs.items():
        digests: Dict[str, str] = {}
        words: List[str] = []
        unknown: List[Tuple[str, List[str]]] = []
        state: Optional[PathState] = None
        for component in COMPONENTS:
            wanted = [ref for ref in path_refs if component_of(ref) == component]
            if not wanted:
                continue
            who = f"{component} {installed.get(component)}"
            unreadable = [ref for ref in wanted if current.get(ref, NO_SOURCE) == NO_SOURCE]
            if unreadable:
                state = PathState(False, f"{who}: the source of {unreadable[0]} cannot be read, so nothing "
                                         f"{path} relies on can be compared", f"{component}_changed:{path}")
                break
            digest = group_digest(wanted, current)
            digests[component] = digest
            group = shipped.group(path, component, digest)
            if group is None:
                unknown.append((component, wanted))
                continue
            vetted_on = group.get("vetted_on") or {}
            on_pair = f"litellm {vetted_on.get('litellm')} with openai {vetted_on.get('openai')}"
            if group.get("outcome") != evidence.PASSED:
                state = PathState(False, f"{path}'s differential tests failed on {on_pair}, whose {component} "
                                         f"code it relies on is the same as {who}'s", f"tests_failed:{path}")
                break
            words.append(f"{component} as {_span(group['releases'])}, vetted on {on_pair}")
        if state is not None:
            result[path] = state
            continue
        if not unknown:
            result[path] = PathState(True, source=evidence.BY_SHIPPED, evidence="; ".join(words), digests=digests)
            continue
        found = (local or {}).get(path)
        if found and dict(found.get("digests", {})) == digests:
            if found.get("on"):
                result[path] = PathState(True, source=found.get("source"), evidence=found.get("detail"),
                                         digests=digests)
            else:
                result[path] = PathState(False, f"{found.get('source')} found a difference: {found.get('detail')}",
                                         f"probes_differ:{path}", digests=digests)
            continue
        component, wanted = unknown[0]
        result[path] = PathState(False, _what_changed(path, component, wanted, shipped, current, installed),
                                 f"{component}_changed:{path}", digests=digests)
    return result


def _what_changed(path: str, component: str, wanted: Sequence[str], shipped: Any,
                  current: Mapping[str, str], installed: Mapping[str, Optional[str]]) -> str:
    who = f"{component} {installed.get(component)}"
    if not shipped.paths:
        return f"no shipped evidence covers {path}"
    new = [ref for ref in wanted if current.get(ref) not in shipped.known(ref)]
    if not new:
        return f"{who} combines code {path} relies on as no vetted release did"
    first = new[0]
    detail = first + (" is gone" if current.get(first) == MISSING else "")
    if len(new) > 1:
        detail += f", and {len(new) - 1} more"
    return f"{who} changed what {path} relies on ({detail})"
