"""Stock's chunk for a steady frame, learned from stock itself, for every wire format.

The core recognises steady frames (rust/frames.rs, each format's `STEADY_FRAMES`): frames that
are one armed frame but for a few values (the text delta; Gemini's running usage; Ollama's
timestamp). What LiteLLM makes of such a frame is not described anywhere here: it is learned
from two frames of the same shape that stock turned into chunks, one after the other:

* the chunks (the one stock returned, and the one it appended to its list, which differ when a
  chunk carries usage) are walked side by side; every value that is the same in both is a
  constant, every value that differs must be one of the frame's varying values (or a part of
  one) in both, the chunk's `created_at` stamp, or a fresh id stock drew for each chunk;
* what changed in the stream wrapper and the provider's parser while stock handled each frame
  must be, in both, an append of a frame value to a text (stock's `response_uptil_now`), an
  assignment of a frame value or of the fresh id, or a frame value or the frame's whole
  document appended to a list the parser keeps.

Anything else (a value computed from the text, a counter, a nested object changing, a type the
copy cannot reproduce) makes the shape unlearnable and stock keeps building those chunks. A
learned shape is compiled into one Python function that builds the chunks (new objects every
time, so no caller can change one chunk through another) and one that applies the state
changes. The function also checks the frame's other values: a value that did not change
while learning must not change later, or the frame goes to stock.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Dict, List, Optional, Tuple

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from ..transport import native

_SCALARS = (type(None), str, int, float, bool)

#: Ids stock draws for each chunk (LiteLLM's Ollama parsers): an optional prefix and a UUID4.
_FRESH_ID = re.compile(r"^(.*?)([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$")

#: The chunk's creation stamp stock puts in its hidden params (time.time() for each chunk).
_CREATED_AT = (("private", "_hidden_params"), ("key", "created_at"))


class Unlearnable(Exception):
    """This shape of frame is left to stock (the message says why, for tests and debugging)."""


# -- frozen copies of what stock built ----------------------------------------------------------


class Model:
    """A pydantic object as it was: its class and the parts BaseModel.__copy__ copies; and the
    object itself (`origin`), to tell an object stock shares between its chunks."""

    __slots__ = ("cls", "values", "extra", "fields_set", "private", "origin")


class Seq:
    __slots__ = ("items", "origin")


class Map:
    __slots__ = ("items", "origin")


class Shared:
    """An object stock put in both chunks learned from, the very same one: every chunk built
    shares it too, as stock's do."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


_NODES = (Model, Seq, Map)


def freeze(obj: Any, memo: Dict[int, Any]) -> Any:
    """A copy of `obj` that nothing a caller does to `obj` changes; objects reached twice are
    frozen once (stock's chunk and its list entry may share parts)."""
    if obj.__class__ in _SCALARS or isinstance(obj, enum.Enum):
        return obj
    key = id(obj)
    if key in memo:
        return memo[key]
    if isinstance(obj, BaseModel):
        node = memo[key] = Model()
        node.origin = obj
        node.cls = type(obj)
        node.values = {k: freeze(v, memo) for k, v in obj.__dict__.items()}
        extra = obj.__pydantic_extra__
        node.extra = None if extra is None else {k: freeze(v, memo) for k, v in extra.items()}
        node.fields_set = frozenset(obj.__pydantic_fields_set__)
        private = obj.__pydantic_private__
        node.private = None if private is None else {
            k: freeze(v, memo) for k, v in private.items() if v is not PydanticUndefined
        }
        return node
    if obj.__class__ is list:
        node = memo[key] = Seq()
        node.origin = obj
        node.items = [freeze(v, memo) for v in obj]
        return node
    if obj.__class__ is dict:
        node = memo[key] = Map()
        node.origin = obj
        node.items = {k: freeze(v, memo) for k, v in obj.items()}
        return node
    if obj.__class__ is tuple:
        items = tuple(freeze(v, memo) for v in obj)
        if any(isinstance(v, _NODES) for v in items):
            raise Unlearnable("a tuple holding objects")
        return items
    raise Unlearnable(f"a {type(obj).__name__} in the chunk")


# -- state of the objects stock changes while it handles a frame --------------------------------


