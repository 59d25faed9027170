#!/usr/bin/env python3
"""Bring the shipped evidence (edgequake_patch/decide/evidence.json) up to date with the registry.

    python3 scripts/evidence.py update          # harvest, group, vet what is new, write the record
    python3 scripts/evidence.py harvest         # fingerprints of every release not yet seen
    python3 scripts/evidence.py groups          # what the releases group into, per path
    python3 scripts/evidence.py vet [--max N] [--paths P ...]  # the vetting runs still missing (at most N; of these paths)
    python3 scripts/evidence.py write           # the record, from what was harvested and vetted

*Harvest*: every LiteLLM release from the oldest supported one, and every OpenAI SDK release
from 2.0.0, on the registry: each wheel is unpacked once into the cache, and the fingerprints
of everything a path relies on are taken in a subprocess that sees that release first on its
path (next to another release's dependencies: a module that fails to import there is an error,
never a symbol "missing"). Fingerprints are kept per release and per declaration of what the
paths rely on, so a release is hashed again only when that declaration changes.

*Group*: for each path and component (litellm, openai), releases whose fingerprints of what that
path relies on are identical form one group (its digest, reliance.group_digest).

*Vet*: a group is vetted when the compact differential suite (VET_SUITE: every path's calls, stock
and patched against the stand-in, compared answer by answer, natively) passed on a release of the
group, paired with an SDK release pip allows it. Runs are chosen to cover every unvetted group
with as few environments as possible (greedy set cover), each a virtualenv of its own with the
project's wheel, and each runs only the part of the suite that tests the paths whose groups it
covers (`suite_for`); a run records the paths it vetted. A failed run marks the groups it was to vet as failed: those paths stay stock
on those releases. Runs are kept in the cache's vets.json; `write` turns them into the record.

The cache (default ~/.cache/edgequake-patch, or EDGEQUAKE_EVIDENCE_CACHE) holds the unpacked
releases (~140 MB a LiteLLM release), the fingerprints and the runs.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from edgequake_patch.decide import evidence, reliance, versions  # noqa: E402

CACHE = Path(os.environ.get("EDGEQUAKE_EVIDENCE_CACHE") or Path.home() / ".cache" / "edgequake-patch")
RELEASES = CACHE / "releases"
FINGERPRINTS = CACHE / "fingerprints"
VETS = CACHE / "vets.json"
# The SDK's floor: every supported LiteLLM release requires openai>=2.20, so pip never pairs an
# older one with it.
FLOORS = {"litellm": versions.OLDEST_SUPPORTED, "openai": "2.20.0"}

#: The compact differential suite a vetting run executes: every path's calls, sync and async,
#: streams, embeddings, errors, the lean handler, fast streams and a caller's aiohttp session,
#: stock and patched against the stand-in and compared answer by answer (callback payloads
#: included), the proof that they left through the core, and every path's probe scenarios. The
#: suite's timing-bound and repetition-heavy tests stay in the full suite (VET_SKIP): what they
#: exercise on a release is exercised here by their faster neighbours.
VET_SUITE = (
    "tests/test_chat_differential.py",
    "tests/test_stream_differential.py",
    "tests/test_stream_all_providers.py",
    "tests/test_embedding_differential.py",
    "tests/test_anthropic_differential.py",
    "tests/test_gemini_differential.py",
    "tests/test_ollama_differential.py",
    "tests/test_lean_chat.py",
    "tests/test_lean_steps_aside.py",
    "tests/test_shared_session.py",
    "tests/test_native_proof.py",
    "tests/test_native_proof_formats.py",
    "tests/test_endpoints_differential.py",
    "tests/test_evidence.py::test_an_operators_vet_is_kept_as_local_evidence",
)
#: The paths each module's failures implicate (a failure in a module not listed implicates
#: every path): the other paths' groups are vetted by a run whose own modules passed. `dispatch`
#: (the context's fields, one group for every release) is implicated only by what cannot be
#: attributed: a broken dispatch fails every provider's tests, and so every provider's path.
_CHAT = ("chat_openai_sdk", "chat_http_handler", "chat_anthropic", "chat_gemini", "chat_ollama")
VET_MODULE_PATHS = {
    "test_chat_differential": ("chat_openai_sdk", "chat_http_handler"),
    "test_stream_differential": ("chat_openai_sdk", "chat_http_handler", "fast_stream"),
    "test_stream_all_providers": (*_CHAT, "fast_stream"),
    "test_embedding_differential": ("embedding_openai_sdk", "embedding_lm_studio"),
    "test_anthropic_differential": ("chat_anthropic", "fast_stream"),
    "test_gemini_differential": ("chat_gemini", "embedding_gemini", "fast_stream"),
    "test_ollama_differential": ("chat_ollama", "embedding_ollama", "fast_stream"),
    "test_lean_chat": ("lean",),
    "test_lean_steps_aside": ("lean",),
    "test_shared_session": ("shared_session",),
    "test_endpoints_differential": ("endpoints_http_handler",),
}
VET_SKIP = ("test_timeout", "abandoned_streams", "read_timeout", "a_second_stream_of_a_shape",
            "unknown_frame_mid_stream", "long_tool_arguments", "leaving_early", "first_chunk_is_not_held_back")

#: Pairs vetted first: what users get today (`pip install litellm`, `litellm[proxy]`, an
#: application holding openai at 3.3.0) and the oldest supported release.
PRIORITY = (("1.110.2", "3.63.0"), ("1.108.7", "3.63.0"), ("1.110.2", "3.3.0"), ("1.95.0", "2.54.0"))


def say(*parts: object) -> None:
    print("==", *parts, file=sys.stderr, flush=True)


# --- the registry -----------------------------------------------------------------------------


def registry_releases(package: str) -> List[str]:
    """Final releases of `package` on the registry from its floor on, oldest first."""
    out = subprocess.run([sys.executable, "-m", "pip", "index", "versions", package],
                         capture_output=True, text=True, timeout=300).stdout
    line = next((l for l in out.splitlines() if l.startswith("Available versions:")), "")
    found = [v.strip() for v in line.partition(":")[2].split(",") if v.strip()]
    floor = versions.parse(FLOORS[package])
    final = [v for v in found if re.fullmatch(r"\d+\.\d+\.\d+", v) and versions.parse(v) >= floor]
    if package == "litellm":
        final = [v for v in final if v not in versions.COMPROMISED]
    return sorted(final, key=versions.parse)


def unpacked(package: str, version: str) -> Path:
    """The release's wheel, unpacked once into the cache."""
    target = RELEASES / f"{package}-{version}"
    if target.is_dir():
        return target
    RELEASES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=RELEASES) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                        f"{package}=={version}", "-d", tmp], check=True, timeout=600)
        wheel = next(Path(tmp).glob("*.whl"))
        staging = Path(tmp) / "unpacked"
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(staging)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # (another harvest unpacked it meanwhile: that one serves)
                raise
    return target


