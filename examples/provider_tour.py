"""Real LiteLLM calls for each provider the core serves, against the provider stand-in: chat,
async chat, a stream, an embedding where LiteLLM has one for the provider, and an error (the stand-in answers 401);
then LiteLLM's other endpoints the core serves (Responses, /v1/messages, rerank).

Whether a call went through the core is read off the patch's own counters around it
(`stats.native_calls`, and `stats.fallbacks` for the reason when it did not), not assumed.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterator, Optional

import litellm

from edgequake_patch.state import stats
from tests.differential import CHAT_PROVIDERS, EMBEDDING_PROVIDERS, Provider
from tests.native_formats import CHAT as FORMAT_CHAT
from tests.native_formats import EMBEDDING as FORMAT_EMBEDDING
from tests.native_formats import kwargs as standin_kwargs

MESSAGES = [{"role": "user", "content": "Say hello."}]
#: The README's order. Ollama has two prefixes, `ollama/` (/api/generate) and `ollama_chat/`
#: (/api/chat): one provider, two LiteLLM handlers, both shown.
ORDER = ("openai", "azure", "anthropic", "gemini", "mistral", "ollama", "ollama_chat", "lm_studio", "openrouter", "xai")
_CHAT: Dict[str, Provider] = {**CHAT_PROVIDERS, **FORMAT_CHAT}
_EMBEDDING: Dict[str, Provider] = {**EMBEDDING_PROVIDERS, **FORMAT_EMBEDDING}
#: Why a provider gets no embedding call: what LiteLLM offers, not what the patch serves.
NO_EMBEDDING = {"ollama_chat": "LiteLLM embeds through ollama/"}


@dataclass
class Outcome:
    provider: str
    call: str
    #: True: through the core; False: stock LiteLLM; None: no such call for this provider.
    native: Optional[bool]
    result: str
    #: The reason the patch counted when it left the call to stock.
    fallback: str = ""

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


class _Watch:
    """The patch's counters for one provider, before a call; `outcome()` after it."""

    def __init__(self, provider: str, call: str):
        self.provider, self.call = provider, call
        self.native = stats.native_calls[provider]
        self.fallbacks = dict(stats.fallbacks)

    def outcome(self, result: str) -> Outcome:
        native = stats.native_calls[self.provider] > self.native
        fallback = "" if native else ", ".join(
            reason for reason, n in stats.fallbacks.items() if n > self.fallbacks.get(reason, 0))
        return Outcome(self.provider, self.call, native, result, fallback)


def tour(standin: Any, loop: asyncio.AbstractEventLoop) -> Iterator[Outcome]:
    """Each provider's calls, in order, as they are made. Async calls run on `loop` (one loop
    for the whole demo: LiteLLM's logging worker is bound to the loop it first ran on)."""
    for name in ORDER:
        chat = standin_kwargs(_CHAT[name], standin)

        watch = _Watch(name, "completion")
        r = litellm.completion(messages=MESSAGES, **chat)
        yield watch.outcome(f"{r.choices[0].message.content!r} ({r.usage.total_tokens} tokens)")

        watch = _Watch(name, "acompletion")
        r = loop.run_until_complete(litellm.acompletion(messages=MESSAGES, **chat))
        yield watch.outcome(repr(r.choices[0].message.content))

        watch = _Watch(name, "stream")
        chunks = list(litellm.completion(messages=MESSAGES, stream=True, **chat))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        yield watch.outcome(f"{len(chunks)} chunks: {text!r}")

        if name in _EMBEDDING:
            watch = _Watch(name, "embedding")
            r = litellm.embedding(input=["hello", "world"], **standin_kwargs(_EMBEDDING[name], standin))
            yield watch.outcome(f"{len(r.data)} vectors of {len(r.data[0]['embedding'])} floats")
        else:
            yield Outcome(name, "embedding", None, NO_EMBEDDING.get(name, f"LiteLLM has no {name} embeddings"))

        watch = _Watch(name, "error")
        try:
            litellm.completion(messages=MESSAGES, **standin_kwargs(_CHAT[name], standin, "-error-401"))
        except Exception as exc:  # noqa: BLE001 - whichever error LiteLLM maps it to is shown
            yield watch.outcome(f"{type(exc).__name__} (status {getattr(exc, 'status_code', '?')})")
        else:
            yield watch.outcome("no error raised")


def endpoint_tour(standin: Any, loop: asyncio.AbstractEventLoop) -> Iterator[Outcome]:
    """LiteLLM's other endpoints the core serves: the Responses API, Anthropic's /v1/messages,
    Jina's rerank and embeddings (their `call` is the endpoint's function)."""
    base = standin.base_url
    watch = _Watch("openai", "responses")
    r = litellm.responses(model="openai/gpt-4o-mini", input="Say hello.", api_base=base + "/v1", api_key="sk-demo")
    yield watch.outcome(repr(r.output[0].content[0].text))

    watch = _Watch("xai", "responses stream")
    events = list(litellm.responses(model="xai/grok-4.3", input="Say hello.", api_base=base + "/v1", api_key="xai-demo",
                                    stream=True))
    last = events[-1].type
    yield watch.outcome(f"{len(events)} events, the last {getattr(last, 'value', last)}")

    watch = _Watch("anthropic", "anthropic_messages")
    answer = loop.run_until_complete(litellm.anthropic_messages(
        model="anthropic/claude-sonnet-4-20250514", messages=MESSAGES, max_tokens=64, api_base=base,
        api_key="sk-ant-demo"))
    yield watch.outcome(repr(answer["content"][0]["text"]))

    jina = {"api_base": base + "/v1", "api_key": "jina-demo"}
    watch = _Watch("jina_ai", "rerank")
    ranked = litellm.rerank(model="jina_ai/jina-reranker-v2-base-multilingual", query="Where is the Eiffel Tower?",
                            documents=["Paris is in France.", "The Eiffel Tower is in Paris."], **jina)
    yield watch.outcome(f"best: document {ranked.results[0]['index']}")

    watch = _Watch("jina_ai", "embedding")
    r = litellm.embedding(model="jina_ai/jina-embeddings-v3", input=["hello"], **jina)
    yield watch.outcome(f"{len(r.data)} vector of {len(r.data[0]['embedding'])} floats")