def snapshot(holder: Any, skip: frozenset = frozenset(), opaque: frozenset = frozenset()) -> Dict[str, Tuple]:
    """What can be seen of `holder`'s attributes, one level into plain objects it holds (not
    into those named `opaque`): each scalar's value; of anything else, which object it is and
    its length. One level in, a container counts by its type and length only: parsers keep
    buffers there that they replace by new empty ones after each event."""
    out: Dict[str, Tuple] = {}
    for name, value in getattr(holder, "__dict__", {}).items():
        if name in skip:
            continue
        if value.__class__ in _SCALARS:
            out[name] = ("v", value)
            continue
        size = len(value) if isinstance(value, (list, dict, set, tuple, bytes, bytearray)) else None
        out[name] = ("o", id(value), size, value)
        if name in opaque or _is_http_message(value):
            continue
        inner = getattr(value, "__dict__", None)
        if inner is not None and not isinstance(value, (BaseModel, type)) and type(inner) is dict:
            for sub, sub_value in inner.items():
                if sub_value.__class__ in _SCALARS:
                    out[f"{name}.{sub}"] = ("v", sub_value)
                else:
                    sized = isinstance(sub_value, (list, dict, set, tuple, str, bytes, bytearray))
                    out[f"{name}.{sub}"] = ("c", sub_value.__class__, len(sub_value) if sized else id(sub_value))
    return out


def _is_http_message(value: Any) -> bool:
    """httpx's response object counts the bytes the transport handed over; frames the fast
    path takes are never handed over, and nothing in LiteLLM reads that count."""
    return type(value).__module__.split(".", 1)[0] in ("httpx", "httpx2")


class Observation:
    """One frame stock turned into a chunk: the frame's values, the chunks (frozen), and the
    state of each holder (wrapper, parser, logging object) before and after."""

    __slots__ = ("values", "returned", "appended", "before", "after", "document")

    def __init__(self, values: tuple, returned: Any, appended: Any, before: list, after: list,
                 document: Any = None):
        memo: Dict[int, Any] = {}
        self.values = values
        #: The frame's whole JSON document (what a parser that keeps every event keeps).
        self.document = document
        self.returned = freeze(returned, memo)
        self.appended = freeze(appended, memo)
        self.before = before
        self.after = after


# -- learning -------------------------------------------------------------------------------------


class Source:
    """A frame value, or a scalar inside one (`path` into it), that a chunk value equals."""

    __slots__ = ("slot", "path")

    def __init__(self, slot: int, path: tuple):
        self.slot, self.path = slot, path


class Now:
    __slots__ = ()


class Fresh:
    __slots__ = ("prefix", "group")

    def __init__(self, prefix: str, group: int):
        self.prefix, self.group = prefix, group


class Const:
    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def _leaves(value: Any, path: tuple = ()):
    """(path, value) for every scalar inside a frame value, and every container too."""
    yield path, value
    if value.__class__ is dict:
        for k, v in value.items():
            yield from _leaves(v, path + (k,))
    elif value.__class__ is list:
        for i, v in enumerate(value):
            yield from _leaves(v, path + (i,))


