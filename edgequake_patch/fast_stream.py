"""The fast path for streamed chat completions from the OpenAI SDK family.

Stock LiteLLM spends a few hundred µs on every streamed chunk: the SDK decodes the event and
builds its pydantic chunk, then `CustomStreamWrapper` turns that into LiteLLM's chunk
(`chunk_creator`, reprs formatted for debug lines) and hands a logging job to a thread pool.
For almost every chunk of an answer all that work has one outcome, known in advance: the
chunk stock built for the previous frame, with this frame's text.

So stock keeps building the chunks that matter (the first, tool calls, the finish, usage,
errors, anything unusual), on its own byte stream, and the core cuts the body into SSE frames
(`native.FrameSplitter`, rust/openai_stream.rs). After stock has turned a *steady* frame (one
`data:` line whose only varying part is `choices[0].delta.content`) into a chunk, the splitter
is armed with that frame: every later frame that is byte for byte the same except for its
content string comes back as that string, and its chunk is a copy of stock's last one with
that content. Every other frame goes, verbatim and in order, to stock's byte stream.

What stock does per chunk besides building it is done here too, in stock's order: its
repetition guard (a frame that would trip it goes to stock, which raises), `response_uptil_now`,
`chunks`, and the per-chunk logging job, which is submitted as stock submits it whenever
anything could observe it (any success callback, sync requests only, as stock). With no
callback registered that job has no observable effect, so it is skipped.

`adopt()` decides per stream; anything it does not recognise stays a plain stock wrapper, and
so does any stream while LiteLLM's verbose or debug logging is on (stock logs every chunk).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from contextlib import contextmanager
from typing import Any, Optional

import litellm
from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper
from pydantic_core import PydanticUndefined

from . import native, routing, stats

try:
    from litellm.litellm_core_utils.thread_pool_executor import executor as _logging_pool
except ImportError:  # pragma: no cover - both supported releases have it
    _logging_pool = None

_SCALARS = (type(None), str, int, float, bool)


class FrameFeed:
    """The core's streamed body as SSE frames, read by two consumers: the fast wrapper takes
    steady frames' content; stock's byte stream (the SDK's decoder) gets every other frame,
    verbatim, in order. A body that breaks is reported to stock's byte stream, where stock
    reads it, so the error is stock's."""

    __slots__ = ("_body", "_stream", "_split", "_pending", "_error", "_eof", "handed")

    def __init__(self, body: Any):
        self._body = body
        self._stream = body._stream
        self._split = native.FrameSplitter()
        self._pending: deque = deque()
        self._error: Optional[BaseException] = None
        self._eof = False
        #: Frames stock's byte stream was given since the wrapper last cleared this.
        self.handed: list = []

    def _got(self, chunk: Optional[bytes]) -> None:
        if chunk is None:
            self._eof = True
        else:
            self._body._received += len(chunk)
            self._split.feed(chunk)

    def content(self) -> Any:
        """A steady frame's content (str); None if the next frame is stock's (queued for its
        byte stream), the body ended or it broke; False if nothing complete is in yet (the
        caller waits with `fill()` / `fill_async()` and asks again)."""
        if self._pending or self._error is not None:
            return None
        item = self._split.take()
        if item.__class__ is str:
            return item
        if item is not None:
            self._pending.append(item)
            return None
        return None if self._eof else False

    def fill(self) -> None:
        """Wait for more of the body (GIL released)."""
        try:
            self._got(self._stream.next_chunk())
        except native.TransportError as error:
            self._error = error
        except BaseException:  # interrupted while waiting: the connection goes, as in stock
            self._stream.close()
            raise

    async def fill_async(self) -> None:
        stream = self._stream
        try:
            chunk = stream.try_next()  # read ahead already: no await
            if chunk is False:
                chunk = await stream.next_async()
            self._got(chunk)
        except native.TransportError as error:
            self._error = error
        except BaseException:  # the reading task was cancelled: close at once, as stock's body does
            self._stream.close()
            raise

    def unread(self) -> None:
        """Give the last steady frame to stock after all."""
        self._pending.appendleft(self._split.last())

    def _stock_frame(self) -> Any:
        """The next bytes for stock: bytes, None (wait for more) or raises at the end."""
        if self._pending:
            frame = self._pending.popleft()
        else:
            frame = self._split.take(True)
            if frame is None:
                if self._error is not None or self._eof:
                    rest = self._split.rest()  # a frame cut short: stock sees its bytes too
                    if rest:
                        return rest
                    if self._error is not None:
                        raise self._error
                    raise StopIteration
                return None
        self.handed.append(frame)
        return frame

    def frames(self):
        """Stock's byte stream (sync)."""
        while True:
            try:
                frame = self._stock_frame()
            except StopIteration:
                return
            if frame is None:
                self.fill()
            else:
                yield frame

    async def frames_async(self):
        while True:
            try:
                frame = self._stock_frame()
            except StopIteration:
                return
            if frame is None:
                await self.fill_async()
            else:
                yield frame


class FastStreamWrapper(CustomStreamWrapper):
    """Stock's stream wrapper, with steady frames' chunks built by copying stock's last one.
    Set on an existing stock wrapper by `adopt()` (so it is the very object stock built)."""

    def __repr__(self) -> str:
        # Stock logs the wrapper's repr (the call's `original_response` in callback payloads):
        # the text must be stock's, class name included.
        if CustomStreamWrapper.__repr__ is not object.__repr__:
            return CustomStreamWrapper.__repr__(self)
        return f"<{CustomStreamWrapper.__module__}.{CustomStreamWrapper.__qualname__} object at {id(self):#x}>"

    def __next__(self):
        if self._eqp_template is not None:
            feed = self._eqp_feed
            content = feed.content()
            while content is False:
                feed.fill()
                content = feed.content()
            if content is not None:
                chunk = self._eqp_steady(content, self._eqp_log)
                if chunk is not None:
                    return chunk
                feed.unread()
        self._eqp_feed.handed.clear()
        first_sent = self.sent_first_chunk  # the first chunk stock sends is unlike the later ones
        with self._eqp_compacted_for_stock():
            chunk = CustomStreamWrapper.__next__(self)
        if first_sent:
            self._eqp_learn(chunk)
        else:
            self._eqp_template = None
        return chunk

    async def __anext__(self):
        if self._eqp_template is not None:
            feed = self._eqp_feed
            content = feed.content()
            while content is False:
                await feed.fill_async()
                content = feed.content()
            if content is not None:
                # Stock's async iteration submits no per-chunk logging job.
                chunk = self._eqp_steady(content, False)
                if chunk is not None:
                    return chunk
                feed.unread()
        self._eqp_feed.handed.clear()
        first_sent = self.sent_first_chunk  # the first chunk stock sends is unlike the later ones
        with self._eqp_compacted_for_stock():
            chunk = await CustomStreamWrapper.__anext__(self)
        if first_sent:
            self._eqp_learn(chunk)
        else:
            self._eqp_template = None
        return chunk

    # -- what stock reads of the chunks so far ----------------------------------------------------

    @contextmanager
    def _eqp_compacted_for_stock(self):
        """While stock handles a frame, `self.chunks` is the compacted view (below); then the
        full list again, with what stock appended meanwhile."""
        full, view = self.chunks, self._eqp_compacted()
        if view is None:
            yield
            return
        shown = len(view)
        self.chunks = view
        try:
            yield
        finally:
            full.extend(view[shown:])
            self.chunks = full

    def _eqp_compacted(self) -> Optional[list]:
        """The chunk list stock's code reads while it handles a frame, with each long run of
        fast chunks shown as one chunk of that run's text; None if there is no such run.

        Stock reads `self.chunks` only to aggregate it: usage (`calculate_total_usage`), the
        complete response (`stream_chunk_builder`: texts joined, first chunk's metadata, sorted
        by `created_at`), and its repetition guard (the last two chunks, which are never merged).
        A run of fast chunks is one template with texts; shown merged (the first member's
        `created_at`, the texts joined) it aggregates to the same values, at the cost of one
        chunk instead of hundreds of pydantic objects walked attribute by attribute. The full
        list is put back as soon as stock's call returns."""
        runs = self._eqp_runs
        if not runs:
            return None
        chunks = self.chunks
        keep_from = len(chunks) - 2
        view: list = []
        done = 0
        for run in runs:
            start, end = run[0], min(run[1], keep_from)
            if end - start < _MIN_MERGED:
                continue
            merged = run[4]
            if merged is None or merged[0] != end:
                texts = run[3][: end - start]
                merged = run[4] = (end, self._eqp_build(run[2], "".join(texts), run[5]))
            view.extend(chunks[done:start])
            view.append(merged[1])
            done = end
        if not done:
            return None
        view.extend(chunks[done:])
        return view

    # -- steady chunks -------------------------------------------------------------------------

    def _eqp_steady(self, content: str, log: bool) -> Optional[Any]:
        """Stock's chunk for a steady frame with `content`, and stock's bookkeeping for it;
        None if stock must handle this frame (its repetition guard would trip, or post-call
        rules are set)."""
        if litellm.post_call_rules:
            return None
        chunks = self.chunks
        # Stock's repetition guard (raise_on_model_repetition), run before the chunk is built:
        # it compares the contents of the last two chunks handed out.
        if len(chunks) >= 2:
            last, before = chunks[-1], chunks[-2]
            if last.choices and before.choices:
                known = self._eqp_known
                last_content = known[1] if last is known[0] else last.choices[0].delta.content
                if last_content is None or not isinstance(last_content, str) or len(last_content) <= 2:
                    repeated = 1
                else:
                    before_content = known[3] if before is known[2] else before.choices[0].delta.content
                    repeated = self._repeated_messages_count + 1 if last_content == before_content else 1
                if repeated >= litellm.REPEATED_STREAMING_CHUNK_LIMIT:
                    return None
                self._repeated_messages_count = repeated

        now = time.time()
        chunk = self._eqp_build(self._eqp_template, content, now)
        if log:
            _logging_pool.submit(self.run_success_logging_and_cache_storage, chunk, False)
        self.response_uptil_now += content
        # Stock calls self.rules.post_call_rules(...) here; with no rules set it does nothing.
        chunks.append(chunk)
        known = self._eqp_known
        self._eqp_known = (chunk, content, known[0], known[1])
        runs = self._eqp_runs
        run = runs[-1] if runs else None
        if run is not None and run[1] == len(chunks) - 1 and run[2] is self._eqp_template:
            run[1] += 1
            run[3].append(content)
        else:  # [start, end, template, texts, merged (end, chunk) or None, first created_at]
            runs.append([len(chunks) - 1, len(chunks), self._eqp_template, [content], None, now])
        stats.count_fast_chunk(self._eqp_provider)
        return chunk

    @staticmethod
    def _eqp_build(template: tuple, content: str, created_at: float) -> Any:
        """A chunk from the armed template: pydantic's shallow copy (BaseModel.__copy__) minus
        its dispatch, with new dicts and a new fields-set for each object, so a caller changing
        one chunk changes no other; `content` and `created_at` are this chunk's. Written out for
        each of the three objects rather than through a helper: this runs for every chunk."""
        (chunk_t, chunk_state), (choice_t, choice_state), (delta_t, delta_state), hidden = template
        delta = _new(delta_t)
        _set(delta, "__dict__", delta_state[0].copy())
        _set(delta, "__pydantic_extra__", delta_state[1].copy() if delta_state[1] is not None else None)
        _set(delta, "__pydantic_fields_set__", delta_state[2].copy())
        _set(delta, "__pydantic_private__", None if delta_state[3] is None else delta_state[3].copy())
        (delta.__pydantic_extra__ if delta_state[4] else delta.__dict__)["content"] = content
        choice = _new(choice_t)
        _set(choice, "__dict__", choice_state[0].copy())
        _set(choice, "__pydantic_extra__", choice_state[1].copy() if choice_state[1] is not None else None)
        _set(choice, "__pydantic_fields_set__", choice_state[2].copy())
        _set(choice, "__pydantic_private__", None if choice_state[3] is None else choice_state[3].copy())
        (choice.__pydantic_extra__ if choice_state[4] else choice.__dict__)["delta"] = delta
        chunk = _new(chunk_t)
        values = chunk_state[0].copy()
        values["choices"] = [choice]
        _set(chunk, "__dict__", values)
        _set(chunk, "__pydantic_extra__", chunk_state[1].copy() if chunk_state[1] is not None else None)
        _set(chunk, "__pydantic_fields_set__", chunk_state[2].copy())
        private = chunk_state[3].copy()
        private["_hidden_params"] = {**hidden, "created_at": created_at}
        _set(chunk, "__pydantic_private__", private)
        return chunk

    def _eqp_learn(self, chunk: Any) -> None:
        """After stock built `chunk` from exactly one frame: arm that frame if the chunk is a
        plain content chunk and the wrapper is in the state every later steady frame meets."""
        self._eqp_template = None
        handed = self._eqp_feed.handed
        if len(handed) != 1 or not self._eqp_steady_state():
            return
        template = _template(chunk)
        if template is None:
            return
        content = self._eqp_feed._split.arm(handed[0])
        if content is None or content != template[2].content:
            self._eqp_feed._split.arm(b"")  # disarm
            return
        chunk, choice, delta, hidden = template
        self._eqp_template = (_state(chunk, "choices"), _state(choice, "delta"), _state(delta, "content"), dict(hidden))
        self._eqp_known = (None, None, None, None)

    def _eqp_steady_state(self) -> bool:
        """The wrapper state in which stock turns a content frame into a plain content chunk and
        leaves itself unchanged (but for what `_eqp_steady` does)."""
        return (
            self.sent_first_chunk is True
            and self.sent_last_chunk is False
            and self.received_finish_reason is None
            and self.intermittent_finish_reason is None
            and self.holding_chunk == ""
            and self.logging_obj.completion_start_time is not None
            and not (self.merge_reasoning_content_in_choices
                     and self.sent_first_thinking_block and not self.sent_last_thinking_block)
            and self.custom_llm_provider in _SDK_PROVIDERS
        )


_SDK_PROVIDERS = frozenset({"openai", "lm_studio", "azure"})
# Runs shorter than this are left as they are: merging them saves little.
_MIN_MERGED = 8
_new = object.__new__  # pydantic models are created by object.__new__ (BaseModel defines no __new__)
_set = object.__setattr__


def _state(obj: Any, varying: str) -> tuple:
    """What a copy of a pydantic model `obj` is made from (BaseModel.__copy__'s parts, copied
    now, so a caller changing the chunk it was given changes no later chunk), and whether its
    `varying` value lives in its extra fields rather than its __dict__."""
    extra = obj.__pydantic_extra__
    private = obj.__pydantic_private__
    if private is not None:
        private = {k: v for k, v in private.items() if v is not PydanticUndefined}
    return type(obj), (obj.__dict__.copy(), None if extra is None else extra.copy(),
                       set(obj.__pydantic_fields_set__), private, extra is not None and varying in extra)


def _template(chunk: Any) -> Optional[tuple]:
    """(chunk, its choice, its delta, its hidden params) if `chunk` is a one-choice content
    chunk whose other values are all immutable (so copies of it share nothing a caller could
    change), else None."""
    choices = chunk.__dict__.get("choices")
    if not isinstance(choices, list) or len(choices) != 1:
        return None
    choice = choices[0]
    delta = getattr(choice, "delta", None)
    content = getattr(delta, "content", None)
    if not isinstance(content, str) or not content:
        return None
    if getattr(chunk, "usage", None) is not None:
        return None
    for obj, skip in ((chunk, "choices"), (choice, "delta"), (delta, "content")):
        for values in (obj.__dict__, obj.__pydantic_extra__ or {}):
            for key, value in values.items():
                if key != skip and value.__class__ not in _SCALARS:
                    return None
    private = chunk.__pydantic_private__
    if not isinstance(private, dict) or set(private) - {"_hidden_params", "_response_headers"}:
        return None
    if private.get("_response_headers") is not None:
        return None
    hidden = private.get("_hidden_params")
    if not isinstance(hidden, dict):
        return None
    return chunk, choice, delta, hidden


def _chunk_observers(logging_obj: Any) -> bool:
    """Whether anything could see stock's per-chunk logging job: any success callback, global
    or per call. (With none, the job only sets fields the final success logging sets again.)"""
    return bool(
        litellm.success_callback
        or litellm._async_success_callback
        or litellm.callbacks
        or getattr(logging_obj, "dynamic_success_callbacks", None)
        or getattr(logging_obj, "dynamic_async_success_callbacks", None)
    )


def _per_chunk_logging(wrapper: CustomStreamWrapper) -> bool:
    if litellm.disable_streaming_logging or _logging_pool is None:
        return False
    return _chunk_observers(wrapper.logging_obj)


def adopt(wrapper: Any, provider: str) -> Any:
    """Turn a stock stream wrapper reading the core's body into a FastStreamWrapper, if its
    stream is one this module understands: an OpenAI SDK stream (openai, lm_studio, azure) over
    an un-encoded SSE body nobody has read yet. Anything else is returned untouched."""
    if type(wrapper) is not CustomStreamWrapper or wrapper.custom_llm_provider not in _SDK_PROVIDERS:
        return wrapper
    if routing.path_refusal("fast_stream") is not None:  # the installed release changed what it repeats
        return wrapper
    response = getattr(wrapper.completion_stream, "response", None)
    # httpx's client wraps the transport's stream (BoundSyncStream / BoundAsyncStream).
    body = getattr(getattr(response, "stream", None), "_stream", None)
    if getattr(body, "feed", "absent") is not None or body.started:
        return wrapper
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity") or _max_duration_set() or _debugging():
        return wrapper
    body.feed = FrameFeed(body)
    wrapper.__class__ = FastStreamWrapper
    wrapper._eqp_feed = body.feed
    wrapper._eqp_template = None
    wrapper._eqp_known = (None, None, None, None)  # the last two fast chunks and their contents
    wrapper._eqp_runs = []  # runs of consecutive fast chunks in wrapper.chunks (see _eqp_compacted)
    wrapper._eqp_log = _per_chunk_logging(wrapper)
    wrapper._eqp_provider = provider  # the call's (stock's wrapper says "openai" for lm_studio)
    return wrapper


def _debugging() -> bool:
    """With LiteLLM's verbose or debug logging on, stock writes a line per chunk; such streams
    stay stock's so those lines are all there."""
    from litellm._logging import verbose_logger

    return bool(litellm.set_verbose) or verbose_logger.isEnabledFor(logging.DEBUG)


def _max_duration_set() -> bool:
    """A maximum stream duration is checked by stock on every chunk; such streams stay stock's."""
    from litellm import constants

    return getattr(constants, "LITELLM_MAX_STREAMING_DURATION_SECONDS", None) is not None
