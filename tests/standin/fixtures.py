"""Deterministic response payloads for the provider stand-in.

Everything here is pure (no I/O, no clock, no randomness): the same request body always
produces byte-identical payloads, so a patched run and a stock run can be compared exactly.
Shapes follow the public OpenAI API reference (chat completion object, chat completion chunk
object, embeddings object, error object).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import zlib
from typing import Any, Optional

# --------------------------------------------------------------------------------------
# Fixed values
# --------------------------------------------------------------------------------------

CHAT_COMPLETION_ID = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
CREATED = 1741569952
SYSTEM_FINGERPRINT = "fp_44709d6fcb"
SERVICE_TIER = "default"

DEFAULT_TEXT = "Hello from the stand-in."
JSON_TEXT = '{"answer": 42}'

TOOL_CALL_ID = "call_abc123"
TOOL_CALL_ARGUMENTS = '{"location": "Boston, MA"}'
FALLBACK_TOOL_NAME = "get_current_weather"

DEFAULT_EMBEDDING_DIMENSIONS = 8
MAX_EMBEDDING_DIMENSIONS = 4096
MAX_CHOICES = 128
MAX_TOP_LOGPROBS = 20

# Alternatives offered in top_logprobs after the chosen token.
_ALTERNATIVE_TOKENS = [
    " Hi", " Hey", " Greetings", " Hello", " the", " a", " from", ".", "!", ",",
    " stand", " in", " there", " world", " you", " to", " and", " of", " is", " it",
]

# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"\s?[A-Za-z]+|\s?\d+|\s?[^\sA-Za-z\d]+|\s+")


def tokenize(text: str) -> list[str]:
    """A crude, deterministic tokenizer (splits words, numbers and punctuation runs)."""
    if not text:
        return []
    tokens = _TOKEN_RE.findall(text)
    return tokens or [text]


def _digest(*parts: Any) -> bytes:
    h = hashlib.sha256()
    for part in parts:
        h.update(repr(part).encode("utf-8", "replace"))
        h.update(b"\x00")
    return h.digest()


def _text_of_content(content: Any) -> str:
    """Text of a message's content: a string, or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    pieces.append(part["text"])
                elif part.get("type") in ("image_url", "input_image", "image"):
                    pieces.append("<image>")
                elif part.get("type") in ("input_audio", "audio"):
                    pieces.append("<audio>")
            elif isinstance(part, str):
                pieces.append(part)
        return " ".join(pieces)
    return ""


def count_prompt_tokens(messages: Any) -> int:
    """Deterministic prompt token estimate (3 per message + content tokens + 3 priming)."""
    if not isinstance(messages, list):
        return 0
    total = 3
    for message in messages:
        total += 3
        if isinstance(message, dict):
            total += len(tokenize(_text_of_content(message.get("content"))))
            if isinstance(message.get("name"), str):
                total += 1
            if message.get("tool_calls"):
                total += len(tokenize(json.dumps(message["tool_calls"], sort_keys=True)))
    return total


