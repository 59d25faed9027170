"""LiteLLM's other endpoints, stock vs patched, in one run, as ratios.

    python bench/bench_endpoints.py [--calls 400] [--rounds 5]

Each endpoint the core serves beyond chat (the Responses API and Anthropic's /v1/messages, whole
and streamed; Jina's rerank; the generic handler's embeddings) is called against a
fixed-response nginx that answers its path with one canned body from the providers' API
references. Per endpoint, the stock and patched modes run in interleaved rounds (drift on a
shared machine hits both alike); the table shows p50 and p99 per call and patched/stock. The patched calls are checked to have
gone through the core, counted under their endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import litellm  # noqa: E402
from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER as LOGGING_WORKER  # noqa: E402

import edgequake_patch  # noqa: E402
from bench.fixed_server import FixedServer  # noqa: E402
from tests.standin import fixtures, providers  # noqa: E402  (answers shaped as the API references show)
from edgequake_patch.decide import versions  # noqa: E402
from edgequake_patch.state import stats  # noqa: E402


@dataclass
class Answer:
    """A static answer for FixedServer: POSTs to `path` get `body`."""

    path: str
    content_type: str
    body: bytes


MODEL = "gpt-4o-mini"
DOCUMENTS = ["Paris is the capital of France.", "The Eiffel Tower is in Paris.", "Bananas are yellow."]


def _answers() -> list:
    request = {"model": MODEL, "input": "Say hello."}
    events = b"".join(fixtures.sse_named_event(kind, data)
                      for kind, data in fixtures.ResponsesPlan({**request, "stream": True}, MODEL).events())
    rerank = {"model": "jina-reranker-v2-base-multilingual", "query": "Where is the Eiffel Tower?", "documents": DOCUMENTS}
    embedding = {"model": "jina-embeddings-v3", "input": ["hello"]}
    claude = {"model": "claude-sonnet-4-20250514", "max_tokens": 64, "messages": [{"role": "user", "content": "Say hello."}]}
    plan = providers.AnthropicPlan(claude, claude["model"])
    return [
        Answer("/v1/messages", "application/json", json.dumps(plan.message()).encode()),
        Answer("/stream/v1/messages", "text/event-stream",
               b"".join(providers.anthropic_sse(kind, data) for kind, data in plan.events())),
        Answer("/v1/responses", "application/json", json.dumps(fixtures.responses_object(request, MODEL)).encode()),
        Answer("/stream/v1/responses", "text/event-stream", events),
        Answer("/v1/rerank", "application/json", json.dumps(providers.jina_rerank(rerank, rerank["model"])).encode()),
        Answer("/v1/embeddings", "application/json",
               json.dumps(fixtures.embeddings(embedding, embedding["model"])).encode()),
    ]


def _calls(base: str) -> dict:
    """endpoint -> (endpoint, provider, a call)."""
    responses = {"model": f"openai/{MODEL}", "input": "Say hello.", "api_base": base + "/v1", "api_key": "sk-bench"}
    streamed = {**responses, "api_base": base + "/stream/v1", "stream": True}
    rerank = {"model": "jina_ai/jina-reranker-v2-base-multilingual", "query": "Where is the Eiffel Tower?",
              "documents": DOCUMENTS, "api_base": base + "/v1", "api_key": "jina-bench"}
    embedding = {"model": "jina_ai/jina-embeddings-v3", "input": ["hello"], "api_base": base + "/v1", "api_key": "jina-bench"}

    messages = {"model": "anthropic/claude-sonnet-4-20250514", "max_tokens": 64, "api_key": "sk-ant-bench",
                "messages": [{"role": "user", "content": "Say hello."}], "api_base": base}

    async def amessages():
        return await litellm.anthropic_messages(**messages)

    async def amessages_stream():
        streamed_messages = {**messages, "api_base": base + "/stream", "stream": True}
        return [piece async for piece in await litellm.anthropic_messages(**streamed_messages)]

    async def aresponses():
        return await litellm.aresponses(**responses)

    async def astream():
        return [event async for event in await litellm.aresponses(**streamed)]

    return {
        "responses": ("responses", "openai", lambda: litellm.responses(**responses)),
        "responses (async)": ("responses", "openai", aresponses),
        "responses stream": ("responses", "openai", lambda: list(litellm.responses(**streamed))),
        "responses stream (async)": ("responses", "openai", astream),
        "messages (async)": ("messages", "anthropic", amessages),
        "messages stream (async)": ("messages", "anthropic", amessages_stream),
        "rerank": ("rerank", "jina_ai", lambda: litellm.rerank(**rerank)),
        "embedding (jina_ai)": ("embedding", "jina_ai", lambda: litellm.embedding(**embedding)),
    }


def percentile(samples: list, q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


#: One event loop for every async call (LiteLLM's logging worker is bound to the loop it first
#: ran on, and moves, with a warning, when another takes over).
_LOOP = asyncio.new_event_loop()


def _timed(call, n: int) -> list:
    """Seconds per call; a coroutine function's calls are awaited one after the other."""
    if asyncio.iscoroutinefunction(call):
        async def timed():
            # The success logging earlier calls queued runs on this loop: it is flushed first,
            # so that no mode inherits another's.
            await asyncio.wait_for(LOGGING_WORKER.flush(), 60)
            out = []
            for _ in range(n):
                started = time.perf_counter()
                await call()
                out.append(time.perf_counter() - started)
            return out

        return _LOOP.run_until_complete(timed())
    out = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400, help="calls per mode and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    litellm.suppress_debug_info = True
    import warnings

    warnings.simplefilter("ignore")  # stock's own serializer warnings on Responses answers
    print(f"litellm {versions.installed_litellm()}, openai {versions.installed('openai')}")
    rows = []
    with FixedServer(files=_answers()) as server:
        for name, (endpoint, provider, call) in _calls(server.base_url).items():
            samples = {"stock": [], "patched": []}
            for mode in samples:  # warm-up: clients, caches, the pool
                edgequake_patch.uninstall()
                if mode == "patched":
                    assert edgequake_patch.install()
                _timed(call, 20)
            for _ in range(args.rounds):
                for mode in samples:
                    edgequake_patch.uninstall()
                    if mode == "patched":
                        assert edgequake_patch.install()
                        before = stats.endpoint_calls[endpoint, provider]
                    samples[mode] += _timed(call, args.calls)
                    if mode == "patched":
                        assert stats.endpoint_calls[endpoint, provider] - before == args.calls, f"{name}: not native"
            edgequake_patch.uninstall()
            stock, patched = (statistics.median(samples[m]) * 1e6 for m in ("stock", "patched"))
            rows.append((name, stock, percentile(samples["stock"], 0.99) * 1e6, patched,
                         percentile(samples["patched"], 0.99) * 1e6))
    print(f"{'endpoint':26} {'stock p50':>10} {'stock p99':>10} {'patched p50':>12} {'patched p99':>12} {'patched/stock':>14}")
    for name, s50, s99, p50, p99 in rows:
        print(f"{name:26} {s50:10.0f} {s99:10.0f} {p50:12.0f} {p99:12.0f} {p50 / s50:14.2f}")
    print(f"(µs per call; {args.rounds} rounds of {args.calls} calls per mode, interleaved)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
