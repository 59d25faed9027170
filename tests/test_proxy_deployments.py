"""The patched proxy the ways it is deployed: the `litellm` CLI with several workers
(`--num_workers 2`, uvicorn's worker processes), the CLI under gunicorn (`--run_gunicorn`), and
gunicorn started directly on LiteLLM's app with uvicorn's worker class. In each, every worker
activates the patch from EDGEQUAKE_PATCH=1 through the .pth, logs its start-up line, and serves
its upstream calls natively (its Python sockets cannot reach the stand-in)."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from tests.proxykit import Proxy

MESSAGES = [{"role": "user", "content": "Say hello."}]
REQUESTS = 12

DEPLOYMENTS = {
    "cli-num-workers-2": dict(args=("--num_workers", "2")),
    "cli-run-gunicorn": dict(args=("--run_gunicorn", "--num_workers", "2")),
    "gunicorn-uvicorn-worker": dict(command=[
        str(Path(sys.executable).parent / "gunicorn"), "litellm.proxy.proxy_server:app",
        "-k", "uvicorn.workers.UvicornWorker", "-w", "2", "-b", "127.0.0.1:{port}",
    ]),
}


def _config(standin):
    b = standin.base_url
    return {
        "model_list": [
            {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": b + "/v1",
                                                     "api_key": "sk-test-openai-0123456789"}},
            {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-3-5-haiku-20241022", "api_base": b,
                                                        "api_key": "sk-ant-test-0123456789"}},
        ],
        "litellm_settings": {"callbacks": ["edgequake_patch.proxy.status_callback"]},
    }


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_every_worker_serves_natively(deployment, standin):
    proxy = Proxy(_config(standin), patched=True, block_port=standin.port, **DEPLOYMENTS[deployment])
    try:
        proxy.wait_ready()
        for i in range(REQUESTS):
            model = "gpt" if i % 2 else "claude"
            status, _, body = proxy.post("/v1/chat/completions", {"model": model, "messages": MESSAGES})
            assert status == 200, body
            assert b"Hello from the stand-in." in body
        deadline = time.monotonic() + 15
        while sum(proxy.total("native_calls").values()) < REQUESTS and time.monotonic() < deadline:
            time.sleep(0.1)
        native = proxy.total("native_calls")
        assert native == {"openai": REQUESTS // 2, "anthropic": REQUESTS // 2}, native
        assert proxy.total("fallbacks") == {}
        assert proxy.blocked() == []
        # One start-up line per process that installed: each serving worker among them.
        started = set(re.findall(r"edgequake_patch: active in pid (\d+)", proxy.log()))
        served = {str(pid) for pid in proxy.counters()}
        assert served and served <= started, (served, started)
    finally:
        proxy.stop()
