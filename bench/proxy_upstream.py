"""The fixed-response upstream of bench/bench_proxy.py: Debian's nginx answering, by path prefix,

* `/openai/...`            one canned OpenAI chat completion (bench.fixed_server's);
* `/openai-stream/...`     an OpenAI chat completion stream of 500 content chunks;
* `/anthropic/...`         one canned Anthropic Messages answer;
* `/anthropic-stream/...`  an Anthropic Messages stream of 500 text deltas.

Streams are static files (a POST to a static file is a 405 in nginx, turned back into the file),
so the server never is the bottleneck. The proxy chooses stream or not per request; the bench's
proxy config points a streaming and a non-streaming model of each provider at the matching
prefix.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench.fixed_server import CHAT_COMPLETION, STREAM_CHUNKS, sse_stream

ANTHROPIC_MESSAGE = {
    "id": "msg_bench",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "text", "text": "Hello there! How can I help?"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 9, "output_tokens": 8, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
}


def anthropic_stream(chunks: int = STREAM_CHUNKS) -> bytes:
    """A Messages API stream with `chunks` text deltas, framed as the API reference shows."""

    def event(kind: str, data: dict) -> str:
        return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"

    start = {**ANTHROPIC_MESSAGE, "content": [], "stop_reason": None, "usage": {"input_tokens": 9, "output_tokens": 1}}
    parts = [event("message_start", {"type": "message_start", "message": start}),
             event("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}})]
    parts += [event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": f" word{i}"}})
              for i in range(chunks)]
    parts += [event("content_block_stop", {"type": "content_block_stop", "index": 0}),
              event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                      "usage": {"output_tokens": chunks}}),
              event("message_stop", {"type": "message_stop"})]
    return "".join(parts).encode()


def _json_location(prefix: str, body: dict) -> str:
    text = json.dumps(body, separators=(",", ":")).replace("'", "\\'")
    return f"""
    location ^~ /{prefix}/ {{
      default_type application/json;
      client_body_buffer_size 1m;
      return 200 '{text}';
    }}"""


def _file_location(prefix: str, file: str) -> str:
    return f"""
    location ^~ /{prefix}/ {{
      root {{dir}};
      default_type text/event-stream;
      client_body_buffer_size 1m;
      rewrite ^ /{file} break;
      error_page 405 =200 /{file};
    }}
    location = /{file} {{
      root {{dir}};
      types {{{{ }}}}
      default_type text/event-stream;
    }}"""


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
{locations}
  }}
}}
"""


class ProxyUpstream:
    """`with ProxyUpstream() as upstream: upstream.base_url` — nginx on a free loopback port."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._dir = None
        self._proc = None

    def __enter__(self) -> "ProxyUpstream":
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
        self._dir = tempfile.mkdtemp(prefix="eqp-proxy-upstream-")
        os.chmod(self._dir, 0o755)  # nginx's worker drops root: it must read the stream files
        for name, data in (("openai.sse", sse_stream(STREAM_CHUNKS)), ("anthropic.sse", anthropic_stream())):
            (Path(self._dir) / name).write_bytes(data)
            os.chmod(Path(self._dir) / name, 0o644)
        locations = "".join((
            _json_location("openai", CHAT_COMPLETION),
            _json_location("anthropic", ANTHROPIC_MESSAGE),
            _file_location("openai-stream", "openai.sse").replace("{dir}", self._dir).replace("{{", "{").replace("}}", "}"),
            _file_location("anthropic-stream", "anthropic.sse").replace("{dir}", self._dir).replace("{{", "{").replace("}}", "}"),
        ))
        conf = Path(self._dir) / "nginx.conf"
        conf.write_text(_CONF.format(dir=self._dir, port=self.port, locations=locations))
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
