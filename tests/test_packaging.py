"""Installing the project next to a user's LiteLLM changes nothing pip resolved for it.

CI installs the built wheel with `--no-deps` (scripts/env.sh); a user runs `pip install
edgequake-patch`, which also resolves the wheel's own requirements. These tests take those
requirements from the installed distribution's metadata (the wheel's METADATA, as built) and
ask pip, offline and without changing anything, what installing them would do in this
environment: nothing. So LiteLLM, and the OpenAI SDK and everything else LiteLLM's release
pinned, stay as pip resolved them for that release."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import distribution, requires, version

from packaging.requirements import Requirement


def _project_requirements() -> list:
    return [r for r in requires("edgequake-patch") or [] if "extra ==" not in r]


def test_the_wheels_requirements_pin_nothing_litellm_resolves():
    """No upper bound on LiteLLM, and no requirement at all on what LiteLLM itself pins (the
    OpenAI SDK, httpx, pydantic): those stay the release's choice."""
    names = {Requirement(r).name.lower(): Requirement(r) for r in _project_requirements()}
    assert set(names) == {"litellm", "wrapt"}, names
    litellm = names["litellm"]
    assert not any(spec.operator in ("<", "<=", "==", "~=", "===") for spec in litellm.specifier), litellm
    assert litellm.specifier.contains(version("litellm")), (str(litellm), version("litellm"))


def test_installing_the_project_would_change_nothing_pip_resolved(tmp_path):
    before = {name: version(name) for name in ("litellm", "openai", "httpx", "pydantic", "aiohttp")}
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--quiet", "--report", str(report),
         *_project_requirements()],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    would_install = [item["metadata"]["name"] + " " + item["metadata"]["version"]
                     for item in json.loads(report.read_text())["install"]]
    assert would_install == []
    assert {name: version(name) for name in before} == before
    # The environment is the one pip resolved: every installed requirement of LiteLLM's is met.
    checked = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    broken = [line for line in checked.stdout.splitlines()
              if line.lower().startswith(("litellm ", "openai ", "edgequake-patch "))]
    assert broken == [], checked.stdout
    assert distribution("edgequake-patch").version