class _Learner:
    def __init__(self, first: Observation, second: Observation):
        if len(first.values) != len(second.values):
            raise Unlearnable("the frames' values differ in number")
        self.first, self.second = first, second
        # Candidate sources: every part of every frame value, with its value in both frames.
        by_path: List[Tuple[Source, Any, Any]] = []
        for slot, (a, b) in enumerate(zip(first.values, second.values)):
            one = dict(_leaves(a))
            for path, value in _leaves(b):
                if path in one:
                    by_path.append((Source(slot, path), one[path], value))
        self.sources = by_path
        self.fresh: Dict[str, int] = {}
        self.used = set()
        self.memo: Dict[int, Any] = {}

    def source_for(self, a: Any, b: Any, containers: bool = False) -> Optional[Source]:
        found = [s for s, x, y in self.sources
                 if x.__class__ is a.__class__ and y.__class__ is b.__class__ and x == a and y == b
                 and (containers or x.__class__ in _SCALARS)]
        if len(found) > 1:  # two parts of the frames agree in both: either could be the one
            raise Unlearnable("a chunk value matches several frame values")
        if found:
            self.used.add((found[0].slot, found[0].path))
            return found[0]
        return None

    def leaf(self, a: Any, b: Any, path: tuple) -> Any:
        if a.__class__ is b.__class__ and a == b:
            return Const(b)
        if path[-2:] == _CREATED_AT and isinstance(a, float) and isinstance(b, float):
            return Now()
        source = self.source_for(a, b)
        if source is not None:
            return source
        if isinstance(a, str) and isinstance(b, str):
            ma, mb = _FRESH_ID.match(a), _FRESH_ID.match(b)
            if ma and mb and ma.group(1) == mb.group(1):
                group = self.fresh.setdefault(b, len(self.fresh))
                return Fresh(mb.group(1), group)
        raise Unlearnable(f"{_where(path)} changed with no frame value behind it")

    def walk(self, a: Any, b: Any, path: tuple) -> Any:
        a_node, b_node = isinstance(a, _NODES), isinstance(b, _NODES)
        if not a_node and not b_node:
            return self.leaf(a, b, path)
        if a.__class__ is not b.__class__:
            raise Unlearnable(f"{_where(path)} changed type")
        known = self.memo.get(id(b))
        if known is not None:
            return known
        if a.origin is b.origin:
            out = self.memo[id(b)] = Shared(b.origin)
            return out
        if isinstance(b, Model):
            if a.cls is not b.cls or a.fields_set != b.fields_set:
                raise Unlearnable(f"{_where(path)} changed class or fields")
            out = Model()
            self.memo[id(b)] = out
            out.cls, out.fields_set = b.cls, b.fields_set
            out.values = self.walk_map(a.values, b.values, path + (("attr", None),))
            out.extra = None if b.extra is None and a.extra is None else self.walk_map(
                a.extra, b.extra, path + (("extra", None),))
            out.private = None if b.private is None and a.private is None else self.walk_map(
                a.private, b.private, path + (("private", None),))
            return out
        if isinstance(b, Seq):
            if len(a.items) != len(b.items):
                raise Unlearnable(f"{_where(path)} changed length")
            out = Seq()
            self.memo[id(b)] = out
            out.items = [self.walk(x, y, path + (("index", i),)) for i, (x, y) in enumerate(zip(a.items, b.items))]
            return out
        out = Map()
        self.memo[id(b)] = out
        out.items = self.walk_map(a.items, b.items, path + (("key", None),))
        return out

    def walk_map(self, a: Optional[dict], b: Optional[dict], path: tuple) -> dict:
        if a is None or b is None or list(a) != list(b):
            raise Unlearnable(f"{_where(path)} changed keys")
        kind = path[-1][0]
        return {k: self.walk(a[k], b[k], path[:-1] + ((kind, k),)) for k in b}

    def state_rules(self) -> list:
        """For each holder, the changes stock made to it in both observations, as rules."""
        rules = []
        for index, ((b1, a1), (b2, a2)) in enumerate(zip(zip(self.first.before, self.first.after),
                                                           zip(self.second.before, self.second.after))):
            for name in set(b1) | set(a1) | set(b2) | set(a2):
                x1, y1, x2, y2 = b1.get(name), a1.get(name), b2.get(name), a2.get(name)
                if _unchanged(x1, y1) and _unchanged(x2, y2):
                    continue
                if "." in name or None in (x1, y1, x2, y2):
                    raise Unlearnable(f"stock changed {name} inside an object it holds")
                rules.append((index, name, self.state_rule(name, x1, y1, x2, y2)))
        return rules

    def state_rule(self, name: str, x1: tuple, y1: tuple, x2: tuple, y2: tuple) -> tuple:
        if x1[0] == y1[0] == x2[0] == y2[0] == "v" and all(isinstance(v[1], str) for v in (x1, y1, x2, y2)):
            if y1[1].startswith(x1[1]) and y2[1].startswith(x2[1]):
                added1, added2 = y1[1][len(x1[1]):], y2[1][len(x2[1]):]
                source = self.source_for(added1, added2)
                if source is not None:
                    return ("append", source)
        if x1[0] == y1[0] == x2[0] == y2[0] == "o" and x1[1] == y1[1] and x2[1] == y2[1] \
                and isinstance(y1[3], list) and y1[2] == x1[2] + 1 and y2[2] == x2[2] + 1:
            # A list the parser keeps every event in (LiteLLM 1.95's Anthropic parser).
            added1, added2 = y1[3][y1[2] - 1], y2[3][y2[2] - 1]
            document1, document2 = self.first.document, self.second.document
            if document1 is not None and added1 == document1 and added2 == document2:
                return ("append_document",)
            # ... or a frame value of every event (LiteLLM's Anthropic parser keeps the thinking texts).
            source = self.source_for(added1, added2)
            if source is not None:
                return ("append_value", source)
        value1 = y1[1] if y1[0] == "v" else y1[3]
        value2 = y2[1] if y2[0] == "v" else y2[3]
        source = self.source_for(value1, value2, containers=True)
        if source is not None:
            return ("assign", source)
        if isinstance(value2, str) and value2 in self.fresh and isinstance(value1, str) and _FRESH_ID.match(value1):
            return ("fresh", self.fresh[value2])
        raise Unlearnable(f"stock changed {name} in a way no frame value explains")

    def checks(self) -> list:
        """What a later frame's values must be for the learned chunk to be stock's: every part
        that did not vary while learning stays as it was; every part that did keeps its type
        (and a container its size)."""
        out = []
        for slot, (a, b) in enumerate(zip(self.first.values, self.second.values)):
            one = dict(_leaves(a))
            for path, value in _leaves(b):
                if value.__class__ in (dict, list):
                    out.append(("len", slot, path, len(value)))
                elif path in one and one[path].__class__ is value.__class__ and one[path] == value:
                    out.append(("eq", slot, path, value))
                else:
                    out.append(("type", slot, path, value.__class__))
        return out


