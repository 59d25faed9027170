"""The decision for the installed pair of LiteLLM and openai releases: made once per pair, kept
in this machine's cache. Code the shipped record lacks is probed here (probes.py), in this
process or, inside the application's `import litellm`, in a process of its own
(`python -m edgequake_patch.activation.pair_decision MARKER`); an operator's vet
(`python -m edgequake_patch vet`) is kept as this machine's evidence too."""

from __future__ import annotations

import time
from typing import Any, Dict, Mapping, Optional, Sequence

from ..decide import evidence
from ..decide.decision import Decision, PathState, decide_paths, installed_versions
from ..decide.reliance import (COMPONENTS, PATH_NAMES, component_of, current_fingerprints, declaration_digest,
                               group_digest, refs_by_path)
from . import probes

_decision: Optional[Decision] = None


def decision() -> Decision:
    """The decision for the installed versions, made once per process and cached on disk per
    installed pair: the fingerprints are taken, each path's group looked up in the shipped
    record, and code the record lacks is probed on this machine (probes.py), once."""
    global _decision
    installed = installed_versions()
    cached = _decision
    if cached is not None and cached.versions == installed:
        return cached
    made = _decide(installed)
    _decision = made
    return made


def _decide(installed: Mapping[str, Optional[str]]) -> Decision:
    shipped = evidence.shipped()
    declared = declaration_digest()
    key = evidence.local_key(installed, declared)
    local = evidence.read_local(key)
    saved = local.get("decision")
    if isinstance(saved, dict) and saved.get("versions") == dict(installed):
        try:
            return Decision(installed, {name: _state(saved["paths"][name]) for name in PATH_NAMES})
        except (KeyError, TypeError):
            pass
    refs = refs_by_path()
    current = current_fingerprints(ref for path_refs in refs.values() for ref in path_refs)
    found: Dict[str, Dict[str, Any]] = dict(local.get("paths", {}))
    paths = decide_paths(refs, shipped, current, installed, found)
    # Code no evidence covers yet (no local outcome matches its digests either): probed now.
    pending = [name for name, state in paths.items() if not state.on and state.code and "_changed:" in state.code
               and state.digests]
    settled = True
    if pending:
        if probes.inside_litellm_import():
            # install() inside the application's `import litellm` (EDGEQUAKE_PATCH=1): LiteLLM's
            # own worker threads would wait for that import to finish, and the probes for them.
            # A process of its own probes and keeps the outcome; this one serves them by stock.
            run_in_background(key)
            return Decision(installed, paths)
        outcomes = probes.run(pending, base=Decision(installed, paths))
        for name, outcome in outcomes.items():
            if outcome.get("transient"):
                settled = False  # (kept off for this process; probed again by the next)
                continue
            found[name] = {**outcome, "digests": dict(paths[name].digests)}
        paths = decide_paths(refs, shipped, current, installed, found)
    made = Decision(installed, paths)
    if settled:
        evidence.write_local(key, {"paths": found, "decision": {"versions": dict(installed), "paths": {
            name: _plain(state) for name, state in paths.items()}}})
    return made


def _plain(state: PathState) -> Dict[str, Any]:
    return {"on": state.on, "reason": state.reason, "code": state.code, "source": state.source,
            "evidence": state.evidence, "digests": dict(state.digests)}


def _state(saved: Mapping[str, Any]) -> PathState:
    return PathState(bool(saved["on"]), saved.get("reason"), saved.get("code"), saved.get("source"),
                     saved.get("evidence"), dict(saved.get("digests") or {}))


def record_local(outcomes: Mapping[str, Mapping[str, Any]]) -> Decision:
    """Keep what an operator's vet found for the installed code (pair_decision.vet), then decide again."""
    global _decision
    installed = installed_versions()
    declared = declaration_digest()
    key = evidence.local_key(installed, declared)
    refs = refs_by_path()
    current = current_fingerprints(ref for path_refs in refs.values() for ref in path_refs)
    found = dict(evidence.read_local(key).get("paths", {}))
    for name, outcome in outcomes.items():
        if outcome.get("transient"):
            continue
        found[name] = {**outcome, "digests": {
            component: group_digest([r for r in refs[name] if component_of(r) == component], current)
            for component in COMPONENTS if any(component_of(r) == component for r in refs[name])}}
    paths = decide_paths(refs, evidence.shipped(), current, installed, found)
    _decision = Decision(installed, paths)
    evidence.write_local(key, {"paths": found, "decision": {"versions": dict(installed), "paths": {
        name: _plain(state) for name, state in paths.items()}}})
    return _decision


def forget() -> None:
    """Decide again on the next call (tests that change what is installed)."""
    global _decision
    _decision = None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """What would be decided for the installed versions, path by path."""
    forget()
    made = decision()
    print(f"litellm {made.versions['litellm']}, openai {made.versions['openai']}: {made.summary}")
    for name, state in made.paths.items():
        print(f"  {name:22} {'on ' if state.on else 'off'}  {state.evidence if state.on else state.reason}")
    return 0



def run_in_background(key: str) -> None:
    """Decide the installed pair in a process of its own (`python -m edgequake_patch.activation.pair_decision`),
    which keeps the decision in this machine's cache for the next process; at most one at a
    time per pair. Best effort: without it, the next process probes in-process if it can."""
    import os
    import subprocess
    import sys

    marker = evidence.cache_dir() / "local" / f"{key}.probing"
    try:
        if marker.exists() and time.time() - marker.stat().st_mtime < 600:
            return
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(os.getpid()))
        # The directory holding the package (this file is edgequake_patch/activation/...).
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {k: v for k, v in os.environ.items() if k != "EDGEQUAKE_PATCH"}  # (no autoload there)
        env["PYTHONPATH"] = os.pathsep.join([package_root, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        subprocess.Popen([sys.executable, "-m", "edgequake_patch.activation.pair_decision", str(marker)], env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    except Exception:  # noqa: BLE001 - a start-up aid, never a reason for the application to fail
        pass


def _main(argv: Sequence[str]) -> int:
    """`python -m edgequake_patch.activation.pair_decision [MARKER]`: decide the installed pair (probing what the
    shipped record lacks) and keep it; remove MARKER when done."""
    import os

    try:
        import litellm  # noqa: F401 - the decision is about the installed LiteLLM

        decision()
    finally:
        if argv:
            try:
                os.unlink(argv[0])
            except OSError:
                pass
    return 0


def vet() -> Dict[str, Dict[str, Any]]:
    """Every path's every scenario, on the installed versions (`python -m edgequake_patch vet`),
    recorded as this machine's evidence for the code it ran on. Returns what was found."""
    forget()
    outcomes = probes.run(list(probes.SCENARIOS), thorough=True)
    record_local(outcomes)
    return outcomes


if __name__ == "__main__":
    import sys

    raise SystemExit(_main(sys.argv[1:]))
