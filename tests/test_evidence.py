"""Which paths run on the installed LiteLLM and OpenAI SDK, decided by evidence, never by a
version number (edgequake_patch/decide/reliance.py, evidence.py, probes.py).

* the decision, on a synthetic record: code in a vetted group is on by the shipped record; in a
  failed group, off; code no group has is off, naming the first symbol no vetted release had,
  unless this machine's evidence (probes, a local vet) was gathered for exactly that code;
* the hashing: blind to comments, layout and docstrings, not to code; behaviour references are
  fingerprinted by what the code does;
* the data: the shipped record was made under the current declaration, and covers the installed
  pair (or probes decide it: every path on either way);
* the install-time decision with the shipped record hidden: probes decide every path, and a
  deliberately changed stock function is caught by them;
* end to end, with the stand-in: a path whose code changed and that probes cannot prove stays
  stock, counted, while the others stay native.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import litellm
import pytest
from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

import edgequake_patch
from edgequake_patch.decide import decision, evidence, reliance, routing, table, versions
from edgequake_patch.activation import pair_decision, patching, probes
from edgequake_patch.state import stats
from tests.differential import CHAT_PROVIDERS
from tests.native_formats import ANTHROPIC

MESSAGES = [{"role": "user", "content": "hi"}]
ROOT = Path(__file__).resolve().parent.parent


# --- the decision, on a synthetic record -------------------------------------------------------


def _ref(short: str) -> str:
    """f -> litellm.m:f; sdk_f -> openai.m:sdk_f (keyword-friendly names for the records)."""
    return f"openai.m:{short}" if short.startswith("sdk_") else f"litellm.m:{short}"


REFS = {"p": (_ref("f"), _ref("g"), _ref("sdk_h")), "q": (_ref("f"),)}
INSTALLED = {"litellm": "9.9.9", "openai": "9.0.0"}


def _prints(**fingerprints: str) -> dict:
    return {_ref(k): v for k, v in fingerprints.items()}


def _shipped(*releases, failed=()) -> evidence.Shipped:
    """A shipped record: each release (name, {short: fingerprint}) vetted; `failed` ones failed."""
    paths: dict = {}
    symbols: dict = {}
    for (name, prints), outcome in [*((r, "passed") for r in releases), *((r, "failed") for r in failed)]:
        full = _prints(**prints)
        for path, refs in REFS.items():
            for component in reliance.COMPONENTS:
                wanted = [r for r in refs if reliance.component_of(r) == component]
                if not wanted:
                    continue
                digest = reliance.group_digest(wanted, full)
                group = paths.setdefault(path, {}).setdefault(component, {}).setdefault(
                    digest, {"releases": [], "outcome": outcome, "vetted_on": {"litellm": name, "openai": "1.0"}})
                group["releases"].append(name)
        if outcome == "passed":
            for ref, value in full.items():
                symbols.setdefault(ref, []).append(value)
    return evidence.Shipped({"paths": paths, "symbols": symbols})


def _decide(shipped, local=None, **current):
    return decision.decide_paths(REFS, shipped, _prints(**current), INSTALLED, local)


def test_code_in_a_vetted_group_is_on_by_the_shipped_record():
    decided = _decide(_shipped(("1.0.0", dict(f="a", g="b", sdk_h="c"))), f="a", g="b", sdk_h="c")
    assert decided["p"].on and decided["q"].on
    assert decided["p"].source == evidence.BY_SHIPPED
    assert decided["p"].evidence == ("litellm as 1.0.0, vetted on litellm 1.0.0 with openai 1.0; "
                                     "openai as 1.0.0, vetted on litellm 1.0.0 with openai 1.0")


def test_a_changed_symbol_turns_its_path_off_naming_it():
    decided = _decide(_shipped(("1.0.0", dict(f="a", g="b", sdk_h="c"))), f="a", g="CHANGED", sdk_h="c")
    assert not decided["p"].on
    assert decided["p"].reason == "litellm 9.9.9 changed what p relies on (litellm.m:g)"
    assert decided["p"].code == "litellm_changed:p"
    assert decided["q"].on  # q does not rely on g


def test_a_missing_symbol_turns_its_path_off():
    decided = _decide(_shipped(("1.0.0", dict(f="a", g="b", sdk_h="c"))), f=reliance.MISSING, g="b", sdk_h="c")
    assert not decided["p"].on and not decided["q"].on
    assert decided["q"].reason == "litellm 9.9.9 changed what q relies on (litellm.m:f is gone)"


def test_a_symbol_recorded_missing_matches_where_it_is_still_missing():
    # A row's alternative name (a getter renamed between releases) is absent on one side.
    shipped = _shipped(("1.0.0", dict(f=reliance.MISSING, g="b", sdk_h="c")))
    assert _decide(shipped, f=reliance.MISSING, g="b", sdk_h="c")["p"].on


def test_unreadable_source_never_matches():
    shipped = _shipped(("1.0.0", dict(f=reliance.NO_SOURCE, g="b", sdk_h="c")))
    decided = _decide(shipped, f=reliance.NO_SOURCE, g="b", sdk_h="c")
    assert not decided["q"].on and "cannot be read" in decided["q"].reason


def test_a_group_whose_vetting_failed_is_off_whatever_else_says():
    shipped = _shipped(("1.0.0", dict(f="a", g="b", sdk_h="c")), failed=[("1.1.0", dict(f="a", g="B", sdk_h="c"))])
    local = {"p": {"on": True, "source": evidence.BY_PROBES, "detail": "fine",
                   "digests": {"litellm": reliance.group_digest(REFS["p"][:2], _prints(f="a", g="B")),
                               "openai": reliance.group_digest(REFS["p"][2:], _prints(sdk_h="c"))}}}
    decided = _decide(shipped, local, f="a", g="B", sdk_h="c")
    assert not decided["p"].on and decided["p"].code == "tests_failed:p"
    assert "differential tests failed on litellm 1.1.0 with openai 1.0" in decided["p"].reason


def test_components_match_vetted_groups_independently():
    old = ("1.0.0", dict(f="a1", g="b1", sdk_h="c1"))
    new = ("2.0.0", dict(f="a2", g="b2", sdk_h="c2"))
    # LiteLLM's code is 2.0.0's, the OpenAI SDK's is the one 1.0.0 was vetted with.
    decided = _decide(_shipped(old, new), f="a2", g="b2", sdk_h="c1")
    assert decided["p"].on and decided["p"].source == evidence.BY_SHIPPED
    # Within one component, all of its symbols must come from one group.
    mixed = _decide(_shipped(old, new), f="a1", g="b2", sdk_h="c1")
    assert not mixed["p"].on and mixed["p"].code == "litellm_changed:p"
    assert mixed["p"].reason == "litellm 9.9.9 combines code p relies on as no vetted release did"
    sdk = _decide(_shipped(old, new), f="a2", g="b2", sdk_h="c3")
    assert sdk["p"].code == "openai_changed:p"
    assert sdk["p"].reason == "openai 9.0.0 changed what p relies on (openai.m:sdk_h)"


def test_the_reason_counts_every_symbol_no_vetted_release_had():
    decided = _decide(_shipped(("1.0.0", dict(f="a", g="b", sdk_h="c"))), f="x", g="y", sdk_h="c")
    assert decided["p"].reason == "litellm 9.9.9 changed what p relies on (litellm.m:f, and 1 more)"


def test_no_record_means_every_path_needs_local_evidence():
    decided = _decide(evidence.Shipped({}), f="a", g="b", sdk_h="c")
    assert not decided["p"].on and decided["p"].reason == "no shipped evidence covers p"


def test_local_evidence_decides_only_the_code_it_was_gathered_for():
    shipped = _shipped(("1.0.0", dict(f="a", g="b", sdk_h="c")))
    digests = {"litellm": reliance.group_digest(REFS["q"], _prints(f="new"))}
    local = {"q": {"on": True, "source": evidence.BY_PROBES, "detail": "2 scenario(s) served natively",
                   "digests": digests}}
    decided = _decide(shipped, local, f="new", g="b", sdk_h="c")
    assert decided["q"].on and decided["q"].source == evidence.BY_PROBES
    assert decided["q"].evidence == "2 scenario(s) served natively"
    # The same evidence for other code: not applied.
    other = _decide(shipped, local, f="newer", g="b", sdk_h="c")
    assert not other["q"].on and other["q"].code == "litellm_changed:q"
    # Probes that found a difference keep the path off, saying what differed.
    local["q"] = {**local["q"], "on": False, "detail": "openai/completion differs from stock at /0/dump/id"}
    refused = _decide(shipped, local, f="new", g="b", sdk_h="c")
    assert not refused["q"].on and refused["q"].code == "probes_differ:q"
    assert refused["q"].reason.endswith("openai/completion differs from stock at /0/dump/id")


# --- the hashing --------------------------------------------------------------------------------

BASE = '''
    @decorate(level=1)
    def handler(self, client, timeout=600.0):
        """What it does."""
        params = {"timeout": timeout}  # stock's default
        if client is None:
            client = build(params,
                           f"{timeout!r} s")
        return client.post(params)
'''


@pytest.mark.parametrize("variant", [
    BASE.replace("# stock's default", "# another comment"),
    BASE.replace('"""What it does."""', '"""Something else entirely,\n        over two lines."""'),
    BASE.replace('        """What it does."""\n', ""),
    BASE.replace("        return", "\n\n        # a note\n        return"),
    BASE.replace("build(params,\n                           f", "build(params, f"),
    BASE.replace("    ", "  "),  # another indentation width
])
def test_hashing_ignores_comments_layout_and_docstrings(variant):
    assert reliance.source_fingerprint(variant) == reliance.source_fingerprint(BASE)


@pytest.mark.parametrize("variant", [
    BASE.replace("600.0", "60.0"),
    BASE.replace('"timeout": timeout', '"timeout": None'),
    BASE.replace("is None", "is not None"),
    BASE.replace("client.post(params)", "client.get(params)"),
    BASE.replace("level=1", "level=2"),
    BASE.replace('f"{timeout!r} s"', 'f"{timeout} s"'),
    BASE.replace("            client = build", "        client = build").replace("                           f", "                       f"),
])
def test_hashing_sees_code_changes(variant):
    assert reliance.source_fingerprint(variant) != reliance.source_fingerprint(BASE)


@dataclasses.dataclass(frozen=True)
class Context:
    client: object
    timeout: float


def test_fingerprints_of_symbols_and_fields(monkeypatch):
    assert reliance.fingerprint("litellm.main:_no_such_function_anywhere") == reliance.MISSING
    assert reliance.fingerprint("no_such_module_anywhere:f") == reliance.MISSING
    module = __name__
    present = reliance.fingerprint(f"{module}:Context[client,timeout]")
    assert present == reliance.fingerprint(f"{module}:Context[client,timeout]")
    assert reliance.fingerprint(f"{module}:Context[client,stream]") != present

    @dataclasses.dataclass(frozen=True)
    class Renamed:
        client: object
        read_timeout: float

    monkeypatch.setattr(f"{module}.Context", Renamed)
    assert reliance.fingerprint(f"{module}:Context[client,timeout]") != present


def test_hooked_symbols_are_fingerprinted_as_the_originals(patch):
    refs = [ref for hook in table.HOOKS for ref in table.refs(hook)]
    before = reliance.current_fingerprints(refs)
    patch.on()
    assert reliance.current_fingerprints(refs) == before


def test_behaviour_is_fingerprinted_by_what_the_code_does(monkeypatch):
    import openai

    ref = "openai.behaviour:client_fields"
    before = reliance.fingerprint(ref)
    assert before not in (reliance.MISSING, reliance.NO_SOURCE)
    # A refactor that keeps what the clients hold keeps the fingerprint ...
    real_init = openai.OpenAI.__init__

    def refactored(self, *args, **kwargs):
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(openai.OpenAI, "__init__", refactored)
    assert reliance.fingerprint(ref) == before

    # ... one that changes it does not.
    def changed(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.max_retries = 0

    monkeypatch.setattr(openai.OpenAI, "__init__", changed)
    assert reliance.fingerprint(ref) != before


# --- the data -----------------------------------------------------------------------------------


def test_the_shipped_record_was_made_under_the_current_declaration():
    """A symbol added to a path names other groups: scripts/evidence.py must be run again."""
    shipped = evidence.shipped()
    assert shipped.declared == reliance.declaration_digest(), "re-run: python3 scripts/evidence.py update"
    assert set(shipped.paths) == set(reliance.PATH_NAMES)
    for path, per_component in shipped.paths.items():
        components = {reliance.component_of(r) for r in reliance.refs_by_path()[path]}
        assert set(per_component) == components, path
        for groups in per_component.values():
            assert all(g["outcome"] in (evidence.PASSED, evidence.FAILED) and g["releases"] for g in groups.values())
    # Every declared symbol exists somewhere; the oldest supported release is vetted.
    for ref in reliance.all_refs():
        assert any(v != reliance.MISSING for v in shipped.known(ref)), f"{ref} exists nowhere"
    assert versions.OLDEST_SUPPORTED in versions.vetted_releases("litellm")
    assert versions.NEWEST_SUPPORTED == versions.vetted_releases("litellm")[-1]


def test_every_path_is_on_for_the_installed_pair():
    """What CI installs is native on every path: by the shipped record where it has the pair's
    code, by probes on this machine where it has not (a release newer than the record)."""
    pair_decision.forget()
    made = pair_decision.decision()
    assert {name: (state.on, state.reason) for name, state in made.paths.items()} == {
        name: (True, None) for name in reliance.PATH_NAMES}
    installed = made.versions
    if installed["litellm"] in versions.vetted_releases("litellm") and \
            installed["openai"] in versions.vetted_releases("openai"):
        assert {s.source for s in made.paths.values()} == {evidence.BY_SHIPPED}


def test_the_decision_is_kept_per_installed_pair(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEQUAKE_PATCH_CACHE", str(tmp_path))
    pair_decision.forget()
    first = pair_decision.decision()
    assert list((tmp_path / "local").glob("*.json"))

    def no_hashing(*args, **kwargs):
        raise AssertionError("fingerprints taken again for the same installed pair")

    monkeypatch.setattr(reliance, "current_fingerprints", no_hashing)
    pair_decision.forget()
    assert pair_decision.decision() == first
    pair_decision.forget()


def test_paths_hooks_and_routing_are_declared_consistently():
    names = set(reliance.PATH_NAMES)
    assert len(names) == len(reliance.PATHS)
    assert all(set(hook.paths) <= names and hook.paths for hook in table.HOOKS)
    # Paths with no hook rows of their own: their state is read by the dispatch itself
    # (dispatch), by the stream wrapper (fast_stream), by routing (shared_session).
    assert {path for hook in table.HOOKS for path in hook.paths} == names - {"dispatch", "fast_stream", "shared_session"}
    assert set(table.dispatch_paths(table.COMPLETE)) == routing.CHAT_PROVIDERS
    assert set(table.dispatch_paths(table.EMBED)) == routing.EMBEDDING_PROVIDERS
    # Version support is data: no LiteLLM release number in the hook table.
    for module in (table, patching):
        assert not re.search(r"\b\d+\.\d+", Path(module.__file__).read_text())


# --- decided on this machine ---------------------------------------------------------------------


@pytest.fixture
def unrecorded(monkeypatch, tmp_path):
    """The installed pair as a release the shipped record has never seen: no group of it is
    shipped, this machine's cache is empty, and routing's state is restored afterwards."""
    monkeypatch.setenv("EDGEQUAKE_PATCH_CACHE", str(tmp_path))
    monkeypatch.setattr(evidence, "_shipped", evidence.Shipped({}))
    monkeypatch.setattr(pair_decision, "_decision", None)
    monkeypatch.setattr(patching, "_warned", set())
    for name in ("_paths_off", "_chat_off", "_embedding_off"):
        monkeypatch.setattr(routing, name, {})
    yield
    pair_decision.forget()


def test_without_a_shipped_record_probes_decide_every_path_at_install(unrecorded, standin, patch):
    import time

    counters = stats.snapshot()
    started = time.monotonic()
    patch.on()
    elapsed = time.monotonic() - started
    status = edgequake_patch.status()
    assert {name: (p["on"], p["source"]) for name, p in status["paths"].items()} == {
        name: (True, evidence.BY_PROBES) for name in reliance.PATH_NAMES}
    assert all("served natively, identical to stock" in p["evidence"] for p in status["paths"].values())
    assert elapsed < 60  # (the time itself is bench/'s subject; this only bounds a hang)
    # The probes left no trace in the application's counters, and calls are native.
    assert stats.snapshot() == counters
    assert _chat("openai", standin).choices[0].message.content
    assert stats.native_calls["openai"] == counters["native_calls"].get("openai", 0) + 1
    # Decided once for this pair: the next process reads it back.
    pair_decision.forget()
    assert pair_decision.decision().paths == pair_decision.decision().paths


def test_probes_leave_litellms_module_level_clients_usable(unrecorded, monkeypatch):
    """A module-level client LiteLLM makes on first use, first used by a probe, is not left
    closed behind the application's back (stock's async streams send on it)."""
    import litellm

    if "module_level_aclient" in vars(litellm):
        monkeypatch.delitem(vars(litellm), "module_level_aclient")
    pair_decision.vet()  # (every scenario: stock's async streams of some providers post through it)
    client = getattr(litellm, "module_level_aclient", None)
    if client is None:
        pytest.skip("this LiteLLM has no module-level async client")
    assert not client.client.is_closed


def test_probes_catch_a_deliberately_changed_stock_function(unrecorded, standin, patch, monkeypatch):
    """A release whose SDK adds a header in `_build_request`, which the native client (building
    its own request) would not send: the probes see the request differ, and the OpenAI SDK paths
    stay stock, counted, while the other paths are native."""
    import openai._base_client as base_client

    real = base_client.BaseClient._build_request

    def build_request(self, options, *args, **kwargs):
        request = real(self, options, *args, **kwargs)
        request.headers["X-Changed-Release"] = "1"
        return request

    monkeypatch.setattr(base_client.BaseClient, "_build_request", build_request)
    patch.on()
    paths = edgequake_patch.status()["paths"]
    assert not paths["chat_openai_sdk"]["on"]
    assert paths["chat_openai_sdk"]["reason"] == (
        "probes on this machine found a difference: openai/completion differs from stock at "
        "/1/0/headers/x-changed-release")
    assert paths["chat_anthropic"]["on"] and paths["chat_http_handler"]["on"]
    fallbacks = stats.fallbacks.get("probes_differ:chat_openai_sdk", 0)
    answer = _chat("openai", standin)
    assert answer.choices[0].message.content
    assert stats.fallbacks["probes_differ:chat_openai_sdk"] == fallbacks + 1
    assert standin.requests()[-1]["headers"]["x-changed-release"] == "1"  # stock sent it


def test_code_the_record_lacks_is_probed_in_the_background_under_autoload(tmp_path):
    """EDGEQUAKE_PATCH=1 installs inside the application's `import litellm`, where probing would
    wait on LiteLLM's own threads (they wait for that import): that process stays stock where the
    record lacks the code, a process of its own probes and keeps the outcome, and the next
    start is native by it."""
    import os
    import time

    empty = tmp_path / "evidence.json"
    empty.write_text("{}")
    code = ("import json, litellm, edgequake_patch; s = edgequake_patch.status(); "
            "print(json.dumps({'installed': s['installed'], "
            "'sources': sorted({p['source'] for p in s['paths'].values() if p['on']})}))")
    env = {**os.environ, "EDGEQUAKE_PATCH": "1", "EDGEQUAKE_PATCH_CACHE": str(tmp_path / "cache"),
           "EDGEQUAKE_PATCH_EVIDENCE": str(empty)}

    def start():
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                              timeout=120)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert start() == {"installed": False, "sources": []}  # no evidence yet, and no hang
    deadline = time.monotonic() + 120
    while list((tmp_path / "cache" / "local").glob("*.probing")) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert start() == {"installed": True, "sources": [evidence.BY_PROBES]}


def test_an_operators_vet_is_kept_as_local_evidence(unrecorded, standin, patch):
    outcomes = pair_decision.vet()
    assert set(outcomes) == set(probes.SCENARIOS)
    assert all(o["on"] and o["source"] == evidence.BY_LOCAL_VET for o in outcomes.values()), outcomes
    patch.on()
    paths = edgequake_patch.status()["paths"]
    assert {p["source"] for p in paths.values()} == {evidence.BY_LOCAL_VET}
    assert sum(len(probes.SCENARIOS[name]) for name in paths) > 60


def test_the_vet_command(tmp_path):
    env = {**__import__("os").environ, "EDGEQUAKE_PATCH_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "edgequake_patch", "vet", "--json"], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    outcomes = json.loads(done.stdout)
    assert set(outcomes) == set(probes.SCENARIOS) and all(o["on"] for o in outcomes.values())
    assert list((tmp_path / "local").glob("*.json"))


# --- end to end ---------------------------------------------------------------------------------


@pytest.fixture
def untested(monkeypatch, tmp_path):
    """The installed LiteLLM, reported as a release nobody vetted, whose changed code (each test
    names its path: `untested.differ(path)`) probes find different from stock; any other code
    the record lacks (a CI release newer than it) is probed for real. Routing's state restored."""
    monkeypatch.setenv("EDGEQUAKE_PATCH_CACHE", str(tmp_path))
    monkeypatch.setattr(versions, "installed_litellm", lambda: "9.9.9")
    monkeypatch.setattr(pair_decision, "_decision", None)
    monkeypatch.setattr(patching, "_warned", set())
    real_run = probes.run

    class Release:
        differing: set = set()

        def differ(self, *paths):
            self.differing = set(paths)

    release = Release()

    def run(paths, **kwargs):
        outcomes = real_run([p for p in paths if p not in release.differing], **kwargs)
        outcomes.update({p: {"on": False, "source": evidence.BY_PROBES, "detail": "a difference (stubbed)"}
                         for p in paths if p in release.differing})
        return outcomes

    monkeypatch.setattr(probes, "run", run)
    for name in ("_paths_off", "_chat_off", "_embedding_off"):
        monkeypatch.setattr(routing, name, {})
    yield release
    pair_decision.forget()