def _unchanged(x: Optional[tuple], y: Optional[tuple]) -> bool:
    """Whether an attribute's snapshot before and after stock handled a frame says it was left
    as it was. Most are untouched: tuple equality settles those at C speed (an object
    compares by identity first)."""
    return (x == y and (x is None or x[0] != "v" or x[1].__class__ is y[1].__class__)) or _same(x, y)


def _same(x: Optional[tuple], y: Optional[tuple]) -> bool:
    if x is None or y is None:
        return x is y
    if x[0] != y[0]:
        return False
    if x[0] == "v":
        return x[1].__class__ is y[1].__class__ and x[1] == y[1]
    if x[0] == "c":
        return x == y
    # The same object, or an empty container replaced by another empty one.
    return x[1:3] == y[1:3] or (x[2] == 0 and y[2] == 0 and x[3].__class__ is y[3].__class__)


def _where(path: tuple) -> str:
    return "chunk" + "".join(f".{step[1]}" if step[0] in ("attr", "extra") else f"[{step[1]!r}]" for step in path)


# -- compiling --------------------------------------------------------------------------------------


class Recipe:
    """A learned shape: `build(values, now, fresh)` gives (returned chunk, appended chunk,
    fresh ids) or None if the values break a check; where the two chunks are distinct objects
    (Gemini's: the appended one carries usage), `build_returned` gives (returned chunk, None,
    fresh ids) at half the cost, else it is None; `apply(holders, values, fresh, splitter)`
    makes the state changes stock makes (the splitter gives the frame's whole document to a
    rule that needs it). `texts` are the text slots (joined when fast chunks are shown
    merged to stock's aggregation)."""

    __slots__ = ("build", "build_returned", "apply", "texts", "slots", "source", "content", "compiled", "template")

    def merged_values(self, runs_values: List[tuple]) -> tuple:
        """One chunk's values standing for a run of chunks: texts joined, anything else as in
        the run's last chunk."""
        last = runs_values[-1]
        return tuple("".join(v[i] for v in runs_values) if i in self.texts else last[i] for i in range(self.slots))


def learn(first: Observation, second: Observation, text_slots: frozenset) -> Recipe:
    learner = _Learner(first, second)
    returned = learner.walk(first.returned, second.returned, ())
    appended = learner.walk(first.appended, second.appended, ())
    rules = learner.state_rules()
    checks = learner.checks()
    recipe = _compile(returned, appended, rules, checks, len(second.values), text_slots, learner.fresh)
    recipe.template = Template(returned, appended, rules, checks, text_slots, recipe.compiled)
    return recipe


# -- learning again from one chunk ----------------------------------------------------------------


class Template:
    """What two chunks taught about a shape, for the next stream of it: which parts of stock's
    chunk are frame values, the stamp, fresh ids, shared objects or constants; which state
    changes stock makes; which parts of the frame values varied. A later stream's constants
    (its ids, its model, its prompt's token count) are its own, so a template is never used as
    it is: `refit` fits it to one chunk stock built in that stream, which must agree with it in
    everything but the constants."""

    __slots__ = ("returned", "appended", "rules", "checks", "texts", "compiled")

    def __init__(self, returned: Any, appended: Any, rules: list, checks: list, texts: frozenset, compiled: Any):
        self.returned, self.appended, self.rules, self.checks, self.texts = returned, appended, rules, checks, texts
        self.compiled = compiled


