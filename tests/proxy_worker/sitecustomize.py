"""Loaded at start-up by every Python process started with this directory on PYTHONPATH (the
proxy tests put it there for the LiteLLM Proxy they start): when EQP_BLOCK_PORT is set, Python's
own sockets may not connect to that port on any event loop (asyncio's, uvloop's) nor
synchronously, and each refused attempt is appended to EQP_BLOCK_LOG. The Rust core's sockets
are not Python's: a proxy whose upstream calls still get answers made them natively."""

import os

_PORT = os.environ.get("EQP_BLOCK_PORT")

if _PORT:
    import asyncio
    import socket

    _port = int(_PORT)
    _log = os.environ.get("EQP_BLOCK_LOG")

    def _during_a_call() -> bool:
        """Whether a LiteLLM call (completion, embedding: litellm/main.py) is on the stack. The
        proxy's router also reaches providers outside calls (its model-info discovery GETs
        `/v1/models` of openai deployments at start-up), which the patch does not serve: those
        are refused too, but are not a call's."""
        import sys

        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename.endswith(os.path.join("litellm", "main.py")):
                return True
            frame = frame.f_back
        return False

    def _refuse(address):
        if isinstance(address, tuple) and len(address) >= 2 and address[1] == _port:
            if _log:
                kind = "call" if _during_a_call() else "other"
                with open(_log, "a", encoding="utf-8") as out:
                    out.write(f"{kind} {os.getpid()} {address[0]}:{address[1]}\n")
                if os.environ.get("EQP_BLOCK_TRACE"):  # where an unexpected attempt came from
                    import traceback

                    with open(_log + ".trace", "a", encoding="utf-8") as out:
                        out.write("".join(traceback.format_stack()) + "\n")
            raise ConnectionRefusedError(111, "Python sockets may not reach the stand-in")

    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
        _refuse(address)
        return _connect(self, address)

    def connect_ex(self, address):
        try:
            _refuse(address)
        except ConnectionRefusedError:
            return 111
        return _connect_ex(self, address)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex

    def _guard_loop(cls):
        sock_connect, create_connection = cls.sock_connect, cls.create_connection

        async def guarded_sock_connect(self, sock, address):
            _refuse(address)
            return await sock_connect(self, sock, address)

        async def guarded_create_connection(self, *args, **kwargs):
            host = kwargs.get("host", args[1] if len(args) > 1 else None)
            port = kwargs.get("port", args[2] if len(args) > 2 else None)
            if host is not None and port is not None:
                _refuse((host, int(port)))
            return await create_connection(self, *args, **kwargs)

        cls.sock_connect, cls.create_connection = guarded_sock_connect, guarded_create_connection

    _guard_loop(asyncio.BaseEventLoop)
    try:
        import uvloop  # uvloop's loop connects through libuv, not Python's socket.connect

        class _GuardedLoop(uvloop.Loop):
            pass

        _guard_loop(_GuardedLoop)
        uvloop.Loop = _GuardedLoop  # uvloop.new_event_loop() builds the module's Loop
    except ImportError:
        pass
