"""A loopback provider stand-in for the probes (probes.py): canned answers in each wire format
the core speaks, shaped as the providers' public API references show them, and a record of every
request it received.

In-process and stdlib-only (http.server on a thread): probes run inside the user's interpreter,
where nothing else may be assumed. Every answer carries Content-Length (streams included, their
whole body at once): what is probed is what each side makes of the bytes, not their pacing.
A model or path naming `probe-error` gets that format's 400 error instead.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple
from urllib.parse import parse_qs, urlsplit

TEXT_PIECES = ("Hello", " from", " the", " probe", ".")
CREATED = 1741569952
ERROR_MARKER = "probe-error"
_USAGE = {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}


def _openai_chat(model: str) -> Dict[str, Any]:
    return {
        "id": "chatcmpl-probe0001", "object": "chat.completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(TEXT_PIECES), "refusal": None,
                                             "annotations": []},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {**_USAGE, "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
        "service_tier": "default", "system_fingerprint": "fp_probe",
    }


def _openai_chunks(model: str, usage: bool) -> List[Dict[str, Any]]:
    def chunk(delta: Dict[str, Any], finish: Any = None) -> Dict[str, Any]:
        return {"id": "chatcmpl-probe0001", "object": "chat.completion.chunk", "created": CREATED, "model": model,
                "service_tier": "default", "system_fingerprint": "fp_probe",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [chunk({"content": piece}) for piece in TEXT_PIECES]
    chunks.append(chunk({}, "stop"))
    if usage:
        chunks.append({**chunk({}), "choices": [], "usage": dict(_USAGE)})
    return chunks


def _vector(index: int) -> List[float]:
    return [round(0.125 * (index + 1) * (k + 1) % 1.0 - 0.5, 6) for k in range(8)]


def _openai_embeddings(body: Dict[str, Any]) -> Dict[str, Any]:
    inputs = body.get("input")
    count = len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1
    data = []
    for index in range(count):
        vector: Any = _vector(index)
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    return {"object": "list", "data": data, "model": body.get("model"),
            "usage": {"prompt_tokens": 5 * count, "total_tokens": 5 * count}}


def _anthropic_message(model: str) -> Dict[str, Any]:
    return {"id": "msg_probe0001", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "".join(TEXT_PIECES)}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 5}}


def _anthropic_events(model: str) -> List[Tuple[str, Dict[str, Any]]]:
    start = {**_anthropic_message(model), "content": [], "stop_reason": None,
             "usage": {"input_tokens": 9, "output_tokens": 1}}
    events = [("message_start", {"type": "message_start", "message": start}),
              ("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}}),
              ("ping", {"type": "ping"})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": piece}}) for piece in TEXT_PIECES]
    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": 5}}),
               ("message_stop", {"type": "message_stop"})]
    return events


def _gemini_answer(model: str, text: str, done: bool, tokens: int) -> Dict[str, Any]:
    candidate: Dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if done:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate],
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": tokens, "totalTokenCount": 9 + tokens},
            "modelVersion": model, "responseId": "probe-response-0001"}


def _ollama_stamp(model: str) -> Dict[str, Any]:
    return {"model": model, "created_at": "2024-08-04T19:22:45.499127Z"}


_OLLAMA_DONE = {"done": True, "done_reason": "stop", "total_duration": 5043500667, "load_duration": 5025959,
                "prompt_eval_count": 9, "prompt_eval_duration": 325953000, "eval_count": 5,
                "eval_duration": 4709213000}


def _openai_response(model: str) -> Dict[str, Any]:
    """A Responses API answer (https://platform.openai.com/docs/api-reference/responses/object)."""
    text = "".join(TEXT_PIECES)
    return {
        "id": "resp_probe0001", "object": "response", "created_at": CREATED, "status": "completed", "error": None,
        "incomplete_details": None, "instructions": None, "max_output_tokens": None, "model": model,
        "output": [{"type": "message", "id": "msg_probe0001", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}]}],
        "parallel_tool_calls": True, "previous_response_id": None, "reasoning": {"effort": None, "summary": None},
        "store": True, "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
        "top_p": 1.0, "truncation": "disabled",
        "usage": {"input_tokens": 9, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
                  "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 14},
        "user": None, "metadata": {},
    }