def refit(template: Template, seen: Observation, text_slots: frozenset) -> Recipe:
    """The recipe for `seen`'s shape, from the template and this one observation; raises
    Unlearnable if the observation is not the template's shape."""
    if text_slots != template.texts:
        raise Unlearnable("other text slots")
    fitter = _Fitter(seen, template.checks)
    returned = fitter.walk(template.returned, seen.returned)
    appended = fitter.walk(template.appended, seen.appended)
    checks = fitter.checks(template.checks)
    fitter.check_rules(template.rules)
    recipe = template.compiled.again(fitter.value_of, checks, len(seen.values), text_slots)
    if recipe is None:
        recipe = _compile(returned, appended, template.rules, checks, len(seen.values), text_slots, fitter.fresh)
    return recipe


_MISSING = object()


class Templates:
    """The shapes learned in earlier streams, a few per key (the provider and the frame's
    values), newest first; bounded, as a long-running process sees many shapes."""

    def __init__(self, per_key: int = 4, keys: int = 128):
        self.per_key, self.keys = per_key, keys
        self._by_key: Dict[Any, List[Template]] = {}

    def keep(self, key: Any, template: Template) -> None:
        known = self._by_key.pop(key, [])
        if len(self._by_key) >= self.keys:
            self._by_key.pop(next(iter(self._by_key)), None)
        self._by_key[key] = [template] + known[: self.per_key - 1]

    def recipe_for(self, key: Any, seen: Observation, text_slots: frozenset) -> Optional[Recipe]:
        """A recipe from the first template `seen` fits, or None."""
        for template in list(self._by_key.get(key, ())):
            try:
                recipe = refit(template, seen, text_slots)
            except Unlearnable:
                continue
            return recipe
        return None