def _as_int(value: Any, default: int, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return max(lo, min(hi, int(value)))


# --------------------------------------------------------------------------------------
# Logprobs
# --------------------------------------------------------------------------------------


def _token_logprob(token: str, index: int) -> float:
    # A fixed, plausible value in [-0.5, 0): derived from the token and its position.
    d = _digest("logprob", token, index)
    return -round((int.from_bytes(d[:2], "big") % 5000 + 1) / 10000.0, 6)


def token_logprob_entries(tokens: list[str], top_n: int) -> list[dict]:
    entries = []
    for i, tok in enumerate(tokens):
        lp = _token_logprob(tok, i)
        top = []
        if top_n > 0:
            top.append({"token": tok, "logprob": lp, "bytes": list(tok.encode("utf-8"))})
            alt_lp = lp
            for alt in _ALTERNATIVE_TOKENS:
                if len(top) >= top_n:
                    break
                if alt == tok:
                    continue
                alt_lp = round(alt_lp - 1.25, 6)
                top.append({"token": alt, "logprob": alt_lp, "bytes": list(alt.encode("utf-8"))})
        entries.append(
            {"token": tok, "logprob": lp, "bytes": list(tok.encode("utf-8")), "top_logprobs": top}
        )
    return entries


# --------------------------------------------------------------------------------------
# Chat completions
# --------------------------------------------------------------------------------------


_REPEAT_RE = re.compile(r"(?<![a-z0-9])repeat-(\d+)(?![0-9])")
# `words-<n>` but not the `think-words-<n>` / `args-words-<n>` markers that end the same way.
_WORDS_RE = re.compile(r"(?<![a-z0-9])(?<!think-)(?<!args-)words-(\d+)(?![0-9])")
_THINK_WORDS_RE = re.compile(r"(?<![a-z0-9])think-words-(\d+)(?![0-9])")
_ARGS_WORDS_RE = re.compile(r"(?<![a-z0-9])args-words-(\d+)(?![0-9])")
_PING_EVERY_RE = re.compile(r"(?<![a-z0-9])ping-every-(\d+)(?![0-9])")
_UNKNOWN_FRAME_RE = re.compile(r"(?<![a-z0-9])unknown-frame(?![a-z0-9])")
REPEATED_TOKEN = " again"
# OpenRouter image generation (https://openrouter.ai/docs/features/multimodal/image-generation):
# a chat completion asking for `modalities` with "image" (or to a model whose output is images,
# `...-image`, `...-image-preview`: the stand-in answers those with an image unasked) gets the
# images in the assistant message, `images: [{"type": "image_url", "image_url": {"url":
# "data:image/png;base64,..."}}]`, next to the text; streamed, in a delta's `images`.
_IMAGE_MODEL_RE = re.compile(r"-image(?![a-z0-9])|-image-")
# What one image counts in completion_tokens: Gemini 2.5 Flash Image's 1290 output tokens per
# image (https://ai.google.dev/gemini-api/docs/pricing), the model OpenRouter serves as
# google/gemini-2.5-flash-image.
IMAGE_OUTPUT_TOKENS = 1290
MAX_REPEAT = 5000


class StreamMarkers:
    """The markers that shape a long stream, shared by every route (see README.md):
    `words-<n>` (n answer tokens), `think-words-<n>` (n reasoning pieces before the answer),
    `args-words-<n>` (tool-call arguments in n pieces), `ping-every-<k>` (Anthropic: a ping
    after every k content deltas) and `unknown-frame` (a frame of a kind the provider may add,
    in the middle of the stream)."""

    def __init__(self, text: str):
        text = (text or "").lower()

        def count(rx: re.Pattern) -> Optional[int]:
            m = rx.search(text)
            return min(int(m.group(1)), MAX_REPEAT) if m else None

        self.words = count(_WORDS_RE)
        self.think_words = count(_THINK_WORDS_RE)
        self.args_words = count(_ARGS_WORDS_RE)
        ping = count(_PING_EVERY_RE)
        self.ping_every = ping if ping else None  # 0 would mean a ping between every delta pair
        self.unknown_frame = bool(_UNKNOWN_FRAME_RE.search(text))


def word_pieces(n: int, stem: str = "word") -> list[str]:
    """n distinct text tokens, one per streamed piece: " word0", " word1", ..."""
    return [f" {stem}{i}" for i in range(n)]


def long_arguments(n: int) -> tuple[dict, list[str]]:
    """Tool-call arguments streamed in exactly n pieces: the usual location plus a `words`
    string of n words, cut so that each piece after the first is one more word (the last
    also closes the object). The pieces join into `json.dumps(arguments)`."""
    n = max(1, n)
    words = [f"word{i}" for i in range(n)]
    arguments = {"location": "Boston, MA", "words": " ".join(words)}
    pieces = ['{"location": "Boston, MA", "words": "' + words[0]] + [" " + w for w in words[1:]]
    pieces[-1] += '"}'
    assert "".join(pieces) == json.dumps(arguments)
    return arguments, pieces


_MISTRAL_FAMILIES = ("mistral", "magistral", "codestral", "ministral", "pixtral", "devstral", "voxtral", "open-mistral", "open-mixtral")


def is_mistral_model(model: str) -> bool:
    """Mistral's own models, by name (the stand-in serves every OpenAI-style provider on `/v1`)."""
    return (model or "").lower().startswith(_MISTRAL_FAMILIES)


def reasoning_style(path: str, model: str) -> str:
    """How an OpenAI-compatible provider streams reasoning, per its API reference:
    OpenRouter (`/api/v1/...`) in `delta.reasoning`; Mistral's Magistral models as `thinking`
    blocks in a `delta.content` list; xAI, LM Studio and other OpenAI-compatible servers in
    `delta.reasoning_content`."""
    if "/api/v1/" in (path or ""):
        return "reasoning"
    if "magistral" in (model or "").lower():
        return "magistral"
    return "reasoning_content"


class ChatPlan:
    """What the stand-in will answer for one chat request (shared by JSON and SSE forms).
    `markers` is the text markers are read from (model, path, scenario header); the model
    alone when not given."""

    def __init__(self, body: dict, model: str, markers: Optional[str] = None, path: str = ""):
        self.model = model
        self.n = _as_int(body.get("n"), 1, 1, MAX_CHOICES)
        self.logprobs = body.get("logprobs") is True
        self.top_logprobs = _as_int(body.get("top_logprobs"), 0, 0, MAX_TOP_LOGPROBS)
        messages = body.get("messages")
        self.prompt_tokens = count_prompt_tokens(messages)
        marker_text = (model if markers is None else markers).lower()
        self.markers = StreamMarkers(marker_text)

        self.tool_name: Optional[str] = None
        tools = body.get("tools")
        tool_choice = body.get("tool_choice")
        last_role = None
        if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
            last_role = messages[-1].get("role")
        if isinstance(tools, list) and tools and tool_choice != "none" and last_role == "user":
            self.tool_name = _choose_tool_name(tools, tool_choice)
        modalities = body.get("modalities")
        wants_image = isinstance(modalities, list) and "image" in modalities
        self.images = 1 if ("/api/v1/" in (path or "") and self.tool_name is None
                            and (wants_image or _IMAGE_MODEL_RE.search((model or "").lower()))) else 0
        last = messages[-1] if isinstance(messages, list) and messages and isinstance(messages[-1], dict) else {}
        self.image_seed = f"{model}\x00{_text_of_content(last.get('content'))}"
        self.arguments = TOOL_CALL_ARGUMENTS
        self.argument_pieces = tokenize(TOOL_CALL_ARGUMENTS)
        if self.markers.args_words:
            arguments, self.argument_pieces = long_arguments(self.markers.args_words)
            self.arguments = json.dumps(arguments)

        response_format = body.get("response_format")
        rf_type = response_format.get("type") if isinstance(response_format, dict) else None
        self.content: Optional[str]
        if self.tool_name is not None:
            self.content = None
        elif rf_type in ("json_object", "json_schema"):
            self.content = JSON_TEXT
        else:
            self.content = DEFAULT_TEXT
        self.tokens = tokenize(self.content) if self.content is not None else []
        repeat = _REPEAT_RE.search(marker_text)
        if repeat and self.content is not None:
            # A model stuck in a loop: the same token over and over (stock's repetition guard).
            self.tokens = [REPEATED_TOKEN] * min(int(repeat.group(1)), MAX_REPEAT)
            self.content = "".join(self.tokens)
        if self.markers.words and self.content is not None:
            # A long answer of distinct tokens.
            self.tokens = word_pieces(self.markers.words)
            self.content = "".join(self.tokens)
        # Reasoning before the answer, streamed the way this provider streams it.
        self.reasoning_pieces = word_pieces(self.markers.think_words, "thought") if self.markers.think_words else []
        self.reasoning_style = reasoning_style(path, model)
        # Mistral's API ends every stream with usage on the finish chunk, asked or not.
        self.usage_on_finish = is_mistral_model(model) and "/api/v1/" not in (path or "")
        self.finish_reason = "tool_calls" if self.tool_name is not None else "stop"

    # -- pieces ---------------------------------------------------------------------

    def tool_call(self) -> dict:
        return {
            "id": TOOL_CALL_ID,
            "type": "function",
            "function": {"name": self.tool_name, "arguments": self.arguments},
        }

    def image_parts(self, choice: int) -> list[dict]:
        return [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + tiny_png_base64(f"{self.image_seed}\x00{choice}\x00{i}")}}
                for i in range(self.images)]

    def message(self, choice: int = 0) -> dict:
        msg: dict = {"role": "assistant", "content": self.content}
        if self.images:
            msg["images"] = self.image_parts(choice)
        if self.reasoning_pieces:
            reasoning = "".join(self.reasoning_pieces)
            if self.reasoning_style == "magistral":
                msg["content"] = [{"type": "thinking", "thinking": [{"type": "text", "text": reasoning}]}] + (
                    [{"type": "text", "text": self.content}] if self.content is not None else [])
            else:
                msg[self.reasoning_style] = reasoning
        if self.tool_name is not None:
            msg["tool_calls"] = [self.tool_call()]
        msg["refusal"] = None
        msg["annotations"] = []
        return msg

    def reasoning_delta(self, piece: str) -> dict:
        if self.reasoning_style == "magistral":
            return {"content": [{"type": "thinking", "thinking": [{"type": "text", "text": piece}]}]}
        return {self.reasoning_style: piece}

    def logprobs_object(self) -> Optional[dict]:
        if not self.logprobs:
            return None
        if self.content is None:
            return {"content": None, "refusal": None}
        return {"content": token_logprob_entries(self.tokens, self.top_logprobs), "refusal": None}

    def completion_tokens_per_choice(self) -> int:
        reasoning = len(self.reasoning_pieces)
        if self.tool_name is not None:
            return len(tokenize(self.tool_name)) + len(tokenize(self.arguments)) + 7 + reasoning
        return len(self.tokens) + reasoning + IMAGE_OUTPUT_TOKENS * self.images

    def usage(self) -> dict:
        completion = self.completion_tokens_per_choice() * self.n
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": len(self.reasoning_pieces) * self.n,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    # -- whole objects --------------------------------------------------------------

    def completion(self) -> dict:
        return {
            "id": CHAT_COMPLETION_ID,
            "object": "chat.completion",
            "created": CREATED,
            "model": self.model,
            "choices": [
                {
                    "index": i,
                    "message": self.message(i),
                    "logprobs": self.logprobs_object(),
                    "finish_reason": self.finish_reason,
                }
                for i in range(self.n)
            ],
            "usage": self.usage(),
            "service_tier": SERVICE_TIER,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }

    def _chunk(self, choices: list, include_usage: bool, usage: Optional[dict] = None) -> dict:
        chunk = {
            "id": CHAT_COMPLETION_ID,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": self.model,
            "service_tier": SERVICE_TIER,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        }
        if include_usage:
            chunk["usage"] = usage
        return chunk

    def chunks(self, include_usage: bool) -> list[dict]:
        """chat.completion.chunk objects for `stream: true` (without the [DONE] sentinel)."""
        out = []
        for i in range(self.n):
            first_delta: dict = {"role": "assistant", "content": "" if self.content is not None else None}
            if self.tool_name is not None:
                first_delta["tool_calls"] = [
                    {
                        "index": 0,
                        "id": TOOL_CALL_ID,
                        "type": "function",
                        "function": {"name": self.tool_name, "arguments": ""},
                    }
                ]
            first_delta["refusal"] = None
            first_lp = {"content": [], "refusal": None} if self.logprobs else None
            out.append(self._chunk(
                [{"index": i, "delta": first_delta, "logprobs": first_lp, "finish_reason": None}],
                include_usage,
            ))
            # Reasoning models think before they answer: every reasoning delta comes first.
            for piece in self.reasoning_pieces:
                out.append(self._chunk(
                    [{"index": i, "delta": self.reasoning_delta(piece), "logprobs": None, "finish_reason": None}],
                    include_usage,
                ))
            if self.tool_name is not None:
                for piece in self.argument_pieces:
                    delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                    out.append(self._chunk(
                        [{"index": i, "delta": delta, "logprobs": None, "finish_reason": None}],
                        include_usage,
                    ))
            else:
                entries = token_logprob_entries(self.tokens, self.top_logprobs)
                for tok, entry in zip(self.tokens, entries):
                    lp = {"content": [entry], "refusal": None} if self.logprobs else None
                    out.append(self._chunk(
                        [{"index": i, "delta": {"content": tok}, "logprobs": lp, "finish_reason": None}],
                        include_usage,
                    ))
                if self.images:
                    out.append(self._chunk(
                        [{"index": i, "delta": {"images": self.image_parts(i)}, "logprobs": None, "finish_reason": None}],
                        include_usage,
                    ))
            finish = self._chunk(
                [{"index": i, "delta": {}, "logprobs": None, "finish_reason": self.finish_reason}],
                include_usage,
            )
            if self.usage_on_finish and not include_usage:
                finish["usage"] = self.usage()
            out.append(finish)
        if include_usage:
            out.append(self._chunk([], True, self.usage()))
        return out


