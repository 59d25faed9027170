//! Ollama API wire format, modelled on Ollama's public API reference (docs/api.md):
//! `POST /api/chat`, `/api/generate` and `/api/embed`, their requests and answers.
//!
//! Used on the production path through `formats::parse_answer`. Ollama streams *by default*:
//! a chat or generate request without `"stream": false` is answered with newline-delimited
//! JSON objects, so the request stock built decides which answer model applies. A request for
//! one whole answer gets it checked against the endpoint's final-response model (`done` is
//! true) before the core builds the Python object stock's parser reads. The NDJSON stream
//! decoding (`decode_stream`) is tested here but not on the production path: stock's own line
//! iterator reads Ollama streams.
//!
//! Ollama's requests carry no Content-Type (stock sends none) and no authentication; the
//! core forwards stock's headers as they are (`default_content_type=False`).

// The models name every documented field so that its type is checked; production code only
// asks whether a body fits, tests read the values, and the stream decoders serve tests only.
#![allow(dead_code)]

use serde::Deserialize;

use crate::wire::{self, AnyObject};

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub tools: Option<Vec<AnyObject>>,
    pub format: Option<serde_json::Value>,
    pub options: Option<AnyObject>,
    pub stream: Option<bool>,
    pub keep_alive: Option<serde_json::Value>,
    pub think: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
    pub thinking: Option<String>,
    pub images: Option<Vec<String>>,
    pub tool_calls: Option<Vec<ToolCall>>,
    pub tool_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ToolCall {
    pub function: FunctionCall,
}