# --- harvest ------------------------------------------------------------------------------------

_FINGERPRINT_ONE = """
import json, sys
from edgequake_patch.decide import reliance, versions
component, expected = sys.argv[1], sys.argv[2]
found = versions.installed(component)
if found != expected:
    raise SystemExit(f"{component} {found} imported instead of {expected}")
refs = [r for r in reliance.all_refs() if reliance.component_of(r) == component]
print(json.dumps(reliance.current_fingerprints(refs, strict=True)))
"""


def declared_refs(component: str) -> List[str]:
    return [r for r in reliance.all_refs() if reliance.component_of(r) == component]


@functools.lru_cache(maxsize=None)
def _stamp(ref: str) -> str:
    return reliance.fingerprinter_stamp(ref)


def fingerprints_of(package: str, version: str, python: str) -> Dict[str, str]:
    """The release's fingerprints of what the paths rely on, from the cache or taken now. The
    cache keeps each with the stamp of the code that computed it (reliance.fingerprinter_stamp):
    a changed hashing or behaviour function takes it again."""
    wanted = declared_refs(package)
    stamps = {ref: _stamp(ref) for ref in wanted}
    cached_file = FINGERPRINTS / f"{package}-{version}.json"
    try:
        cached = json.loads(cached_file.read_text())
        if all(isinstance(cached.get(ref), list) and cached[ref][0] == stamps[ref] for ref in wanted):
            return {ref: cached[ref][1] for ref in wanted}
    except (OSError, ValueError):
        cached = {}
    where = unpacked(package, version)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(where), str(ROOT)]), PYTHONNOUSERSITE="1")
    env.pop("EDGEQUAKE_PATCH", None)
    done = subprocess.run([python, "-c", _FINGERPRINT_ONE, package, version], capture_output=True, text=True,
                          env=env, cwd=tempfile.gettempdir(), timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{package} {version}: fingerprinting failed:\n{done.stderr[-3000:]}")
    taken = json.loads(done.stdout.strip().splitlines()[-1])
    FINGERPRINTS.mkdir(parents=True, exist_ok=True)
    cached = {ref: value for ref, value in cached.items() if isinstance(value, list)}
    cached.update({ref: [stamps[ref], value] for ref, value in taken.items()})
    tmp = cached_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(cached, indent=0, sort_keys=True))
    os.replace(tmp, cached_file)
    return taken