def _chat(provider, standin, **extra):
    return litellm.completion(**CHAT_PROVIDERS[provider].kwargs(standin), messages=MESSAGES, max_retries=0, **extra)


def test_an_unvetted_release_whose_code_the_record_has_is_served_in_full(untested, standin, patch):
    """The version number says nothing: the installed code is what the record looks up."""
    installed = decision.installed_versions()
    patch.on()
    status = edgequake_patch.status()
    assert status["litellm_version"] == "9.9.9"
    if not all(p["on"] and p["source"] == evidence.BY_SHIPPED for p in status["paths"].values()):
        pytest.skip(f"the shipped record lacks some of {installed}'s code (decided by probes here)")
    before = stats.native_calls["openai"]
    assert _chat("openai", standin).choices[0].message.content
    assert stats.native_calls["openai"] == before + 1


def test_a_changed_function_sends_its_providers_calls_to_stock(untested, standin, patch, monkeypatch):
    from litellm.llms.anthropic.chat import handler

    stock_completion = handler.AnthropicChatCompletion.completion

    def completion(self, *args, **kwargs):  # the untested release's version of this method
        return stock_completion(self, *args, **kwargs)

    monkeypatch.setattr(handler.AnthropicChatCompletion, "completion", completion)
    untested.differ("chat_anthropic")
    patch.on()
    paths = edgequake_patch.status()["paths"]
    assert paths["chat_anthropic"]["on"] is False
    assert paths["chat_anthropic"]["reason"] == "probes on this machine found a difference: a difference (stubbed)"
    assert all(state["on"] for name, state in paths.items() if name != "chat_anthropic")
    # The changed path's transport hooks stay stock's; its dispatch hook only refuses.
    hooked = {h["symbol"] for h in edgequake_patch.status()["hooks"]}
    assert "litellm.main._complete_anthropic" in hooked
    assert not any(symbol.startswith("litellm.llms.anthropic.") for symbol in hooked)

    fallbacks, native = dict(stats.fallbacks), dict(stats.native_calls)
    answer = litellm.completion(**ANTHROPIC.kwargs(standin), messages=MESSAGES, max_retries=0)
    assert answer.choices[0].message.content  # served by stock, through the stand-in
    assert stats.fallbacks["probes_differ:chat_anthropic"] == fallbacks.get("probes_differ:chat_anthropic", 0) + 1
    assert stats.native_calls.get("anthropic", 0) == native.get("anthropic", 0)
    # Every other provider stays native.
    assert _chat("openai", standin).choices[0].message.content
    assert _chat("xai", standin).choices[0].message.content
    assert stats.native_calls["openai"] == native.get("openai", 0) + 1
    assert stats.native_calls["xai"] == native.get("xai", 0) + 1


