"""How a steady frame becomes stock's chunk (edgequake_patch/paths/chunk_recipes.py), learned from two
observations of stock: what is learned, what is refused, and what a learned recipe checks.

Observations are built here the way stock's wrapper leaves them (LiteLLM's own chunk classes),
so each rule can be shown on its own; the differential stream tests show the whole on real
streams."""

from __future__ import annotations

import copy
import re

import pytest
from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices, Usage

from edgequake_patch.paths import chunk_recipes
from edgequake_patch.paths.chunk_recipes import Observation, Unlearnable, learn, snapshot

HEADERS = {"llm_provider-x-request-id": "req_1"}


def chunk(text, *, chunk_id="chatcmpl-1", created_at=1.0, usage=None, headers=HEADERS):
    out = ModelResponseStream(id=chunk_id, created=1700000000, model="m",
                              choices=[StreamingChoices(index=0, delta=Delta(content=text))])
    out._hidden_params = {"custom_llm_provider": "openai", "created_at": created_at, "additional_headers": headers}
    if usage is not None:
        out.usage = usage
    return out


class Holder:
    def __init__(self, **values):
        self.__dict__.update(values)


def observe(values, returned, appended=None, *, before=None, after=None):
    before = before or Holder(response_uptil_now="")
    after = after or before
    return Observation(values, returned, appended if appended is not None else returned,
                       [snapshot(before)], [snapshot(after)])


def text_observation(text, seen_before, **chunk_kwargs):
    before = Holder(response_uptil_now=seen_before)
    after = Holder(response_uptil_now=seen_before + text)
    return observe((text,), chunk(text, **chunk_kwargs), before=before, after=after)


def test_a_text_delta_becomes_stocks_chunk_with_new_objects_each_time():
    first = text_observation(" Hello", "", created_at=1.0)
    second = text_observation(" world", " Hello", created_at=2.0)
    recipe = learn(first, second, frozenset({0}))
    built, appended, fresh = recipe.build((" again",), 3.0, None)
    expected = chunk(" again", created_at=3.0)
    assert built is appended and fresh == ()
    assert built.model_dump() == expected.model_dump()
    assert built._hidden_params == expected._hidden_params
    assert built.__pydantic_fields_set__ == expected.__pydantic_fields_set__
    assert built.choices[0].delta.__pydantic_fields_set__ == expected.choices[0].delta.__pydantic_fields_set__
    other, _, _ = recipe.build((" more",), 4.0, None)
    # Nothing is shared that a caller could change in one chunk and see in another ...
    assert other.choices is not built.choices and other.choices[0].delta is not built.choices[0].delta
    assert other._hidden_params is not built._hidden_params
    other.choices[0].delta.content = "changed"
    assert built.choices[0].delta.content == " again"
    # ... but what stock itself shares between its chunks (the same headers dict) stays shared.
    assert other._hidden_params["additional_headers"] is HEADERS
    # The state stock changes: its running text.
    holder = Holder(response_uptil_now="ab")
    recipe.apply((holder,), ("cd",), (), None)
    assert holder.response_uptil_now == "abcd"


def test_a_copy_taken_at_the_time_is_what_is_learned():
    """A caller changing a chunk after stock handed it over changes nothing learned."""
    first_chunk = chunk(" Hello")
    first = observe((" Hello",), first_chunk)
    first_chunk.model = "changed by the caller"
    recipe = learn(first, observe((" world",), chunk(" world")), frozenset({0}))
    assert recipe.build(("x",), 1.0, None)[0].model == "m"


def test_a_value_computed_from_the_text_is_not_learned():
    """Stock upper-casing the text (or anything not equal to a frame value) is not a shape
    this mechanism reproduces."""
    with pytest.raises(Unlearnable, match="no frame value"):
        learn(observe(("ab",), chunk("AB")), observe(("cd",), chunk("CD")), frozenset({0}))


