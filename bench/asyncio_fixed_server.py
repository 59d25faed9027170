"""A fixed-response provider that needs nothing but Python: an asyncio server in its own
process answering every POST with one canned OpenAI chat completion, or, for a path under
`/stream/`, one canned chat completion stream.

The demo measures against it on machines without nginx (bench/fixed_server.py is the
benchmarks' server). It runs in a child process so that its work never shares the measured
process's interpreter, and it answers from bytes prepared once, so it stays far faster than
the LiteLLM calls measured against it.

    with AsyncioFixedServer(stream_chunks=200) as server:
        server.base_url              # http://127.0.0.1:<port>; /stream/v1 for the stream
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parents[1]


def _answer(content_type: str, body: bytes) -> bytes:
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: keep-alive\r\n\r\n")
    return head.encode("ascii") + body


class _Answering(asyncio.Protocol):
    """One connection: each complete request (headers and the body they announce) gets the
    canned answer for its path. Bodies are read to keep the connection in step, never parsed."""

    def __init__(self, chat: bytes, stream: bytes):
        self._chat, self._stream = chat, stream
        self._buffer = bytearray()
        self._transport: Optional[asyncio.Transport] = None

    def connection_made(self, transport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).decode("latin-1").lower()
            size = _body_size(head, self._buffer, end + 4)
            if size is None:
                return  # the body is still arriving
            path = head.split(" ", 2)[1] if head.count(" ") >= 2 else "/"
            del self._buffer[:end + 4 + size]
            self._transport.write(self._stream if path.startswith("/stream/") else self._chat)


def _body_size(head: str, buffer: bytearray, start: int) -> Optional[int]:
    """How many bytes after the headers belong to this request, or None while incomplete."""
    if "transfer-encoding: chunked" in head:
        at = start
        while True:  # chunk-size line, data, CRLF; a zero-size chunk ends the body
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                return None
            size = int(bytes(buffer[at:line_end]).split(b";")[0] or b"0", 16)
            at = line_end + 2 + size + 2
            if len(buffer) < at:
                return None
            if size == 0:
                return at - start
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            size = int(line.split(":", 1)[1])
            return size if len(buffer) - start >= size else None
    return 0


def serve(stream_chunks: int) -> None:
    """Run the server on a free loopback port; print `LISTENING <port>` once it listens. Ends
    when stdin closes, that is when the process that started it is gone."""
    sys.path.insert(0, str(REPO_ROOT))
    from bench.fixed_server import CHAT_COMPLETION, sse_stream

    chat = _answer("application/json", json.dumps(CHAT_COMPLETION, separators=(",", ":")).encode())
    stream = _answer("text/event-stream", sse_stream(stream_chunks))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Answering(chat, stream), "127.0.0.1", 0)
        print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
        done = loop.create_future()
        threading.Thread(target=_wait_for_stdin_eof, args=(loop, done), daemon=True).start()
        await done

    asyncio.run(main())


def _wait_for_stdin_eof(loop: asyncio.AbstractEventLoop, done: asyncio.Future) -> None:
    sys.stdin.buffer.read()
    loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))


class AsyncioFixedServer:
    """`with AsyncioFixedServer() as server: server.base_url`: the server in a child process."""

    def __init__(self, stream_chunks: int = 200):
        self.stream_chunks = stream_chunks
        self.base_url = ""
        self._proc: Optional[subprocess.Popen] = None

    def __enter__(self) -> "AsyncioFixedServer":
        # No EDGEQUAKE_* variables: the patch's .pth autoload has no business in the server.
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("EDGEQUAKE")}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.asyncio_fixed_server", "--stream-chunks", str(self.stream_chunks)],
            cwd=str(REPO_ROOT), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = self._proc.stdout.readline()
        if not line.startswith("LISTENING "):
            self.__exit__()
            raise RuntimeError(f"the fixed-response server did not start ({line.strip() or 'no output'})")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def __exit__(self, *exc) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.stdin.close()  # the server's signal to end
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        proc.stdout.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stream-chunks", type=int, default=200)
    serve(parser.parse_args().stream_chunks)
