"""install() / uninstall() / status(): idempotent, thread-safe, exact restoration, refusal
below the oldest supported LiteLLM or without the native core, fallbacks recorded. (Releases
the shipped record lacks: test_evidence.py.)"""

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
from edgequake_patch.decide import evidence, table, reliance, versions
from edgequake_patch.activation import patching, pair_decision
from edgequake_patch.state import stats


def _current_symbols():
    found = {}
    for hook in table.HOOKS:
        try:
            owner, attribute = patching._resolve(hook)
        except (ImportError, AttributeError):
            continue
        found[hook.name] = vars(owner).get(attribute, getattr(owner, attribute))
    return found


def test_uninstall_restores_every_symbol_exactly(patch):
    before = _current_symbols()
    patch.on()
    during = _current_symbols()
    applicable = {h.name for h in table.planned(pair_decision.decision())}
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


@pytest.mark.parametrize("version", ["1.80.0", "1.94.3", "1.82.7", "1.82.8",
                                     # builds of the oldest release that come before it
                                     "1.95.0rc1", "1.95.0.dev3", "1.95.0.rc.1"])
def test_outside_supported_range_warns_once_and_changes_nothing(version, monkeypatch, patch):
    monkeypatch.setattr(versions, "installed_litellm", lambda: version)
    monkeypatch.setattr(patching, "_warned", set())
    monkeypatch.setattr(pair_decision, "_decision", None)
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
    # No upper bound: installing the patch never changes which LiteLLM pip resolves; a newer
    # release is decided by evidence (the shipped record, or probes on the user's machine).
    assert "<" not in requirement and "~=" not in requirement and "==" not in requirement
    assert "!=1.82.7" in requirement and "!=1.82.8" in requirement
    assert versions.OLDEST_SUPPORTED in versions.vetted_releases()
    assert versions.NEWEST_SUPPORTED == versions.vetted_releases()[-1]
    assert versions.unsupported_reason(versions.OLDEST_SUPPORTED) is None
    assert versions.unsupported_reason(versions.NEWEST_SUPPORTED) is None


@pytest.mark.parametrize("version", ["1.95.0", "1.95.0+local", "1.95.0.post1", "1.100.0rc1", "1.106.2",
                                     "1.106.2+local", "1.106.2rc2", "1.110.2.post1", "1.111.0", "2.0.0"])
def test_builds_from_the_oldest_on_may_be_patched(version):
    assert versions.unsupported_reason(version) is None


def test_missing_native_core_warns_and_changes_nothing(monkeypatch, patch):
    monkeypatch.setitem(sys.modules, "edgequake_patch._native", None)
    monkeypatch.delitem(sys.modules, "edgequake_patch.transport.native", raising=False)
    monkeypatch.setattr(patching, "_warned", set())
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
    assert status["supported_range"] == f">={versions.OLDEST_SUPPORTED}"
    assert status["vetted_releases"] == {c: versions.vetted_releases(c) for c in ("litellm", "openai")}
    assert set(status["paths"]) == set(reliance.PATH_NAMES)
    # Every path on, by the shipped record, or by probes on this machine for a pair it lacks
    # (CI's run on a registry release newer than the record, see .ci/run).
    assert all(p["on"] and p["reason"] is None and p["source"] in (evidence.BY_SHIPPED, evidence.BY_PROBES)
               and p["evidence"] for p in status["paths"].values())
    assert status["release"] in (f"every path on, by {evidence.BY_SHIPPED}", f"every path on, by {evidence.BY_PROBES}",
                                 f"every path on, by {evidence.BY_PROBES} and {evidence.BY_SHIPPED}")
    import openai

    # The core reproduces the response models of the installed SDK's generation (2.x or 3.x).
    assert status["openai_sdk_models"] == int(openai.__version__.split(".")[0])
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


# --- Activation never breaks an interpreter --------------------------------------------------
# Each case is a real interpreter start: a throwaway virtual environment (no pip, so it takes
# milliseconds) whose site-packages holds the checkout's .pth, read by site.py exactly as an
# installed wheel's would be (Python 3.11 reads a venv's .pth files twice, which must not double
# the warning). A plain path line adds the checkout and this venv's site-packages, for LiteLLM
# and wrapt, without running that site-packages' own (installed) copy of the .pth.

_CHECKOUT = Path(__file__).parents[1]
_SITE_PACKAGES = sorted({sysconfig.get_paths()[k] for k in ("purelib", "platlib")})

# wrapt absent, as if never installed: every import of it fails the way a missing module does.
_NO_WRAPT = """
import sys
class _NoWrapt:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "wrapt":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NoWrapt())
"""
# install() gets part-way (the real install patches LiteLLM) and then raises.
_INSTALL_RAISES = """
import edgequake_patch
_real_install = edgequake_patch.install
def _install_then_fail():
    _real_install()
    raise RuntimeError("simulated install failure")
edgequake_patch.install = _install_then_fail
"""
_NO_NATIVE_CORE = "import sys; sys.modules['edgequake_patch._native'] = None\n"
_APP_WITH_LITELLM = "import litellm, edgequake_patch; print('patched' if edgequake_patch.is_installed() else 'stock')"
_APP = "print('started')"