def test_a_counter_in_the_parser_is_not_learned():
    first = observe(("ab",), chunk("ab"), before=Holder(n=1), after=Holder(n=2))
    second = observe(("cd",), chunk("cd"), before=Holder(n=2), after=Holder(n=3))
    with pytest.raises(Unlearnable, match="stock changed n"):
        learn(first, second, frozenset({0}))


def _growing_list_observations(kept):
    blocks = []
    before = Holder(content_blocks=blocks)
    out = []
    for text in ("ab", "cd"):
        document = {"type": "content_block_delta", "delta": {"text": text}}
        snapshot_before = snapshot(before)
        blocks.append(kept(document))
        out.append(Observation((text,), chunk(text), chunk(text), [snapshot_before], [snapshot(before)], document))
    return blocks, out


def test_a_list_growing_in_the_parser_by_anything_but_the_frame_is_not_learned():
    _, observations = _growing_list_observations(lambda document: {"text": document["delta"]["text"]})
    with pytest.raises(Unlearnable, match="content_blocks"):
        learn(*observations, frozenset({0}))


class Splitter:
    def __init__(self, document):
        self._document = document

    def last(self):
        return b"the frame"

    def document(self, frame):
        assert frame == b"the frame"
        return self._document


def test_a_parser_keeping_every_event_keeps_the_fast_ones_too():
    """LiteLLM 1.95's Anthropic parser appends each parsed event to a list it keeps."""
    blocks, observations = _growing_list_observations(dict)
    recipe = learn(*observations, frozenset({0}))
    parser = Holder(content_blocks=blocks)
    recipe.apply((parser,), ("ef",), (), Splitter({"delta": {"text": "ef"}}))
    assert blocks[-1] == {"delta": {"text": "ef"}} and len(blocks) == 3


def gemini_usage(candidates, prompt=8):
    return {"promptTokenCount": prompt, "candidatesTokenCount": candidates, "totalTokenCount": prompt + candidates}


def usage_chunk(text, meta):
    usage = Usage(prompt_tokens=meta["promptTokenCount"], completion_tokens=meta["candidatesTokenCount"],
                  total_tokens=meta["totalTokenCount"])
    return chunk(text, usage=usage)


def test_running_usage_maps_to_the_chunks_counts_and_the_parsers_state():
    """Gemini's shape: the frame's usageMetadata varies; its counts are the chunk's usage and the
    parser keeps the last one."""
    observations = []
    last = {}
    for text, n in (("ab", 1), ("cd", 2)):
        meta = gemini_usage(n)
        before = Holder(_hop_usage=last)
        after = Holder(_hop_usage=meta)
        observations.append(Observation((text, meta), usage_chunk(text, meta), usage_chunk(text, meta),
                                        [snapshot(before)], [snapshot(after)]))
        last = meta
    recipe = learn(*observations, frozenset({0}))
    meta = gemini_usage(7)
    built = recipe.build(("ef", meta), 1.0, None)[0]
    assert (built.usage.prompt_tokens, built.usage.completion_tokens, built.usage.total_tokens) == (8, 7, 15)
    parser = Holder(_hop_usage={})
    recipe.apply((parser,), ("ef", meta), (), None)
    assert parser._hop_usage == meta
    # What did not vary while learning must not vary later: a new prompt count, a new key or
    # a count that is not a number hands the frame to stock.
    assert recipe.build(("ef", gemini_usage(7, prompt=9)), 1.0, None) is None
    assert recipe.build(("ef", {**meta, "thoughtsTokenCount": 3}), 1.0, None) is None
    assert recipe.build(("ef", {**meta, "candidatesTokenCount": "7"}), 1.0, None) is None


