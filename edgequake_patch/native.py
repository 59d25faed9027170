"""The Rust core, imported in one place so a failed load is one ImportError that `install()`
turns into a warning instead of a broken host app."""

from ._native import (  # noqa: F401  (re-exported)
    NetConfig,
    Response,
    TransportError,
    dumps,
    loads,
    openai_sdk_shape,
    openai_sdk_shape_embedding,
    send,
    send_async,
)

__all__ = ["NetConfig", "Response", "TransportError", "dumps", "loads", "openai_sdk_shape", "openai_sdk_shape_embedding", "send", "send_async"]