def _openai_response_events(model: str) -> List[Tuple[str, Dict[str, Any]]]:
    """The same answer streamed (https://platform.openai.com/docs/api-reference/responses-streaming)."""
    done = _openai_response(model)
    started = {**done, "status": "in_progress", "output": [], "usage": None}
    message = {**done["output"][0], "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": "msg_probe0001", "output_index": 0}
    events: List[Tuple[str, Dict[str, Any]]] = [
        ("response.created", {"response": started}),
        ("response.in_progress", {"response": started}),
        ("response.output_item.added", {"output_index": 0, "item": message}),
        ("response.content_part.added", {**where, "content_index": 0, "part": part}),
    ]
    events += [("response.output_text.delta", {**where, "content_index": 0, "delta": piece}) for piece in TEXT_PIECES]
    events += [
        ("response.output_text.done", {**where, "content_index": 0, "text": "".join(TEXT_PIECES)}),
        ("response.content_part.done", {**where, "content_index": 0, "part": done["output"][0]["content"][0]}),
        ("response.output_item.done", {"output_index": 0, "item": done["output"][0]}),
        ("response.completed", {"response": done}),
    ]
    return [(kind, {"type": kind, "sequence_number": number, **data}) for number, (kind, data) in enumerate(events)]


def _jina_rerank(body: Dict[str, Any]) -> Dict[str, Any]:
    """A rerank answer (https://jina.ai/reranker/: results with index, relevance_score, document)."""
    documents = body.get("documents") or []
    results = [{"index": i, "relevance_score": round(0.9 - 0.1 * i, 4),
                "document": {"text": d if isinstance(d, str) else (d or {}).get("text")}}
               for i, d in enumerate(documents)]
    top_n = body.get("top_n")
    if isinstance(top_n, int):
        results = results[:top_n]
    return {"model": body.get("model"), "usage": {"total_tokens": 12}, "results": results}


# A 1x1 PNG: what a probed image answer carries.
_PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000105e27d2a0000000049454e44ae426082")).decode()


def _imagen_predict(body: Dict[str, Any]) -> Dict[str, Any]:
    """Imagen's answer (https://ai.google.dev/api/generate-images): one prediction per sample."""
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    count = parameters.get("sampleCount") if isinstance(parameters.get("sampleCount"), int) else 1
    return {"predictions": [{"bytesBase64Encoded": _PNG, "mimeType": "image/png"} for _ in range(count)]}


def _mistral_transcription() -> Dict[str, Any]:
    """Mistral's transcription answer (https://docs.mistral.ai/api/#tag/audio.transcriptions)."""
    return {"model": "voxtral-mini-latest", "text": "".join(TEXT_PIECES), "language": "en", "segments": [],
            "usage": {"prompt_audio_seconds": 1, "prompt_tokens": 4, "total_tokens": 14, "completion_tokens": 5}}


