"""install() / uninstall() / status(): idempotent, thread-safe, exact restoration, refusal
outside the supported LiteLLM range or without the native core, fallbacks recorded."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import threading
import warnings
from pathlib import Path

import litellm
import pytest

import edgequake_patch
from edgequake_patch import hooks, stats, versions


def _current_symbols():
    found = {}
    for hook in hooks.HOOKS:
        try:
            owner, attribute = hooks._resolve(hook)
        except (ImportError, AttributeError):
            continue
        found[hook.name] = vars(owner).get(attribute, getattr(owner, attribute))
    return found


def test_uninstall_restores_every_symbol_exactly(patch):
    before = _current_symbols()
    patch.on()
    during = _current_symbols()
    applicable = {h.name for h in hooks.applicable(versions.installed_litellm())}
    assert applicable, "no hook applies to the installed LiteLLM"
    for name in applicable:
        assert during[name] is not before[name], f"{name} was not patched"
    patch.off()
    after = _current_symbols()
    for name, original in before.items():
        assert after[name] is original, f"{name} not restored to the very same object"


def test_install_is_idempotent_and_thread_safe(patch):
    results = []
    threads = [threading.Thread(target=lambda: results.append(edgequake_patch.install())) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 16
    import litellm.main as main

    # Wrapped exactly once: the wrapper's target is the original function, not another wrapper.
    assert main._complete_custom_openai.__wrapped__.__module__ == "litellm.main"
    assert not hasattr(main._complete_custom_openai.__wrapped__, "__wrapped__")
    assert edgequake_patch.is_installed()
    edgequake_patch.uninstall()
    edgequake_patch.uninstall()  # a second uninstall is harmless
    assert not edgequake_patch.is_installed()


@pytest.mark.parametrize("version", ["1.80.0", "1.94.3", "1.106.3", "1.109.1", "1.82.7", "1.82.8",
                                     # builds just outside the ends: before the oldest release, after the newest
                                     "1.95.0rc1", "1.95.0.dev3", "1.95.0.rc.1", "1.106.2.post1", "1.106.2-1"])
def test_outside_supported_range_warns_once_and_changes_nothing(version, monkeypatch, patch):
    monkeypatch.setattr(versions, "installed_litellm", lambda: version)
    monkeypatch.setattr(hooks, "_warned", set())
    before = _current_symbols()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert edgequake_patch.install() is False
        assert edgequake_patch.install() is False
    assert len([w for w in caught if "edgequake_patch" in str(w.message)]) == 1
    assert version in str(caught[0].message)
    assert _current_symbols() == before
    assert not edgequake_patch.is_installed()
    assert edgequake_patch.status()["unsupported_reason"] is not None


def test_supported_range_is_declared_consistently():
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    requirement = next(d for d in pyproject["project"]["dependencies"] if d.startswith("litellm"))
    assert f">={versions.OLDEST_SUPPORTED}" in requirement
    assert f"<={versions.NEWEST_SUPPORTED}" in requirement
    assert "!=1.82.7" in requirement and "!=1.82.8" in requirement
    assert versions.unsupported_reason(versions.OLDEST_SUPPORTED) is None
    assert versions.unsupported_reason(versions.NEWEST_SUPPORTED) is None


@pytest.mark.parametrize("version", ["1.95.0", "1.95.0+local", "1.95.0.post1", "1.100.0rc1", "1.106.2",
                                     "1.106.2+local", "1.106.2rc2"])
def test_builds_inside_the_range_are_supported(version):
    assert versions.unsupported_reason(version) is None


def test_missing_native_core_warns_and_changes_nothing(monkeypatch, patch):
    monkeypatch.setitem(sys.modules, "edgequake_patch._native", None)
    monkeypatch.delitem(sys.modules, "edgequake_patch.native", raising=False)
    monkeypatch.setattr(hooks, "_warned", set())
    before = _current_symbols()
    with pytest.warns(RuntimeWarning, match="native core could not be loaded"):
        assert edgequake_patch.install() is False
    assert _current_symbols() == before
    assert edgequake_patch.status()["native_core"] is False


def test_status_reports_version_hooks_and_counts(standin, patch):
    patch.on()
    status = edgequake_patch.status()
    assert status["installed"] is True
    assert status["litellm_version"] == versions.installed_litellm()
    symbols = {h["symbol"] for h in status["hooks"]}
    assert "litellm.main._complete_custom_openai" in symbols
    assert "litellm.main._complete_azure" in symbols
    before = dict(stats.native_calls)
    litellm.completion(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        api_base=standin.base_url + "/v1",
        api_key="sk-status-secret-abcdef",
    )
    after = edgequake_patch.status()
    assert after["native_calls"]["openai"] == before.get("openai", 0) + 1
    assert "sk-status-secret-abcdef" not in repr(after)


def test_unsupported_call_falls_back_with_reason(standin, patch):
    """A caller-supplied client or another provider is served by stock, and the reason is counted."""
    import openai

    patch.on()
    before = dict(stats.fallbacks)
    client = openai.OpenAI(api_key="sk-x", base_url=standin.base_url + "/v1", max_retries=0)
    response = litellm.completion(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], client=client
    )
    assert response.choices[0].message.content == "Hello from the stand-in."
    assert stats.fallbacks["caller_client"] == before.get("caller_client", 0) + 1
    # A provider that shares a hooked dispatch function but that the core does not serve:
    # stock's dispatch, untouched, reason counted.
    other = dict(stats.fallbacks)
    with pytest.raises(Exception):
        litellm.completion(
            model="deepinfra/meta-llama/Meta-Llama-3.1-8B-Instruct",
            messages=[{"role": "user", "content": "hi"}],
            api_base=f"http://127.0.0.1:{_closed_port()}/v1",
            api_key="gsk-x",
            max_retries=0,
        )
    assert stats.fallbacks["provider_not_native"] == other.get("provider_not_native", 0) + 1


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_environment_variable_activates_at_interpreter_start():
    """The .pth file shipped in the wheel installs the patch when the app imports LiteLLM."""
    candidates = {Path(sysconfig.get_paths()[k]) / "edgequake_patch_autoload.pth" for k in ("purelib", "platlib")}
    assert any(p.exists() for p in candidates), f"the .pth file is not installed in {candidates}"
    code = "import edgequake_patch, litellm; print(edgequake_patch.is_installed())"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("EDGEQUAKE_PATCH", None)

    def start(source, **extra):
        return subprocess.Popen([sys.executable, "-c", source], env={**env, **extra}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    # The three interpreters are independent: started together, their imports of LiteLLM
    # (2-3 s each) overlap instead of adding up.
    off = start(code)
    on = start(code, EDGEQUAKE_PATCH="1")
    # Without LiteLLM being imported, the variable alone imports nothing heavy.
    lazy = start("import sys; print('litellm' in sys.modules)", EDGEQUAKE_PATCH="1")
    (off_out, off_err), (on_out, on_err), (lazy_out, lazy_err) = (p.communicate(timeout=120) for p in (off, on, lazy))
    assert off_out.strip().splitlines()[-1] == "False", off_err
    assert on_out.strip().splitlines()[-1] == "True", on_err
    assert lazy_out.strip() == "False", lazy_err


def test_status_reports_litellm_own_rust_route(patch, monkeypatch):
    """LiteLLM's own optional Rust route serves chat calls before the provider dispatch, so the
    patch cannot see them: status() says whether it is switched on."""
    patch.on()
    monkeypatch.setenv("LITELLM_RUST", "0")
    assert edgequake_patch.status()["litellm_rust_route"] is False
    monkeypatch.setenv("LITELLM_RUST", "1")
    try:
        from litellm.rust_bridge.configuration import rust_enabled  # noqa: F401
    except ImportError:
        assert edgequake_patch.status()["litellm_rust_route"] is False
    else:
        assert edgequake_patch.status()["litellm_rust_route"] is True
