"""Releases after the tested ones: decided path by path from fingerprints of what each path
relies on (edgequake_patch/reliance.py), never by the version number.

* the decision, on synthetic records: a changed, missing or unreadable symbol turns its path
  off with a reason naming it; components (litellm, openai) match tested records separately;
* the hashing: blind to comments, layout and docstrings, not to code;
* the data: the committed records are exactly what the generator computes on the installed
  (tested) release, and cover every declared symbol, so stale data fails;
* end to end, with the stand-in: an untested release with the tested code is served in full;
  one that changed a relied-on function sends that provider's calls to stock, counted, while
  the others stay native; one that changed what dispatch relies on is not patched at all.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import warnings
from pathlib import Path

import litellm
import pytest
from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

import edgequake_patch
from edgequake_patch import hooks, reliance, routing, stats, versions
from tests.differential import CHAT_PROVIDERS
from tests.native_formats import ANTHROPIC

MESSAGES = [{"role": "user", "content": "hi"}]


# --- the decision, on synthetic records ------------------------------------------------------


def _record(litellm_version: str, openai_version: str, **fingerprints: str) -> dict:
    return {
        "versions": {"litellm": litellm_version, "openai": openai_version},
        "fingerprints": {_ref(k): v for k, v in fingerprints.items()},
    }


def _ref(short: str) -> str:
    """f -> litellm.m:f; sdk_f -> openai.m:sdk_f (keyword-friendly names for the records)."""
    return f"openai.m:{short}" if short.startswith("sdk_") else f"litellm.m:{short}"


REFS = {"p": (_ref("f"), _ref("g"), _ref("sdk_h")), "q": (_ref("f"),)}
INSTALLED = {"litellm": "9.9.9", "openai": "9.0.0"}


def _decide(records, **current):
    return reliance.decide_paths(REFS, records, {_ref(k): v for k, v in current.items()}, INSTALLED)


def test_an_untested_release_with_a_tested_releases_fingerprints_is_on():
    records = [_record("1.0.0", "1.0", f="a", g="b", sdk_h="c")]
    decided = _decide(records, f="a", g="b", sdk_h="c")
    assert decided["p"] == reliance.PathState(on=True, matches=("1.0.0",))
    assert decided["q"].on


def test_a_changed_symbol_turns_its_path_off_naming_it():
    records = [_record("1.0.0", "1.0", f="a", g="b", sdk_h="c")]
    decided = _decide(records, f="a", g="CHANGED", sdk_h="c")
    assert not decided["p"].on
    assert decided["p"].reason == "litellm 9.9.9 changed what p relies on (litellm.m:g)"
    assert decided["p"].code == "litellm_changed:p"
    assert decided["q"].on  # q does not rely on g


def test_a_missing_symbol_turns_its_path_off():
    records = [_record("1.0.0", "1.0", f="a", g="b", sdk_h="c")]
    decided = _decide(records, f=reliance.MISSING, g="b", sdk_h="c")
    assert not decided["p"].on and not decided["q"].on
    assert decided["q"].reason == "litellm 9.9.9 changed what q relies on (litellm.m:f is gone)"


def test_a_symbol_recorded_missing_matches_where_it_is_still_missing():
    # A row's alternative name (a getter renamed between releases) is absent on one side.
    records = [_record("1.0.0", "1.0", f=reliance.MISSING, g="b", sdk_h="c")]
    assert _decide(records, f=reliance.MISSING, g="b", sdk_h="c")["p"].on


def test_unreadable_source_never_matches():
    records = [_record("1.0.0", "1.0", f=reliance.NO_SOURCE, g="b", sdk_h="c")]
    assert not _decide(records, f=reliance.NO_SOURCE, g="b", sdk_h="c")["q"].on


def test_components_match_tested_records_independently():
    old = _record("1.0.0", "1.0", f="a1", g="b1", sdk_h="c1")
    new = _record("2.0.0", "2.0", f="a2", g="b2", sdk_h="c2")
    # LiteLLM's code is 2.0.0's, the OpenAI SDK's is the one 1.0.0 was tested with.
    decided = _decide([old, new], f="a2", g="b2", sdk_h="c1")
    assert decided["p"] == reliance.PathState(on=True, matches=("2.0.0",))
    # Within one component, all of its symbols must come from one record.
    mixed = _decide([old, new], f="a1", g="b2", sdk_h="c1")
    assert not mixed["p"].on
    assert mixed["p"].code == "litellm_changed:p"
    # The SDK changed: named as the SDK's change.
    sdk = _decide([old, new], f="a2", g="b2", sdk_h="c3")
    assert sdk["p"].code == "openai_changed:p"
    assert sdk["p"].reason == "openai 9.0.0 changed what p relies on (openai.m:sdk_h)"


def test_the_reason_names_the_first_difference_from_the_closest_tested_release():
    old = _record("1.0.0", "1.0", f="a1", g="b1", sdk_h="c")
    new = _record("2.0.0", "1.0", f="a2", g="b2", sdk_h="c")
    decided = _decide([old, new], f="a2", g="b3", sdk_h="c")
    assert decided["p"].reason == "litellm 9.9.9 changed what p relies on (litellm.m:g)"
    both = _decide([old, new], f="x", g="y", sdk_h="c")
    assert both["p"].reason == "litellm 9.9.9 changed what p relies on (litellm.m:f, and 1 more)"


def test_no_records_means_every_path_is_off():
    decided = _decide([], f="a", g="b", sdk_h="c")
    assert not decided["p"].on and "no tested release" in decided["p"].reason


def test_a_tested_release_hashes_nothing(monkeypatch):
    installed = reliance.installed_versions()
    if not any(r["versions"] == installed for r in versions.records()):
        pytest.skip(f"{installed} is not a tested release (being vetted?)")

    def no_hashing(ref):
        raise AssertionError(f"hashed {ref} on a tested release")

    monkeypatch.setattr(reliance, "fingerprint", no_hashing)
    monkeypatch.setattr(reliance, "_decision", None)
    decision = reliance.decision()
    assert decision.release == reliance.TESTED
    assert all(state.on for state in decision.paths.values())


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
    refs = [ref for hook in hooks.HOOKS for ref in hooks.refs(hook)]
    before = reliance.current_fingerprints(refs)
    patch.on()
    assert reliance.current_fingerprints(refs) == before


# --- the data -----------------------------------------------------------------------------------


def test_the_data_file_is_what_the_generator_writes_for_this_release(tmp_path):
    """Stale data fails here: the committed record of the installed release is the one the
    generator computes now, byte for byte in the committed file's own format."""
    installed = reliance.installed_versions()
    if not any(r["versions"] == installed for r in versions.records()):
        pytest.skip(f"{installed} is not a tested release (being vetted?)")
    copy = tmp_path / "fingerprints.json"
    shutil.copy(versions.FINGERPRINTS, copy)
    reliance.store(reliance.record(), str(copy))
    assert copy.read_text() == versions.FINGERPRINTS.read_text()