def harvest(python: str, jobs: int = 2, packages: Sequence[str] = ("litellm", "openai")) -> Dict[str, Dict[str, Dict[str, str]]]:
    """{package: {version: {ref: fingerprint}}} for every release in range on the registry."""
    result: Dict[str, Dict[str, Dict[str, str]]] = {}
    # OpenAI SDK 2.x imports `distro`, which 3.x (and so the newest LiteLLM's environment) no
    # longer installs: the releases are fingerprinted next to that environment's packages.
    if subprocess.run([python, "-c", "import distro"], capture_output=True).returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "-q", "distro"], check=True)
    for package in packages:
        releases = registry_releases(package)
        say(f"{package}: {len(releases)} releases from {releases[0]} to {releases[-1]}")
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            taken = list(pool.map(lambda v: (v, fingerprints_of(package, v, python)), releases))
        result[package] = dict(taken)
        say(f"{package}: fingerprints of {len(releases)} releases in {time.monotonic() - started:.0f} s")
    return result


# --- groups ------------------------------------------------------------------------------------


def groups(harvested: Dict[str, Dict[str, Dict[str, str]]]) -> Dict[str, Dict[str, Dict[str, List[str]]]]:
    """{path: {component: {digest: [releases, oldest first]}}}."""
    result: Dict[str, Dict[str, Dict[str, List[str]]]] = {}
    for path, refs in reliance.refs_by_path().items():
        per_component: Dict[str, Dict[str, List[str]]] = {}
        for component in reliance.COMPONENTS:
            wanted = [r for r in refs if reliance.component_of(r) == component]
            if not wanted:
                continue
            found: Dict[str, List[str]] = {}
            for version, prints in sorted(harvested.get(component, {}).items(), key=lambda kv: versions.parse(kv[0])):
                found.setdefault(reliance.group_digest(wanted, prints), []).append(version)
            per_component[component] = found
        result[path] = per_component
    return result


# --- vet ------------------------------------------------------------------------------------------


def load_vets() -> List[Dict[str, object]]:
    """The vetting runs: the cache's, or on a machine without them, the shipped record's (each
    with the paths the record had then, the only ones it can speak for)."""
    try:
        return list(json.loads(VETS.read_text()))
    except (OSError, ValueError):
        pass
    document = evidence.shipped().document
    recorded = sorted(document.get("paths", {}))
    return [{**run, "paths": run.get("paths", recorded)} for run in document.get("runs", ())]


def save_vets(runs: List[Dict[str, object]]) -> None:
    VETS.parent.mkdir(parents=True, exist_ok=True)
    VETS.write_text(json.dumps(runs, indent=1, sort_keys=True))


@functools.lru_cache(maxsize=None)
def _pair_ok(litellm_version: str, openai_version: str) -> bool:
    """Whether LiteLLM's release allows the SDK release (its Requires-Dist on openai)."""
    meta = next(unpacked("litellm", litellm_version).glob("litellm-*.dist-info/METADATA")).read_text()
    spec = next((l.split(":", 1)[1].strip() for l in meta.splitlines()
                 if l.startswith("Requires-Dist: openai") and "extra ==" not in l), "")
    from packaging.specifiers import SpecifierSet

    return openai_version in SpecifierSet(spec.replace("openai", "", 1).split(";")[0].strip() or ">=0")


def _outcome_for(run: Dict[str, object], path: str) -> Optional[str]:
    """A run's outcome for one path: failed only where its failures implicate that path; None
    where the run did not exercise it."""
    if path in (run.get("untested_paths") or ()):  # type: ignore[operator]
        return None
    if "paths" in run and path not in run["paths"]:  # type: ignore[operator]
        return None  # a path declared after the run was made
    if run["outcome"] != "failed":
        return str(run["outcome"])
    implicated = run.get("failed_paths")
    return "failed" if implicated is None or path in implicated else "passed"  # type: ignore[operator]