def answer(method: str, path: str, query: Dict[str, List[str]], body: Any) -> Tuple[int, str, bytes]:
    """(status, content type, body) for one request."""
    body = body if isinstance(body, dict) else {}
    model = str(body.get("model") or path.rsplit("/", 1)[-1].split(":", 1)[0])
    stream = bool(body.get("stream"))
    failing = ERROR_MARKER in model or ERROR_MARKER in path

    def js(status: int, obj: Any) -> Tuple[int, str, bytes]:
        return status, "application/json", json.dumps(obj).encode()

    def sse(items: List[Any]) -> Tuple[int, str, bytes]:
        out = b""
        for item in items:
            if isinstance(item, tuple):
                out += f"event: {item[0]}\ndata: {json.dumps(item[1])}\n\n".encode()
            else:
                out += f"data: {json.dumps(item)}\n\n".encode()
        return 200, "text/event-stream", out

    if path.endswith("/v1/messages"):
        if failing:
            return js(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "Probe error."}})
        return sse(_anthropic_events(model)) if stream else js(200, _anthropic_message(model))
    if ":generateContent" in path or ":streamGenerateContent" in path:
        if failing:
            return js(400, {"error": {"code": 400, "message": "Probe error.", "status": "INVALID_ARGUMENT"}})
        if ":streamGenerateContent" in path:
            pieces = [_gemini_answer(model, piece, i == len(TEXT_PIECES) - 1, i + 1) for i, piece in enumerate(TEXT_PIECES)]
            if query.get("alt") == ["sse"]:
                return sse(pieces)
            return js(200, pieces)
        return js(200, _gemini_answer(model, "".join(TEXT_PIECES), True, 5))
    if path.endswith(":predict"):
        if failing:
            return js(400, {"error": {"code": 400, "message": "Probe error.", "status": "INVALID_ARGUMENT"}})
        return js(200, _imagen_predict(body))
    if ":batchEmbedContents" in path or ":embedContent" in path:
        if failing:
            return js(400, {"error": {"code": 400, "message": "Probe error.", "status": "INVALID_ARGUMENT"}})
        requests = body.get("requests") or [body]
        return js(200, {"embeddings": [{"values": _vector(i)} for i in range(len(requests))]})
    if path.endswith(("/api/generate", "/api/chat")):
        if failing:
            return js(400, {"error": "probe error"})
        chat = path.endswith("/api/chat")

        def piece(text: str) -> Dict[str, Any]:
            return {**_ollama_stamp(model), **({"message": {"role": "assistant", "content": text}} if chat
                                               else {"response": text})}

        if not stream:
            return js(200, {**piece("".join(TEXT_PIECES)), **_OLLAMA_DONE})
        lines = [{**piece(text), "done": False} for text in TEXT_PIECES] + [{**piece(""), **_OLLAMA_DONE}]
        return 200, "application/x-ndjson", b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    if path.endswith("/api/embed"):
        if failing:
            return js(400, {"error": "probe error"})
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        return js(200, {"model": model, "embeddings": [_vector(i) for i in range(count)],
                        "total_duration": 14143917, "load_duration": 1019500, "prompt_eval_count": 8})
    if path.endswith("/api/show"):
        return js(200, {"modelfile": "", "parameters": "", "template": "{{ .Prompt }}",
                        "details": {"format": "gguf", "family": "llama"},
                        "model_info": {"general.architecture": "llama", "llama.context_length": 8192}})
    openai_error = {"error": {"message": "Probe error.", "type": "invalid_request_error", "param": None, "code": None}}
    if path.endswith("/chat/completions"):
        if failing:
            return js(400, openai_error)
        if stream:
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return sse([*_openai_chunks(model, usage), "[DONE]"])
        return js(200, _openai_chat(model))
    if path.endswith("/embeddings"):
        if failing:
            return js(400, openai_error)
        return js(200, _openai_embeddings(body))
    if path.endswith("/audio/transcriptions"):
        return js(400, openai_error) if failing else js(200, _mistral_transcription())
    if path.endswith("/responses"):
        if failing:
            return js(400, openai_error)
        return sse(_openai_response_events(model)) if stream else js(200, _openai_response(model))
    if path.endswith("/rerank"):
        if failing:
            return js(400, {"detail": "Probe error."})
        return js(200, _jina_rerank(body))
    return js(404, {"error": {"message": f"Invalid URL ({method} {path})", "type": "invalid_request_error",
                              "param": None, "code": None}})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # the probes say what they found, nothing else
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("latin-1")
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        self.server.received.append({  # type: ignore[attr-defined]
            "method": self.command, "path": parts.path, "query": query,
            "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
        })
        status, kind, payload = answer(self.command, parts.path, query, body)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET = _serve


class ProbeStandin:
    """`with ProbeStandin() as server:` listens on a free loopback port until the block ends."""

    def __enter__(self) -> "ProbeStandin":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.received = []  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="edgequake-probe-standin", daemon=True)
        self._thread.start()
        return self

    def take(self) -> List[Dict[str, Any]]:
        """The requests received since the last take, but LiteLLM's model-info lookups
        (Ollama's /api/show): its logging thread makes them after a call, at a time of its own,
        so they land in whichever call is observed then; stock and patched make them alike."""
        received = self._server.received  # type: ignore[attr-defined]
        taken = list(received)
        del received[: len(taken)]
        return [r for r in taken if not r["path"].endswith("/api/show")]

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