def _choose_tool_name(tools: list, tool_choice: Any) -> str:
    if isinstance(tool_choice, dict):
        fn = tool_choice.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str) and fn["name"]:
            return fn["name"]
    first = tools[0]
    if isinstance(first, dict):
        fn = first.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str) and fn["name"]:
            return fn["name"]
        if isinstance(first.get("name"), str) and first["name"]:
            return first["name"]
    return FALLBACK_TOOL_NAME


def chat_completion(body: dict, model: str, markers: Optional[str] = None, path: str = "") -> dict:
    return ChatPlan(body, model, markers, path).completion()


def chat_completion_chunks(body: dict, model: str, markers: Optional[str] = None, path: str = "") -> list[dict]:
    opts = body.get("stream_options")
    include_usage = isinstance(opts, dict) and opts.get("include_usage") is True
    return ChatPlan(body, model, markers, path).chunks(include_usage)


def sse_event(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode("utf-8") + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"
# What `unknown-frame` puts in the middle of an OpenAI-style stream: a comment line, which SSE
# readers skip (OpenRouter sends exactly this while a request waits for its provider).
SSE_COMMENT = b": OPENROUTER PROCESSING\n\n"


# --------------------------------------------------------------------------------------
# Responses API (POST /v1/responses)
# --------------------------------------------------------------------------------------
# Shapes from OpenAI's public API reference:
#   the Response object:   https://platform.openai.com/docs/api-reference/responses/object
#   create (request body): https://platform.openai.com/docs/api-reference/responses/create
#   streaming events:      https://platform.openai.com/docs/api-reference/responses-streaming
# The same endpoint is served by Azure OpenAI (/openai/responses, /openai/v1/responses), xAI
# (https://docs.x.ai/docs/api-reference) and OpenRouter (https://openrouter.ai/docs/api-reference/responses-api/overview).


def _responses_messages(body: dict) -> list:
    """The request's `instructions` and `input` as chat-style messages (for counting and for
    ChatPlan): `input` is a string, or a list of input items (messages with string or
    part-list content; other items, e.g. `function_call_output`, count by their `output`)."""
    messages: list = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    value = body.get("input")
    if isinstance(value, str):
        messages.append({"role": "user", "content": value})
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                messages.append({"role": "user", "content": item})
            elif isinstance(item, dict):
                if "content" in item:
                    messages.append({"role": item.get("role", "user"), "content": item.get("content")})
                elif isinstance(item.get("output"), str):  # function_call_output
                    messages.append({"role": "tool", "content": item["output"]})
                elif isinstance(item.get("arguments"), str):  # function_call
                    messages.append({"role": "assistant", "content": item["arguments"]})
    return messages


def _response_id_hex(body: dict) -> str:
    """Deterministic hex for the response's ids: derived from the request (without `stream`,
    so the streamed and the plain answer to the same request carry the same ids)."""
    key = {k: v for k, v in body.items() if k != "stream"}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode("utf-8", "replace")).hexdigest()