def test_ids_stock_draws_per_chunk_are_drawn_again():
    """Ollama's shape: every chunk gets a new UUID4 id, which stock also keeps on the wrapper."""
    ids = ["chatcmpl-0b8fe3a0-cd6f-4861-bc81-a8422eaee456", "chatcmpl-3e9b4737-d351-408d-8cea-c0a8cf6ba2b1"]
    observations = []
    previous = "chatcmpl-97705ae8-4dac-4654-b4fa-c77e8eb0ce41"
    for text, chunk_id in zip(("ab", "cd"), ids):
        observations.append(observe((text,), chunk(text, chunk_id=chunk_id),
                                    before=Holder(response_id=previous), after=Holder(response_id=chunk_id)))
        previous = chunk_id
    recipe = learn(*observations, frozenset({0}))
    built, _, fresh = recipe.build(("ef",), 1.0, None)
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", built.id)
    assert built.id not in ids and fresh == (built.id,)
    wrapper = Holder(response_id="x")
    recipe.apply((wrapper,), ("ef",), fresh, None)
    assert wrapper.response_id == built.id
    # A run of chunks shown merged keeps its first chunk's id.
    assert recipe.build(("ef",), 1.0, ("chatcmpl-given",))[0].id == "chatcmpl-given"


def test_an_ambiguous_source_is_not_guessed():
    """Two frame values equal in both observations: either could be the chunk's."""
    with pytest.raises(Unlearnable, match="several"):
        learn(observe(("ab", "ab"), chunk("ab")), observe(("cd", "cd"), chunk("cd")), frozenset({0, 1}))


def test_merged_values_join_texts_and_keep_the_last_of_the_rest():
    first = observe(("ab", gemini_usage(1)), chunk("ab"))
    second = observe(("cd", gemini_usage(2)), chunk("cd"))
    recipe = learn(first, second, frozenset({0}))
    merged = recipe.merged_values([("a", gemini_usage(1)), ("b", gemini_usage(2)), ("c", gemini_usage(3))])
    assert merged == ("abc", gemini_usage(3))


def test_one_shape_compiles_once():
    chunk_recipes._COMPILED.clear()
    learn(text_observation(" a", ""), text_observation(" b", " a"), frozenset({0}))
    learn(text_observation(" c", "", chunk_id="chatcmpl-2"), text_observation(" d", " c", chunk_id="chatcmpl-2"),
          frozenset({0}))
    assert len(chunk_recipes._COMPILED) == 1


def test_objects_it_cannot_copy_are_refused():
    odd = chunk("ab")
    odd._hidden_params["callable"] = object()
    with pytest.raises(Unlearnable, match="object in the chunk"):
        observe(("ab",), odd)
    assert copy.copy(odd) is not None


def test_fresh_ids_are_uuid4_texts():
    import uuid

    drawn = {chunk_recipes.uuid4_text() for _ in range(2000)}
    assert len(drawn) == 2000
    for text in list(drawn)[:200]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


# -- a shape learned in one stream, fitted to the next from one chunk -------------------------------


def _template():
    recipe = learn(text_observation(" Hello", "", created_at=1.0), text_observation(" world", " Hello", created_at=2.0),
                   frozenset({0}))
    return recipe.template


def test_a_template_fits_another_streams_chunk_with_that_streams_constants():
    seen = text_observation(" Hi", "", chunk_id="chatcmpl-2", created_at=5.0, headers={"llm_provider-x-request-id": "req_2"})
    recipe = chunk_recipes.refit(_template(), seen, frozenset({0}))
    built, appended, _ = recipe.build((" there",), 6.0, None)
    expected = chunk(" there", chunk_id="chatcmpl-2", created_at=6.0, headers={"llm_provider-x-request-id": "req_2"})
    assert built is appended
    assert built.model_dump() == expected.model_dump() and built._hidden_params == expected._hidden_params
    holder = Holder(response_uptil_now=" Hi")
    recipe.apply([holder], (" there",), (), None)
    assert holder.response_uptil_now == " Hi there"


def test_one_shape_compiles_once_whatever_the_stream():
    template = _template()
    first = chunk_recipes.refit(template, text_observation(" a", "", chunk_id="chatcmpl-3"), frozenset({0}))
    second = chunk_recipes.refit(template, text_observation(" b", "", chunk_id="chatcmpl-4"), frozenset({0}))
    assert first.source == second.source and first.build.__code__ is second.build.__code__