def test_every_record_covers_every_declared_symbol():
    """A symbol added to a path must be recorded for every tested release (re-vet them); a
    symbol no tested release has is a typo."""
    declared = set(reliance.all_refs())
    records = versions.records()
    assert records, "no tested release recorded"
    for record in records:
        assert set(record["fingerprints"]) == declared, record["versions"]
    for ref in declared:
        assert any(r["fingerprints"][ref] != reliance.MISSING for r in records), f"{ref} exists nowhere"
    data = json.loads(versions.FINGERPRINTS.read_text())
    assert versions.OLDEST_SUPPORTED in versions.tested_releases()
    assert all(set(r["versions"]) == set(reliance.COMPONENTS) for r in data["records"])


def test_paths_hooks_and_routing_are_declared_consistently():
    names = set(reliance.PATH_NAMES)
    assert len(names) == len(reliance.PATHS)
    assert all(set(hook.paths) <= names and hook.paths for hook in hooks.HOOKS)
    # Paths with no hook rows of their own: their state is read by the dispatch itself
    # (dispatch), by the stream wrapper (fast_stream), by routing (shared_session).
    assert {path for hook in hooks.HOOKS for path in hook.paths} == names - {"dispatch", "fast_stream", "shared_session"}
    assert set(hooks.dispatch_paths(hooks.COMPLETE)) == routing.CHAT_PROVIDERS
    assert set(hooks.dispatch_paths(hooks.EMBED)) == routing.EMBEDDING_PROVIDERS
    # Version support is data: no LiteLLM release number in the hook table.
    source = Path(hooks.__file__).read_text()
    assert not re.search(r"\b\d+\.\d+", source)


