"""What the Anthropic, Gemini and Ollama differential tests share: how each provider is
pointed at the stand-in, and the assets the scenarios send."""

from __future__ import annotations

import socket

from tests.differential import TINY_PNG, TOOL_RESULT_TURN, WEATHER_TOOL, Provider  # noqa: F401 (re-exported)

ANTHROPIC = Provider("anthropic", "anthropic/claude-3-5-sonnet-20241022", "", "sk-ant-test-key-0123456789")
# A model LiteLLM knows to support extended thinking.
ANTHROPIC_THINKING = Provider("anthropic", "anthropic/claude-3-7-sonnet-20250219", "", "sk-ant-test-key-0123456789")
GEMINI = Provider("gemini", "gemini/gemini-2.0-flash", "/v1beta", "gemini-test-key-0123456789")
GEMINI_THINKING = Provider("gemini", "gemini/gemini-2.5-flash", "/v1beta", "gemini-test-key-0123456789")
OLLAMA = Provider("ollama", "ollama/llama3.2", "", "")
OLLAMA_CHAT = Provider("ollama_chat", "ollama_chat/llama3.2", "", "")

GEMINI_EMBEDDING = Provider("gemini", "gemini/text-embedding-004", "/v1beta", "gemini-test-key-0123456789")
OLLAMA_EMBEDDING = Provider("ollama", "ollama/nomic-embed-text", "", "")

CHAT = {"anthropic": ANTHROPIC, "gemini": GEMINI, "ollama": OLLAMA, "ollama_chat": OLLAMA_CHAT}
EMBEDDING = {"gemini": GEMINI_EMBEDDING, "ollama": OLLAMA_EMBEDDING}


def kwargs(provider: Provider, standin, suffix: str = "") -> dict:
    out = provider.kwargs(standin, suffix)
    if not provider.key:  # Ollama needs no key: send none, as a user would
        del out["api_key"]
    return out


TINY_PNG_B64 = TINY_PNG.split(",", 1)[1]

MESSAGES = [{"role": "user", "content": "Say hello."}]
WITH_SYSTEM = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello."}]
IMAGE_MESSAGES = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": {"url": TINY_PNG}},
        ],
    }
]
JSON_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]},
    },
}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
