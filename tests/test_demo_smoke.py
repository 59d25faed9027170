"""The demo (the README's main command) runs end to end at a tiny size: every provider's calls
made and served by the core, the speed table measured and printed. Not a timing test: at this
size the figures are noise; it keeps the demo working and its output clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.standin import REPO_ROOT

PROVIDERS = ("openai", "azure", "anthropic", "gemini", "mistral", "ollama", "ollama_chat", "lm_studio", "openrouter", "xai")
CALLS = ("completion", "acompletion", "stream", "embedding", "error")


def test_demo_serves_every_provider_natively_and_measures_the_speedup(tmp_path):
    out = tmp_path / "demo.json"
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "EDGEQUAKE_PATCH")}
    done = subprocess.run(
        [sys.executable, "-m", "examples.demo", "--calls", "12", "--streams", "1", "--stream-chunks", "20",
         "--json", str(out)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Nothing but the demo's own lines: no LiteLLM logging-worker warnings, no tracebacks, and
    # no colour codes in piped output.
    assert done.stderr.strip() == "", done.stderr[-3000:]
    assert "\x1b[" not in done.stdout
    result = json.loads(out.read_text())

    calls = result["calls"]
    assert [c["provider"] for c in calls if c["call"] == "completion"] == list(PROVIDERS)
    # LiteLLM's other endpoints, each native.
    endpoints = {(c["call"], c["provider"]): c for c in result["endpoint_calls"]}
    assert set(endpoints) == {("responses", "openai"), ("responses stream", "xai"), ("anthropic_messages", "anthropic"),
                              ("rerank", "jina_ai"), ("embedding", "jina_ai")}
    assert all(c["native"] is True for c in endpoints.values()), endpoints
    for provider in PROVIDERS:
        made = {c["call"]: c for c in calls if c["provider"] == provider}
        assert set(made) == set(CALLS), provider
        for call, outcome in made.items():
            if call == "embedding" and outcome["native"] is None:  # LiteLLM has no embeddings for it
                assert provider in ("anthropic", "ollama_chat", "openrouter", "xai"), provider
                continue
            assert outcome["native"] is True, outcome
        assert "Error (status " in made["error"]["result"], made["error"]
        if not provider.startswith("ollama"):  # LiteLLM 1.95 maps Ollama's 401 to a connection error
            assert "(status 401)" in made["error"]["result"], made["error"]
    # The gemini and ollama embeddings are made (and native), as for the OpenAI family.
    assert {c["provider"] for c in calls if c["call"] == "embedding" and c["native"]} == {
        "openai", "azure", "gemini", "mistral", "ollama", "lm_studio"}

    speed = result["speed"]
    assert speed["patched_calls"] > 0 and speed["patched_calls_native"] == speed["patched_calls"]
    for mode in ("stock", "patched"):
        assert set(speed["us"][mode]) == {"completion_us", "acompletion_us", "stream_chunk_us", "astream_chunk_us"}
        assert all(value > 0 for value in speed["us"][mode].values()), speed["us"][mode]
    assert all(ratio > 0 for ratio in speed["speedup"].values())

    text = done.stdout
    assert "speed-up" in text and "×" in text
    for provider in PROVIDERS:
        row = next(line.split() for line in text.splitlines() if line.split()[:1] == [provider])
        assert row[1:3] == ["completion", "native"], row
