"""The fast path for streamed chat completions, for every wire format the core serves.

Stock LiteLLM spends a few hundred µs on every streamed chunk: its provider parser (or the
OpenAI SDK) decodes the event and builds objects, then `CustomStreamWrapper` turns them into
LiteLLM's chunk (`chunk_creator`, reprs formatted for debug lines) and hands a logging job to
a thread pool. For almost every chunk of an answer all that work has one outcome, known in
advance: the chunk stock built for the previous frame, with this frame's text.

So stock keeps building the chunks that matter (the first, tool-call starts, the finish,
usage-only chunks, errors, anything unusual) on its own byte stream, and the core cuts the
body into frames (`native.FrameSplitter`, rust/frames.rs; each wire format describes there
what its steady frames are and which of their values vary). Once stock has turned two frames
of one steady shape into chunks, `chunk_recipes` has learned from them how that shape becomes
stock's chunk, and every later frame of that shape is built from its values alone. Every
other frame goes, verbatim and in order, to stock's byte stream.

What stock does per chunk besides building it is done here too, in stock's order: its
repetition guard (a frame that would trip it goes to stock, which raises), the state changes
learned with the shape (`response_uptil_now`, a parser's running usage), `chunks`, and the
per-chunk logging job, which is submitted as stock submits it whenever anything could observe
it (any success callback, sync requests only, as stock). With no callback registered that job
has no observable effect, so it is skipped.

`stream_call()` decides per call, before the request leaves, whether the body is read as
frames at all; `adopt()` turns the wrapper stock returns into a FastStreamWrapper. Anything
either does not recognise stays plain stock, and so does any stream while LiteLLM's verbose
or debug logging is on (stock logs every chunk).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from contextlib import contextmanager
from typing import Any, Optional

import litellm
from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

from . import chunk_recipes
from ..transport import native
from ..decide import routing
from ..state import stats

try:
    from litellm.litellm_core_utils.thread_pool_executor import executor as _logging_pool
except ImportError:  # pragma: no cover - both supported releases have it
    _logging_pool = None

#: The wire format of each provider's chat stream (one description each in rust/frames.rs).
STREAM_FORMATS = {
    "openai": "openai", "lm_studio": "openai", "azure": "openai", "xai": "openai", "mistral": "openai",
    "openrouter": "openai", "anthropic": "anthropic", "gemini": "gemini", "ollama": "ollama", "ollama_chat": "ollama",
}

#: Wrapper attributes the fast path itself keeps as stock does (not learned): the chunk list,
#: the repetition guard's count, and this module's own.
_OWN_STATE = frozenset({"chunks", "_repeated_messages_count", "_eqp_call", "_eqp_feed", "_eqp_recipe", "_eqp_seen",
                        "_eqp_runs", "_eqp_log", "_eqp_provider", "_eqp_targets", "_eqp_known", "_eqp_chunks",
                        "_eqp_pending", "_eqp_recent", "_eqp_lazy", "_eqp_stock_reading"})
# Runs shorter than this are left as they are: merging them saves little.
_MIN_MERGED = 8
#: Shapes learned in earlier streams (see chunk_recipes.Template).
_TEMPLATES = chunk_recipes.Templates()


class StreamCall:
    """A streamed call the fast path may serve: the format its body is cut in, and the feed
    the transport attached to the body it opened (the last one, should stock retry)."""

    __slots__ = ("format", "feed")

    def __init__(self, format: str):
        self.format = format
        self.feed: Optional[FrameFeed] = None

    def attach(self, body: Any, status: int, headers: Any) -> None:
        """Called by the transport with a streamed body nobody has read yet: read it as frames
        if it is an answer (an error body is stock's to read as it is) in plain bytes."""
        if not 200 <= status < 300:
            return
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            return
        body.feed = self.feed = FrameFeed(body, self.format)


def stream_call(provider: str) -> Any:
    """What marks a streamed call: a StreamCall if the fast path may serve it, else True."""
    wire = STREAM_FORMATS.get(provider)
    if wire is None:
        return True
    reason = ("path_off" if routing.path_refusal("fast_stream") is not None else
              "max_streaming_duration" if _max_duration_set() else "debug_logging" if _debugging() else None)
    if reason is not None:
        stats.count_not_fast(reason)
        return True
    return StreamCall(wire)


class _NoCall:
    """What a stream whose learning failed reads its feed from: none, so nothing is learned."""

    feed = None


_NO_CALL = _NoCall()


class FrameFeed:
    """The core's streamed body as frames, read by two consumers: the fast wrapper takes
    steady frames' values; stock's byte stream (its parser's reader) gets every other frame,
    verbatim, in order. A body that breaks is reported to stock's byte stream, where stock
    reads it, so the error is stock's."""

    __slots__ = ("_body", "_stream", "split", "_pending", "_error", "_eof", "handed")

    def __init__(self, body: Any, wire: str):
        self._body = body
        self._stream = body._stream
        self.split = native.FrameSplitter(wire)
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
            self.split.feed(chunk)

    def values(self) -> Any:
        """A steady frame's values (tuple); None if the next frame is stock's (queued for its
        byte stream), the body ended or it broke; False if nothing complete is in yet (the
        caller waits with `fill()` / `fill_async()` and asks again)."""
        if self._pending or self._error is not None:
            return None
        item = self.split.take()
        if item.__class__ is tuple:
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

    def next_may_be_steady(self) -> bool:
        """Whether the next frame stock's byte stream gives out may be a steady kind (unknown
        until it is cut from the body): if not, there is nothing to learn from its chunk."""
        return not self._pending or self.split.steady_kind(self._pending[0])

    def unread(self) -> None:
        """Give the last steady frame to stock after all."""
        self._pending.appendleft(self.split.last())

    def _stock_frame(self) -> Any:
        """The next bytes for stock: bytes, None (wait for more) or raises at the end."""
        if self._pending:
            frame = self._pending.popleft()
        else:
            frame = self.split.take(True)
            if frame is None:
                if self._error is not None or self._eof:
                    rest = self.split.rest()  # a frame cut short: stock sees its bytes too
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


class _Pending:
    """A fast chunk's entry in the chunk list, built when the list is read. The list is rarely
    read whole (stock reads a compacted view of it, see `_eqp_compacted`), and keeping every
    chunk alive in it would keep the garbage collector busy for nothing (a chunk the caller
    has dropped is freed at once, and collections are counted in objects still alive); where
    stock appends a chunk distinct from the one it returns (Gemini's carries usage), building
    it would double the chunk's cost. Built, the entry equals stock's. Where stock's entry is
    the chunk the caller was handed, the last two entries are that very object (stock changes
    the last one in place); an older one is not (which only matters to code that changes a
    chunk it was handed and expects the list to change: stock's aggregation over a compacted
    run does not see such a change either)."""

    __slots__ = ("recipe", "values", "now", "fresh", "has_choices", "content")

    def __init__(self, recipe: Any, values: tuple, now: float, fresh: tuple, has_choices: bool, content: Any):
        self.recipe, self.values, self.now, self.fresh = recipe, values, now, fresh
        # What stock's repetition guard reads of the entry.
        self.has_choices, self.content = has_choices, content

    def build(self) -> Any:
        return self.recipe.build(self.values, self.now, self.fresh)[1]


class FastStreamWrapper(CustomStreamWrapper):
    """Stock's stream wrapper, with steady frames' chunks built from a learned recipe. Set on
    the existing stock wrapper by `adopt()` (so it is the very object stock built)."""

    @property
    def chunks(self) -> list:
        """Stock's chunk list, every entry built (see _Pending). Read by anyone but stock's own
        code (which reads a copy while it handles a frame, see _eqp_compacted_for_stock), the
        list may be kept and read later without this property (LiteLLM 1.110's Router shares
        it with the stream wrapper it returns): from then on, no entry is left to build."""
        if not self._eqp_stock_reading:
            self._eqp_lazy = False
        if self._eqp_pending is not None:
            self._eqp_settle(0, None)
        return self._eqp_chunks

    @chunks.setter
    def chunks(self, value: list) -> None:
        self.__dict__["_eqp_chunks"] = value
        self.__dict__["_eqp_pending"] = None
        self.__dict__["_eqp_lazy"] = False

    def _eqp_settle(self, start: int, end: Optional[int]) -> None:
        """Build the pending entries of `chunks[start:end]`."""
        first = self._eqp_pending
        if first is None:
            return
        chunks = self._eqp_chunks
        end = len(chunks) if end is None else end
        for i in range(max(start, first), end):
            entry = chunks[i]
            if entry.__class__ is _Pending:
                chunks[i] = entry.build()
        if start <= first:
            self._eqp_pending = end if end < len(chunks) else None

    def __repr__(self) -> str:
        # Stock logs the wrapper's repr (the call's `original_response` in callback payloads):
        # the text must be stock's, class name included.
        if CustomStreamWrapper.__repr__ is not object.__repr__:
            return CustomStreamWrapper.__repr__(self)
        return f"<{CustomStreamWrapper.__module__}.{CustomStreamWrapper.__qualname__} object at {id(self):#x}>"

    def run_success_logging_and_cache_storage(self, processed_chunk, cache_hit):
        """Stock's per-chunk logging job, which stock submits for every chunk it builds (the
        fast path submits it for its own chunks only when something could observe it). With
        nothing registered that could (see _chunk_observers), it has no effect, and it costs a
        worker thread a new event loop per chunk on LiteLLM 1.110 while it takes the GIL from
        the stream."""
        if not _per_chunk_logging(self):
            return None
        return CustomStreamWrapper.run_success_logging_and_cache_storage(self, processed_chunk, cache_hit)

    def __next__(self):
        recipe = self._eqp_recipe
        if recipe is not None:
            feed = self._eqp_feed
            values = feed.values()
            while values is False:
                feed.fill()
                values = feed.values()
            if values is not None:
                chunk = self._eqp_fast(recipe, values, self._eqp_log)
                if chunk is not None:
                    return chunk
                feed.unread()
        seen = self._eqp_before_stock()
        with self._eqp_compacted_for_stock():
            chunk = CustomStreamWrapper.__next__(self)
        self._eqp_after_stock(chunk, seen)
        return chunk

    async def __anext__(self):
        recipe = self._eqp_recipe
        if recipe is not None:
            feed = self._eqp_feed
            values = feed.values()
            while values is False:
                await feed.fill_async()
                values = feed.values()
            if values is not None:
                # Stock's async iteration submits no per-chunk logging job.
                chunk = self._eqp_fast(recipe, values, False)
                if chunk is not None:
                    return chunk
                feed.unread()
        seen = self._eqp_before_stock()
        with self._eqp_compacted_for_stock():
            chunk = await CustomStreamWrapper.__anext__(self)
        self._eqp_after_stock(chunk, seen)
        return chunk

    # -- learning from the chunks stock builds --------------------------------------------------

    def _eqp_holders(self) -> tuple:
        """What stock may change while it handles a frame: the wrapper and the provider's
        parser. (The logging object is changed by the per-chunk logging job, on a worker
        thread, whenever it runs; the fast path submits that job as stock does.)"""
        parser = self.completion_stream
        if parser is None or parser is self or not hasattr(parser, "__dict__"):
            parser = None
        return self, parser

    def _eqp_before_stock(self) -> Optional[tuple]:
        """Before stock handles the next frame: the state to learn from, if the wrapper is in
        the state every steady frame meets (else None: nothing is learned from this chunk)."""
        try:
            return self._eqp_look_before()
        except Exception:  # noqa: BLE001 - learning must never break the caller's stream
            self._eqp_learning_failed()
            return None

    def _eqp_after_stock(self, chunk: Any, seen: Optional[tuple]) -> None:
        if seen is None:
            return
        try:
            self._eqp_learn(chunk, seen)
        except Exception:  # noqa: BLE001 - learning must never break the caller's stream
            self._eqp_learning_failed()

    def _eqp_learning_failed(self) -> None:
        """An unexpected object or state in this stream: the rest of it is stock's."""
        stats.count_not_fast("learning_error")
        self._eqp_recipe = None
        self._eqp_seen = None
        self._eqp_call = _NO_CALL
        self._eqp_feed = None

    def _eqp_look_before(self) -> Optional[tuple]:
        self._eqp_recipe = None  # stock handles a frame: what was learned may no longer hold
        feed = self._eqp_feed
        if feed is None:
            feed = self._eqp_feed = self._eqp_call.feed  # opened by the first read (Gemini)
            if feed is None:
                return None
        feed.handed.clear()
        if not self._eqp_steady_state() or not feed.next_may_be_steady():
            self._eqp_seen = None
            return None
        holders = self._eqp_holders()
        return holders, [_snapshot(self, h) for h in holders], len(self._eqp_chunks)

    def _eqp_learn(self, chunk: Any, seen: tuple) -> None:
        """After stock turned exactly one frame into `chunk`: remember it, and if the frame
        before it had the same shape, learn the shape from the two."""
        feed = self._eqp_feed
        if feed is None:
            return
        holders, before, count = seen
        handed = feed.handed
        chunks = self._eqp_chunks
        if len(handed) != 1 or len(chunks) != count + 1 or not self._eqp_steady_state() \
                or any(a is not b for a, b in zip(holders, self._eqp_holders())):
            self._eqp_seen = None
            return
        frame = handed[0]
        previous = self._eqp_seen
        values = feed.split.matches(frame) if previous is not None else None
        if values is None:
            values = feed.split.arm(frame)
            if values is None:
                self._eqp_seen = None
                return
            previous = None
        after = [_snapshot(self, h)
                 for h in holders]
        try:
            seen_now = chunk_recipes.Observation(values, chunk, chunks[-1], before, after,
                                                 feed.split.document(frame))
        except chunk_recipes.Unlearnable:
            self._eqp_seen = None
            return
        texts = self._eqp_texts(values)
        shape = (self._eqp_provider, len(values), texts)
        if previous is None:
            # An earlier stream of this shape taught which parts are what: this one chunk is
            # enough to fit it to this stream.
            recipe = _TEMPLATES.recipe_for(shape, seen_now, texts)
            if recipe is None:
                self._eqp_seen = seen_now
                return
        else:
            try:
                recipe = chunk_recipes.learn(previous, seen_now, texts)
            except chunk_recipes.Unlearnable:
                stats.count_not_fast("unlearnable")
                feed.split.arm(frame)  # start again from this frame
                self._eqp_seen = seen_now
                return
            _TEMPLATES.keep(shape, recipe.template)
        self._eqp_seen = None
        self._eqp_targets = holders
        self._eqp_recipe = recipe

    def _eqp_texts(self, values: tuple) -> frozenset:
        """Which of a steady frame's values are texts (the core hands texts out as str and
        every other value as what JSON decodes to; a text slot is never empty)."""
        return frozenset(i for i, v in enumerate(values) if v.__class__ is str)

    def _eqp_steady_state(self) -> bool:
        """The wrapper state in which stock turns a steady frame into a plain chunk. (A finish
        reason seen mid-stream is not in it: Gemini's parser reports one with every chunk, and
        whatever stock does with it is learned with the shape.)"""
        return (
            self.sent_first_chunk is True
            and self.sent_last_chunk is False
            and self.received_finish_reason is None
            and self.holding_chunk == ""
            and self.logging_obj.completion_start_time is not None
            and not (self.merge_reasoning_content_in_choices
                     and self.sent_first_thinking_block and not self.sent_last_thinking_block)
            and not litellm.post_call_rules
        )

    # -- what stock reads of the chunks so far ----------------------------------------------------

    @contextmanager
    def _eqp_compacted_for_stock(self):
        """While stock handles a frame, `self.chunks` is the compacted view (below); then the
        full list again, with what stock appended meanwhile."""
        full, view = self._eqp_chunks, self._eqp_compacted()
        if view is None:
            # A copy all the same: stock never gets hold of the list that holds pending entries.
            self._eqp_settle(0, None)
            view = list(full)
        shown, pending = len(view), self._eqp_pending
        self._eqp_chunks, self._eqp_pending, self._eqp_stock_reading = view, None, True
        try:
            yield
        finally:
            full.extend(view[shown:])
            self._eqp_chunks, self._eqp_pending, self._eqp_stock_reading = full, pending, False

    def _eqp_compacted(self) -> Optional[list]:
        """The chunk list stock's code reads while it handles a frame, with each long run of
        fast chunks shown as one chunk standing for the run; None if there is no such run.

        Stock reads `self.chunks` only to aggregate it: usage (`calculate_total_usage`: each
        chunk's usage fields overwrite the earlier ones), the complete response
        (`stream_chunk_builder`: texts joined, the first chunk's metadata, sorted by
        `created_at`), and its repetition guard (the last two chunks, which are never merged).
        A run of fast chunks is one recipe with values; shown merged (the first member's
        `created_at` and ids, the texts joined, every other value the last member's) it
        aggregates to the same values, at the cost of one chunk instead of hundreds of
        pydantic objects walked attribute by attribute. The full list is put back as soon as
        stock's call returns."""
        runs = self._eqp_runs
        if not runs:
            return None
        chunks = self._eqp_chunks
        keep_from = len(chunks) - 2
        view: list = []
        done = 0
        for run in runs:
            start, end = run[0], min(run[1], keep_from)
            if end - start < _MIN_MERGED:
                continue
            merged = run[4]
            if merged is None or merged[0] != end:
                recipe = run[2]
                values = recipe.merged_values(run[3][: end - start])
                built = recipe.build(values, run[5], run[6])
                if built is None:  # pragma: no cover - the last member's values passed the same checks
                    continue
                merged = run[4] = (end, built[1])
            self._eqp_settle(done, start)
            view.extend(chunks[done:start])
            view.append(merged[1])
            done = end
        if not done:
            return None
        self._eqp_settle(done, None)
        view.extend(chunks[done:])
        return view

    # -- steady chunks -------------------------------------------------------------------------

    def _eqp_fast(self, recipe: Any, values: tuple, log: bool) -> Optional[Any]:
        """Stock's chunk for a steady frame with `values`, and stock's bookkeeping for it;
        None if stock must handle this frame (its repetition guard would trip, or the values
        are not ones the recipe was learned for)."""
        chunks = self._eqp_chunks
        repeated = self._repeated_messages_count
        # Stock's repetition guard (raise_on_model_repetition), run before the chunk is built:
        # it compares the contents of the last two chunks handed out (remembered for the fast
        # ones: reading them back goes through pydantic's slow attribute lookup).
        known = self._eqp_known
        if len(chunks) >= 2:
            last, before = chunks[-1], chunks[-2]
            if last is known[0] and before is known[3]:  # the usual case: the last two were fast
                last_has, last_content, before_has, before_content = known[1], known[2], known[4], known[5]
            else:
                last_has, last_content = _entry_view(last, known)
                before_has, before_content = _entry_view(before, known)
            if last_has and before_has:
                if not isinstance(last_content, str) or len(last_content) <= 2:
                    repeated = 1
                else:
                    repeated = repeated + 1 if last_content == before_content else 1
                if repeated >= litellm.REPEATED_STREAMING_CHUNK_LIMIT:
                    return None

        now = time.time()
        # The list entry is built when the list is read (see _Pending), unless a logging job
        # needs it now, or the repetition guard would need it built (no frame value is its text).
        separate = recipe.build_returned is not None
        lazy = self._eqp_lazy and (recipe.content is not None or not separate)
        built = (recipe.build_returned if lazy and separate else recipe.build)(values, now, None)
        if built is None:
            return None
        chunk, appended, fresh = built
        slot = recipe.content
        if slot is not None:
            has_choices, content = True, values[slot]
        else:
            has_choices = bool(chunk.choices)
            content = _content(chunk) if has_choices else None
        if lazy:
            pending = _Pending(recipe, values, now, fresh, has_choices, content)
            if separate:
                appended = pending
                if self._eqp_pending is None:
                    self._eqp_pending = len(chunks)
            else:
                # Stock's list holds the very chunk the caller was handed, and stock changes
                # the last ones in place (the cost calculation of a failed stream stamps the
                # last chunk's hidden params): the last two entries stay those objects.
                older, newer = self._eqp_recent
                self._eqp_recent = (newer, (len(chunks), chunk, pending))
                if older is not None:
                    index, handed, entry = older
                    if chunks[index] is handed:
                        chunks[index] = entry
                        if self._eqp_pending is None or index < self._eqp_pending:
                            self._eqp_pending = index
        self._repeated_messages_count = repeated
        if log:
            _logging_pool.submit(self.run_success_logging_and_cache_storage, appended, False)
        recipe.apply(self._eqp_targets, values, fresh, self._eqp_feed.split)
        # Stock calls self.rules.post_call_rules(...) here; with no rules set it does nothing.
        chunks.append(appended)
        self._eqp_known = (appended, has_choices, content, known[0], known[1], known[2])
        runs = self._eqp_runs
        run = runs[-1] if runs else None
        if run is not None and run[1] == len(chunks) - 1 and run[2] is recipe:
            run[1] += 1
            run[3].append(values)
        else:  # [start, end, recipe, values, merged (end, chunk) or None, first created_at, first ids]
            runs.append([len(chunks) - 1, len(chunks), recipe, [values], None, now, fresh])
        stats.fast_stream_chunks[self._eqp_provider] += 1
        return chunk


def _entry_view(entry: Any, known: tuple) -> tuple:
    """(has choices, content) of a chunk list entry, as stock's repetition guard reads them;
    remembered for the last two fast chunks."""
    if entry is known[0]:
        return known[1], known[2]
    if entry is known[3]:
        return known[4], known[5]
    has_choices = _has_choices(entry)
    return has_choices, _content(entry) if has_choices else None


def _content(chunk: Any) -> Any:
    if chunk.__class__ is _Pending:
        return chunk.content
    return chunk.choices[0].delta.content


def _has_choices(chunk: Any) -> bool:
    if chunk.__class__ is _Pending:
        return chunk.has_choices
    return bool(chunk.choices)


def _snapshot(wrapper: Any, holder: Any) -> dict:
    if holder is None:
        return {}
    if holder is wrapper:
        return chunk_recipes.snapshot(holder, _OWN_STATE, _HELD_APART)
    # A parser may hold the same logging object (Gemini's does): the logging job changes it on
    # its worker thread at any moment, so looking into it would make learning race that job.
    logging_obj = wrapper.logging_obj
    return chunk_recipes.snapshot(
        holder, opaque=frozenset(name for name, value in vars(holder).items() if value is logging_obj))


#: Wrapper attributes not looked into: the parser is a holder of its own, and the logging
#: object is changed by the logging job (see _eqp_holders).
_HELD_APART = frozenset({"completion_stream", "logging_obj"})


def _chunk_observers(logging_obj: Any) -> bool:
    """Whether anything could see stock's per-chunk logging job: any success callback, global
    or per call. (With none, the job only sets fields the final success logging sets again.)

    LiteLLM's own "cache" entry does not count while no cache is set: constructing any `Cache`
    registers it globally (LiteLLM's Vertex/Gemini context-caching module builds one when it is
    first imported, so every process that ever called Gemini has it), and no success handler
    does anything for it without `litellm.cache`."""
    return bool(
        _listeners(litellm.success_callback)
        or _listeners(litellm._async_success_callback)
        or litellm.callbacks
        or getattr(logging_obj, "dynamic_success_callbacks", None)
        or getattr(logging_obj, "dynamic_async_success_callbacks", None)
    )


def _listeners(callbacks: list) -> bool:
    if litellm.cache is None:
        return any(c != "cache" for c in callbacks)
    return bool(callbacks)


def _per_chunk_logging(wrapper: CustomStreamWrapper) -> bool:
    if litellm.disable_streaming_logging or _logging_pool is None:
        return False
    return _chunk_observers(wrapper.logging_obj)


def adopt(wrapper: Any, provider: str, call: Any) -> Any:
    """Turn the stock stream wrapper of a call `stream_call()` marked into a FastStreamWrapper.
    Anything else is returned untouched."""
    if type(wrapper) is not CustomStreamWrapper or not isinstance(call, StreamCall):
        return wrapper
    chunks = wrapper.__dict__.pop("chunks")
    wrapper.__class__ = FastStreamWrapper
    wrapper._eqp_chunks = chunks  # read through the `chunks` property from now on
    wrapper._eqp_pending = None  # the first _Pending entry's index, if any
    wrapper._eqp_stock_reading = False  # stock's own code is reading `chunks` (a copy)
    # (index, chunk, _Pending) of the last two fast chunks the list holds as handed, oldest first.
    wrapper._eqp_recent = (None, None)
    wrapper._eqp_call = call
    wrapper._eqp_feed = call.feed  # None until the body is opened (Gemini opens it on first read)
    wrapper._eqp_recipe = None
    # The list entries of the last two fast chunks, newest first: (entry, has choices, content) each.
    wrapper._eqp_known = (None, False, None, None, False, None)
    wrapper._eqp_seen = None  # the last chunk stock built from a steady frame (chunk_recipes.Observation)
    wrapper._eqp_runs = []  # runs of consecutive fast chunks in wrapper.chunks (see _eqp_compacted)
    wrapper._eqp_log = _per_chunk_logging(wrapper)
    # List entries may be built on read (_Pending) unless a per-chunk logging job needs each
    # chunk now, or someone other than stock has read the list (see the `chunks` property).
    wrapper._eqp_lazy = not wrapper._eqp_log
    wrapper._eqp_provider = provider  # the call's (stock's wrapper says "openai" for lm_studio)
    return wrapper


def forget_shapes() -> None:
    """Forget the shapes learned in earlier streams. They are kept across uninstall() and
    install() (like compiled recipes: a shape is only ever used after it fits a chunk stock
    built in the stream at hand); tests start from none."""
    global _TEMPLATES
    _TEMPLATES = chunk_recipes.Templates()


def _debugging() -> bool:
    """With LiteLLM's verbose or debug logging on, stock writes a line per chunk; such streams
    stay stock's so those lines are all there."""
    from litellm._logging import verbose_logger

    return bool(litellm.set_verbose) or verbose_logger.isEnabledFor(logging.DEBUG)


def _max_duration_set() -> bool:
    """A maximum stream duration is checked by stock on every chunk; such streams stay stock's."""
    from litellm import constants

    return getattr(constants, "LITELLM_MAX_STREAMING_DURATION_SECONDS", None) is not None
