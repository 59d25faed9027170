"""Whether the core's copy of the OpenAI SDK's response models matches the installed SDK.

The core turns OpenAI-style answers into the dict the SDK's models dump (rust/openai.rs), from
field lists compiled in for each SDK generation. Which generation applies is read off the
installed SDK, not its version number: the generation whose field lists equal the SDK models'
`model_fields`, name for name and in order. If none does (an SDK release that changed a model),
the core's parsing is not used: answers are parsed by the SDK itself, from the bytes the core
received (sdk_transport's replay), and nothing else changes.
"""

from __future__ import annotations

from typing import Dict, Optional

from . import native

#: The generations the core has field lists for.
GENERATIONS = (3, 2)


def sdk_models() -> Dict[str, type]:
    """The SDK models the core reproduces, by the names the core uses."""
    from openai.types import completion_usage, create_embedding_response, embedding
    from openai.types.chat import chat_completion, chat_completion_audio, chat_completion_message
    from openai.types.chat import chat_completion_message_custom_tool_call as custom
    from openai.types.chat import chat_completion_message_function_tool_call as function
    from openai.types.chat import chat_completion_token_logprob

    return {
        "ChatCompletion": chat_completion.ChatCompletion,
        "Choice": chat_completion.Choice,
        "ChoiceLogprobs": chat_completion.ChoiceLogprobs,
        "ChatCompletionTokenLogprob": chat_completion_token_logprob.ChatCompletionTokenLogprob,
        "TopLogprob": chat_completion_token_logprob.TopLogprob,
        "ChatCompletionMessage": chat_completion_message.ChatCompletionMessage,
        "Annotation": chat_completion_message.Annotation,
        "AnnotationURLCitation": chat_completion_message.AnnotationURLCitation,
        "ChatCompletionAudio": chat_completion_audio.ChatCompletionAudio,
        "FunctionCall": chat_completion_message.FunctionCall,
        "ChatCompletionMessageFunctionToolCall": function.ChatCompletionMessageFunctionToolCall,
        "Function": function.Function,
        "ChatCompletionMessageCustomToolCall": custom.ChatCompletionMessageCustomToolCall,
        "Custom": custom.Custom,
        "CompletionUsage": completion_usage.CompletionUsage,
        "CompletionTokensDetails": completion_usage.CompletionTokensDetails,
        "PromptTokensDetails": completion_usage.PromptTokensDetails,
        "CreateEmbeddingResponse": create_embedding_response.CreateEmbeddingResponse,
        "Embedding": embedding.Embedding,
        "Usage": create_embedding_response.Usage,
    }


def _matching_generation() -> Optional[int]:
    try:
        installed = {name: list(cls.model_fields) for name, cls in sdk_models().items()}
    except (ImportError, AttributeError):  # a model moved or was renamed
        return None
    for generation in GENERATIONS:
        if native.openai_schema(generation) == installed:
            return generation
    return None


_generation: Optional[int] = None
_checked = False


def core_parses() -> bool:
    """Whether the core's parsing of OpenAI-style answers reproduces the installed SDK's
    (checked once; the core is switched to the matching generation)."""
    global _generation, _checked
    if not _checked:
        _generation = _matching_generation()
        if _generation is not None:
            native.use_openai_schema(_generation)
        _checked = True
    return _generation is not None


def generation() -> Optional[int]:
    core_parses()
    return _generation