def _start(tmp_path, app, *, env_value, prelude="", shadows=None):
    """Run `app` in a fresh interpreter whose start processed the checkout's .pth. `prelude`
    runs at start before that .pth; `shadows` maps file paths to contents that come first on
    sys.path (they sit in the venv's own site-packages)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    site_dir = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip())
    # site.py reads .pth files in name order: paths, then the prelude, then ours.
    (site_dir / "00_paths.pth").write_text("\n".join([str(_CHECKOUT), *_SITE_PACKAGES]) + "\n")
    if prelude:
        (site_dir / "_activation_prelude.py").write_text(prelude)
        (site_dir / "01_prelude.pth").write_text("import _activation_prelude\n")
    (site_dir / "edgequake_patch_autoload.pth").write_text((_CHECKOUT / "edgequake_patch_autoload.pth").read_text())
    for relative, text in (shadows or {}).items():
        (site_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (site_dir / relative).write_text(text)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    for variable in ("EDGEQUAKE_PATCH", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
        env.pop(variable, None)
    if env_value is not None:
        env["EDGEQUAKE_PATCH"] = env_value
    result = subprocess.run([str(python), "-c", app], env=env, capture_output=True, text=True, timeout=180)
    # Nothing of ours may print a traceback, at start, during the app, or at exit.
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "Exception ignored" not in result.stderr, result.stderr
    assert "Error processing line" not in result.stderr, result.stderr
    return result


def _our_lines(stderr):
    return [line for line in stderr.splitlines() if "edgequake_patch" in line]


@pytest.mark.parametrize(
    "prelude, shadows, cause",
    [
        pytest.param(_NO_WRAPT, None, "ModuleNotFoundError: No module named 'wrapt'", id="wrapt-missing"),
        pytest.param("", {"wrapt/__init__.py": "raise ImportError('wrapt is broken')\n"},
                     "ImportError: wrapt is broken", id="wrapt-broken"),
        pytest.param("", {"edgequake_patch/__init__.py": "raise ImportError('half-installed package')\n"},
                     "ImportError: half-installed package", id="package-import-error"),
        pytest.param("", {"edgequake_patch/__init__.py": "def broken(:\n"}, "SyntaxError: ", id="package-syntax-error"),
        pytest.param("", {"edgequake_patch/__init__.py": ""}, "ModuleNotFoundError: No module named 'edgequake_patch._autoload'",
                     id="submodule-missing"),
    ],
)
def test_failure_at_interpreter_start_is_one_line_naming_the_cause(tmp_path, prelude, shadows, cause):
    result = _start(tmp_path, _APP, env_value="1", prelude=prelude, shadows=shadows)
    assert result.stdout.strip() == "started"
    assert result.stderr.splitlines() == [
        next(line for line in result.stderr.splitlines() if cause in line)
    ], result.stderr
    assert result.stderr.startswith("edgequake_patch: not activated (")
    assert result.stderr.rstrip().endswith("; LiteLLM left unpatched")


def test_wrapt_missing_leaves_litellm_stock_and_importable(tmp_path):
    result = _start(tmp_path, _APP_WITH_LITELLM, env_value="1", prelude=_NO_WRAPT)
    assert result.stdout.strip().splitlines()[-1] == "stock"
    assert _our_lines(result.stderr) == [
        "edgequake_patch: not activated (ModuleNotFoundError: No module named 'wrapt'); LiteLLM left unpatched"
    ]


def test_install_raising_never_reaches_the_apps_import(tmp_path):
    result = _start(tmp_path, _APP_WITH_LITELLM, env_value="1", prelude=_INSTALL_RAISES)
    # What install() had patched before raising is put back.
    assert result.stdout.strip().splitlines()[-1] == "stock"
    assert _our_lines(result.stderr) == [
        "edgequake_patch: not activated (RuntimeError: simulated install failure); LiteLLM left unpatched"
    ]


def test_missing_native_core_at_start_warns_once(tmp_path):
    result = _start(tmp_path, _APP_WITH_LITELLM, env_value="1", prelude=_NO_NATIVE_CORE)
    assert result.stdout.strip().splitlines()[-1] == "stock"
    ours = [line for line in _our_lines(result.stderr) if "RuntimeWarning" in line]
    assert len(ours) == 1 and "native core could not be loaded" in ours[0], result.stderr


def test_missing_native_core_under_warnings_as_errors_still_starts(tmp_path):
    """-W error turns install()'s RuntimeWarning into an exception inside `import litellm`."""
    prelude = _NO_NATIVE_CORE + "import warnings; warnings.simplefilter('error', RuntimeWarning)\n"
    result = _start(tmp_path, _APP_WITH_LITELLM, env_value="1", prelude=prelude)
    assert result.stdout.strip().splitlines()[-1] == "stock"
    ours = _our_lines(result.stderr)
    assert len(ours) == 1 and "RuntimeWarning" in ours[0] and "native core could not be loaded" in ours[0], result.stderr


def test_checkout_pth_still_activates(tmp_path):
    result = _start(tmp_path, _APP_WITH_LITELLM, env_value="1")
    assert result.stdout.strip().splitlines()[-1] == "patched"
    assert _our_lines(result.stderr) == []


@pytest.mark.parametrize("env_value", [None, "", "0", "off"])
def test_unset_says_nothing_and_imports_nothing_even_when_broken(tmp_path, env_value):
    shadows = {
        "wrapt/__init__.py": "raise ImportError('wrapt is broken')\n",
        "edgequake_patch/__init__.py": "raise ImportError('half-installed package')\n",
    }
    app = "import sys; print(sorted(m for m in ('edgequake_patch', 'wrapt', 'litellm') if m in sys.modules))"
    result = _start(tmp_path, app, env_value=env_value, shadows=shadows)
    assert result.stdout.strip() == "[]"
    assert result.stderr == ""
