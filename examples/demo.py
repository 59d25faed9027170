"""The main job: an unmodified LiteLLM program whose calls go through edgequake-patch.

    scripts/demo.sh

Starts the bundled provider stand-in (a local server speaking the OpenAI wire format), turns
the patch on with one call, and makes real chat, async chat, streamed, embedding and failing calls for
every provider the core serves — no API keys, no network beyond loopback.
"""

from __future__ import annotations

import asyncio
import os
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402

import edgequake_patch  # noqa: E402
from edgequake_patch import stats  # noqa: E402
from tests.differential import CHAT_PROVIDERS, EMBEDDING_PROVIDERS  # noqa: E402
from tests.standin import StandIn  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say hello."}]


def line(provider: str, call: str, outcome: str, native_before: int, started: float) -> None:
    native = "native" if stats.native_calls[provider] > native_before else "STOCK"
    print(f"  {provider:<11} {call:<12} {native:<7} {(time.perf_counter() - started) * 1e3:7.2f} ms  {outcome}")


def main() -> None:
    litellm.suppress_debug_info = True  # the demo shows the failures it provokes itself
    assert edgequake_patch.install(), "the patch did not install (see the warning above)"
    with StandIn.start() as standin:
        print(f"provider stand-in at {standin.base_url}; litellm {edgequake_patch.status()['litellm_version']}\n")
        for name, provider in CHAT_PROVIDERS.items():
            kwargs = provider.kwargs(standin)

            before, t = stats.native_calls[name], time.perf_counter()
            r = litellm.completion(messages=MESSAGES, **kwargs)
            line(name, "completion", f"{r.choices[0].message.content!r} ({r.usage.total_tokens} tokens)", before, t)

            before, t = stats.native_calls[name], time.perf_counter()
            r = asyncio.run(litellm.acompletion(messages=MESSAGES, **kwargs))
            line(name, "acompletion", f"{r.choices[0].message.content!r}", before, t)

            before, t = stats.native_calls[name], time.perf_counter()
            chunks = list(litellm.completion(messages=MESSAGES, stream=True, **kwargs))
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            line(name, "stream", f"{len(chunks)} chunks: {text!r}", before, t)

            before, t = stats.native_calls[name], time.perf_counter()
            try:
                litellm.completion(messages=MESSAGES, **provider.kwargs(standin, "-error-401"))
            except litellm.AuthenticationError as exc:
                line(name, "bad key", f"{type(exc).__name__} status={exc.status_code}", before, t)

        print()
        for name, provider in EMBEDDING_PROVIDERS.items():
            before, t = stats.native_calls[name], time.perf_counter()
            r = litellm.embedding(input=["hello", "world"], **provider.kwargs(standin))
            line(name, "embedding", f"{len(r.data)} vectors of {len(r.data[0]['embedding'])}", before, t)

    status = edgequake_patch.status()
    print(f"\nnative calls: {status['native_calls']}")
    print(f"fallbacks:    {status['fallbacks'] or 'none'}")
    print(f"hooks:        {len(status['hooks'])} symbols patched in litellm {status['litellm_version']}")
    edgequake_patch.uninstall()


if __name__ == "__main__":
    main()