class ResponsesPlan:
    """What the stand-in answers to one Responses API request (JSON and SSE forms): one
    assistant `message` output item with one `output_text` part. The text is what the chat
    route answers for the same conversation (ChatPlan: `words-<n>`, `repeat-<n>`, `{"answer":
    42}` for a `text.format` of json_schema / json_object)."""

    def __init__(self, body: dict, model: str, markers: Optional[str] = None, path: str = ""):
        self.body = body
        self.model = model
        self.markers = StreamMarkers((model if markers is None else markers).lower())
        messages = _responses_messages(body)
        text_cfg = body.get("text") if isinstance(body.get("text"), dict) else {}
        fmt = text_cfg.get("format") if isinstance(text_cfg.get("format"), dict) else {}
        chat_body: dict = {"messages": messages}
        if fmt.get("type") in ("json_schema", "json_object"):
            chat_body["response_format"] = {"type": fmt["type"]}
        chat = ChatPlan(chat_body, model, markers, path)
        self.pieces: list[str] = list(chat.tokens)
        self.text: str = chat.content or ""
        self.input_tokens = count_prompt_tokens(messages)
        self.output_tokens = len(self.pieces)
        digest = _response_id_hex(body)
        self.id = "resp_" + digest[:48]
        self.message_id = "msg_" + digest[16:64]

    # -- pieces ---------------------------------------------------------------------

    def part(self, text: Optional[str] = None) -> dict:
        return {"type": "output_text", "text": self.text if text is None else text, "annotations": []}

    def message(self, done: bool = True) -> dict:
        return {
            "type": "message",
            "id": self.message_id,
            "status": "completed" if done else "in_progress",
            "role": "assistant",
            "content": [self.part()] if done else [],
        }

    def usage(self) -> dict:
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": self.input_tokens + self.output_tokens,
        }

    def response(self, done: bool = True) -> dict:
        """The Response object; `done=False`: as `response.created` / `in_progress` carry it."""
        b = self.body

        def echo(name: str, default: Any) -> Any:
            value = b.get(name)
            return default if value is None else value

        reasoning = b.get("reasoning") if isinstance(b.get("reasoning"), dict) else {}
        return {
            "id": self.id,
            "object": "response",
            "created_at": CREATED,
            "status": "completed" if done else "in_progress",
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": echo("instructions", None),
            "max_output_tokens": echo("max_output_tokens", None),
            "model": self.model,
            "output": [self.message()] if done else [],
            "parallel_tool_calls": echo("parallel_tool_calls", True),
            "previous_response_id": echo("previous_response_id", None),
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "service_tier": SERVICE_TIER,
            "store": echo("store", True),
            "temperature": echo("temperature", 1.0),
            "text": b["text"] if isinstance(b.get("text"), dict) and "format" in b["text"] else {"format": {"type": "text"}},
            "tool_choice": echo("tool_choice", "auto"),
            "tools": echo("tools", []),
            "top_p": echo("top_p", 1.0),
            "truncation": echo("truncation", "disabled"),
            "usage": self.usage() if done else None,
            "user": echo("user", None),
            "metadata": echo("metadata", {}),
        }

    def events(self) -> list[tuple[str, dict]]:
        """(event type, data) pairs of the `stream: true` answer, in the documented order;
        every data carries `type` and a `sequence_number` counting from 0."""
        where = {"item_id": self.message_id, "output_index": 0, "content_index": 0}
        out: list[dict] = [
            {"type": "response.created", "response": self.response(done=False)},
            {"type": "response.in_progress", "response": self.response(done=False)},
            {"type": "response.output_item.added", "output_index": 0, "item": self.message(done=False)},
            {"type": "response.content_part.added", **where, "part": self.part("")},
        ]
        out += [{"type": "response.output_text.delta", **where, "delta": p} for p in self.pieces]
        out += [
            {"type": "response.output_text.done", **where, "text": self.text},
            {"type": "response.content_part.done", **where, "part": self.part()},
            {"type": "response.output_item.done", "output_index": 0, "item": self.message()},
            {"type": "response.completed", "response": self.response()},
        ]
        return [(e["type"], {"type": e["type"], "sequence_number": i, **{k: v for k, v in e.items() if k != "type"}})
                for i, e in enumerate(out)]


