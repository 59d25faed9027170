"""The call in flight: what the dispatch hooks mark, what the transport hooks read, and the
counted reason when a call is left to stock. ContextVars, so threads and asyncio tasks each see
their own call."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Optional

from . import stats

#: Set while a dispatch the router accepted is running; the transport hooks serve only these.
#: A ContextVar, so threads and asyncio tasks each see their own call.
active_call: ContextVar[Optional[str]] = ContextVar("edgequake_patch_active_call", default=None)
#: Whether that call asked for a stream: its responses are then handed over as they arrive.
active_stream: ContextVar[bool] = ContextVar("edgequake_patch_active_stream", default=False)
#: Which of LiteLLM's endpoints that call is ("chat", "embedding", "responses", ...: the names
#: in decide/table.py): what its native exchanges are counted under in `status()`.
active_endpoint: ContextVar[str] = ContextVar("edgequake_patch_active_endpoint", default="chat")


def refuse(reason: str) -> None:
    """Leave this call (or this request) to stock, counting why."""
    stats.count_fallback(reason)