def vetted_groups(grouped, runs) -> Dict[Tuple[str, str, str], Tuple[str, Dict[str, object]]]:
    """(path, component, digest) -> (outcome, the run that decided it), from the runs of the
    group's releases: a failure for that path wins."""
    state: Dict[Tuple[str, str, str], Tuple[str, Dict[str, object]]] = {}
    for path, per_component in grouped.items():
        for component, found in per_component.items():
            for digest, members in found.items():
                outcomes = [(_outcome_for(r, path), r) for r in runs if r.get(component) in members]
                outcomes = [(o, r) for o, r in outcomes if o is not None]
                if outcomes:
                    state[(path, component, digest)] = next((o for o in outcomes if o[0] == "failed"), outcomes[0])
    return state


def plan(grouped, runs, harvested, only: Optional[Sequence[str]] = None) -> List[Tuple[str, str, Tuple[str, ...]]]:
    """(litellm, openai, paths) runs that cover every unvetted group (of the paths `only` names,
    if given): greedy, newest first; each run tests only the paths whose unvetted groups it
    covers."""
    state = vetted_groups(grouped, runs)
    todo = {(path, component, digest): members
            for path, per_component in grouped.items() for component, found in per_component.items()
            for digest, members in found.items()
            if (path, component, digest) not in state and (only is None or path in only)}
    litellm_releases = sorted(harvested["litellm"], key=versions.parse, reverse=True)
    openai_releases = sorted(harvested["openai"], key=versions.parse, reverse=True)
    chosen: List[Tuple[str, str, Tuple[str, ...]]] = []

    def take(pair: Tuple[str, str]) -> None:
        nonlocal todo
        covered = {k for k, m in todo.items() if pair[0 if k[1] == "litellm" else 1] in m}
        chosen.append((pair[0], pair[1], tuple(sorted({path for path, _, _ in covered}))))
        todo = {k: m for k, m in todo.items() if k not in covered}

    for pair in PRIORITY:
        if pair[0] in harvested["litellm"] and pair[1] in harvested["openai"] and _pair_ok(*pair):
            if any(pair[0 if k[1] == "litellm" else 1] in m for k, m in todo.items()):
                take(pair)
    while todo:
        # The pair covering the most groups still unvetted, LiteLLM's and the SDK's together
        # (newest first on a tie): each release is scored on its own component's groups.
        def score(component: str, release: str) -> int:
            return sum(1 for (_, comp, _), members in todo.items() if comp == component and release in members)

        litellm_scores = {v: score("litellm", v) for v in litellm_releases}
        openai_scores = {v: score("openai", v) for v in openai_releases}
        best: Optional[Tuple[Tuple[int, Tuple[int, ...], Tuple[int, ...]], Tuple[str, str]]] = None
        for lv in litellm_releases:
            for ov in openai_releases:
                covered = litellm_scores[lv] + openai_scores[ov]
                if not covered or (best is not None and covered < best[0][0]) or not _pair_ok(lv, ov):
                    continue
                key = (covered, versions.parse(lv), versions.parse(ov))
                if best is None or key > best[0]:
                    best = (key, (lv, ov))
        if best is None:
            say(f"{len(todo)} groups have no release pip can pair: left unvetted")
            break
        take(best[1])
    return chosen


#: Parts of VET_SUITE only a run of every path has: the operator's vet probes every path, so a
#: path known to fail on a release (the lean handler on 1.101 to 1.105) fails it whatever else
#: the run is to vet, and its failure names no path.
_EVERY_PATH_ONLY = ("tests/test_evidence.py::test_an_operators_vet_is_kept_as_local_evidence",)


def suite_for(paths: Sequence[str]) -> Tuple[str, ...]:
    """The part of VET_SUITE that vets `paths`: the modules implicating any of them, and the
    modules no path is attributed to (the native proofs); all of it for every path."""
    if set(paths) >= set(reliance.PATH_NAMES):
        return VET_SUITE
    wanted = set(paths)

    def module(entry: str) -> str:
        return Path(entry.split("::")[0]).stem

    return tuple(entry for entry in VET_SUITE if entry not in _EVERY_PATH_ONLY and (
        module(entry) not in VET_MODULE_PATHS or wanted & set(VET_MODULE_PATHS[module(entry)])))