def test_a_changed_dispatch_context_leaves_litellm_unpatched(untested, monkeypatch, patch):
    real_fingerprint = reliance.fingerprint

    def fingerprint(ref, strict=False):  # the untested release renamed a field routing reads
        return "0" * 16 if "_CompletionDispatchContext[" in ref else real_fingerprint(ref, strict)

    monkeypatch.setattr(reliance, "fingerprint", fingerprint)
    untested.differ("dispatch")
    before = {hook: vars(owner).get(attribute) for hook in table.HOOKS
              for owner, attribute in [_resolved(hook)] if owner is not None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert edgequake_patch.install() is False
    assert any("found a difference" in str(w.message) for w in caught)
    assert not edgequake_patch.is_installed()
    assert {hook: vars(owner).get(attribute) for hook in table.HOOKS
            for owner, attribute in [_resolved(hook)] if owner is not None} == before
    status = edgequake_patch.status()
    assert status["paths"]["dispatch"]["on"] is False
    assert status["paths"]["dispatch"]["reason"] == "probes on this machine found a difference: a difference (stubbed)"


def _resolved(hook):
    try:
        return patching._resolve(hook)
    except (ImportError, AttributeError):
        return None, None


def _change(monkeypatch, *changed: str) -> None:
    """The untested release changed these symbols (their fingerprints differ)."""
    real_fingerprint = reliance.fingerprint

    def fingerprint(ref, strict=False):
        return "0" * 16 if ref in changed else real_fingerprint(ref, strict)

    monkeypatch.setattr(reliance, "fingerprint", fingerprint)


def test_a_changed_lean_reliance_keeps_the_regular_native_path(untested, standin, patch, monkeypatch):
    _change(monkeypatch, "litellm.litellm_core_utils.logging_utils:track_llm_api_timing")
    untested.differ("lean")
    patch.on()
    paths = edgequake_patch.status()["paths"]
    assert not paths["lean"]["on"] and paths["chat_openai_sdk"]["on"]
    not_lean = stats.not_lean.get("probes_differ:lean", 0)
    lean, native = stats.lean_calls.get("openai", 0), stats.native_calls.get("openai", 0)
    assert _chat("openai", standin).choices[0].message.content
    assert stats.not_lean["probes_differ:lean"] == not_lean + 1
    assert stats.lean_calls.get("openai", 0) == lean
    assert stats.native_calls["openai"] == native + 1


def test_a_changed_stream_wrapper_keeps_stocks_per_chunk_path(untested, standin, patch, monkeypatch):
    _change(monkeypatch, "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.chunk_creator")
    untested.differ("fast_stream")
    patch.on()
    paths = edgequake_patch.status()["paths"]
    assert not paths["fast_stream"]["on"] and paths["chat_openai_sdk"]["on"]
    fast, native = stats.fast_stream_chunks.get("openai", 0), stats.native_calls.get("openai", 0)
    wrapper = litellm.completion(**CHAT_PROVIDERS["openai"].kwargs(standin, "-words-50"), messages=MESSAGES,
                                 max_retries=0, stream=True)
    assert type(wrapper) is CustomStreamWrapper  # not adopted
    assert len(list(wrapper)) > 50
    assert stats.fast_stream_chunks.get("openai", 0) == fast
    assert stats.native_calls["openai"] == native + 1


def test_a_changed_session_reliance_leaves_session_calls_to_stock(untested, standin, patch, monkeypatch):
    """A release that changed how LiteLLM sends through a caller's aiohttp session: calls that
    carry one (the LiteLLM Proxy's) are stock's, counted; every other call stays native."""
    import asyncio

    import aiohttp

    _change(monkeypatch, "litellm.llms.custom_httpx.aiohttp_transport:LiteLLMAiohttpTransport._make_aiohttp_request")
    untested.differ("shared_session")
    patch.on()
    paths = edgequake_patch.status()["paths"]
    assert not paths["shared_session"]["on"] and paths["chat_openai_sdk"]["on"]

    async def call(with_session: bool):
        litellm.in_memory_llm_clients_cache.flush_cache()
        async with aiohttp.ClientSession() as session:
            return await litellm.acompletion(**CHAT_PROVIDERS["openai"].kwargs(standin), messages=MESSAGES,
                                             max_retries=0, shared_session=session if with_session else None)

    changed = stats.fallbacks.get("probes_differ:shared_session", 0)
    native = stats.native_calls.get("openai", 0)
    assert asyncio.run(call(True)).choices[0].message.content
    assert stats.fallbacks["probes_differ:shared_session"] == changed + 1
    assert stats.native_calls.get("openai", 0) == native
    assert asyncio.run(call(False)).choices[0].message.content
    assert stats.native_calls["openai"] == native + 1