#[derive(Debug, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// The arguments as an object (Ollama does not send them as a JSON string).
    pub arguments: AnyObject,
    pub index: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct GenerateRequest {
    pub model: String,
    pub prompt: Option<String>,
    pub suffix: Option<String>,
    pub images: Option<Vec<String>>,
    pub format: Option<serde_json::Value>,
    pub options: Option<AnyObject>,
    pub system: Option<String>,
    pub template: Option<String>,
    pub stream: Option<bool>,
    pub raw: Option<bool>,
    pub keep_alive: Option<serde_json::Value>,
    pub context: Option<Vec<i64>>,
    pub think: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct EmbedRequest {
    pub model: String,
    pub input: EmbedInput,
    pub truncate: Option<bool>,
    pub options: Option<AnyObject>,
    pub keep_alive: Option<serde_json::Value>,
    pub dimensions: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum EmbedInput {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Endpoint {
    Chat,
    Generate,
    Embed,
}

/// The endpoint a request goes to and whether it is answered as a stream (Ollama's default
/// for chat and generate), if the body is a valid request for that endpoint.
pub fn classify(path: &str, request: &[u8]) -> Option<(Endpoint, bool)> {
    let stream = |s: Option<bool>| s.unwrap_or(true);
    if path.ends_with("/api/chat") {
        let r: ChatRequest = wire::typed(request).ok()?;
        Some((Endpoint::Chat, stream(r.stream)))
    } else if path.ends_with("/api/generate") {
        let r: GenerateRequest = wire::typed(request).ok()?;
        Some((Endpoint::Generate, stream(r.stream)))
    } else if path.ends_with("/api/embed") {
        wire::typed::<EmbedRequest>(request).ok()?;
        Some((Endpoint::Embed, false))
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------

/// The statistics a final object carries (durations in nanoseconds).
#[derive(Debug, Deserialize, Default, PartialEq, Eq)]
pub struct Stats {
    pub total_duration: Option<u64>,
    pub load_duration: Option<u64>,
    pub prompt_eval_count: Option<u64>,
    pub prompt_eval_duration: Option<u64>,
    pub eval_count: Option<u64>,
    pub eval_duration: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct ChatResponse {
    pub model: String,
    pub created_at: String,
    pub message: ChatMessage,
    pub done: bool,
    pub done_reason: Option<String>,
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Debug, Deserialize)]
pub struct GenerateResponse {
    pub model: String,
    pub created_at: String,
    pub response: String,
    pub thinking: Option<String>,
    pub done: bool,
    pub done_reason: Option<String>,
    pub context: Option<Vec<i64>>,
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Debug, Deserialize)]
pub struct EmbedResponse {
    pub model: String,
    pub embeddings: Vec<Vec<f64>>,
    pub total_duration: Option<u64>,
    pub load_duration: Option<u64>,
    pub prompt_eval_count: Option<u64>,
}

pub fn accepts_answer(path: &str, request: &[u8], body: &[u8]) -> bool {
    match classify(path, request) {
        Some((Endpoint::Chat, false)) => wire::typed::<ChatResponse>(body)
            .is_ok_and(|r| r.done && r.message.role == "assistant"),
        Some((Endpoint::Generate, false)) => {
            wire::typed::<GenerateResponse>(body).is_ok_and(|r| r.done)
        }
        Some((Endpoint::Embed, _)) => wire::typed::<EmbedResponse>(body).is_ok(),
        _ => false,
    }
}

/// One line of a streamed chat or generate answer.
#[derive(Debug)]
pub enum StreamChunk {
    Chat(ChatResponse),
    Generate(GenerateResponse),
    /// `{"error": "..."}`: Ollama reports a failure mid-stream as a line of its own.
    Error(String),
}

#[derive(Deserialize)]
struct ErrorLine {
    error: String,
}

pub fn decode_stream(endpoint: Endpoint, line: &[u8]) -> Result<StreamChunk, String> {
    if let Ok(e) = wire::typed::<ErrorLine>(line) {
        return Ok(StreamChunk::Error(e.error));
    }
    match endpoint {
        Endpoint::Chat => wire::typed(line).map(StreamChunk::Chat),
        Endpoint::Generate => wire::typed(line).map(StreamChunk::Generate),
        Endpoint::Embed => Err("/api/embed does not stream".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::LineDecoder;

    /// The reference's "chat request (no streaming)" example and its answer.
    const CHAT_REQUEST: &str = r#"{"model": "llama3.2", "messages": [{"role": "user", "content": "why is the sky blue?"}], "stream": false}"#;
    const CHAT_RESPONSE: &str = r#"{
      "model": "llama3.2", "created_at": "2023-12-12T14:13:43.416799Z",
      "message": {"role": "assistant", "content": "Hello! How are you today?"},
      "done": true, "total_duration": 5191566416, "load_duration": 2154458, "prompt_eval_count": 26,
      "prompt_eval_duration": 383809000, "eval_count": 298, "eval_duration": 4799921000}"#;

    #[test]
    fn the_reference_chat_exchange() {
        assert_eq!(
            classify("/api/chat", CHAT_REQUEST.as_bytes()),
            Some((Endpoint::Chat, false))
        );
        let r: ChatResponse = wire::typed(CHAT_RESPONSE.as_bytes()).unwrap();
        assert_eq!(
            r.message.content.as_deref(),
            Some("Hello! How are you today?")
        );
        assert_eq!(r.stats.eval_count, Some(298));
        assert_eq!(r.stats.total_duration, Some(5191566416));
        assert!(accepts_answer(
            "/api/chat",
            CHAT_REQUEST.as_bytes(),
            CHAT_RESPONSE.as_bytes()
        ));
    }

    #[test]
    fn without_stream_false_the_answer_is_a_stream() {
        let request = r#"{"model": "llama3.2", "messages": [{"role": "user", "content": "why is the sky blue?"}]}"#;
        assert_eq!(
            classify("/api/chat", request.as_bytes()),
            Some((Endpoint::Chat, true))
        );
        assert!(!accepts_answer(
            "/api/chat",
            request.as_bytes(),
            CHAT_RESPONSE.as_bytes()
        ));
    }

    #[test]
    fn chat_with_tools_images_and_a_tool_call_answer() {
        let request = r#"{"model": "llama3.2", "stream": false, "format": {"type": "object"}, "options": {"temperature": 0},
          "messages": [{"role": "user", "content": "what is in this image?", "images": ["iVBORw0KGgo="]},
                       {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_current_weather", "arguments": {"location": "Paris"}}}]},
                       {"role": "tool", "content": "15 C", "tool_name": "get_current_weather"}],
          "tools": [{"type": "function", "function": {"name": "get_current_weather", "parameters": {"type": "object"}}}]}"#;
        assert_eq!(
            classify("/api/chat", request.as_bytes()),
            Some((Endpoint::Chat, false))
        );
        let answer = r#"{"model": "llama3.2", "created_at": "2024-07-22T20:33:28.123648Z",
          "message": {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_current_weather", "arguments": {"format": "celsius", "location": "Paris, FR"}}}]},
          "done_reason": "stop", "done": true, "total_duration": 885095291, "load_duration": 3753500, "prompt_eval_count": 122,
          "prompt_eval_duration": 328493000, "eval_count": 33, "eval_duration": 552222000}"#;
        let r: ChatResponse = wire::typed(answer.as_bytes()).unwrap();
        assert_eq!(
            r.message.tool_calls.as_ref().unwrap()[0].function.name,
            "get_current_weather"
        );
        assert!(accepts_answer(
            "/api/chat",
            request.as_bytes(),
            answer.as_bytes()
        ));
        let string_arguments = answer.replace(
            r#"{"format": "celsius", "location": "Paris, FR"}"#,
            r#""{}""#,
        );
        assert!(!accepts_answer(
            "/api/chat",
            request.as_bytes(),
            string_arguments.as_bytes()
        ));
    }

    #[test]
    fn the_reference_generate_exchange() {
        let request = r#"{"model": "llama3.2", "prompt": "Why is the sky blue?", "stream": false}"#;
        let answer = r#"{"model": "llama3.2", "created_at": "2023-08-04T19:22:45.499127Z", "response": "The sky is blue because it is the color of the sky.",
          "done": true, "context": [1, 2, 3], "total_duration": 5043500667, "load_duration": 5025959, "prompt_eval_count": 26,
          "prompt_eval_duration": 325953000, "eval_count": 290, "eval_duration": 4709213000}"#;
        assert_eq!(
            classify("/api/generate", request.as_bytes()),
            Some((Endpoint::Generate, false))
        );
        let r: GenerateResponse = wire::typed(answer.as_bytes()).unwrap();
        assert_eq!(r.context, Some(vec![1, 2, 3]));
        assert!(accepts_answer(
            "/api/generate",
            request.as_bytes(),
            answer.as_bytes()
        ));
        // Not final yet: a whole answer always is.
        assert!(!accepts_answer(
            "/api/generate",
            request.as_bytes(),
            answer
                .replace("\"done\": true", "\"done\": false")
                .as_bytes()
        ));
    }

    #[test]
    fn the_reference_embed_exchange() {
        let request = r#"{"model": "all-minilm", "input": ["Why is the sky blue?", "Why is the grass green?"]}"#;
        let answer = r#"{"model": "all-minilm", "embeddings": [[0.010071029, -0.0017594862, 0.05007221, 0.04692972],
          [-0.0098027075, 0.06042469, 0.025257962, -0.006364387]], "total_duration": 14143917, "load_duration": 1019500, "prompt_eval_count": 8}"#;
        assert_eq!(
            classify("/api/embed", request.as_bytes()),
            Some((Endpoint::Embed, false))
        );
        assert_eq!(
            classify("/api/embed", br#"{"model": "all-minilm", "input": "one"}"#),
            Some((Endpoint::Embed, false))
        );
        let r: EmbedResponse = wire::typed(answer.as_bytes()).unwrap();
        assert_eq!(r.embeddings[1][1], 0.06042469);
        assert!(accepts_answer(
            "/api/embed",
            request.as_bytes(),
            answer.as_bytes()
        ));
    }

    #[test]
    fn shapes_the_reference_does_not_document_are_refused() {
        for body in [
            r#"{"error": "model \"llama3.2\" not found, try pulling it first"}"#,
            r#"{"model": "llama3.2", "created_at": "x", "message": {"role": "assistant", "content": 5}, "done": true}"#,
            r#"{"model": "llama3.2", "created_at": "x", "message": {"role": "user", "content": "hi"}, "done": true}"#,
            r#"{"model": "llama3.2", "created_at": "x", "done": true}"#,
            r#"{"model": "llama3.2", "created_at": "x", "message": {"role": "assistant", "content": ""}, "done": true, "eval_count": -1}"#,
            "{\"model\": \"llama3.2\", \"created_at\"",
            "",
        ] {
            assert!(
                !accepts_answer("/api/chat", CHAT_REQUEST.as_bytes(), body.as_bytes()),
                "{body}"
            );
        }
        assert!(!accepts_answer(
            "/api/embed",
            br#"{"model": "m", "input": "x"}"#,
            br#"{"model": "m", "embeddings": [0.1, 0.2]}"#
        ));
    }

    /// The reference's streamed chat: objects, one a line, the last one with `done` and stats.
    const STREAM: &str = "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T08:52:19.385406455-07:00\",\"message\":{\"role\":\"assistant\",\"content\":\"The\"},\"done\":false}\n\
{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T08:52:19.385406455-07:00\",\"message\":{\"role\":\"assistant\",\"content\":\" sky\"},\"done\":false}\n\
{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T19:22:45.499127Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"total_duration\":4883583458,\"load_duration\":1334875,\"prompt_eval_count\":26,\"prompt_eval_duration\":342546000,\"eval_count\":282,\"eval_duration\":4535599000}\n";

    fn chat_stream(chunks: &[&[u8]]) -> (String, Option<u64>) {
        let mut d = LineDecoder::new();
        let mut lines = Vec::new();
        for c in chunks {
            lines.extend(d.feed(c));
        }
        lines.extend(d.finish());
        let (mut text, mut evals) = (String::new(), None);
        for line in lines {
            match decode_stream(Endpoint::Chat, &line).unwrap() {
                StreamChunk::Chat(c) => {
                    text.push_str(c.message.content.as_deref().unwrap_or(""));
                    if c.done {
                        evals = c.stats.eval_count;
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        (text, evals)
    }

    #[test]
    fn the_reference_stream_split_anywhere_and_with_crlf() {
        let b = STREAM.as_bytes();
        for i in 0..=b.len() {
            assert_eq!(
                chat_stream(&[&b[..i], &b[i..]]),
                ("The sky".to_string(), Some(282)),
                "split at {i}"
            );
        }
        let crlf = STREAM.replace('\n', "\r\n");
        assert_eq!(
            chat_stream(&[crlf.as_bytes()]),
            ("The sky".to_string(), Some(282))
        );
        // A last line without its LF still counts.
        assert_eq!(
            chat_stream(&[STREAM.trim_end().as_bytes()]),
            ("The sky".to_string(), Some(282))
        );
    }

    #[test]
    fn an_error_line_mid_stream_and_garbled_lines() {
        assert!(
            matches!(decode_stream(Endpoint::Chat, br#"{"error": "an unknown error was encountered while running the model"}"#),
            Ok(StreamChunk::Error(e)) if e.starts_with("an unknown error"))
        );
        assert!(decode_stream(Endpoint::Chat, b"{\"model\":\"llama3.2\",\"mess").is_err());
        assert!(decode_stream(Endpoint::Generate, b"\xff\xfe").is_err());
        assert!(decode_stream(Endpoint::Embed, b"{}").is_err());
    }
}

/// Steady lines of an NDJSON stream, `/api/chat` and `/api/generate` (`frames.rs`): the text
/// or thinking piece varies, and so does `created_at`, a timestamp per line. A text with a
/// `<think>` tag is not steady: LiteLLM's Ollama parsers turn tagged text into reasoning.
pub static STEADY_FRAMES: crate::wire::SteadyFrames = {
    use crate::wire::{optional_value, text, Framing, Kind, Slot, SteadyFrames, Step::*};
    const CREATED_AT: Slot = optional_value(&[Key("created_at")]);
    const TAGS: &[&str] = &["<think>", "</think>"];
    SteadyFrames {
        framing: Framing::Ndjson,
        kinds: &[
            Kind { slots: &[text(&[Key("message"), Key("content")]), CREATED_AT], text_excludes: TAGS },
            Kind { slots: &[text(&[Key("message"), Key("thinking")]), CREATED_AT], text_excludes: TAGS },
            Kind { slots: &[text(&[Key("response")]), CREATED_AT], text_excludes: TAGS },
            Kind { slots: &[text(&[Key("thinking")]), CREATED_AT], text_excludes: TAGS },
        ],
    }
};
