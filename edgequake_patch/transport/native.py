"""The Rust core, imported in one place so a failed load is one ImportError that `install()`
turns into a warning instead of a broken host app."""

from .._native import (  # noqa: F401  (re-exported)
    FrameSplitter,
    NetConfig,
    Response,
    StreamResponse,
    TransportError,
    dumps,
    loads,
    new_model,
    openai_schema,
    openai_sdk_shape,
    open_stream,
    open_stream_async,
    parse_answer,
    openai_sdk_shape_embedding,
    send,
    send_async,
    use_openai_schema,
    uuid4_text,
)

__all__ = ["FrameSplitter", "NetConfig", "Response", "StreamResponse", "open_stream", "open_stream_async", "parse_answer", "TransportError", "dumps", "loads", "new_model", "openai_schema", "openai_sdk_shape", "openai_sdk_shape_embedding", "send", "send_async", "use_openai_schema", "uuid4_text"]
