"""The LiteLLM Proxy, stock against patched, in one run.

    python bench/bench_proxy.py [--rounds 5] [--requests 400] [--stream-requests 40]
                                [--concurrency 8] [--json out.json]

Two proxies (`litellm --config ...`, one worker each, LiteLLM's default uvloop server) start from
one config, one stock and one with EDGEQUAKE_PATCH=1; their upstream is nginx answering every
request with a canned answer (bench/proxy_upstream.py), so the upstream is never the
bottleneck. For each scenario, rounds alternate the two proxies (stock first in odd rounds,
patched first in even ones) so machine drift hits both alike. Each measurement sends a fixed
number of requests, `--concurrency` at a time, from this process, after a warm-up:

* requests/s and p50 / p99 latency, as the client sees them;
* the proxy's CPU per request: the CPU time (user + system) of the proxy's process tree over
  the measurement, divided by the requests it served. This is the figure the targets are set
  on: patched <= 0.75x stock non-streaming, <= 0.3x for a 500-chunk stream.

Scenarios: non-streaming openai/ and anthropic/ chat, and a 500-chunk stream of each. Medians
over rounds are reported, with the patched/stock ratio of CPU per request. The patched proxy's
worker is checked to have served natively (its status callback's counters).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from bench.proxy_upstream import STREAM_CHUNKS, ProxyUpstream  # noqa: E402
from tests.proxykit import MASTER_KEY, Proxy  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say hello."}]
SCENARIOS = {
    "openai": {"model": "gpt", "stream": False},
    "anthropic": {"model": "claude", "stream": False},
    "openai-stream-500": {"model": "gpt-stream", "stream": True},
    "anthropic-stream-500": {"model": "claude-stream", "stream": True},
}


def proxy_config(upstream: ProxyUpstream) -> Dict[str, Any]:
    b = upstream.base_url

    def model(name: str, model: str, base: str, key: str) -> Dict[str, Any]:
        return {"model_name": name, "litellm_params": {"model": model, "api_base": base, "api_key": key}}

    return {
        "model_list": [
            model("gpt", "openai/gpt-4o-mini", b + "/openai/v1", "sk-bench-openai"),
            model("gpt-stream", "openai/gpt-4o-mini", b + "/openai-stream/v1", "sk-bench-openai"),
            model("claude", "anthropic/claude-3-5-haiku-20241022", b + "/anthropic", "sk-ant-bench"),
            model("claude-stream", "anthropic/claude-3-5-haiku-20241022", b + "/anthropic-stream", "sk-ant-bench"),
        ],
        "litellm_settings": {"callbacks": ["edgequake_patch.proxy.status_callback"]},
    }


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return total


async def load(port: int, scenario: Dict[str, Any], requests: int, concurrency: int) -> List[float]:
    """Send `requests` requests, `concurrency` at a time; each one's latency (to its last byte)."""
    body = {"messages": MESSAGES, **scenario}
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    latencies: List[float] = []
    remaining = requests

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker():
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                async with session.post(url, json=body, headers=headers) as response:
                    payload = await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{response.status}: {payload[:300]!r}")
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def measure(proxy: Proxy, scenario: Dict[str, Any], requests: int, concurrency: int) -> Dict[str, float]:
    cpu_before = tree_cpu(proxy.process.pid)
    started = time.perf_counter()
    latencies = asyncio.run(load(proxy.port, scenario, requests, concurrency))
    elapsed = time.perf_counter() - started
    cpu = tree_cpu(proxy.process.pid) - cpu_before
    latencies.sort()
    return {
        "rps": requests / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "cpu_ms_per_request": 1000 * cpu / requests,
    }


def median_of(rows: List[Dict[str, float]]) -> Dict[str, float]:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=400, help="per measurement, non-streaming")
    parser.add_argument("--stream-requests", type=int, default=40, help="per measurement, 500-chunk streams")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]

    results: Dict[str, Any] = {}
    with ProxyUpstream() as upstream:
        config = proxy_config(upstream)
        # Both arms carry the status callback (it is how the patched worker's counters are
        # read); reporting at most once a second keeps it out of the per-request figures.
        quiet = {"EDGEQUAKE_PATCH_STATUS_INTERVAL": "1"}
        stock = Proxy(config, patched=False, env=quiet)
        patched = Proxy(config, patched=True, env=quiet)
        try:
            stock.wait_ready()
            patched.wait_ready()
            arms = {"stock": stock, "patched": patched}
            for name in scenarios:
                scenario = SCENARIOS[name]
                count = args.stream_requests if scenario["stream"] else args.requests
                for proxy in arms.values():  # warm-up: clients, caches, connection pools
                    measure(proxy, scenario, max(10, count // 10), args.concurrency)
                rows: Dict[str, List[Dict[str, float]]] = {"stock": [], "patched": []}
                for round_ in range(args.rounds):
                    order = ("stock", "patched") if round_ % 2 == 0 else ("patched", "stock")
                    for arm in order:
                        rows[arm].append(measure(arms[arm], scenario, count, args.concurrency))
                summary = {arm: median_of(rows[arm]) for arm in rows}
                summary["cpu_ratio"] = summary["patched"]["cpu_ms_per_request"] / summary["stock"]["cpu_ms_per_request"]
                results[name] = summary
                print(_line(name, summary), flush=True)
            time.sleep(0.5)  # the status callback runs after the last answer
            native = patched.total("native_calls")
            fallbacks = patched.total("fallbacks")
            results["patched_worker"] = {"native_calls": native, "fallbacks": fallbacks}
            print(f"patched worker: native calls {native}, fallbacks {fallbacks}")
            if not native or fallbacks:
                raise SystemExit("the patched proxy did not serve every call natively")
        finally:
            stock.stop()
            patched.stop()
    results["setup"] = {"rounds": args.rounds, "requests": args.requests, "stream_requests": args.stream_requests,
                        "concurrency": args.concurrency, "stream_chunks": STREAM_CHUNKS, "cpus": os.cpu_count()}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def _line(name: str, summary: Dict[str, Any]) -> str:
    s, p = summary["stock"], summary["patched"]
    return (f"{name:22s} stock {s['rps']:7.1f} req/s p50 {s['p50_ms']:7.1f} ms p99 {s['p99_ms']:7.1f} ms "
            f"cpu {s['cpu_ms_per_request']:6.2f} ms/req | patched {p['rps']:7.1f} req/s p50 {p['p50_ms']:7.1f} ms "
            f"p99 {p['p99_ms']:7.1f} ms cpu {p['cpu_ms_per_request']:6.2f} ms/req | cpu ratio {summary['cpu_ratio']:.2f}")


if __name__ == "__main__":
    main()
