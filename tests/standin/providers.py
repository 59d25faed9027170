"""Deterministic payloads for the stand-in's non-OpenAI wire formats: Anthropic Messages,
Gemini (Google AI Studio generateContent / embeddings, speech and image output, Imagen's
:predict), Ollama (/api/generate, /api/chat, /api/embed), Jina AI's reranker (/v1/rerank), and
audio: Mistral's and OpenAI's /v1/audio/transcriptions and /v1/audio/speech, xAI's /v1/stt.

Pure functions of the request (no clock, no randomness), like fixtures.py. Shapes follow each
provider's public API reference: Anthropic's Message object, streaming events and error
object; Gemini's GenerateContentResponse (candidates, usageMetadata incl. thoughtsTokenCount),
embedding responses and google.rpc.Status errors; Ollama's API docs (generate/chat/embed
responses with their duration and count fields, NDJSON streaming, `{"error": "..."}`); Jina AI's
rerank response (results sorted by relevance_score, usage.total_tokens).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from typing import Any, Optional

try:
    from .fixtures import (AUDIO_SAMPLE_RATE, DEFAULT_TEXT, FALLBACK_TOOL_NAME, JSON_TEXT, SPEECH_CONTENT_TYPES,
                           StreamMarkers, _as_int, embedding_vector, long_arguments, pcm16, speech_audio, tiny_png_base64,
                           tokenize, wav_seconds, word_pieces)
except ImportError:  # server.py run as a plain script
    from fixtures import (AUDIO_SAMPLE_RATE, DEFAULT_TEXT, FALLBACK_TOOL_NAME, JSON_TEXT,  # type: ignore
                          SPEECH_CONTENT_TYPES, StreamMarkers, _as_int, embedding_vector, long_arguments, pcm16,
                          speech_audio, tiny_png_base64, tokenize, wav_seconds, word_pieces)

THINKING_TEXT = "The user greets me; a short greeting answers it."
TOOL_ARGUMENTS = {"location": "Boston, MA"}
JSON_ARGUMENTS = {"answer": 42}


def _tokens_of(value: Any) -> int:
    """A deterministic token estimate of any JSON value: the words in its text."""
    if value is None:
        return 0
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return len(tokenize(text))


def _pieces(text: str) -> list[str]:
    """How a streamed text is cut: one piece per token, as a provider would send deltas."""
    return tokenize(text) or [text]


class _Long:
    """The long-stream markers applied to one answer (see fixtures.StreamMarkers): the text's
    pieces (`words-<n>`), the thinking's pieces (`think-words-<n>`; the marker also turns
    thinking on, so a plain request can ask for a long reasoning stream), the tool arguments
    (`args-words-<n>`: `{"location", "words"}`, and how an incremental format cuts them)."""

    def __init__(self, markers: str):
        self.markers = StreamMarkers(markers)
        m = self.markers
        self.text_pieces: Optional[list[str]] = word_pieces(m.words) if m.words else None
        self.thinking_pieces: list[str] = word_pieces(m.think_words, "thought") if m.think_words else _pieces(THINKING_TEXT)
        self.thinking_text = "".join(self.thinking_pieces)
        self.arguments, self.argument_pieces = long_arguments(m.args_words) if m.args_words else (TOOL_ARGUMENTS, None)

    def text(self, default: Optional[str]) -> Optional[str]:
        """The answer: the words when `words-<n>` asks for them (never in place of a tool call)."""
        if default is None or self.text_pieces is None:
            return default
        return "".join(self.text_pieces)

    def pieces(self, text: str) -> list[str]:
        return self.text_pieces if self.text_pieces is not None and text == "".join(self.text_pieces) else _pieces(text)


# ======================================================================================
# Anthropic Messages API
# ======================================================================================

ANTHROPIC_MESSAGE_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
ANTHROPIC_TOOL_USE_ID = "toolu_01A09q90qw90lq917835lq9"
ANTHROPIC_SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
# LiteLLM asks for JSON through a forced tool of this name on models without native
# structured output; the stand-in answers it with the JSON object as the tool input.
ANTHROPIC_JSON_TOOL = "json_tool_call"


def _has_cache_control(value: Any) -> bool:
    if isinstance(value, dict):
        return "cache_control" in value or any(_has_cache_control(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_cache_control(v) for v in value)
    return False


class AnthropicPlan:
    def __init__(self, body: dict, model: str, markers: Optional[str] = None):
        self.model = model
        self.long = _Long(model if markers is None else markers)
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        self.input_tokens = 3 + _tokens_of(body.get("system")) + sum(
            3 + _tokens_of(m.get("content")) for m in messages if isinstance(m, dict)
        ) + _tokens_of(body.get("tools"))
        # Prompt caching: what a cached prefix reports (creation and read are both non-zero so
        # that a mapping mistake between the two shows).
        cached = _has_cache_control(body.get("system")) or _has_cache_control(messages) or _has_cache_control(body.get("tools"))
        self.cache_creation = 12 if cached else 0
        self.cache_read = 30 if cached else 0

        thinking = body.get("thinking")
        self.thinking = isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
        self.thinking = self.thinking or bool(self.long.markers.think_words)

        self.tool_name: Optional[str] = None
        tools = body.get("tools")
        choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), dict) else {}
        last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
        answered = isinstance(last.get("content"), list) and any(
            isinstance(p, dict) and p.get("type") == "tool_result" for p in last["content"]
        )
        if isinstance(tools, list) and tools and choice.get("type") != "none" and last.get("role") == "user" and not answered:
            named = choice.get("name") if choice.get("type") == "tool" else None
            first = tools[0] if isinstance(tools[0], dict) else {}
            self.tool_name = named or first.get("name") or FALLBACK_TOOL_NAME

        output_format = body.get("output_format")
        self.text: Optional[str]
        if self.tool_name is not None:
            self.text = None
        elif isinstance(output_format, dict) and output_format.get("type") == "json_schema":
            self.text = JSON_TEXT
        else:
            self.text = DEFAULT_TEXT
        self.text = self.long.text(self.text)

        stops = body.get("stop_sequences")
        self.stop_sequence = stops[0] if isinstance(stops, list) and stops and self.tool_name is None else None
        if self.tool_name is not None:
            self.stop_reason = "tool_use"
        elif self.stop_sequence is not None:
            self.stop_reason = "stop_sequence"
        else:
            self.stop_reason = "end_turn"

    def tool_input(self) -> dict:
        return JSON_ARGUMENTS if self.tool_name == ANTHROPIC_JSON_TOOL else self.long.arguments

    def blocks(self) -> list[dict]:
        out: list[dict] = []
        if self.thinking:
            out.append({"type": "thinking", "thinking": self.long.thinking_text, "signature": ANTHROPIC_SIGNATURE})
        if self.text is not None:
            out.append({"type": "text", "text": self.text})
        if self.tool_name is not None:
            out.append({"type": "tool_use", "id": ANTHROPIC_TOOL_USE_ID, "name": self.tool_name, "input": self.tool_input()})
        return out

    def output_tokens(self) -> int:
        total = _tokens_of(self.text)
        if self.thinking:
            total += _tokens_of(self.long.thinking_text)
        if self.tool_name is not None:
            total += _tokens_of(self.tool_input()) + 5
        return total

    def usage(self, output_tokens: Optional[int] = None) -> dict:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation,
            "cache_read_input_tokens": self.cache_read,
            "output_tokens": self.output_tokens() if output_tokens is None else output_tokens,
            "service_tier": "standard",
        }

    def message(self) -> dict:
        return {
            "id": ANTHROPIC_MESSAGE_ID,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.blocks(),
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "usage": self.usage(),
        }

    def events(self) -> list[tuple[str, dict]]:
        """(event name, data) pairs of the SSE stream, in the documented order."""
        start = {**self.message(), "content": [], "stop_reason": None, "stop_sequence": None, "usage": self.usage(1)}
        out: list[tuple[str, dict]] = [("message_start", {"type": "message_start", "message": start})]
        ping_every = self.long.markers.ping_every
        deltas_sent = 0
        for index, block in enumerate(self.blocks()):
            if block["type"] == "thinking":
                opening = {"type": "thinking", "thinking": "", "signature": ""}
                deltas = [{"type": "thinking_delta", "thinking": p} for p in self.long.thinking_pieces]
                deltas.append({"type": "signature_delta", "signature": ANTHROPIC_SIGNATURE})
            elif block["type"] == "text":
                opening = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": p} for p in self.long.pieces(block["text"])]
            else:
                opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                arguments = json.dumps(block["input"])
                pieces = self.long.argument_pieces if block["input"] is self.long.arguments and self.long.argument_pieces else _pieces(arguments)
                # The API reference's tool_use streams open with an empty partial_json.
                deltas = [{"type": "input_json_delta", "partial_json": p} for p in ["", *pieces]]
            out.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening}))
            if index == 0:
                out.append(("ping", {"type": "ping"}))
            for d in deltas:
                out.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}))
                deltas_sent += 1
                if ping_every and deltas_sent % ping_every == 0:
                    # Pings keep a long stream alive: they may come between any two events.
                    out.append(("ping", {"type": "ping"}))
            out.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        out.append((
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence},
                "usage": {"output_tokens": self.output_tokens()},
            },
        ))
        out.append(("message_stop", {"type": "message_stop"}))
        if self.long.markers.unknown_frame:
            # "We may add new event types": one the API reference does not list, mid-stream.
            middle = [i for i, (name, _) in enumerate(out) if name == "content_block_delta"]
            at = middle[len(middle) // 2] if middle else 1
            event = {**ANTHROPIC_UNKNOWN_EVENT, "index": out[at][1].get("index", 0)}
            out.insert(at, (event["type"], event))
        return out


ANTHROPIC_UNKNOWN_EVENT = {"type": "content_block_progress", "index": 0, "progress": {"tokens_so_far": 7}}


def anthropic_sse(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


ANTHROPIC_ERROR_TYPES = {
    400: ("invalid_request_error", "max_tokens: Field required"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "An unexpected error has occurred internal to Anthropic's systems."),
    529: ("overloaded_error", "Overloaded"),
}


def anthropic_error(status: int, request_id: str, message: Optional[str] = None) -> dict:
    kind, default = ANTHROPIC_ERROR_TYPES.get(status, ("api_error" if status >= 500 else "invalid_request_error", f"The request failed with status {status}."))
    return {"type": "error", "error": {"type": kind, "message": message or default}, "request_id": request_id}


ANTHROPIC_CONTEXT_LENGTH = "prompt is too long: 208310 tokens > 200000 maximum"


# ======================================================================================
# Gemini (Google AI Studio)
# ======================================================================================

GEMINI_RESPONSE_ID = "mcHnaNu0Iqnd1e8Pz5ySsQ4"
GEMINI_SAFETY = [
    {"category": c, "probability": "NEGLIGIBLE"}
    for c in (
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    )
]


class GeminiPlan:
    def __init__(self, body: dict, model: str, markers: Optional[str] = None):
        self.model = model
        self.long = _Long(model if markers is None else markers)
        contents = body.get("contents") if isinstance(body.get("contents"), list) else []
        parts = [p for c in contents if isinstance(c, dict) for p in (c.get("parts") or []) if isinstance(p, dict)]
        self.prompt_tokens = 3 + _tokens_of(body.get("system_instruction") or body.get("systemInstruction")) + sum(
            _tokens_of(p.get("text")) for p in parts
        )
        self.image_tokens = 258 * sum(1 for p in parts if "inline_data" in p or "inlineData" in p or "file_data" in p or "fileData" in p)
        config = body.get("generationConfig") if isinstance(body.get("generationConfig"), dict) else {}
        thinking = config.get("thinkingConfig") if isinstance(config.get("thinkingConfig"), dict) else {}
        self.include_thoughts = thinking.get("includeThoughts") is True or bool(self.long.markers.think_words)
        self.thoughts_tokens = _tokens_of(self.long.thinking_text) if (self.include_thoughts or (thinking.get("thinkingBudget") or 0) > 0) else 0

        self.tool_name: Optional[str] = None
        declarations = [
            d for t in (body.get("tools") or []) if isinstance(t, dict)
            for d in (t.get("functionDeclarations") or t.get("function_declarations") or []) if isinstance(d, dict)
        ]
        tool_config = body.get("toolConfig") or body.get("tool_config") or {}
        calling = tool_config.get("functionCallingConfig") or tool_config.get("function_calling_config") or {}
        last = contents[-1] if contents and isinstance(contents[-1], dict) else {}
        answered = any(isinstance(p, dict) and ("functionResponse" in p or "function_response" in p) for p in last.get("parts") or [])
        if declarations and calling.get("mode") != "NONE" and last.get("role", "user") == "user" and not answered:
            allowed = calling.get("allowedFunctionNames") or calling.get("allowed_function_names") or []
            self.tool_name = allowed[0] if allowed else declarations[0].get("name") or FALLBACK_TOOL_NAME

        json_mode = config.get("responseMimeType") == "application/json" or config.get("response_mime_type") == "application/json"
        self.text: Optional[str] = None if self.tool_name else self.long.text(JSON_TEXT if json_mode else DEFAULT_TEXT)

        # Output modalities (https://ai.google.dev/api/generate-content#generationconfig): AUDIO
        # asks a TTS model for speech, IMAGE an image model for a picture. Either replaces the
        # text / tool answer above with media parts (GEMINI_SPEECH, GEMINI_IMAGE_OUTPUT).
        modalities = config.get("responseModalities") or config.get("response_modalities") or []
        modalities = {str(m).upper() for m in modalities} if isinstance(modalities, list) else set()
        self.media: Optional[str] = "AUDIO" if "AUDIO" in modalities else "IMAGE" if "IMAGE" in modalities else None
        self.spoken = " ".join(str(p.get("text")) for p in parts if isinstance(p.get("text"), str))
        if self.media is not None:
            self.tool_name = None
            self.include_thoughts = False
            self.thoughts_tokens = 0
            self.text = DEFAULT_TEXT if self.media == "IMAGE" else None

    def media_parts(self) -> list[dict]:
        if self.media == "AUDIO":
            return [gemini_speech_part(self.spoken)]
        return [{"text": self.text}, {"inlineData": {"mimeType": "image/png", "data": tiny_png_base64(f"{self.model}\x00{self.spoken}")}}]

    def media_tokens(self) -> int:
        return gemini_speech_tokens(self.spoken) if self.media == "AUDIO" else GEMINI_IMAGE_OUTPUT_TOKENS + _tokens_of(self.text)

    def parts(self, text: Optional[str] = None, with_thought: bool = True) -> list[dict]:
        if self.media is not None:
            return self.media_parts()
        out: list[dict] = []
        if self.include_thoughts and with_thought:
            out.append({"text": self.long.thinking_text, "thought": True})
        if self.tool_name is not None:
            out.append({"functionCall": {"name": self.tool_name, "args": self.long.arguments}})
        elif text is not None or self.text is not None:
            out.append({"text": self.text if text is None else text})
        return out

    def candidates_tokens(self) -> int:
        if self.media is not None:
            return self.media_tokens()
        return _tokens_of(self.long.arguments) + 3 if self.tool_name else _tokens_of(self.text)

    def usage(self, candidates: Optional[int] = None, thoughts: Optional[int] = None) -> dict:
        """usageMetadata: the final counts, or (streaming) the counts so far. Gemini sends it on
        every streamed chunk: the prompt's count from the first, the candidates' and the
        thoughts' growing as they are generated, the total their sum; no candidatesTokenCount
        while only thoughts have been generated."""
        prompt = self.prompt_tokens + self.image_tokens
        candidates = self.candidates_tokens() if candidates is None else candidates
        thoughts = self.thoughts_tokens if thoughts is None else thoughts
        usage: dict = {"promptTokenCount": prompt}
        if candidates:
            usage["candidatesTokenCount"] = candidates
        usage["totalTokenCount"] = prompt + candidates + thoughts
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": self.prompt_tokens}] + (
            [{"modality": "IMAGE", "tokenCount": self.image_tokens}] if self.image_tokens else [])
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        if self.media == "AUDIO" and candidates:
            usage["candidatesTokensDetails"] = [{"modality": "AUDIO", "tokenCount": candidates}]
        elif self.media == "IMAGE" and candidates:
            usage["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": candidates - GEMINI_IMAGE_OUTPUT_TOKENS},
                                                {"modality": "IMAGE", "tokenCount": GEMINI_IMAGE_OUTPUT_TOKENS}]
        return usage

    def _response(self, parts: list, finish: Optional[str], usage: dict) -> dict:
        candidate: dict = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = finish
            candidate["safetyRatings"] = GEMINI_SAFETY
        return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": self.model, "responseId": GEMINI_RESPONSE_ID}

    def response(self) -> dict:
        return self._response(self.parts(), "STOP", self.usage())

    def chunks(self) -> list[dict]:
        """The streamGenerateContent responses: thought summaries, then text pieces or the
        call, then the last chunk with the finish reason; each with usageMetadata as counted
        so far (the last one's is the final usage)."""
        out: list[dict] = []
        thoughts = 0
        if self.include_thoughts:
            # Thought summaries stream like text (the default is one summary in one chunk).
            pieces = self.long.thinking_pieces if self.long.markers.think_words else [self.long.thinking_text]
            for p in pieces:
                thoughts += _tokens_of(p)
                out.append(self._response([{"text": p, "thought": True}], None, self.usage(0, thoughts)))
        thoughts = self.thoughts_tokens  # thinking without summaries is counted all the same
        candidates = 0
        if self.media is not None:  # speech and images arrive whole, in one chunk
            candidates = self.candidates_tokens()
            out.append(self._response(self.media_parts(), None, self.usage(candidates, thoughts)))
        elif self.tool_name is not None:
            candidates = self.candidates_tokens()
            call = {"functionCall": {"name": self.tool_name, "args": self.long.arguments}}
            out.append(self._response([call], None, self.usage(candidates, thoughts)))
        else:
            for p in self.long.pieces(self.text or ""):
                candidates += _tokens_of(p)
                out.append(self._response([{"text": p}], None, self.usage(candidates, thoughts)))
        if self.long.markers.unknown_frame:
            # A part of a kind the request did not ask for (code execution's), mid-stream.
            at = len(out) // 2
            out.insert(at, self._response([GEMINI_UNKNOWN_PART], None, out[max(0, at - 1)]["usageMetadata"] if out else self.usage(0, 0)))
        out.append(self._response([{"text": ""}], "STOP", self.usage()))
        return out


GEMINI_UNKNOWN_PART = {"executableCode": {"language": "PYTHON", "code": "print(6 * 7)"}}

# Speech generation (TTS models), https://ai.google.dev/gemini-api/docs/speech-generation: the
# audio comes back as one `inlineData` part of raw 16-bit PCM, mono, 24 kHz, labelled
# `audio/L16;codec=pcm;rate=24000`. Audio counts 32 tokens per second
# (https://ai.google.dev/gemini-api/docs/audio#technical-details); usageMetadata lists the
# candidates' tokens by modality (https://ai.google.dev/api/generate-content#UsageMetadata).
GEMINI_SPEECH_MIME = f"audio/L16;codec=pcm;rate={AUDIO_SAMPLE_RATE}"
GEMINI_AUDIO_TOKENS_PER_SECOND = 32
# Image output (https://ai.google.dev/gemini-api/docs/image-generation): a text part and an
# `inlineData` PNG part; an image up to 1024x1024 counts 1290 output tokens
# (https://ai.google.dev/gemini-api/docs/pricing, Gemini 2.5 Flash Image).
GEMINI_IMAGE_OUTPUT_TOKENS = 1290


def gemini_speech_part(text: str) -> dict:
    return {"inlineData": {"mimeType": GEMINI_SPEECH_MIME, "data": base64.b64encode(pcm16(text)).decode("ascii")}}


def gemini_speech_tokens(text: str) -> int:
    return max(1, math.ceil(len(pcm16(text)) / 2 / AUDIO_SAMPLE_RATE * GEMINI_AUDIO_TOKENS_PER_SECOND))


# Imagen through the Gemini API: POST /v1beta/models/{imagen model}:predict
# (https://ai.google.dev/gemini-api/docs/imagen, REST tab). Request {"instances": [{"prompt"}],
# "parameters": {"sampleCount", "aspectRatio", "personGeneration", ...}}; numberOfImages /
# sampleCount is 1 to 4, 4 when not given. Response {"predictions": [{"bytesBase64Encoded",
# "mimeType"}, ...]}, one prediction per image (the prediction's fields as in Vertex AI's
# Imagen reference, https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/imagen-api).
IMAGEN_DEFAULT_SAMPLES = 4
IMAGEN_MAX_SAMPLES = 4


class InvalidProviderRequest(ValueError):
    """A request body the provider would refuse with a 400 (the message is its error's)."""


def imagen_predict(body: dict, model: str) -> dict:
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise InvalidProviderRequest("instances: at least one instance is required.")
    prompts = [i.get("prompt") if isinstance(i, dict) else None for i in instances]
    if not all(isinstance(p, str) and p.strip() for p in prompts):
        raise InvalidProviderRequest("instances[].prompt: a non-empty string is required.")
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    count = parameters.get("sampleCount", IMAGEN_DEFAULT_SAMPLES)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= IMAGEN_MAX_SAMPLES:
        raise InvalidProviderRequest(f"sampleCount must be between 1 and {IMAGEN_MAX_SAMPLES}, got {count!r}.")
    return {"predictions": [
        {"bytesBase64Encoded": tiny_png_base64(f"{model}\x00{prompt}\x00{i}"), "mimeType": "image/png"}
        for prompt in prompts for i in range(count)
    ]}


def gemini_sse(data: dict) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\r\n\r\n"


def _gemini_item(request: dict) -> Any:
    content = request.get("content") if isinstance(request.get("content"), dict) else {}
    return " ".join(str(p.get("text", "")) for p in content.get("parts") or [] if isinstance(p, dict))


def _gemini_dimensions(request: dict) -> int:
    return _as_int(request.get("outputDimensionality") or request.get("output_dimensionality"), 8, 1, 4096)


def gemini_batch_embeddings(body: dict) -> dict:
    requests = body.get("requests") if isinstance(body.get("requests"), list) else []
    return {"embeddings": [{"values": embedding_vector(_gemini_item(r), _gemini_dimensions(r))} for r in requests if isinstance(r, dict)]}


def gemini_embedding(body: dict) -> dict:
    return {"embedding": {"values": embedding_vector(_gemini_item(body), _gemini_dimensions(body))}}


GEMINI_STATUS = {
    400: ("INVALID_ARGUMENT", "Invalid JSON payload received. Unknown name \"standin_unknown\": Cannot find field."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity)."),
    404: ("NOT_FOUND", "models/standin-missing is not found for API version v1beta, or is not supported for generateContent."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}


def gemini_error(status: int, message: Optional[str] = None) -> dict:
    code, default = GEMINI_STATUS.get(status, ("INTERNAL" if status >= 500 else "FAILED_PRECONDITION", f"The request failed with status {status}."))
    return {"error": {"code": status, "message": message or default, "status": code}}


GEMINI_CONTEXT_LENGTH = "The input token count (1048577) exceeds the maximum number of tokens allowed (1048576)."


# ======================================================================================
# Ollama
# ======================================================================================

OLLAMA_CREATED_AT = "2025-03-10T01:25:52.123456789Z"
# Streamed lines: Ollama stamps each line when it is generated, so created_at moves on from
# line to line. Derived from the line's index (no clock): 12.345678 ms per line from this.
_OLLAMA_STREAM_START_NS = (1 * 3600 + 25 * 60 + 52) * 10**9 + 123456789
_OLLAMA_LINE_NS = 12_345_678


def ollama_created_at(line: int) -> str:
    ns = _OLLAMA_STREAM_START_NS + line * _OLLAMA_LINE_NS
    seconds, frac = divmod(ns, 10**9)
    hours, rest = divmod(seconds, 3600)
    return f"2025-03-10T{hours % 24:02d}:{rest // 60:02d}:{rest % 60:02d}.{frac:09d}Z"
# Nanosecond durations, fixed.
OLLAMA_DURATIONS = {"total_duration": 5043500667, "load_duration": 5025959, "prompt_eval_duration": 325953000, "eval_duration": 4709213000}


def _ollama_prompt_tokens(body: dict) -> int:
    if isinstance(body.get("messages"), list):
        return 3 + sum(3 + _tokens_of(m.get("content")) for m in body["messages"] if isinstance(m, dict))
    return 3 + _tokens_of(body.get("prompt")) + _tokens_of(body.get("system"))


class OllamaPlan:
    """Both /api/generate (`chat=False`) and /api/chat."""

    def __init__(self, body: dict, model: str, chat: bool, markers: Optional[str] = None):
        self.model = model
        self.chat = chat
        self.long = _Long(model if markers is None else markers)
        self.prompt_tokens = _ollama_prompt_tokens(body)
        self.thinking = body.get("think") not in (None, False) or bool(self.long.markers.think_words)
        fmt = body.get("format")
        json_mode = fmt == "json" or isinstance(fmt, dict)

        self.tool_name: Optional[str] = None
        if chat:
            tools = body.get("tools")
            messages = body.get("messages") or []
            last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
            if isinstance(tools, list) and tools and last.get("role") == "user":
                fn = tools[0].get("function") if isinstance(tools[0], dict) else None
                self.tool_name = (fn or {}).get("name") or FALLBACK_TOOL_NAME
        if self.tool_name is not None:
            self.text = ""
        elif json_mode and not chat and "get_current_weather" in str(body.get("prompt", "")):
            # /api/generate has no tools: LiteLLM describes them in the prompt and asks for a
            # JSON object naming the function, which is what a model answers.
            self.text = json.dumps({"name": "get_current_weather", "arguments": self.long.arguments})
        else:
            self.text = self.long.text(JSON_TEXT if json_mode else DEFAULT_TEXT)

    def eval_count(self) -> int:
        return _tokens_of(self.text) + (_tokens_of(self.long.arguments) + 3 if self.tool_name else 0) + (
            _tokens_of(self.long.thinking_text) if self.thinking else 0
        )

    def _final_fields(self) -> dict:
        return {
            "done_reason": "stop",
            "done": True,
            "total_duration": OLLAMA_DURATIONS["total_duration"],
            "load_duration": OLLAMA_DURATIONS["load_duration"],
            "prompt_eval_count": self.prompt_tokens,
            "prompt_eval_duration": OLLAMA_DURATIONS["prompt_eval_duration"],
            "eval_count": self.eval_count(),
            "eval_duration": OLLAMA_DURATIONS["eval_duration"],
        }

    def _message(self, content: str, thinking: Optional[str], tool: bool) -> dict:
        message: dict = {"role": "assistant", "content": content}
        if thinking is not None:
            message["thinking"] = thinking
        if tool:
            message["tool_calls"] = [{"function": {"name": self.tool_name, "arguments": self.long.arguments}}]
        return message

    def _partial(self, text: str, thinking: Optional[str], tool: bool, created_at: str = OLLAMA_CREATED_AT) -> dict:
        head = {"model": self.model, "created_at": created_at}
        if self.chat:
            return {**head, "message": self._message(text, thinking, tool), "done": False}
        out = {**head, "response": text}
        if thinking is not None:
            out["thinking"] = thinking
        return {**out, "done": False}

    def response(self) -> dict:
        thinking = self.long.thinking_text if self.thinking else None
        out = self._partial(self.text, thinking, self.tool_name is not None)
        del out["done"]
        if not self.chat:
            out["context"] = [1, 2, 3]
        return {**out, **self._final_fields()}

    def lines(self) -> list[dict]:
        """The NDJSON stream: thinking pieces, then text pieces or the tool call (Ollama sends a
        call whole, in one line), then the final line with the counts; each line stamped."""
        parts: list[tuple[str, Optional[str], bool]] = []
        if self.thinking:
            parts.extend(("", p, False) for p in self.long.thinking_pieces)
        if self.tool_name is not None:
            parts.append(("", None, True))
        else:
            parts.extend((p, None, False) for p in self.long.pieces(self.text))
        out = [self._partial(text, thinking, tool, ollama_created_at(i)) for i, (text, thinking, tool) in enumerate(parts)]
        if self.long.markers.unknown_frame and out:
            # Fields this API version does not document (Ollama adds them for cloud models),
            # on a line that carries text: the text must still arrive, in its place.
            middle = out[len(out) // 2]
            out[len(out) // 2] = {**middle, "remote_model": self.model, "remote_host": "https://ollama.com:443"}
        last = self._partial("", None, False, ollama_created_at(len(parts)))
        del last["done"]
        if not self.chat:
            last["context"] = [1, 2, 3]
        out.append({**last, **self._final_fields()})
        return out


def ndjson_line(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def ollama_embed(body: dict, model: str) -> dict:
    raw = body.get("input")
    items = [raw] if isinstance(raw, str) else [i for i in raw or [] if isinstance(i, str)]
    dims = _as_int(body.get("dimensions"), 8, 1, 4096)
    return {
        "model": model,
        "embeddings": [embedding_vector(i, dims) for i in items],
        "total_duration": 14143917,
        "load_duration": 1019500,
        "prompt_eval_count": sum(max(1, _tokens_of(i)) for i in items),
    }


OLLAMA_ERRORS = {
    400: "invalid options: standin_unknown",
    401: "unauthorized",
    403: "forbidden",
    404: "model \"standin-missing\" not found, try pulling it first",
    429: "too many requests",
    500: "llama runner process has terminated: exit status 2",
    503: "server busy, please try again.  maximum pending requests exceeded",
}


def ollama_error(status: int, message: Optional[str] = None) -> dict:
    return {"error": message or OLLAMA_ERRORS.get(status, f"the request failed with status {status}")}


OLLAMA_CONTEXT_LENGTH = "input length exceeds the context length"


def ollama_show(model: str) -> dict:
    """/api/show: what LiteLLM reads from it is the context length and whether the template
    handles tools."""
    return {
        "modelfile": f"FROM {model}",
        "parameters": 'stop "<|eot_id|>"',
        "template": "{{- if .Tools }}{{ .Tools }}{{ end }}{{ .Prompt }}",
        "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
        "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
        "capabilities": ["completion", "tools"],
    }


# ======================================================================================
# Jina AI reranker
# ======================================================================================
# POST https://api.jina.ai/v1/rerank, per Jina's public API reference:
#   https://jina.ai/reranker/ (API section) and https://api.jina.ai/openapi.json
# Request: {model, query, documents (strings or {"text": ...} objects), top_n?, return_documents?
# (default true)}. Response: {"model", "usage": {"total_tokens"}, "results": [{"index",
# "relevance_score", "document": {"text"}}]}, results sorted by relevance_score, best first.
# Embeddings (POST https://api.jina.ai/v1/embeddings) are OpenAI-shaped and served by the
# `/embeddings` route (fixtures.embeddings).


def _jina_document(doc: Any) -> tuple[Optional[dict], str]:
    """(the `document` a result echoes, the text scored) for one input document."""
    if isinstance(doc, str):
        return {"text": doc}, doc
    if isinstance(doc, dict):
        text = doc.get("text") if isinstance(doc.get("text"), str) else ""
        return dict(doc), text
    return None, ""


def _words(text: str) -> set:
    return {t.strip().lower() for t in tokenize(text) if t.strip().isalnum()}


def jina_relevance(query: str, text: str) -> float:
    """A deterministic relevance score in (0, 1): the share of the query's words found in the
    document (0.02 .. 0.90), plus a tiebreak in [0, 0.09) derived from the pair's hash."""
    q = _words(query)
    overlap = len(q & _words(text)) / len(q) if q else 0.0
    digest = hashlib.sha256(f"standin-rerank\x00{query}\x00{text}".encode("utf-8", "replace")).digest()
    tiebreak = int.from_bytes(digest[:4], "big") / 2**32 * 0.09
    return round(0.02 + 0.88 * overlap + tiebreak, 8)


class InvalidRerankRequest(ValueError):
    """A rerank body Jina would refuse (the message is the error's detail)."""


def jina_rerank(body: dict, model: str) -> dict:
    query = body.get("query")
    documents = body.get("documents")
    if not isinstance(query, str):
        raise InvalidRerankRequest("query: Input should be a valid string")
    if not isinstance(documents, list):
        raise InvalidRerankRequest("documents: Input should be a valid list")
    scored = []
    total_tokens = 0
    for index, doc in enumerate(documents):
        echoed, text = _jina_document(doc)
        if echoed is None:
            raise InvalidRerankRequest(f"documents.{index}: Input should be a valid string")
        total_tokens += len(tokenize(query)) + len(tokenize(text))
        scored.append((jina_relevance(query, text), index, echoed))
    scored.sort(key=lambda r: (-r[0], r[1]))
    top_n = body.get("top_n")
    if isinstance(top_n, int) and not isinstance(top_n, bool) and top_n >= 0:
        scored = scored[:top_n]
    with_documents = body.get("return_documents") is not False
    results = []
    for score, index, echoed in scored:
        result: dict = {"index": index, "relevance_score": score}
        if with_documents:
            result["document"] = echoed
        results.append(result)
    return {"model": model, "usage": {"total_tokens": total_tokens}, "results": results}


# Error bodies: Jina's API reference lists error codes per status with their descriptions
# (https://api.jina.ai/openapi.json, "Error Codes": 400 INPUT_MODEL_NOT_FOUND, 401
# AUTH_INVALID_API_KEY, 403 AUTHZ_INSUFFICIENT_BALANCE, 404 RESOURCE_NOT_FOUND) but shows no body;
# the message goes in FastAPI's `detail`. The 429 / 500 texts and the context-length text are
# the stand-in's own (the reference gives none).
JINA_ERRORS = {
    400: "Model 'standin-missing' not found",
    401: "Invalid API key",
    403: "Insufficient account balance",
    404: "Model 'standin-missing' not found or access denied",
    429: "Rate limit exceeded",
    500: "Internal server error",
}


def jina_error(status: int, message: Optional[str] = None) -> dict:
    return {"detail": message or JINA_ERRORS.get(status, f"The request failed with status {status}.")}


JINA_CONTEXT_LENGTH = "Input is too long: the query and a document exceed the model's maximum sequence length"


# ======================================================================================
# Audio: transcription (multipart uploads) and speech
# ======================================================================================
# The uploaded parts come from server.parse_multipart: dicts with name, filename, content_type,
# length, sha256 and (server side only) content. What is "heard" is fixed: DEFAULT_TEXT; how
# long the audio lasts is read from the upload (a WAVE file's header; other containers at an
# assumed 128 kbit/s), so durations and timestamps are functions of the request.

TRANSCRIBED_TEXT = DEFAULT_TEXT
COMPRESSED_AUDIO_BYTES_PER_SECOND = 16000  # 128 kbit/s, for uploads that are not WAVE files


def form_value(parts: list, name: str) -> Optional[str]:
    for p in parts:
        if p.get("name") == name and p.get("filename") is None and isinstance(p.get("value"), str):
            return p["value"]
    return None


def form_values(parts: list, name: str) -> list[str]:
    """Every value of a repeated field (`name` or `name[]`), in order."""
    return [p["value"] for p in parts if p.get("name") in (name, name + "[]")
            and p.get("filename") is None and isinstance(p.get("value"), str)]


def form_file(parts: list, name: str = "file") -> Optional[dict]:
    for p in parts:
        if p.get("name") == name and p.get("filename") is not None:
            return p
    return None


def audio_seconds(upload: Optional[dict]) -> float:
    if upload is None:
        return 1.0
    content = upload.get("content") or b""
    seconds = wav_seconds(content)
    if seconds is None:
        seconds = len(content) / COMPRESSED_AUDIO_BYTES_PER_SECOND
    return max(0.01, seconds)


def _word_timings(text: str, seconds: float) -> list[tuple[str, float, float]]:
    """The words of `text` spread evenly over `seconds` (start, end rounded to 2 places)."""
    words = text.split()
    step = seconds / max(1, len(words))
    return [(w, round(i * step, 2), round((i + 1) * step, 2)) for i, w in enumerate(words)]


# Mistral, POST /v1/audio/transcriptions (multipart: model, file | file_url | file_id, language,
# temperature, diarize, context_bias, timestamp_granularities), per Mistral's API reference
# https://docs.mistral.ai/api/endpoint/audio/transcriptions: TranscriptionResponse {model, text,
# language (string or null), segments (TranscriptionSegmentChunk: text, start, end,
# type "transcription_segment"; speaker_id when diarized), usage (UsageInfo: prompt_audio_seconds,
# prompt_tokens, completion_tokens, total_tokens)} (also
# https://github.com/mistralai/client-python/blob/main/docs/models/transcriptionresponse.md).
# total_tokens also counts the audio, as in the reference's example (its total exceeds prompt +
# completion): the stand-in counts 12.5 audio tokens per second, the rate of Voxtral's audio
# encoder (one embedding per 80 ms, https://arxiv.org/abs/2507.13264).
MISTRAL_AUDIO_TOKENS_PER_SECOND = 12.5
MISTRAL_TRANSCRIPTION_PROMPT_TOKENS = 4


def mistral_transcription(parts: list, model: str) -> dict:
    upload = form_file(parts)
    seconds = audio_seconds(upload)
    text = TRANSCRIBED_TEXT
    granularities = set(form_values(parts, "timestamp_granularities"))
    diarize = (form_value(parts, "diarize") or "").lower() == "true"
    if "word" in granularities:
        pieces = _word_timings(text, seconds)
    elif "segment" in granularities or diarize:
        pieces = [(text, 0.0, round(seconds, 2))]
    else:
        pieces = []
    segments = []
    for piece, start, end in pieces:
        segment: dict = {"text": piece, "start": start, "end": end, "type": "transcription_segment"}
        if diarize:
            segment["speaker_id"] = "speaker_1"
        segments.append(segment)
    completion = len(tokenize(text))
    audio_tokens = math.ceil(seconds * MISTRAL_AUDIO_TOKENS_PER_SECOND)
    return {
        "model": model,
        "text": text,
        "language": form_value(parts, "language") or "en",
        "segments": segments,
        "usage": {
            "prompt_audio_seconds": math.ceil(seconds),
            "prompt_tokens": MISTRAL_TRANSCRIPTION_PROMPT_TOKENS,
            "completion_tokens": completion,
            "total_tokens": MISTRAL_TRANSCRIPTION_PROMPT_TOKENS + audio_tokens + completion,
        },
    }


# OpenAI, POST /v1/audio/transcriptions for any other model
# (https://platform.openai.com/docs/api-reference/audio/createTranscription): the transcription
# object (https://platform.openai.com/docs/api-reference/audio/json-object: {text, usage: {type:
# "duration", seconds}}); for response_format "verbose_json" the verbose object
# (https://platform.openai.com/docs/api-reference/audio/verbose-json-object: task, language,
# duration, text, segments [{id, seek, start, end, text, tokens, temperature, avg_logprob,
# compression_ratio, no_speech_prob}], words [{word, start, end}] when timestamp_granularities
# has "word", usage); for "text" the bare text (server.py).
def openai_transcription(parts: list) -> dict:
    seconds = audio_seconds(form_file(parts))
    usage = {"type": "duration", "seconds": math.ceil(seconds)}
    if form_value(parts, "response_format") != "verbose_json":
        return {"text": TRANSCRIBED_TEXT, "usage": usage}
    out: dict = {
        "task": "transcribe",
        "language": "english",
        "duration": round(seconds, 2),
        "text": TRANSCRIBED_TEXT,
        "segments": [{
            "id": 0, "seek": 0, "start": 0.0, "end": round(seconds, 2), "text": " " + TRANSCRIBED_TEXT,
            "tokens": [50364 + i for i in range(len(tokenize(TRANSCRIBED_TEXT)))],
            "temperature": 0.0, "avg_logprob": -0.25, "compression_ratio": 0.92, "no_speech_prob": 0.01,
        }],
    }
    if "word" in form_values(parts, "timestamp_granularities"):
        out["words"] = [{"word": w, "start": a, "end": b} for w, a, b in _word_timings(TRANSCRIBED_TEXT, seconds)]
    out["usage"] = usage
    return out


# xAI, POST /v1/stt (multipart: file, last, or url; language, format, diarize, multichannel,
# keyterm, audio_format, sample_rate, ...), per https://docs.x.ai/developers/rest-api-reference/inference/speech-to-text
# and https://docs.x.ai/developers/model-capabilities/audio/speech-to-text: {text, language
# (the reference: "currently empty - language detection is not yet enabled"; the stand-in
# echoes the `language` sent, else ""), duration (seconds, 2 decimals), words ([{text, start,
# end}], a `speaker` index per word with diarize=true; omitted when empty)}. `channels` only
# with multichannel=true, which the stand-in does not model.
def xai_transcription(parts: list) -> dict:
    seconds = audio_seconds(form_file(parts))
    diarize = (form_value(parts, "diarize") or "").lower() == "true"
    words = []
    for word, start, end in _word_timings(TRANSCRIBED_TEXT, seconds):
        item: dict = {"text": word, "start": start, "end": end}
        if diarize:
            item["speaker"] = 0
        words.append(item)
    out: dict = {"text": TRANSCRIBED_TEXT, "language": form_value(parts, "language") or "", "duration": round(seconds, 2)}
    if words:
        out["words"] = words
    return out


# Mistral, POST /v1/audio/speech ({model, input, voice_id | ref_audio, response_format: pcm, wav,
# mp3, flac, opus}), per https://docs.mistral.ai/api/endpoint/audio/speech and
# https://docs.mistral.ai/studio/audio/text-to-speech/generate-speech: a JSON SpeechResponse
# {"audio_data": <base64 audio>} (https://github.com/mistralai/client-python/blob/main/docs/models/speechresponse.md).
# Without response_format the stand-in answers mp3.
def mistral_speech(body: dict) -> dict:
    fmt = body.get("response_format") if body.get("response_format") in SPEECH_CONTENT_TYPES else "mp3"
    return {"audio_data": base64.b64encode(speech_audio(str(body.get("input", "")), fmt)).decode("ascii")}


# OpenAI, POST /v1/audio/speech for any other model ({model, input, voice, response_format: mp3
# (default), opus, aac, flac, wav, pcm}), https://platform.openai.com/docs/api-reference/audio/createSpeech:
# the audio file's bytes. aac is answered as mp3 (the stand-in does not write ADTS).
def openai_speech(body: dict) -> tuple[bytes, str]:
    fmt = body.get("response_format") if body.get("response_format") in SPEECH_CONTENT_TYPES else "mp3"
    return speech_audio(str(body.get("input", "")), fmt), SPEECH_CONTENT_TYPES[fmt]