class _Fitter:
    def __init__(self, seen: Observation, template_checks: list):
        self.seen = seen
        varying = {(slot, path) for kind, slot, path, _ in template_checks if kind == "type"}
        self.varying = {(part.__class__, part) for slot, value in enumerate(seen.values)
                        for path, part in _leaves(value)
                        if (slot, path) in varying and part.__class__ in (str, int, float)}
        self.fresh: Dict[str, int] = {}
        self.memo: Dict[int, Tuple[Any, Any]] = {}  # template node -> (observed node, fitted node)
        self.constants: Dict[int, Any] = {}  # template Const or Shared node -> this stream's value
        self.claimed: Dict[int, int] = {}  # observed node -> template node

    def value(self, source: Source) -> Any:
        value = self.seen.values[source.slot] if source.slot < len(self.seen.values) else _MISSING
        for step in source.path:
            try:
                value = value[step]
            except (KeyError, IndexError, TypeError):
                return _MISSING
        return value

    def value_of(self, node: Any) -> Any:
        return self.constants[id(node)]

    def walk(self, t: Any, o: Any) -> Any:
        if isinstance(t, (Model, Seq, Map, Shared)):
            if not isinstance(o, _NODES):
                raise Unlearnable("an object where the shape has a value")
            known = self.memo.get(id(t))
            if known is not None:
                if known[0] is not o:
                    raise Unlearnable("objects shared otherwise than in the shape")
                return known[1]
            if self.claimed.setdefault(id(o), id(t)) != id(t):
                raise Unlearnable("objects shared otherwise than in the shape")
            out = self.node(t, o)
            self.memo[id(t)] = (o, out)
            return out
        if isinstance(o, _NODES):
            raise Unlearnable("an object where the shape has a value")
        if isinstance(t, Const):
            # Two chunks showed this part constant in another stream; here there is one chunk,
            # so a part that equals a frame value which varies is not taken for a constant.
            if o.__class__ in (str, int, float) and (o.__class__, o) in self.varying:
                raise Unlearnable("a constant equal to a varying frame value")
            self.constants[id(t)] = o
            return Const(o)
        if isinstance(t, Source):
            expected = self.value(t)
            if expected.__class__ is not o.__class__ or expected != o:
                raise Unlearnable("a value that is not the frame's")
            return t
        if isinstance(t, Now):
            if not isinstance(o, float):
                raise Unlearnable("no stamp")
            return t
        match = _FRESH_ID.match(o) if isinstance(o, str) else None
        if match is None or match.group(1) != t.prefix or self.fresh.setdefault(o, t.group) != t.group \
                or sum(1 for g in self.fresh.values() if g == t.group) != 1:
            raise Unlearnable("no fresh id")
        return t

    def node(self, t: Any, o: Any) -> Any:
        if isinstance(t, Shared):
            if type(o.origin) is not type(t.value):
                raise Unlearnable("another shared object")
            self.constants[id(t)] = o.origin
            return Shared(o.origin)
        if t.__class__ is not o.__class__:
            raise Unlearnable("another kind of object")
        if isinstance(t, Model):
            if t.cls is not o.cls or t.fields_set != o.fields_set:
                raise Unlearnable("another class or fields")
            out = Model()
            out.cls, out.fields_set = o.cls, o.fields_set
            out.values = self.walk_map(t.values, o.values)
            out.extra = None if t.extra is None and o.extra is None else self.walk_map(t.extra, o.extra)
            out.private = None if t.private is None and o.private is None else self.walk_map(t.private, o.private)
            return out
        if isinstance(t, Seq):
            if len(t.items) != len(o.items):
                raise Unlearnable("another length")
            out = Seq()
            out.items = [self.walk(x, y) for x, y in zip(t.items, o.items)]
            return out
        out = Map()
        out.items = self.walk_map(t.items, o.items)
        return out

    def walk_map(self, t: Optional[dict], o: Optional[dict]) -> dict:
        if t is None or o is None or list(t) != list(o):
            raise Unlearnable("other keys")
        return {k: self.walk(t[k], o[k]) for k in o}

    def checks(self, template_checks: list) -> list:
        """The template's checks on this stream's frame values: a part that did not vary keeps
        this frame's value; every part is there, of its kind."""
        kinds = {(slot, path): (kind, expected) for kind, slot, path, expected in template_checks}
        out = []
        for slot, value in enumerate(self.seen.values):
            for path, part in _leaves(value):
                kind, expected = kinds.pop((slot, path), (None, None))
                if kind == "len" and part.__class__ in (dict, list):
                    out.append(("len", slot, path, len(part)))
                elif kind == "eq" and part.__class__ not in (dict, list):
                    out.append(("eq", slot, path, part))
                elif kind == "type" and part.__class__ is expected:
                    out.append(("type", slot, path, expected))
                else:
                    raise Unlearnable("frame values of another shape")
        if kinds:
            raise Unlearnable("frame values of another shape")
        return out

    def check_rules(self, rules: list) -> None:
        """Stock changed, while it built this chunk, exactly what the shape says it changes."""
        expected = {(index, name): rule for index, name, rule in rules}
        seen = self.seen
        for index, (before, after) in enumerate(zip(seen.before, seen.after)):
            for name in set(before) | set(after):
                x, y = before.get(name), after.get(name)
                rule = expected.pop((index, name), None)
                if _unchanged(x, y):
                    if rule is not None:
                        raise Unlearnable(f"stock left {name} as it was")
                    continue
                if rule is None or x is None or y is None or not self.rule_holds(rule, x, y):
                    raise Unlearnable(f"stock changed {name} otherwise")
        if expected:
            raise Unlearnable("a holder the shape changes is not there")

    def rule_holds(self, rule: tuple, x: tuple, y: tuple) -> bool:
        kind = rule[0]
        if kind == "append":
            added = self.value(rule[1])
            return x[0] == y[0] == "v" and isinstance(x[1], str) and added.__class__ is str \
                and y[1] == x[1] + added
        if kind in ("append_value", "append_document"):
            if not (x[0] == y[0] == "o" and x[1] == y[1] and isinstance(y[3], list) and y[2] == x[2] + 1):
                return False
            added = y[3][y[2] - 1]
            if kind == "append_document":
                return self.seen.document is not None and added == self.seen.document
            value = self.value(rule[1])
            return value.__class__ is added.__class__ and added == value
        value = y[1] if y[0] == "v" else y[3] if y[0] == "o" else _MISSING
        if kind == "assign":
            expected = self.value(rule[1])
            return expected.__class__ is value.__class__ and expected == value
        # "fresh": the id drawn for this chunk
        return isinstance(value, str) and self.fresh.get(value) == rule[1]


#: `str(uuid.uuid4())`, the id stock draws for each chunk of some streams (from the operating
#: system's random bytes, as uuid4), in a third of the time (rust/models.rs).
uuid4_text = native.uuid4_text


