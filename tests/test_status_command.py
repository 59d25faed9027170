"""`python -m edgequake_patch` and `--json`: the report of what the patch does here, run as a
user runs it (a process of its own), and `edgequake_patch.report()` inside a running app."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import litellm

import edgequake_patch
from edgequake_patch.decide import reliance, versions
from edgequake_patch.reporting import status_report
from tests.standin import REPO_ROOT

PROVIDERS = ("openai", "azure", "anthropic", "gemini", "mistral", "ollama", "ollama_chat", "lm_studio", "openrouter", "xai")


def _run(*args: str, python_flags: tuple = ()) -> subprocess.CompletedProcess:
    # Piped, as in any script or CI log: no colour codes may appear.
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "EDGEQUAKE_PATCH")}
    done = subprocess.run([sys.executable, *python_flags, "-m", "edgequake_patch", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\x1b[" not in done.stdout
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done


def test_text_report_names_versions_paths_and_core():
    out = _run().stdout
    lines = out.splitlines()
    litellm_line = next(line for line in lines if line.split()[:1] == ["litellm"])
    assert litellm_line.split()[1] == versions.installed_litellm()
    assert "every path on, by " in litellm_line and "shipped evidence: 1.95.0 to " in litellm_line
    openai_line = next(line for line in lines if line.split()[:1] == ["openai"])
    assert openai_line.split()[1] == versions.installed("openai")
    # Every path, on or off, in a line of its own.
    for name in reliance.PATH_NAMES:
        row = next((line.split() for line in lines if line.split()[1:2] == [name]), None)
        assert row is not None and row[0] in ("on", "off"), name
    core = next(line for line in lines if line.strip().startswith("native core"))
    assert "loaded" in core and "_native" in core and ("release build" in core or "debug build" in core)
    assert "install()" in out and "works" in out
    for provider in PROVIDERS:
        assert any(line.split()[:1] == [provider] for line in lines), provider
    assert "print(edgequake_patch.report())" in out  # where the live counters are


def test_json_report_holds_the_same_for_machines():
    data = json.loads(_run("--json").stdout)
    assert data["versions"]["litellm"] == versions.installed_litellm()
    assert data["versions"]["openai"] == versions.installed("openai")
    assert data["versions"]["edgequake_patch"] == edgequake_patch.__version__
    assert data["release"].startswith("every path on, by ")
    assert data["vetted_releases"]["litellm"] == versions.vetted_releases("litellm")
    assert set(data["paths"]) == set(reliance.PATH_NAMES)
    for name, state in data["paths"].items():
        assert isinstance(state["on"], bool) and state["what"], name
        assert (state["reason"] is None) == state["on"], name
        assert state["source"] in ("shipped record", "probes on this machine", "local vet"), name
    core = data["native_core"]
    assert core["loaded"] is True and core["error"] is None
    assert core["version"] == edgequake_patch.__version__
    assert core["profile"] in ("release", "debug") and core["target"]
    assert os.path.basename(core["file"]).startswith("_native")
    assert data["install_trial"]["ok"] is True and data["install_trial"]["hooks"] > 0
    assert data["installed"] is False  # the trial install was undone
    assert list(data["providers"]) == list(PROVIDERS)
    # Every path is on for what CI installs (by the shipped record, or probes): all native.
    assert all(p["chat"]["native"] and p["stream"]["native"] for p in data["providers"].values())
    assert data["providers"]["openai"]["lean"] and not data["providers"]["anthropic"]["lean"]
    # The fast stream path serves every provider's streams.
    assert all(p["stream"]["fast"] for p in data["providers"].values())
    assert data["providers"]["anthropic"]["embedding"]["native"] is None  # LiteLLM has none
    assert data["providers"]["gemini"]["embedding"]["native"] is True
    assert all(f["native"] for f in data["wire_formats"].values())
    assert set(data["wire_formats"]) == {"openai", "anthropic", "gemini", "ollama"}
    assert all(not any(counts.values()) for counts in [data["counters"]])


def test_a_core_that_does_not_load_is_reported_not_raised():
    code = ("import sys; sys.modules['edgequake_patch._native'] = None\n"
            "from edgequake_patch.__main__ import main; raise SystemExit(main(['--json']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    assert data["native_core"]["loaded"] is False and "_native" in data["native_core"]["error"]
    assert data["install_trial"]["ok"] is False and "native core" in data["install_trial"]["reason"]
    assert "native core" in data["stopped"]
    assert not any(p["chat"]["native"] for p in data["providers"].values())


def test_without_litellm_the_report_says_so():
    # -S: no site-packages, so neither LiteLLM nor its metadata is found (the package itself is
    # the checkout's, found from the working directory).
    out = _run(python_flags=("-S",)).stdout
    assert "litellm is not installed" in out
    assert "everything stock" in out


def test_report_inside_the_app_shows_its_live_counters(standin, patch):
    patch.on()
    before = edgequake_patch.status()["native_calls"].get("openai", 0)
    litellm.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                       api_base=standin.base_url + "/v1", api_key="sk-test-0123456789")
    text = edgequake_patch.report()
    assert "\x1b[" not in text  # pytest's captured stdout is no terminal
    counters = next(line for line in text.splitlines() if line.split()[:1] == ["native_calls"])
    assert f"openai {before + 1}" in counters
    assert "installed" in text and "tried, then undone" not in text  # the app's own install, not a trial
    data = status_report.collect()
    assert data["installed"] is True and data["install_trial"] is None
