"""A fixed-response provider for benchmarks: Debian's nginx answering every POST with one
canned OpenAI chat completion (or embedding), so the server is never the bottleneck."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

CHAT_COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_44709d6fcb",
    "service_tier": "default",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there! How can I help?", "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 9,
        "completion_tokens": 8,
        "total_tokens": 17,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
}

_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      default_type application/json;
      client_body_buffer_size 1m;
      return 200 '{body}';
    }}
    # A streamed answer: a static text/event-stream file (a POST to a static file is a 405
    # in nginx, turned back into the file).
    location = /stream/v1/chat/completions {{
      root {dir};
      default_type text/event-stream;
      client_body_buffer_size 1m;
      rewrite ^ /stream.sse break;
      error_page 405 =200 /stream.sse;
    }}
    location = /stream.sse {{
      root {dir};
      types {{ }}
      default_type text/event-stream;
    }}
{extra_locations}
  }}
}}
"""

# One more static answer (bench/stream_formats.py): the same POST-to-a-file turn as above.
_FILE_LOCATION = """
    location = {path} {{
      root {dir};
      default_type {content_type};
      client_body_buffer_size 1m;
      rewrite ^ /{file} break;
      error_page 405 =200 /{file};
    }}
    location = /{file} {{
      root {dir};
      types {{ }}
      default_type {content_type};
    }}
"""


STREAM_CHUNKS = 500


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sse_stream(chunks: int = 500) -> bytes:
    """An OpenAI chat completion stream of `chunks` content chunks (plus the role chunk, the
    finish chunk and [DONE]), as the API reference describes it."""
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
            "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_44709d6fcb", "service_tier": "default"}

    def event(delta: dict, finish=None) -> str:
        body = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return "data: " + json.dumps(body, separators=(",", ":")) + "\n\n"

    parts = [event({"role": "assistant", "content": "", "refusal": None})]
    parts += [event({"content": f" word{i}"}) for i in range(chunks)]
    parts.append(event({}, "stop"))
    parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


class FixedServer:
    """`with FixedServer() as server: server.base_url` — nginx on a free loopback port."""

    def __init__(self, body: dict = CHAT_COMPLETION, files: list = ()):
        """`files`: more static answers, objects with `path`, `content_type` and `body` (the
        per-provider streams of bench/stream_formats.py), each served at its exact path."""
        self.body = json.dumps(body, separators=(",", ":"))
        self.files = list(files)
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._dir = None
        self._proc = None

    def __enter__(self) -> "FixedServer":
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
        self._dir = tempfile.mkdtemp(prefix="eqp-nginx-")
        # nginx's worker drops root: it must be able to read the streamed answer's file.
        os.chmod(self._dir, 0o755)
        (Path(self._dir) / "stream.sse").write_bytes(sse_stream(STREAM_CHUNKS))
        os.chmod(Path(self._dir) / "stream.sse", 0o644)
        locations = []
        for i, extra in enumerate(self.files):
            name = f"answer{i}"
            (Path(self._dir) / name).write_bytes(extra.body)
            os.chmod(Path(self._dir) / name, 0o644)
            locations.append(_FILE_LOCATION.format(path=extra.path, dir=self._dir, file=name, content_type=extra.content_type))
        conf = Path(self._dir) / "nginx.conf"
        conf.write_text(_CONF.format(dir=self._dir, port=self.port, body=self.body.replace("'", "\\'"),
                                     extra_locations="".join(locations)))
        self._proc = subprocess.Popen([nginx, "-c", str(conf), "-p", self._dir], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("nginx did not start")

    def __exit__(self, *exc) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