# --- end to end ---------------------------------------------------------------------------------


@pytest.fixture
def untested(monkeypatch):
    """The installed LiteLLM, reported as a release nobody tested; routing's state restored
    afterwards."""
    real = versions.installed_litellm()
    monkeypatch.setattr(versions, "installed_litellm", lambda: "9.9.9")
    monkeypatch.setattr(reliance, "_decision", None)
    monkeypatch.setattr(hooks, "_warned", set())
    for name in ("_paths_off", "_chat_off", "_embedding_off"):
        monkeypatch.setattr(routing, name, {})
    return real


def _chat(provider, standin, **extra):
    return litellm.completion(**CHAT_PROVIDERS[provider].kwargs(standin), messages=MESSAGES, max_retries=0, **extra)


def test_an_untested_release_with_tested_code_is_served_in_full(untested, standin, patch):
    if {"litellm": untested, "openai": versions.installed("openai")} not in [r["versions"] for r in versions.records()]:
        pytest.skip(f"litellm {untested} is not a tested release (being vetted?)")
    patch.on()
    status = edgequake_patch.status()
    assert status["release"] == "decided by fingerprints"
    assert status["litellm_version"] == "9.9.9"
    assert set(status["paths"]) == set(reliance.PATH_NAMES)
    # Each path behaves as the tested release whose code is installed (dispatch's few fields
    # may match older tested releases too).
    assert all(p["on"] and p["reason"] is None and untested in p["matches"] for p in status["paths"].values())
    before = stats.native_calls["openai"]
    assert _chat("openai", standin).choices[0].message.content
    assert stats.native_calls["openai"] == before + 1


def test_a_changed_function_sends_its_providers_calls_to_stock(untested, standin, patch, monkeypatch):
    from litellm.llms.anthropic.chat import handler

    stock_completion = handler.AnthropicChatCompletion.completion

    def completion(self, *args, **kwargs):  # the untested release's version of this method
        return stock_completion(self, *args, **kwargs)

    monkeypatch.setattr(handler.AnthropicChatCompletion, "completion", completion)
    patch.on()
    paths = edgequake_patch.status()["paths"]
    assert paths["chat_anthropic"]["on"] is False
    assert paths["chat_anthropic"]["reason"] == (
        "litellm 9.9.9 changed what chat_anthropic relies on "
        "(litellm.llms.anthropic.chat.handler:AnthropicChatCompletion.completion)"
    )
    assert all(state["on"] for name, state in paths.items() if name != "chat_anthropic")
    # The changed path's transport hooks stay stock's; its dispatch hook only refuses.
    hooked = {h["symbol"] for h in edgequake_patch.status()["hooks"]}
    assert "litellm.main._complete_anthropic" in hooked
    assert not any(symbol.startswith("litellm.llms.anthropic.") for symbol in hooked)

    fallbacks, native = dict(stats.fallbacks), dict(stats.native_calls)
    answer = litellm.completion(**ANTHROPIC.kwargs(standin), messages=MESSAGES, max_retries=0)
    assert answer.choices[0].message.content  # served by stock, through the stand-in
    assert stats.fallbacks["litellm_changed:chat_anthropic"] == fallbacks.get("litellm_changed:chat_anthropic", 0) + 1
    assert stats.native_calls.get("anthropic", 0) == native.get("anthropic", 0)
    # Every other provider stays native.
    assert _chat("openai", standin).choices[0].message.content
    assert _chat("xai", standin).choices[0].message.content
    assert stats.native_calls["openai"] == native.get("openai", 0) + 1
    assert stats.native_calls["xai"] == native.get("xai", 0) + 1


