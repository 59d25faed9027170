"""With an OpenAI SDK whose response models differ from the core's copies (some openai 2.x
releases), the lean handler steps aside on every call, counted as `sdk_models_changed`, and the
regular native path serves it, identical to stock (tests/test_lean_chat.py covers the rest)."""

from __future__ import annotations

import pytest

from edgequake_patch.transport import sdk_models
from tests.differential import CHAT_PROVIDERS, assert_same, compare, litellm_call
from tests.test_lean_chat import MESSAGES, _paths


@pytest.mark.skipif(sdk_models.core_parses(), reason="the core reproduces the installed SDK's response models")
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_the_regular_native_path_serves_when_sdk_models_differ(is_async, standin, patch):
    kwargs = {"messages": MESSAGES, **CHAT_PROVIDERS["openai"].kwargs(standin)}
    comparison = compare(litellm_call("completion", kwargs, is_async=is_async), standin, patch)
    assert_same(comparison)
    assert _paths(comparison) == (0, {"sdk_models_changed": 1})