def responses_object(body: dict, model: str, markers: Optional[str] = None, path: str = "") -> dict:
    return ResponsesPlan(body, model, markers, path).response()


def sse_named_event(name: str, data: Any) -> bytes:
    """An SSE frame with an `event:` line (Responses API, Anthropic)."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode("utf-8")


# --------------------------------------------------------------------------------------
# Embeddings
# --------------------------------------------------------------------------------------


class InvalidInput(ValueError):
    """The embeddings `input` is not one of the accepted shapes."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def normalize_embedding_input(value: Any) -> list:
    """Return the list of items to embed: each a str or a list of ints."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return list(value)
        if all(_is_int(v) for v in value):
            return [list(value)]
        if all(isinstance(v, list) and v and all(_is_int(x) for x in v) for v in value):
            return [list(v) for v in value]
    raise InvalidInput("invalid input")


def embedding_vector(item: Any, dimensions: int = DEFAULT_EMBEDDING_DIMENSIONS) -> list[float]:
    """Deterministic floats in [-1, 1), each exactly representable as float32 (k / 32768)."""
    key = item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))
    values: list[float] = []
    block = 0
    while len(values) < dimensions:
        d = hashlib.sha256(f"standin-embedding:{block}:{key}".encode("utf-8", "replace")).digest()
        for j in range(0, len(d), 2):
            if len(values) >= dimensions:
                break
            values.append(int.from_bytes(d[j:j + 2], "little", signed=True) / 32768.0)
        block += 1
    return values


def encode_base64_float32(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def embeddings(body: dict, model: str) -> dict:
    """The embeddings list object. Raises InvalidInput for a bad `input`."""
    items = normalize_embedding_input(body.get("input"))
    dims = _as_int(body.get("dimensions"), DEFAULT_EMBEDDING_DIMENSIONS, 1, MAX_EMBEDDING_DIMENSIONS)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    tokens = 0
    for i, item in enumerate(items):
        vec = embedding_vector(item, dims)
        data.append({
            "object": "embedding",
            "index": i,
            "embedding": encode_base64_float32(vec) if as_base64 else vec,
        })
        tokens += max(1, len(tokenize(item))) if isinstance(item, str) else len(item)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# --------------------------------------------------------------------------------------
# Media: tiny valid images and audio files (image generation, speech)
# --------------------------------------------------------------------------------------
# Pure functions of their seed text, byte for byte: no compressor whose output could change
# between zlib versions, no clock. Each builder writes the smallest file its format's public
# specification allows, so a client that decodes what it gets can.

TINY_IMAGE_SIZE = 2          # pixels per side of a generated PNG
AUDIO_SAMPLE_RATE = 24000    # Hz, mono, 16-bit: what Gemini's TTS and Mistral's speech produce
AUDIO_SECONDS_PER_WORD = 0.05
MAX_AUDIO_SECONDS = 2.0


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def tiny_png(seed: str) -> bytes:
    """A TINY_IMAGE_SIZE x TINY_IMAGE_SIZE RGB PNG whose colours derive from `seed`.
    PNG (https://www.w3.org/TR/png-3/): signature, IHDR, one IDAT holding a zlib stream
    (RFC 1950) of one stored (uncompressed) deflate block (RFC 1951, 3.2.4), IEND."""
    side = TINY_IMAGE_SIZE
    digest = hashlib.sha256(f"standin-image:{seed}".encode("utf-8", "replace")).digest()
    rows = b"".join(b"\x00" + digest[3 * side * y: 3 * side * (y + 1)] for y in range(side))  # filter 0 per row
    stored = b"\x01" + struct.pack("<HH", len(rows), len(rows) ^ 0xFFFF) + rows  # final stored block
    idat = b"\x78\x01" + stored + struct.pack(">I", zlib.adler32(rows) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # 8-bit truecolour, no interlace
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def tiny_png_base64(seed: str) -> str:
    return base64.b64encode(tiny_png(seed)).decode("ascii")


def speech_seconds(text: str) -> float:
    """How long the stand-in's speech for `text` lasts: AUDIO_SECONDS_PER_WORD per token,
    at least one token's worth, at most MAX_AUDIO_SECONDS."""
    return min(MAX_AUDIO_SECONDS, max(1, len(tokenize(text or ""))) * AUDIO_SECONDS_PER_WORD)


def pcm16(text: str, rate: int = AUDIO_SAMPLE_RATE) -> bytes:
    """Raw signed 16-bit little-endian mono samples (a quiet sawtooth, so the bytes are not all
    zero) lasting speech_seconds(text)."""
    n = int(round(speech_seconds(text) * rate))
    return struct.pack(f"<{n}h", *(((i * 37) % 400 - 200) * 8 for i in range(n)))


def wav(pcm: bytes, rate: int = AUDIO_SAMPLE_RATE) -> bytes:
    """A canonical RIFF/WAVE file around PCM16 mono samples (the `fmt ` chunk of
    WAVE_FORMAT_PCM, then `data`; Microsoft's RIFF spec, as summarised in RFC 2361)."""
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(pcm)) + b"WAVE"
            + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm)