class _Emitter:
    def __init__(self):
        # A pydantic object from its parts: object.__new__, then __dict__ and pydantic's three
        # slots through object.__setattr__, in one call (rust/models.rs).
        self.names: Dict[str, Any] = {"_model": native.new_model, "_uuid4": uuid4_text}
        self.lines: List[str] = []
        self.done: Dict[int, str] = {}
        self.count = 0
        #: Where each named constant came from: a learned Const or Shared node, ("check", i)
        #: for an expected frame value, or None for what is the same in every stream of the
        #: shape (classes, keys); and which of those the source has as a literal (see _Code).
        self.plan: List[Tuple[str, Any]] = []
        self.literals: List[Tuple[Any, Any]] = []

    def const(self, value: Any, origin: Any = None) -> str:
        """A name for a constant: every value but None and the booleans is passed in rather
        than written into the source, so streams of one shape compile to the same source (and
        share its compiled code) whatever their ids and texts."""
        if value is None or value is True or value is False:
            if origin is not None:
                self.literals.append((origin, value))
            return repr(value)
        name = f"k{len(self.names)}"
        self.names[name] = value
        self.plan.append((name, origin))
        return name

    def var(self, expression: str) -> str:
        self.count += 1
        name = f"v{self.count}"
        self.lines.append(f"    {name} = {expression}")
        return name

    def expr(self, node: Any) -> str:
        if isinstance(node, Const):
            return self.const(node.value, node)
        if isinstance(node, Source):
            return _source_expr(node)
        if isinstance(node, Now):
            return "now"
        if isinstance(node, Shared):
            return self.const(node.value, node)
        if isinstance(node, Fresh):
            return f"f{node.group}"
        known = self.done.get(id(node))
        if known is not None:
            return known
        if isinstance(node, Seq):
            name = self.var("[" + ", ".join(self.expr(i) for i in node.items) + "]")
        elif isinstance(node, Map):
            name = self.var(self.mapping(node.items))
        else:
            values = self.mapping(node.values)
            extra = "None" if node.extra is None else self.mapping(node.extra)
            private = "None" if node.private is None else self.mapping(node.private)
            fields = "{" + ", ".join(repr(f) for f in sorted(node.fields_set)) + "}" if node.fields_set else "set()"
            name = self.var(f"_model({self.const(node.cls)}, {values}, {extra}, {fields}, {private})")
        self.done[id(node)] = name
        return name

    def mapping(self, items: dict) -> str:
        parts = []
        for key, value in items.items():
            parts.append(f"{self.const(key)}: {self.expr(value)}")
        return "{" + ", ".join(parts) + "}"


#: Compiled recipe sources (their constants are names, so one shape's source is the same for
#: every stream of it).
_COMPILED: Dict[str, Any] = {}


def _source_expr(source: Source) -> str:
    return f"s[{source.slot}]" + "".join(f"[{step!r}]" for step in source.path)