def test_a_changed_dispatch_context_leaves_litellm_unpatched(untested, monkeypatch, patch):
    real_fingerprint = reliance.fingerprint

    def fingerprint(ref):  # the untested release renamed a field routing reads
        return "0" * 16 if "_CompletionDispatchContext[" in ref else real_fingerprint(ref)

    monkeypatch.setattr(reliance, "fingerprint", fingerprint)
    before = {hook: vars(owner).get(attribute) for hook in hooks.HOOKS
              for owner, attribute in [_resolved(hook)] if owner is not None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert edgequake_patch.install() is False
    assert any("changed what dispatch relies on" in str(w.message) for w in caught)
    assert not edgequake_patch.is_installed()
    assert {hook: vars(owner).get(attribute) for hook in hooks.HOOKS
            for owner, attribute in [_resolved(hook)] if owner is not None} == before
    status = edgequake_patch.status()
    assert status["paths"]["dispatch"]["on"] is False
    assert "litellm.types.completion:_CompletionDispatchContext" in status["paths"]["dispatch"]["reason"]


def _resolved(hook):
    try:
        return hooks._resolve(hook)
    except (ImportError, AttributeError):
        return None, None


def _change(monkeypatch, *changed: str) -> None:
    """The untested release changed these symbols (their fingerprints differ)."""
    real_fingerprint = reliance.fingerprint

    def fingerprint(ref):
        return "0" * 16 if ref in changed else real_fingerprint(ref)

    monkeypatch.setattr(reliance, "fingerprint", fingerprint)


def test_a_changed_lean_reliance_keeps_the_regular_native_path(untested, standin, patch, monkeypatch):
    _change(monkeypatch, "litellm.litellm_core_utils.logging_utils:track_llm_api_timing")
    patch.on()
    paths = edgequake_patch.status()["paths"]
    assert not paths["lean"]["on"] and paths["chat_openai_sdk"]["on"]
    not_lean = stats.not_lean.get("litellm_changed:lean", 0)
    lean, native = stats.lean_calls.get("openai", 0), stats.native_calls.get("openai", 0)
    assert _chat("openai", standin).choices[0].message.content
    assert stats.not_lean["litellm_changed:lean"] == not_lean + 1
    assert stats.lean_calls.get("openai", 0) == lean
    assert stats.native_calls["openai"] == native + 1


def test_a_changed_stream_wrapper_keeps_stocks_per_chunk_path(untested, standin, patch, monkeypatch):
    _change(monkeypatch, "litellm.litellm_core_utils.streaming_handler:CustomStreamWrapper.chunk_creator")
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
    patch.on()
    paths = edgequake_patch.status()["paths"]
    assert not paths["shared_session"]["on"] and paths["chat_openai_sdk"]["on"]

    async def call(with_session: bool):
        litellm.in_memory_llm_clients_cache.flush_cache()
        async with aiohttp.ClientSession() as session:
            return await litellm.acompletion(**CHAT_PROVIDERS["openai"].kwargs(standin), messages=MESSAGES,
                                             max_retries=0, shared_session=session if with_session else None)

    changed = stats.fallbacks.get("litellm_changed:shared_session", 0)
    native = stats.native_calls.get("openai", 0)
    assert asyncio.run(call(True)).choices[0].message.content
    assert stats.fallbacks["litellm_changed:shared_session"] == changed + 1
    assert stats.native_calls.get("openai", 0) == native
    assert asyncio.run(call(False)).choices[0].message.content
    assert stats.native_calls["openai"] == native + 1
