#!/usr/bin/env python3
"""What deciding the paths costs at start-up, per installed pair (reliance.py, probes.py).

Each case is a fresh interpreter that has already imported LiteLLM, timing `install()` alone:

* `shipped, first start`: this machine has decided nothing yet: every relied-on symbol is
  fingerprinted, each path's group looked up in the shipped record (the decision is then kept);
* `shipped, later starts`: the decision read back from this machine's cache;
* `no record, first start`: the shipped record hidden (a release newer than it, with every
  path's code new): every path probed on this machine, quick scenarios;
* `no record, later starts`: the probes' outcome read back;
* `local vet`: `python -m edgequake_patch vet`, every path's every scenario (the whole command).

    .venv-litellm-1.110.2/bin/python bench/bench_decision.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # (this process imports LiteLLM too)

_ONE = """
import json, sys, time, warnings
import litellm
import edgequake_patch
from edgequake_patch.decide import evidence
if sys.argv[1] == "hidden":
    evidence._shipped = evidence.Shipped({})
started = time.perf_counter()
ok = edgequake_patch.install()
elapsed = time.perf_counter() - started
sources = sorted({p["source"] for p in edgequake_patch.status()["paths"].values() if p["on"]})
print(json.dumps({"ok": ok, "seconds": elapsed, "sources": sources}))
"""


def one(record: str, cache: str) -> dict:
    env = dict(os.environ, EDGEQUAKE_PATCH_CACHE=cache, LITELLM_LOCAL_MODEL_COST_MAP="True", HF_HUB_OFFLINE="1")
    env.pop("EDGEQUAKE_PATCH", None)
    done = subprocess.run([sys.executable, "-c", _ONE, record], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    figures = {}
    for record in ("shipped", "hidden"):
        first, later, sources = [], [], set()
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as cache:
                cold = one(record, cache)
                warm = one(record, cache)
            assert cold["ok"] and warm["ok"], (cold, warm)
            first.append(cold["seconds"])
            later.append(warm["seconds"])
            sources.update(cold["sources"])
        name = "shipped" if record == "shipped" else "no record"
        figures[f"{name}, first start"] = (statistics.median(first), ", ".join(sorted(sources)))
        figures[f"{name}, later starts"] = (statistics.median(later), "")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, EDGEQUAKE_PATCH_CACHE=cache, LITELLM_LOCAL_MODEL_COST_MAP="True", HF_HUB_OFFLINE="1")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "edgequake_patch", "vet"], env=env, cwd=ROOT, check=True,
                       capture_output=True, timeout=900)
        figures["local vet (whole command)"] = (time.perf_counter() - started, "")
    import litellm  # noqa: F401 - only for its version
    from importlib.metadata import version

    print(f"litellm {version('litellm')}, openai {version('openai')}; median of {args.rounds} fresh interpreters")
    for name, (seconds, note) in figures.items():
        print(f"  {name:28} {seconds * 1000:8.0f} ms  {note}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({k: v[0] for k, v in figures.items()}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
