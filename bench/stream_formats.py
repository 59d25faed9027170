"""Per-provider streamed answers for the stream benchmark: one text stream of `chunks` words in
each provider's own wire format, as a static file nginx serves (bench/fixed_server.py), and the
LiteLLM arguments that call it.

The files are built by the provider stand-in's payload code (tests/standin: fixtures.py for
the OpenAI-style providers, providers.py for Anthropic, Gemini and Ollama), the shapes the
differential tests run against, which follow each provider's API reference:

* openai, azure, lm_studio, xai, openrouter, mistral: `chat.completion.chunk` SSE events, a
  role chunk, one chunk per word, the finish chunk (Mistral's carries the usage, as Mistral
  sends it), `data: [DONE]`;
* anthropic: `message_start`, `content_block_start`, `ping`, one `text_delta` per word,
  `content_block_stop`, `message_delta`, `message_stop`;
* gemini (`:streamGenerateContent?alt=sse`): one chunk per word, each with usageMetadata as
  counted so far, frames ending in CRLF CRLF like Google's, then the finish chunk;
* ollama (`/api/generate`) and ollama_chat (`/api/chat`): NDJSON, one line per word with its
  own `created_at`, then the final line with the counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Dict, List

from tests.standin import fixtures, providers

MESSAGES = [{"role": "user", "content": "Say hello."}]


@dataclass
class StreamFile:
    path: str            # the request path nginx answers with the file (query strings ignored)
    content_type: str
    body: bytes


@dataclass
class BenchProvider:
    name: str            # LiteLLM's provider name, the key of edgequake_patch.state.stats.native_calls
    model: str
    prefix: str          # api_base = server base URL + prefix
    files: List[StreamFile]
    extra: Dict[str, object] = field(default_factory=dict)

    def kwargs(self, base_url: str) -> dict:
        return {"model": self.model, "messages": MESSAGES, "api_base": base_url + self.prefix, "stream": True, **self.extra}

    @property
    def stream_path(self) -> str:
        return self.files[0].path


def _words(chunks: int) -> str:
    return f"words-{chunks}"


def build(chunks: int = 500) -> Dict[str, BenchProvider]:
    """Every provider's stream of `chunks` words."""
    words = _words(chunks)

    def openai_style(name, model, prefix, key, **extra):
        wire_model = model.split("/", 1)[1]
        chat_path = prefix + "/chat/completions"
        plan = fixtures.ChatPlan({"messages": MESSAGES}, wire_model, markers=words, path=chat_path)
        body = b"".join(fixtures.sse_event(c) for c in plan.chunks(include_usage=False)) + fixtures.SSE_DONE
        return BenchProvider(name, model, prefix, [StreamFile(chat_path, "text/event-stream", body)], {"api_key": key, **extra})

    out = {
        "openai": openai_style("openai", "openai/gpt-4o-mini", "/stream/openai/v1", "sk-bench"),
        "lm_studio": openai_style("lm_studio", "lm_studio/qwen2.5-7b-instruct", "/stream/lm_studio/v1", "lm-studio-bench"),
        "xai": openai_style("xai", "xai/grok-3-mini", "/stream/xai/v1", "xai-bench"),
        "mistral": openai_style("mistral", "mistral/mistral-small-latest", "/stream/mistral/v1", "mistral-bench"),
        "openrouter": openai_style("openrouter", "openrouter/openai/gpt-4o-mini", "/stream/openrouter/api/v1", "sk-or-bench"),
    }

    # Azure: the endpoint is the api_base, the deployment is in the path (the query string,
    # api-version, is ignored by nginx's exact match).
    azure_path = "/openai/deployments/gpt-4o-mini/chat/completions"
    azure_plan = fixtures.ChatPlan({"messages": MESSAGES}, "gpt-4o-mini", markers=words, path=azure_path)
    azure_body = b"".join(fixtures.sse_event(c) for c in azure_plan.chunks(include_usage=False)) + fixtures.SSE_DONE
    out["azure"] = BenchProvider("azure", "azure/gpt-4o-mini", "", [StreamFile(azure_path, "text/event-stream", azure_body)],
                                 {"api_key": "azure-bench", "api_version": "2024-10-21"})

    anthropic = providers.AnthropicPlan({"messages": MESSAGES, "max_tokens": 1024}, "claude-3-5-sonnet-20241022", markers=words)
    out["anthropic"] = BenchProvider(
        "anthropic", "anthropic/claude-3-5-sonnet-20241022", "/stream/anthropic",
        [StreamFile("/stream/anthropic/v1/messages", "text/event-stream",
                    b"".join(providers.anthropic_sse(n, d) for n, d in anthropic.events()))],
        {"api_key": "sk-ant-bench"},
    )

    gemini = providers.GeminiPlan({"contents": [{"role": "user", "parts": [{"text": "Say hello."}]}]}, "gemini-2.0-flash", markers=words)
    out["gemini"] = BenchProvider(
        "gemini", "gemini/gemini-2.0-flash", "/stream/gemini/v1beta",
        [StreamFile("/stream/gemini/v1beta/models/gemini-2.0-flash:streamGenerateContent", "text/event-stream",
                    b"".join(providers.gemini_sse(c) for c in gemini.chunks()))],
        {"api_key": "gemini-bench"},
    )

    show = StreamFile("/stream/ollama/api/show", "application/json", json.dumps(providers.ollama_show("llama3.2")).encode())
    for name, chat, path in (("ollama", False, "/stream/ollama/api/generate"), ("ollama_chat", True, "/stream/ollama/api/chat")):
        body = {"model": "llama3.2", "messages": MESSAGES} if chat else {"model": "llama3.2", "prompt": "Say hello."}
        plan = providers.OllamaPlan(body, "llama3.2", chat=chat, markers=words)
        lines = b"".join(providers.ndjson_line(x) for x in plan.lines())
        out[name] = BenchProvider(name, f"{name}/llama3.2", "/stream/ollama", [StreamFile(path, "application/x-ndjson", lines), show])
    return out


ORDER = ["openai", "azure", "lm_studio", "xai", "mistral", "openrouter", "anthropic", "gemini", "ollama", "ollama_chat"]