def _vet_one(litellm_version: str, openai_version: str, paths: Sequence[str], keep_env: bool = False) -> Dict[str, object]:
    """One run on the pair of the suite that vets `paths`, in a virtualenv of its own
    (scripts/env.sh)."""
    env = dict(os.environ, LITELLM_VERSION=litellm_version, OPENAI_VERSION=openai_version, EQP_SKIP_PROXY="1")
    env.pop("EDGEQUAKE_PATCH", None)
    report = ROOT / "target" / f"vet-{litellm_version}-{openai_version}.xml"
    started = time.monotonic()
    done = subprocess.run(["bash", str(ROOT / "scripts" / "vet_pair.sh"), str(report), *suite_for(paths),
                           "-k", " and ".join(f"not {name}" for name in VET_SKIP)],
                          env=env, cwd=ROOT, capture_output=True, text=True)
    if not keep_env:  # ~600 MB each: only the pairs CI or a developer uses are worth keeping
        shutil.rmtree(ROOT / f".venv-litellm-{litellm_version}-openai-{openai_version}", ignore_errors=True)
    counts = _junit_counts(report)
    outcome = "passed" if done.returncode == 0 and counts["passed"] > 0 and not counts["failed"] else "failed"
    failed_paths = sorted(paths)
    if outcome == "failed":  # (every path vetted, unless the failures can be attributed)
        say(f"litellm {litellm_version} / openai {openai_version}: FAILED\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
        failed_paths = sorted(set(failed_paths_in(report) or failed_paths) & set(paths))
    extra = {"failed_paths": failed_paths} if outcome == "failed" else {}
    untested = untested_paths_in(report)
    if untested:
        extra["untested_paths"] = untested
    return {"litellm": litellm_version, "openai": openai_version, "outcome": outcome, **counts, **extra,
            "paths": sorted(paths),
            "seconds": round(time.monotonic() - started), "date": datetime.date.today().isoformat(),
            "declared": reliance.declaration_digest()}


#: The paths a provider's calls take (a failing test whose id names one provider implicates
#: only those of its module's paths, and the paths every provider's calls share there).
_PROVIDER_PATHS = {
    "openai": ("chat_openai_sdk", "embedding_openai_sdk", "lean"), "azure": ("chat_openai_sdk", "embedding_openai_sdk"),
    "lm_studio": ("chat_openai_sdk", "embedding_lm_studio", "lean"), "xai": ("chat_http_handler",),
    "mistral": ("chat_http_handler", "embedding_openai_sdk"), "openrouter": ("chat_http_handler",),
    "anthropic": ("chat_anthropic",), "gemini": ("chat_gemini", "embedding_gemini"),
    "ollama": ("chat_ollama", "embedding_ollama"), "ollama_chat": ("chat_ollama",),
}
_SHARED = ("fast_stream", "shared_session", "endpoints_http_handler")


def failed_paths_in(report: Path) -> Optional[List[str]]:
    """The paths the run's failures implicate, from its JUnit report: per failing test, its
    module's paths (VET_MODULE_PATHS), narrowed to one provider's where the test's id names
    exactly one. None where a failure cannot be attributed (every path, then)."""
    try:
        import xml.etree.ElementTree as ET

        cases = [c for c in ET.parse(report).getroot().iter("testcase")
                 if c.find("failure") is not None or c.find("error") is not None]
    except Exception:  # noqa: BLE001 - no report: nothing to attribute
        return None
    implicated: set = set()
    for case in cases:
        module = case.get("classname", "").split(".")[-1]
        if module not in VET_MODULE_PATHS:
            return None
        paths = set(VET_MODULE_PATHS[module])
        named = [p for p in _PROVIDER_PATHS if re.search(rf"[\[-]{p}[\]-]", case.get("name", ""))]
        if len(named) == 1:
            paths &= set(_PROVIDER_PATHS[named[0]]) | set(_SHARED)
        implicated |= paths
    return sorted(implicated) if cases else None


def untested_paths_in(report: Path) -> List[str]:
    """Paths the run did not exercise: every test of every module implicating them was skipped
    (test_lean_chat on an SDK whose response models differ from the core's copies: the lean
    handler steps aside there, so that run says nothing about it)."""
    try:
        import xml.etree.ElementTree as ET

        cases = list(ET.parse(report).getroot().iter("testcase"))
    except Exception:  # noqa: BLE001
        return []
    ran: set = set()
    present: set = set()
    for case in cases:
        module = case.get("classname", "").split(".")[-1]
        paths = set(VET_MODULE_PATHS.get(module, ()))
        present |= paths
        # (that the lean handler steps aside says nothing of its work on this LiteLLM's code)
        if case.find("skipped") is None and module != "test_lean_steps_aside":
            ran |= paths
    return sorted(present - ran)


def _junit_counts(report: Path) -> Dict[str, int]:
    try:
        import xml.etree.ElementTree as ET

        suite = ET.parse(report).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        tests, failures, errors, skipped = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        return {"passed": tests - failures - errors - skipped, "failed": failures + errors, "skipped": skipped}
    except Exception:  # noqa: BLE001 - no report: the run failed before pytest wrote one
        return {"passed": 0, "failed": 0, "skipped": 0}


def rescore(reports: Path) -> None:
    """Each kept run's failed and untested paths again, from its JUnit report (after the
    attribution rules changed, or a failure was found to be the test's own)."""
    runs = load_vets()
    for run in runs:
        report = reports / f"vet-{run['litellm']}-{run['openai']}.xml"
        if not report.exists():
            continue
        run.pop("failed_paths", None)
        run.pop("untested_paths", None)
        if run["outcome"] == "failed":
            run["failed_paths"] = failed_paths_in(report) or sorted(reliance.PATH_NAMES)
        untested = untested_paths_in(report)
        if untested:
            run["untested_paths"] = untested
        say(f"{run['litellm']}/{run['openai']}: {run['outcome']}, failed {run.get('failed_paths', [])}, "
            f"untested {untested}")
    save_vets(runs)


def vet(grouped, harvested, max_runs: Optional[int] = None, keep_envs: bool = False,
        only: Optional[Sequence[str]] = None) -> None:
    """The missing runs, the record written after each (an interrupted update keeps what it did)."""
    runs = load_vets()
    pairs = plan(grouped, runs, harvested, only)
    say(f"{len(pairs)} vetting runs cover every unvetted group: {', '.join(f'{l}/{o}' for l, o, _ in pairs)}")
    for litellm_version, openai_version, paths in pairs[:max_runs]:
        say(f"vetting litellm {litellm_version} with openai {openai_version}: {', '.join(paths)}")
        run = _vet_one(litellm_version, openai_version, paths, keep_envs)
        say(f"  {run['outcome']}: {run['passed']} passed, {run['failed']} failed, {run['seconds']} s")
        # It replaces an earlier run of the pair only where it vetted every path that one did.
        runs = [r for r in load_vets() if (r["litellm"], r["openai"]) != (litellm_version, openai_version)
                or not set(run["paths"]) >= set(r.get("paths", reliance.PATH_NAMES))] + [run]
        save_vets(runs)
        write(grouped, harvested)


# --- the record ------------------------------------------------------------------------------------


def write(grouped, harvested) -> Path:
    runs = load_vets()
    state = vetted_groups(grouped, runs)
    document = evidence.document(grouped, state, runs, harvested, reliance.declaration_digest())
    target = evidence.SHIPPED
    target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    vetted = sum(1 for v, _ in state.values() if v == "passed")
    total = sum(len(found) for per in grouped.values() for found in per.values())
    say(f"wrote {target.relative_to(ROOT)}: {vetted} of {total} groups vetted, "
        f"{sum(1 for v, _ in state.values() if v == 'failed')} failed")
    return target


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("update", "harvest", "groups", "vet", "write", "rescore"))
    parser.add_argument("--reports", default=str(ROOT / "target"),
                        help="rescore: where the runs' JUnit reports are (vet-LITELLM-OPENAI.xml)")
    parser.add_argument("--python", default=None, help="the interpreter whose dependencies the releases are "
                        "fingerprinted next to (default: the newest tested release's virtualenv)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--max", type=int, default=None, help="at most this many vetting runs")
    parser.add_argument("--keep-envs", action="store_true", help="keep each vetting run's virtualenv")
    parser.add_argument("--paths", nargs="+", default=None, help="vet: only these paths' unvetted groups")
    args = parser.parse_args(argv)
    python = os.path.abspath(args.python or str(ROOT / f".venv-litellm-{versions.NEWEST_SUPPORTED}" / "bin" / "python"))
    started = time.monotonic()
    harvested = harvest(python, args.jobs)
    grouped = groups(harvested)
    if args.command == "groups":
        state = vetted_groups(grouped, load_vets())
        for path, per_component in grouped.items():
            for component, found in per_component.items():
                print(f"{path:22} {component:8} {len(found)} group(s)")
                for digest, members in found.items():
                    mark = state.get((path, component, digest), ("unvetted",))[0]
                    print(f"    {digest}  {mark:8}  {members[0]} .. {members[-1]} ({len(members)})")
    if args.command == "rescore":
        rescore(Path(args.reports))
    if args.command in ("update", "vet"):
        vet(grouped, harvested, args.max, args.keep_envs, args.paths)
    if args.command in ("update", "write"):
        write(grouped, harvested)
    say(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
