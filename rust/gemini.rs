//! Gemini API (Google AI Studio) wire format, modelled on Google's public API reference:
//! `models/{model}:generateContent`, `:streamGenerateContent?alt=sse` and
//! `:batchEmbedContents`, their requests and answers.
//!
//! Used on the production path through `formats::parse_answer`: the endpoint is read off the
//! request path (`generateContent` is answered with one `GenerateContentResponse`,
//! `batchEmbedContents` with one `BatchEmbedContentsResponse`, `streamGenerateContent` with
//! SSE), the request stock built is checked against that endpoint's request model, and a
//! whole answer against its response model before the core builds the Python object stock's
//! parser reads. The stream decoding (`decode_stream`) is tested here but not on the
//! production path: stock's own line iterator reads Gemini streams.
//!
//! Protobuf's JSON mapping accepts a field's lowerCamelCase and its original snake_case name
//! on input (LiteLLM sends `system_instruction`, for one), so the request models take both;
//! answers use lowerCamelCase. The key goes in the `x-goog-api-key` header or a `key` query
//! parameter (stock's choice, which the core forwards untouched).

// The models name every documented field so that its type is checked; production code only
// asks whether a body fits, tests read the values, and the stream decoders serve tests only.
#![allow(dead_code)]

use serde::Deserialize;

use crate::wire::{self, AnyObject, SseEvent};

// ---------------------------------------------------------------------------------------
// Shared: Content and Part
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
pub struct Content {
    #[serde(default)]
    pub parts: Vec<Part>,
    pub role: Option<String>,
}

/// A part holds at most one kind of data (the reference's `data` union); `thought` marks a
/// thought summary, `thoughtSignature` travels with any part.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    pub text: Option<String>,
    #[serde(alias = "inline_data")]
    pub inline_data: Option<Blob>,
    #[serde(alias = "function_call")]
    pub function_call: Option<FunctionCall>,
    #[serde(alias = "function_response")]
    pub function_response: Option<AnyObject>,
    #[serde(alias = "file_data")]
    pub file_data: Option<AnyObject>,
    #[serde(alias = "executable_code")]
    pub executable_code: Option<AnyObject>,
    #[serde(alias = "code_execution_result")]
    pub code_execution_result: Option<AnyObject>,
    pub thought: Option<bool>,
    #[serde(alias = "thought_signature")]
    pub thought_signature: Option<String>,
}

impl Part {
    fn data_kinds(&self) -> usize {
        [
            self.text.is_some(),
            self.inline_data.is_some(),
            self.function_call.is_some(),
            self.function_response.is_some(),
            self.file_data.is_some(),
            self.executable_code.is_some(),
            self.code_execution_result.is_some(),
        ]
        .iter()
        .filter(|&&b| b)
        .count()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    #[serde(alias = "mime_type")]
    pub mime_type: String,
    pub data: String,
}

#[derive(Debug, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    pub args: Option<AnyObject>,
    pub id: Option<String>,
}