def wav_seconds(data: bytes) -> Optional[float]:
    """The duration of a PCM WAVE file, or None when `data` is not one."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, byte_rate, size = 12, None, None
    while pos + 8 <= len(data):
        kind, length = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if kind == b"fmt " and length >= 16:
            byte_rate = struct.unpack("<I", data[pos + 16:pos + 20])[0]
        elif kind == b"data":
            size = min(length, len(data) - pos - 8)
            break
        pos += 8 + length + (length & 1)
    if not byte_rate or size is None:
        return None
    return size / byte_rate


def mp3_silence(seconds: float) -> bytes:
    """MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono frames of silence (ISO/IEC 11172-3): a
    frame header (FF FB 90 C0), all-zero side information (main_data_begin 0, no granule
    data) and zero padding to the frame's 417 bytes (144 * 128000 / 44100); 1152 samples
    per frame."""
    frames = max(1, int(round(seconds * 44100 / 1152)))
    frame = b"\xff\xfb\x90\xc0" + b"\x00" * (417 - 4)
    return frame * frames


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def flac_silence(seconds: float, rate: int = AUDIO_SAMPLE_RATE) -> bytes:
    """A FLAC stream (RFC 9639): `fLaC`, a last STREAMINFO block (16-bit mono at `rate`, MD5
    unknown), one fixed-blocksize frame whose only subframe is CONSTANT 0, with the frame
    header's CRC-8 and the frame's CRC-16."""
    block = max(16, min(65535, int(round(seconds * rate))))
    info = struct.pack(">HH", block, block) + b"\x00" * 6  # min/max block size, frame sizes unknown
    info += ((rate << 44) | (0 << 41) | (15 << 36) | block).to_bytes(8, "big")  # rate, mono, 16 bps, samples
    info += b"\x00" * 16
    rate_code = {8000: 4, 16000: 5, 22050: 6, 24000: 7, 32000: 8, 44100: 9, 48000: 10}[rate]
    # Sync + fixed blocksize; blocksize-1 in 16 bits after the header (0b0111) and the rate
    # code; mono, 16 bits per sample (0x08); frame number 0.
    header = bytes([0xFF, 0xF8, (0b0111 << 4) | rate_code, 0x08, 0x00]) + struct.pack(">H", block - 1)
    header += bytes([_crc8(header)])
    frame = header + b"\x00" + b"\x00\x00"  # CONSTANT subframe, value 0
    frame += struct.pack(">H", _crc16(frame))
    return b"fLaC" + bytes([0x80, 0, 0, len(info)]) + info + frame


_OGG_CRC_TABLE: list[int] = []


def _ogg_crc(data: bytes) -> int:
    if not _OGG_CRC_TABLE:
        for i in range(256):
            r = i << 24
            for _ in range(8):
                r = ((r << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if r & 0x80000000 else (r << 1) & 0xFFFFFFFF
            _OGG_CRC_TABLE.append(r)
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC_TABLE[((crc >> 24) ^ byte) & 0xFF]
    return crc


def _ogg_page(packets: list[bytes], flags: int, granule: int, sequence: int, serial: int = 0x5354414E) -> bytes:
    lacing = b"".join(bytes([255] * (len(p) // 255) + [len(p) % 255]) for p in packets)
    head = b"OggS" + bytes([0, flags]) + struct.pack("<qIII", granule, serial, sequence, 0) + bytes([len(lacing)]) + lacing
    page = head + b"".join(packets)
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


def ogg_opus_silence(seconds: float) -> bytes:
    """An Ogg Opus file (RFC 7845 in RFC 3533 pages): the OpusHead page, the OpusTags page,
    then one page of 20 ms mono CELT packets of silence (TOC 0xF8 and the two-byte silent
    frame). The last granule position counts every decoded 48 kHz sample, the pre-skip's
    included (RFC 7845, 4)."""
    pre_skip = 312
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, AUDIO_SAMPLE_RATE, 0, 0)
    vendor = b"standin"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    count = max(1, min(250, int(round((seconds * 48000 + pre_skip) / 960))))
    packets = [b"\xf8\xff\xfe"] * count
    return (_ogg_page([head], 0x02, 0, 0) + _ogg_page([tags], 0x00, 0, 1)
            + _ogg_page(packets, 0x04, 960 * count, 2))


SPEECH_CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "pcm": "audio/pcm", "flac": "audio/flac", "opus": "audio/ogg"}


def speech_audio(text: str, response_format: str) -> bytes:
    """The speech for `text` in one of SPEECH_CONTENT_TYPES' formats (mp3 otherwise)."""
    seconds = speech_seconds(text)
    if response_format == "wav":
        return wav(pcm16(text))
    if response_format == "pcm":
        return pcm16(text)
    if response_format == "flac":
        return flac_silence(seconds)
    if response_format == "opus":
        return ogg_opus_silence(seconds)
    return mp3_silence(seconds)