def _compile(returned, appended, rules, checks, slots: int, text_slots: frozenset, fresh: dict) -> Recipe:
    e = _Emitter()
    head = ["def build(s, now, fresh):", "    try:"]
    for kind, slot, path, expected in checks:
        value = _source_expr(Source(slot, path))
        if kind == "len":
            head.append(f"        if len({value}) != {expected}: return None")
        elif kind == "eq":
            head.append(f"        x = {value}")
            head.append(f"        if x.__class__ is not {e.const(expected.__class__)} or x != {e.const(expected, ('check', slot, path))}: return None")
        else:
            head.append(f"        if {value}.__class__ is not {e.const(expected)}: return None")
    head.append("    except (KeyError, IndexError, TypeError):")
    head.append("        return None")
    groups = sorted(set(fresh.values()))
    for group in groups:
        prefix = next(k for k, v in fresh.items() if v == group)
        match = _FRESH_ID.match(prefix)
        head.append(f"    f{group} = fresh[{group}] if fresh is not None else {e.const(match.group(1))} + _uuid4()")
    returned_name = e.expr(returned)
    returned_lines = len(e.lines)
    appended_name = e.expr(appended)
    fresh_tuple = "(" + "".join(f"f{g}, " for g in groups) + ")"
    body = head + e.lines + [f"    return {returned_name}, {appended_name}, {fresh_tuple}"]
    separate = appended_name != returned_name
    if separate:
        # The returned chunk alone (the appended one, built later from the same values, is
        # needed only if the chunk list is read): the lines before the appended chunk's own.
        body += ["", "def build_returned(s, now, fresh):"] + head[1:] + e.lines[:returned_lines] \
            + [f"    return {returned_name}, None, {fresh_tuple}"]
    apply = ["def apply(holders, s, fresh, split):"]
    for index, name, rule in rules:
        target = f"holders[{index}]"
        if rule[0] == "append":
            apply.append(f"    {target}.{name} += {_source_expr(rule[1])}")
        elif rule[0] == "assign":
            apply.append(f"    {target}.{name} = {_source_expr(rule[1])}")
        elif rule[0] == "append_value":
            apply.append(f"    {target}.{name}.append({_source_expr(rule[1])})")
        elif rule[0] == "append_document":
            apply.append(f"    {target}.{name}.append(split.document(split.last()))")
        else:
            apply.append(f"    {target}.{name} = fresh[{rule[1]}]")
    apply.append("    return None")
    namespace = dict(e.names)
    source = "\n".join(body) + "\n\n" + "\n".join(apply) + "\n"
    code = _COMPILED.get(source)
    if code is None:
        if len(_COMPILED) >= 256:  # shapes seen by a long-running process: keep the newest
            _COMPILED.pop(next(iter(_COMPILED)))
        code = _COMPILED[source] = compile(source, "<edgequake_patch chunk recipe>", "exec")
    compiled = _Code(code, source, e.plan, e.literals, {name: e.names[name] for name, origin in e.plan if origin is None},
                     {(slot, path): expected for kind, slot, path, expected in checks if kind == "len"}, separate,
                     _content_of(appended))
    return compiled.recipe(namespace, slots, text_slots)


class _Code:
    """A compiled shape, and how the constants it is run with were found: so that the same
    shape fitted to another stream (`refit`) runs the same code with that stream's constants,
    without emitting its source again."""

    __slots__ = ("code", "source", "plan", "literals", "fixed", "lengths", "separate", "content")

    def __init__(self, code, source, plan, literals, fixed, lengths, separate, content):
        self.code, self.source, self.plan, self.literals, self.fixed = code, source, plan, literals, fixed
        #: The lengths the source checks frame values' containers for (written into it).
        self.lengths = lengths
        self.separate, self.content = separate, content

    def recipe(self, namespace: dict, slots: int, text_slots: frozenset) -> Recipe:
        exec(self.code, namespace)  # noqa: S102 - code generated from a learned structure; every value is passed in namespace
        recipe = Recipe()
        recipe.build = namespace["build"]
        recipe.build_returned = namespace["build_returned"] if self.separate else None
        recipe.apply = namespace["apply"]
        recipe.texts = frozenset(text_slots)
        recipe.slots = slots
        recipe.source = self.source
        recipe.content = self.content
        recipe.compiled = self
        recipe.template = None
        return recipe

    def again(self, value_of, checks: list, slots: int, text_slots: frozenset) -> Optional[Recipe]:
        """This code with the constants `value_of(origin)` gives; None if the source for them
        would differ (a constant that is None or a boolean here and not there, or the other
        way round: the source writes those as literals)."""
        expected = {(slot, path): value for kind, slot, path, value in checks}
        if any(expected.get(key) != length for key, length in self.lengths.items()):
            return None
        namespace: Dict[str, Any] = {"_model": native.new_model, "_uuid4": uuid4_text}
        for name, origin in self.plan:
            if origin is None:
                namespace[name] = self.fixed[name]
                continue
            value = expected[origin[1:]] if origin.__class__ is tuple else value_of(origin)
            if value is None or value is True or value is False:
                return None
            namespace[name] = value
        for origin, literal in self.literals:
            value = expected[origin[1:]] if origin.__class__ is tuple else value_of(origin)
            if value is not literal:
                return None
        return self.recipe(namespace, slots, text_slots)


def _content_of(chunk: Any) -> Optional[int]:
    """Which frame value is the appended chunk's `choices[0].delta.content` (what stock's
    repetition guard compares), or None if it is no frame value."""
    node = chunk
    for name in ("choices", 0, "delta", "content"):
        if isinstance(node, Model):
            node = node.values.get(name, (node.extra or {}).get(name)) if isinstance(name, str) else None
        elif isinstance(node, Seq):
            node = node.items[name] if isinstance(name, int) and len(node.items) > name else None
        else:
            return None
    return node.slot if isinstance(node, Source) and not node.path else None
