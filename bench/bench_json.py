#!/usr/bin/env python3
"""JSON -> Python conversion speed: our `pyjson::loads` vs pydantic's jiter vs `json.loads`.

Times each parser on five realistic provider answers (OpenAI chat completion, 1536-float
embedding, stream chunk, Anthropic message, Gemini answer): median of 7 rounds of ~60 ms,
in ns per parse, plus jiter/pyjson (above 1 means pyjson is faster). The timing lives in
rust/json_bench.rs (jiter is a dev-dependency only); this runs it with the interpreter
running this script, as

    PYO3_PYTHON=<this python> cargo test --release --lib json_bench -- \\
        --ignored --nocapture json_conversion_speed

    .venv-litellm-1.95.0/bin/python bench/bench_json.py
"""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    # The test links the libpython it is built against, so build against this interpreter.
    # CARGO_TARGET_DIR, if set, passes through with the rest of the environment.
    env = dict(os.environ, PYO3_PYTHON=sys.executable)
    cmd = ["cargo", "test", "--release", "--lib", "json_bench", "--",
           "--ignored", "--nocapture", "json_conversion_speed"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr + proc.stdout)
        return proc.returncode
    # Keep the table, drop libtest's own lines around it.
    table = False
    for line in proc.stdout.splitlines():
        table = table or line.startswith("document")
        if table and line.startswith("test "):
            break
        if table:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
