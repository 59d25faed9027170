"""The dispatch benchmark runs end to end at a tiny size: every mode measured, every patched
call native and lean (the script asserts it), the floor at 1.00. Not a timing test: it only keeps
the measuring harness working, so it compares no two timings (on a busy CI machine any order of
two p50s of 30 calls can happen)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.standin import REPO_ROOT


def test_bench_dispatch_runs_every_mode(tmp_path):
    out = tmp_path / "dispatch.json"
    done = subprocess.run(
        [sys.executable, "bench/bench_dispatch.py", "--rounds", "1", "--calls", "30", "--async-rounds", "1",
         "--async-calls", "120", "--with-regular", "--json", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert set(rows) == {"stock", "patched", "floor", "floor+http", "regular"}
    assert rows["floor"]["p50_vs_floor"] == 1.0 and rows["floor"]["rps_vs_floor"] == 1.0
    for mode, row in rows.items():
        assert row["sync_p50_us"] > 0 and row["async_rps"] > 0, mode
    assert "targets:" in done.stdout


def test_bench_stream_runs_every_provider(tmp_path):
    """The per-provider stream benchmark end to end with 30-word streams and one round: every
    provider's file served in its own format, every mode measured, every patched stream native
    (the script asserts it). Not a timing test."""
    from bench import stream_formats

    out = tmp_path / "stream.json"
    done = subprocess.run(
        [sys.executable, "bench/bench_stream.py", "--rounds", "1", "--chunks", "30", "--json", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = report["us_per_chunk"]
    assert list(rows) == stream_formats.ORDER and report["words"] == 30
    for provider, modes in rows.items():
        assert set(modes) == {"raw", "stock", "patched"}, provider
        for mode, row in modes.items():
            assert row["sync"] > 0 and row["async"] > 0 and row["sync_whole_call"] > 0, (provider, mode)
            assert row["sync_steady"] > 0 and row["async_steady"] > 0, (provider, mode)
            # One chunk per word, plus what the format adds around them (role, finish, usage).
            assert 30 <= row["chunks"] <= 36, (provider, mode, row["chunks"])
        # Every provider's steady text chunks are the fast path's: all but the first few.
        assert modes["patched"]["chunks"] - 6 <= modes["patched"]["fast_chunks"] <= modes["patched"]["chunks"], provider
    assert "ollama_chat" in done.stdout and "µs per chunk" in done.stdout


def test_bench_proxy_runs(tmp_path):
    """The proxy benchmark end to end, tiny: both proxies start, answer from the nginx upstream,
    and the patched worker served every call natively (the script fails otherwise). Not a
    timing test."""
    out = tmp_path / "proxy.json"
    done = subprocess.run(
        [sys.executable, "bench/bench_proxy.py", "--rounds", "1", "--requests", "10", "--stream-requests", "1",
         "--concurrency", "2", "--scenarios", "openai,anthropic-stream-500", "--json", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    for scenario in ("openai", "anthropic-stream-500"):
        for arm in ("stock", "patched"):
            assert report[scenario][arm]["cpu_ms_per_request"] > 0 and report[scenario][arm]["rps"] > 0
    assert report["patched_worker"]["native_calls"].get("openai", 0) >= 10
    assert report["patched_worker"]["native_calls"].get("anthropic", 0) >= 1
    assert report["patched_worker"]["fallbacks"] == {}