@pytest.mark.parametrize("case", ["other class", "other fields", "text elsewhere", "constant is the text",
                                  "no state change", "another state change", "other text slots"])
def test_a_template_does_not_fit_a_chunk_of_another_shape(case):
    template, texts = _template(), frozenset({0})
    if case == "other class":
        class OtherDelta(Delta):
            pass

        returned = chunk(" Hi")
        returned.choices[0].delta = OtherDelta(content=" Hi")
        seen = observe((" Hi",), returned, before=Holder(response_uptil_now=""), after=Holder(response_uptil_now=" Hi"))
    elif case == "other fields":
        seen = observe((" Hi",), chunk(" Hi", usage=Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2)),
                       before=Holder(response_uptil_now=""), after=Holder(response_uptil_now=" Hi"))
    elif case == "text elsewhere":
        seen = observe((" Hi",), chunk(None), before=Holder(response_uptil_now=""), after=Holder(response_uptil_now=" Hi"))
    elif case == "constant is the text":
        # The chunk's id is this frame's text: with one chunk to go by, it is not taken for a constant.
        seen = text_observation(" Hi", "", chunk_id=" Hi")
    elif case == "no state change":
        seen = observe((" Hi",), chunk(" Hi"), before=Holder(response_uptil_now=""), after=Holder(response_uptil_now=""))
    elif case == "another state change":
        seen = observe((" Hi",), chunk(" Hi"), before=Holder(response_uptil_now="", n=1),
                       after=Holder(response_uptil_now=" Hi", n=2))
    else:
        seen, texts = text_observation(" Hi", ""), frozenset()
    with pytest.raises(Unlearnable):
        chunk_recipes.refit(template, seen, texts)


def test_templates_are_tried_newest_first_and_bounded():
    templates = chunk_recipes.Templates(per_key=2, keys=2)
    for key in ("a", "b", "c"):
        templates.keep(key, _template())
    assert templates.recipe_for("a", text_observation(" Hi", ""), frozenset({0})) is None  # the oldest key went
    assert templates.recipe_for("c", text_observation(" Hi", ""), frozenset({0})) is not None
    assert templates.recipe_for("c", text_observation(" Hi", ""), frozenset({1})) is None


def test_a_constant_that_is_none_in_one_stream_and_a_value_in_the_next_is_that_streams():
    """The compiled source writes None and the booleans as literals: a stream where such a
    constant has another value gets its own source, not the earlier stream's code."""

    def provider_chunk(text, provider, created_at):
        out = chunk(text, created_at=created_at)
        out._hidden_params["custom_llm_provider"] = provider
        return out

    def seen(text, before, provider, created_at):
        return observe((text,), provider_chunk(text, provider, created_at), before=Holder(response_uptil_now=before),
                       after=Holder(response_uptil_now=before + text))

    template = learn(seen(" a", "", None, 1.0), seen(" b", " a", None, 2.0), frozenset({0})).template
    recipe = chunk_recipes.refit(template, seen(" c", "", "openai", 3.0), frozenset({0}))
    built, _, _ = recipe.build((" d",), 4.0, None)
    assert built._hidden_params["custom_llm_provider"] == "openai"
    assert recipe.source != template.compiled.source
    back = chunk_recipes.refit(template, seen(" e", "", None, 5.0), frozenset({0}))
    assert back.build((" f",), 6.0, None)[0]._hidden_params["custom_llm_provider"] is None
    assert back.source == template.compiled.source


def test_a_frame_value_of_another_kind_is_a_misfit_not_an_error():
    """Where the template's frames had a text, this frame has an object: refused as another
    shape (Unlearnable), like any misfit, not an error that would end learning for the stream."""
    template = _template()
    seen = observe(({"text": " Hi"},), chunk(" Hi"), before=Holder(response_uptil_now=""),
                   after=Holder(response_uptil_now=" Hi"))
    with pytest.raises(Unlearnable):
        chunk_recipes.refit(template, seen, frozenset({0}))