fn parts_are_unions(contents: &[&Content]) -> bool {
    contents
        .iter()
        .all(|c| c.parts.iter().all(|p| p.data_kinds() <= 1))
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    pub contents: Vec<Content>,
    #[serde(alias = "system_instruction")]
    pub system_instruction: Option<Content>,
    pub tools: Option<Vec<AnyObject>>,
    #[serde(alias = "tool_config")]
    pub tool_config: Option<AnyObject>,
    #[serde(alias = "safety_settings")]
    pub safety_settings: Option<Vec<AnyObject>>,
    #[serde(alias = "generation_config")]
    pub generation_config: Option<AnyObject>,
    #[serde(alias = "cached_content")]
    pub cached_content: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct BatchEmbedContentsRequest {
    pub requests: Vec<EmbedContentRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedContentRequest {
    pub model: String,
    pub content: Content,
    #[serde(alias = "task_type")]
    pub task_type: Option<String>,
    pub title: Option<String>,
    #[serde(alias = "output_dimensionality")]
    pub output_dimensionality: Option<u32>,
}

/// The endpoint a request path names, and how it is answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `:generateContent`: one `GenerateContentResponse`.
    Generate,
    /// `:streamGenerateContent`: `GenerateContentResponse` chunks (SSE with `alt=sse`).
    StreamGenerate,
    /// `:batchEmbedContents`: one `BatchEmbedContentsResponse`.
    BatchEmbed,
}

/// The endpoint of `path` (the method follows the last `:` of `models/{model}:method`), if the
/// request stock built is a valid request for it.
pub fn classify(path: &str, request: &[u8]) -> Option<Endpoint> {
    let (_, method) = path.rsplit_once(':')?;
    let endpoint = match method {
        "generateContent" => Endpoint::Generate,
        "streamGenerateContent" => Endpoint::StreamGenerate,
        "batchEmbedContents" => Endpoint::BatchEmbed,
        _ => return None,
    };
    let valid = match endpoint {
        Endpoint::BatchEmbed => wire::typed::<BatchEmbedContentsRequest>(request)
            .map(|r| parts_are_unions(&r.requests.iter().map(|q| &q.content).collect::<Vec<_>>()))
            .unwrap_or(false),
        _ => wire::typed::<GenerateContentRequest>(request)
            .map(|r| {
                parts_are_unions(
                    &r.contents
                        .iter()
                        .chain(&r.system_instruction)
                        .collect::<Vec<_>>(),
                )
            })
            .unwrap_or(false),
    };
    valid.then_some(endpoint)
}

// ---------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    pub prompt_feedback: Option<PromptFeedback>,
    pub usage_metadata: Option<UsageMetadata>,
    pub model_version: Option<String>,
    pub response_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub content: Option<Content>,
    pub finish_reason: Option<String>,
    pub finish_message: Option<String>,
    #[serde(default)]
    pub safety_ratings: Vec<SafetyRating>,
    pub citation_metadata: Option<AnyObject>,
    pub grounding_metadata: Option<AnyObject>,
    pub token_count: Option<u64>,
    pub avg_logprobs: Option<f64>,
    pub index: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SafetyRating {
    pub category: String,
    pub probability: String,
    pub blocked: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    pub block_reason: Option<String>,
    #[serde(default)]
    pub safety_ratings: Vec<SafetyRating>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    pub prompt_token_count: Option<u64>,
    pub cached_content_token_count: Option<u64>,
    pub candidates_token_count: Option<u64>,
    pub tool_use_prompt_token_count: Option<u64>,
    pub thoughts_token_count: Option<u64>,
    pub total_token_count: Option<u64>,
    #[serde(default)]
    pub prompt_tokens_details: Vec<ModalityTokenCount>,
    #[serde(default)]
    pub candidates_tokens_details: Vec<ModalityTokenCount>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModalityTokenCount {
    pub modality: String,
    pub token_count: Option<u64>,
}

impl GenerateContentResponse {
    /// Something documented is there (an error object or `{}` has none of these), and each
    /// part is one kind of data.
    fn well_formed(&self) -> bool {
        (!self.candidates.is_empty()
            || self.prompt_feedback.is_some()
            || self.usage_metadata.is_some())
            && parts_are_unions(
                &self
                    .candidates
                    .iter()
                    .filter_map(|c| c.content.as_ref())
                    .collect::<Vec<_>>(),
            )
    }
}

#[derive(Debug, Deserialize)]
pub struct BatchEmbedContentsResponse {
    pub embeddings: Vec<ContentEmbedding>,
}

#[derive(Debug, Deserialize)]
pub struct ContentEmbedding {
    pub values: Vec<f64>,
}

pub fn accepts_answer(path: &str, request: &[u8], body: &[u8]) -> bool {
    match classify(path, request) {
        Some(Endpoint::Generate) => wire::typed::<GenerateContentResponse>(body)
            .map(|r| r.well_formed())
            .unwrap_or(false),
        Some(Endpoint::BatchEmbed) => wire::typed::<BatchEmbedContentsResponse>(body).is_ok(),
        Some(Endpoint::StreamGenerate) | None => false,
    }
}

/// One SSE event of `streamGenerateContent?alt=sse`: a `GenerateContentResponse` chunk.
pub fn decode_stream(event: &SseEvent) -> Result<GenerateContentResponse, String> {
    let chunk: GenerateContentResponse = wire::typed(event.data.as_bytes())?;
    if chunk.well_formed() {
        Ok(chunk)
    } else {
        Err("a part carries more than one kind of data".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SseDecoder;

    const GENERATE: &str = "/v1beta/models/gemini-2.0-flash:generateContent";

    /// The reference's text-generation request (`contents` with one text part).
    const REQUEST: &str =
        r#"{"contents": [{"parts": [{"text": "Explain how AI works in a few words"}]}]}"#;

    /// A `GenerateContentResponse` as the reference documents it.
    const RESPONSE: &str = r#"{
      "candidates": [{
        "content": {"parts": [{"text": "AI learns patterns from data to make predictions."}], "role": "model"},
        "finishReason": "STOP",
        "safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
                          {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"}],
        "avgLogprobs": -0.1270,
        "index": 0
      }],
      "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 9, "totalTokenCount": 37, "thoughtsTokenCount": 20,
                        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}]},
      "modelVersion": "gemini-2.5-flash",
      "responseId": "mcHnaNu0Iqnd1e8Pz5ySsQ4"
    }"#;

    #[test]
    fn the_reference_request_and_response() {
        assert_eq!(
            classify(GENERATE, REQUEST.as_bytes()),
            Some(Endpoint::Generate)
        );
        let r: GenerateContentResponse = wire::typed(RESPONSE.as_bytes()).unwrap();
        let c = &r.candidates[0];
        assert_eq!(c.finish_reason.as_deref(), Some("STOP"));
        assert_eq!(
            c.content.as_ref().unwrap().parts[0].text.as_deref(),
            Some("AI learns patterns from data to make predictions.")
        );
        assert_eq!(
            c.safety_ratings[1].category,
            "HARM_CATEGORY_DANGEROUS_CONTENT"
        );
        let u = r.usage_metadata.as_ref().unwrap();
        assert_eq!(
            (
                u.prompt_token_count,
                u.thoughts_token_count,
                u.total_token_count
            ),
            (Some(8), Some(20), Some(37))
        );
        assert_eq!(r.response_id.as_deref(), Some("mcHnaNu0Iqnd1e8Pz5ySsQ4"));
        assert!(accepts_answer(
            GENERATE,
            REQUEST.as_bytes(),
            RESPONSE.as_bytes()
        ));
    }

    #[test]
    fn snake_case_request_fields_tools_and_inline_data() {
        let body = r#"{"system_instruction": {"parts": [{"text": "You are a cat."}]},
          "contents": [{"role": "user", "parts": [{"text": "What is this?"},
                        {"inline_data": {"mime_type": "image/png", "data": "iVBORw0KGgo="}}]},
                       {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}}]},
                       {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 15}}}]}],
          "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "object"}}]}],
          "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
          "generationConfig": {"temperature": 0.2, "thinkingConfig": {"includeThoughts": true}}}"#;
        assert_eq!(
            classify(GENERATE, body.as_bytes()),
            Some(Endpoint::Generate)
        );
        let r: GenerateContentRequest = wire::typed(body.as_bytes()).unwrap();
        assert_eq!(
            r.contents[0].parts[1]
                .inline_data
                .as_ref()
                .unwrap()
                .mime_type,
            "image/png"
        );
        assert_eq!(
            r.system_instruction.unwrap().parts[0].text.as_deref(),
            Some("You are a cat.")
        );
    }

    #[test]
    fn the_endpoint_comes_from_the_path() {
        let stream = "/v1beta/models/gemini-2.0-flash:streamGenerateContent";
        assert_eq!(
            classify(stream, REQUEST.as_bytes()),
            Some(Endpoint::StreamGenerate)
        );
        assert!(!accepts_answer(
            stream,
            REQUEST.as_bytes(),
            RESPONSE.as_bytes()
        ));
        assert_eq!(
            classify(
                "/v1beta/models/gemini-2.0-flash:countTokens",
                REQUEST.as_bytes()
            ),
            None
        );
        assert_eq!(
            classify("/v1beta/models/gemini-2.0-flash", REQUEST.as_bytes()),
            None
        );
        assert_eq!(classify(GENERATE, br#"{"contents": [{"parts": [{"text": "a", "inlineData": {"mimeType": "x", "data": ""}}]}]}"#), None);
        assert_eq!(classify(GENERATE, br#"{"prompt": "x"}"#), None);
    }

    #[test]
    fn function_calls_thoughts_and_blocked_prompts() {
        let body = r#"{"candidates": [{"content": {"role": "model", "parts": [
            {"text": "Weighing the options", "thought": true},
            {"functionCall": {"name": "get_weather", "args": {"location": "Boston"}}, "thoughtSignature": "CiQB0e2Kb"}]},
            "finishReason": "STOP", "index": 0}],
          "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 5, "totalTokenCount": 25}}"#;
        assert!(accepts_answer(
            GENERATE,
            REQUEST.as_bytes(),
            body.as_bytes()
        ));
        let r: GenerateContentResponse = wire::typed(body.as_bytes()).unwrap();
        let parts = &r.candidates[0].content.as_ref().unwrap().parts;
        assert_eq!(parts[0].thought, Some(true));
        assert_eq!(parts[1].function_call.as_ref().unwrap().name, "get_weather");
        // A prompt blocked before any candidate: no candidates, only feedback.
        let blocked = r#"{"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": true}]},
                          "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}}"#;
        let r: GenerateContentResponse = wire::typed(blocked.as_bytes()).unwrap();
        assert_eq!(
            r.prompt_feedback.unwrap().block_reason.as_deref(),
            Some("SAFETY")
        );
        assert!(accepts_answer(
            GENERATE,
            REQUEST.as_bytes(),
            blocked.as_bytes()
        ));
    }

    #[test]
    fn shapes_the_reference_does_not_document_are_refused() {
        for body in [
            r#"{"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}"#.to_string(),
            r#"{"candidates": {"content": {}}}"#.into(),
            r#"{"candidates": [{"content": {"parts": [{"text": 5}]}}]}"#.into(),
            r#"{"candidates": [{"content": {"parts": [{"text": "a", "functionCall": {"name": "f"}}]}}]}"#.into(),
            r#"{"usageMetadata": {"promptTokenCount": "8"}}"#.into(),
            "[]".into(),
            "{}".into(),
            "{\"candidates\": [".into(),
        ] {
            assert!(!accepts_answer(GENERATE, REQUEST.as_bytes(), body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn batch_embed_contents_request_and_response() {
        let path = "/v1beta/models/text-embedding-004:batchEmbedContents";
        let request = r#"{"requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "What is the meaning of life?"}]}},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "How much wood?"}]}, "taskType": "RETRIEVAL_QUERY", "outputDimensionality": 8}]}"#;
        assert_eq!(
            classify(path, request.as_bytes()),
            Some(Endpoint::BatchEmbed)
        );
        let answer = r#"{"embeddings": [{"values": [0.013168523, -0.008711934, -0.046782676]}, {"values": [1e-3, 0, -2]}]}"#;
        let r: BatchEmbedContentsResponse = wire::typed(answer.as_bytes()).unwrap();
        assert_eq!(
            r.embeddings[0].values,
            vec![0.013168523, -0.008711934, -0.046782676]
        );
        assert!(accepts_answer(path, request.as_bytes(), answer.as_bytes()));
        assert!(!accepts_answer(
            path,
            request.as_bytes(),
            br#"{"embeddings": [{"values": ["0.1"]}]}"#
        ));
        assert!(!accepts_answer(
            path,
            request.as_bytes(),
            br#"{"embedding": {"values": [0.1]}}"#
        ));
        assert!(!accepts_answer(
            path,
            br#"{"requests": [{"content": {"parts": []}}]}"#,
            answer.as_bytes()
        ));
    }

    /// `streamGenerateContent?alt=sse`: `data:` frames, CRLF-terminated as the API sends them.
    const STREAM: &str = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"The\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,\"totalTokenCount\": 8},\"modelVersion\": \"gemini-2.0-flash\"}\r\n\r\n\
data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" answer\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,\"candidatesTokenCount\": 2,\"totalTokenCount\": 10},\"modelVersion\": \"gemini-2.0-flash\"}\r\n\r\n";

    fn texts(chunks: &[&[u8]]) -> Vec<String> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            for e in d.feed(c) {
                let r = decode_stream(&e).unwrap();
                out.push(
                    r.candidates[0].content.as_ref().unwrap().parts[0]
                        .text
                        .clone()
                        .unwrap(),
                );
            }
        }
        out
    }

    #[test]
    fn the_stream_decodes_split_at_any_byte() {
        let b = STREAM.as_bytes();
        for i in 0..=b.len() {
            assert_eq!(
                texts(&[&b[..i], &b[i..]]),
                ["The", " answer"],
                "split at {i}"
            );
        }
        let lf = STREAM.replace("\r\n", "\n");
        assert_eq!(texts(&[lf.as_bytes()]), ["The", " answer"]);
        assert!(decode_stream(&SseEvent {
            event: None,
            data: "{\"candidates\": [{".into()
        })
        .is_err());
        assert!(decode_stream(&SseEvent {
            event: None,
            data: "[DONE]".into()
        })
        .is_err());
    }
}

/// Steady frames of a `streamGenerateContent?alt=sse` stream (`frames.rs`): a one-part
/// candidate whose text varies, with the running `usageMetadata` Gemini sends on every chunk.
pub static STEADY_FRAMES: crate::wire::SteadyFrames = {
    use crate::wire::{optional_value, text, Framing, Kind, SteadyFrames, Step::*};
    SteadyFrames {
        framing: Framing::Sse,
        kinds: &[Kind {
            slots: &[
                text(&[Key("candidates"), Index(0), Key("content"), Key("parts"), Index(0), Key("text")]),
                optional_value(&[Key("usageMetadata")]),
            ],
            text_excludes: &[],
        }],
    }
};