# --------------------------------------------------------------------------------------
# Errors (OpenAI error object)
# --------------------------------------------------------------------------------------


def error_object(message: str, type_: str, param: Optional[str] = None, code: Optional[str] = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def status_error(status: int, model: str) -> dict:
    """A realistic OpenAI error body for an HTTP status (never echoes credentials)."""
    m = model or "gpt-4o"
    table = {
        400: ("Unrecognized request argument supplied: standin_unknown_argument",
              "invalid_request_error", None, None),
        401: ("Incorrect API key provided: sk-stand*****************-key. You can find your "
              "API key at https://platform.openai.com/account/api-keys.",
              "invalid_request_error", None, "invalid_api_key"),
        403: ("Country, region, or territory not supported", "request_forbidden", None,
              "unsupported_country_region_territory"),
        404: (f"The model `{m}` does not exist or you do not have access to it.",
              "invalid_request_error", None, "model_not_found"),
        408: ("Request timed out.", "timeout_error", None, "request_timeout"),
        409: ("Another request is already modifying this resource. Please retry your request.",
              "invalid_request_error", None, "conflict"),
        422: ("The request was well-formed but could not be processed.",
              "invalid_request_error", None, "unprocessable_entity"),
        429: (f"Rate limit reached for {m} in organization org-standin on requests per min (RPM): "
              "Limit 3, Used 3, Requested 1. Please try again in 20s. Visit "
              "https://platform.openai.com/account/rate-limits to learn more.",
              "requests", None, "rate_limit_exceeded"),
        500: ("The server had an error while processing your request. Sorry about that!",
              "server_error", None, None),
        502: ("Bad gateway.", "cf_bad_gateway", None, None),
        503: ("The server is overloaded or not ready yet.", "server_error", None, None),
        504: ("Gateway timeout.", "cf_gateway_timeout", None, None),
    }
    if status in table:
        return error_object(*table[status])
    if status >= 500:
        return error_object(f"The server returned status {status}.", "server_error")
    return error_object(f"The request failed with status {status}.", "invalid_request_error")


CONTEXT_LENGTH_MESSAGE = (
    "This model's maximum context length is 8192 tokens. However, your messages resulted in "
    "9000 tokens. Please reduce the length of the messages."
)


def context_length_error() -> dict:
    return error_object(CONTEXT_LENGTH_MESSAGE, "invalid_request_error", "messages",
                        "context_length_exceeded")


def content_policy_error() -> dict:
    return error_object(
        "Your request was rejected as a result of our safety system. Your prompt may contain "
        "text that is not allowed by our safety system.",
        "invalid_request_error", None, "content_policy_violation",
    )


def invalid_url_error(method: str, path: str) -> dict:
    return error_object(f"Invalid URL ({method} {path})", "invalid_request_error")


def invalid_json_error() -> dict:
    return error_object(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
        "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
        "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
        "contact us through our help center at help.openai.com.)",
        "invalid_request_error",
    )


def missing_model_error() -> dict:
    return error_object("you must provide a model parameter", "invalid_request_error")


def missing_parameter_error(name: str) -> dict:
    return error_object(f"Missing required parameter: '{name}'.", "invalid_request_error", name,
                        "missing_required_parameter")


def empty_array_error(name: str) -> dict:
    return error_object(
        f"Invalid '{name}': empty array. Expected an array with minimum length 1, but got an "
        "empty array instead.",
        "invalid_request_error", name, "empty_array",
    )


def invalid_input_error() -> dict:
    return error_object(
        "'$.input' is invalid. Please check the API reference: "
        "https://platform.openai.com/docs/api-reference.",
        "invalid_request_error",
    )


def internal_error(detail: str) -> dict:
    return error_object(f"stand-in internal error: {detail}", "server_error")


# --------------------------------------------------------------------------------------
# Non-JSON bodies
# --------------------------------------------------------------------------------------

GARBLED_JSON = '{"id": "chatcmpl-x", "choices": ['

NOT_JSON_HTML = (
    "<!DOCTYPE html>\n<html>\n<head><title>Welcome</title></head>\n"
    "<body>\n<h1>It works!</h1>\n<p>This is not the API you are looking for.</p>\n"
    "</body>\n</html>\n"
)

NGINX_502_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

WRONG_SHAPE = {"foo": "bar"}
