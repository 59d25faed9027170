//! Anthropic Messages API wire format (`POST /v1/messages`), modelled on Anthropic's public
//! API reference: the request, the Message answer, and the streaming events.
//!
//! Used on the production path through `formats::parse_answer`: the request stock built is
//! classified (a `"stream": true` request is answered with events, anything else with one
//! Message) and a whole answer is checked against `Message` before the core builds the Python
//! object stock's parser reads. The event model (`StreamEvent`, `decode_stream`) is tested here
//! but not on the production path: stock's own line iterator reads Anthropic streams.

// The models name every documented field so that its type is checked; production code only
// asks whether a body fits, tests read the values, and the stream decoders serve tests only.
#![allow(dead_code)]

use serde::Deserialize;

use crate::wire::{self, AnyObject, SseEvent};

// ---------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    pub max_tokens: u64,
    pub messages: Vec<InputMessage>,
    pub system: Option<TextOrBlocks>,
    pub stream: Option<bool>,
    pub stop_sequences: Option<Vec<String>>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub tools: Option<Vec<AnyObject>>,
    pub tool_choice: Option<AnyObject>,
    pub thinking: Option<AnyObject>,
    pub metadata: Option<AnyObject>,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Deserialize)]
pub struct InputMessage {
    pub role: Role,
    pub content: TextOrBlocks,
}

/// `content` (and `system`): a plain string, or a list of typed blocks.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TextOrBlocks {
    Text(String),
    Blocks(Vec<InputBlock>),
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputBlock {
    Text {
        text: String,
    },
    Image {
        source: AnyObject,
    },
    Document {
        source: AnyObject,
    },
    ToolUse {
        id: String,
        name: String,
        input: AnyObject,
    },
    ToolResult {
        tool_use_id: String,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    /// Block kinds added to the API later (search results, server tools...).
    #[serde(other)]
    Other,
}

/// What a request to `path` with this body is answered with.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// One `Message` JSON document.
    Message,
    /// Server-sent events.
    Events,
}

pub fn classify(path: &str, request: &[u8]) -> Option<Answer> {
    if !path.ends_with("/v1/messages") {
        return None;
    }
    let r: MessagesRequest = wire::typed(request).ok()?;
    Some(if r.stream == Some(true) {
        Answer::Events
    } else {
        Answer::Message
    })
}

// ---------------------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------------------

/// The only `type` a Message has.
#[derive(Debug, Deserialize)]
enum MessageType {
    #[serde(rename = "message")]
    Message,
}

/// The only role an answer has.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub enum AssistantRole {
    #[serde(rename = "assistant")]
    Assistant,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    pub id: String,
    #[serde(rename = "type")]
    kind: MessageType,
    pub role: AssistantRole,
    pub model: String,
    pub content: Vec<ContentBlock>,
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub stop_sequence: Option<String>,
    pub usage: Usage,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        text: String,
        #[serde(default)]
        citations: Option<Vec<AnyObject>>,
    },
    ToolUse {
        id: String,
        name: String,
        input: AnyObject,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    ServerToolUse {
        id: String,
        name: String,
        input: AnyObject,
    },
    WebSearchToolResult {
        tool_use_id: String,
    },
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub service_tier: Option<String>,
}

pub fn accepts_answer(path: &str, request: &[u8], body: &[u8]) -> bool {
    classify(path, request) == Some(Answer::Message) && wire::typed::<Message>(body).is_ok()
}

// ---------------------------------------------------------------------------------------
// Streaming events
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    MessageStart {
        message: Message,
    },
    ContentBlockStart {
        index: u64,
        content_block: ContentBlock,
    },
    ContentBlockDelta {
        index: u64,
        delta: Delta,
    },
    ContentBlockStop {
        index: u64,
    },
    MessageDelta {
        delta: MessageDeltaBody,
        usage: DeltaUsage,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorBody,
    },
}

impl StreamEvent {
    fn name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message_start",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta { .. } => "message_delta",
            Self::MessageStop => "message_stop",
            Self::Ping => "ping",
            Self::Error { .. } => "error",
        }
    }
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Delta {
    TextDelta { text: String },
    InputJsonDelta { partial_json: String },
    ThinkingDelta { thinking: String },
    SignatureDelta { signature: String },
    CitationsDelta { citation: AnyObject },
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct MessageDeltaBody {
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub stop_sequence: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct DeltaUsage {
    pub output_tokens: u64,
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// One SSE event as a typed stream event. The reference says the `event:` name always equals
/// the data's `type`; an event that breaks that, or an unknown one, is an error.
pub fn decode_stream(event: &SseEvent) -> Result<StreamEvent, String> {
    let parsed: StreamEvent = wire::typed(event.data.as_bytes())?;
    match &event.event {
        Some(name) if name != parsed.name() => Err(format!(
            "event {name:?} carries a {:?} payload",
            parsed.name()
        )),
        _ => Ok(parsed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SseDecoder;

    /// The Messages API reference's example request.
    const REQUEST: &str = r#"{
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hello, world"}]
    }"#;

    /// The reference's example response, plus the cache counters its Usage object documents.
    const RESPONSE: &str = r#"{
        "content": [{"text": "Hi! My name is Claude.", "type": "text"}],
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "model": "claude-sonnet-4-20250514",
        "role": "assistant",
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "type": "message",
        "usage": {"input_tokens": 2095, "output_tokens": 503,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    }"#;

    #[test]
    fn the_reference_request_is_a_whole_message_request() {
        let r: MessagesRequest = wire::typed(REQUEST.as_bytes()).unwrap();
        assert_eq!(r.max_tokens, 1024);
        assert_eq!(r.messages[0].role, Role::User);
        assert!(matches!(&r.messages[0].content, TextOrBlocks::Text(t) if t == "Hello, world"));
        assert_eq!(
            classify("/v1/messages", REQUEST.as_bytes()),
            Some(Answer::Message)
        );
    }

    #[test]
    fn a_stream_request_is_answered_with_events() {
        let body = r#"{"model": "m", "max_tokens": 10, "stream": true, "system": [{"type": "text", "text": "terse"}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"},
              {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}]},
              {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris"}}]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "15 C"},
                                           {"type": "search_result", "source": "x"}]}]}"#;
        assert_eq!(
            classify("/v1/messages", body.as_bytes()),
            Some(Answer::Events)
        );
        assert!(!accepts_answer(
            "/v1/messages",
            body.as_bytes(),
            RESPONSE.as_bytes()
        ));
    }

    #[test]
    fn requests_that_are_not_messages_requests_are_not_classified() {
        assert_eq!(classify("/v1/complete", REQUEST.as_bytes()), None);
        assert_eq!(
            classify("/v1/messages", br#"{"model": "m", "messages": []}"#),
            None
        ); // no max_tokens
        assert_eq!(classify("/v1/messages", br#"{"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": "x"}]}"#), None);
        assert_eq!(classify("/v1/messages", b"not json"), None);
    }

    #[test]
    fn the_reference_response_is_accepted_with_its_values() {
        let m: Message = wire::typed(RESPONSE.as_bytes()).unwrap();
        assert_eq!(m.id, "msg_013Zva2CMHLNnXjNJJKqJ2EF");
        assert_eq!(m.role, AssistantRole::Assistant);
        assert_eq!(m.stop_reason.as_deref(), Some("end_turn"));
        assert_eq!(
            m.content,
            vec![ContentBlock::Text {
                text: "Hi! My name is Claude.".into(),
                citations: None
            }]
        );
        assert_eq!(m.usage.input_tokens, 2095);
        assert_eq!(m.usage.cache_read_input_tokens, Some(0));
        assert!(accepts_answer(
            "/v1/messages",
            REQUEST.as_bytes(),
            RESPONSE.as_bytes()
        ));
    }

    #[test]
    fn tool_use_thinking_and_redacted_thinking_blocks() {
        let body = r#"{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
            "content": [
              {"type": "thinking", "thinking": "Let me check the weather.", "signature": "EqQBCgIYAhIM"},
              {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
              {"type": "text", "text": "I'll look that up."},
              {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"location": "San Francisco, CA"}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 472, "output_tokens": 89, "cache_creation_input_tokens": 12, "cache_read_input_tokens": 3}}"#;
        let m: Message = wire::typed(body.as_bytes()).unwrap();
        assert_eq!(m.content.len(), 4);
        assert!(
            matches!(&m.content[0], ContentBlock::Thinking { signature, .. } if signature == "EqQBCgIYAhIM")
        );
        assert!(matches!(
            &m.content[1],
            ContentBlock::RedactedThinking { .. }
        ));
        assert!(
            matches!(&m.content[3], ContentBlock::ToolUse { name, .. } if name == "get_weather")
        );
        assert_eq!(m.usage.cache_creation_input_tokens, Some(12));
    }

    #[test]
    fn shapes_the_reference_does_not_document_are_refused() {
        for body in [
            r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
            r#"{"id": "m", "type": "message", "role": "user", "model": "x", "content": [], "stop_reason": null, "usage": {"input_tokens": 1, "output_tokens": 1}}"#,
            r#"{"id": "m", "type": "message", "role": "assistant", "model": "x", "content": [{"type": "text"}], "stop_reason": null, "usage": {"input_tokens": 1, "output_tokens": 1}}"#,
            r#"{"id": "m", "type": "message", "role": "assistant", "model": "x", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": "{}"}], "stop_reason": null, "usage": {"input_tokens": 1, "output_tokens": 1}}"#,
            r#"{"id": "m", "type": "message", "role": "assistant", "model": "x", "content": [], "stop_reason": null, "usage": {"input_tokens": -1, "output_tokens": 1}}"#,
            r#"{"id": "m", "type": "message", "role": "assistant", "model": "x", "content": [], "stop_reason": null}"#,
            "{\"id\": \"m\"",
            "",
            "<html>502</html>",
        ] {
            assert!(
                !accepts_answer("/v1/messages", REQUEST.as_bytes(), body.as_bytes()),
                "{body}"
            );
        }
    }

    /// The streaming reference's example: a text answer, with a ping.
    const STREAM: &str = "event: message_start\n\
data: {\"type\": \"message_start\", \"message\": {\"id\": \"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\", \"type\": \"message\", \"role\": \"assistant\", \"content\": [], \"model\": \"claude-sonnet-4-20250514\", \"stop_reason\": null, \"stop_sequence\": null, \"usage\": {\"input_tokens\": 25, \"output_tokens\": 1}}}\n\
\n\
event: content_block_start\n\
data: {\"type\": \"content_block_start\", \"index\": 0, \"content_block\": {\"type\": \"text\", \"text\": \"\"}}\n\
\n\
event: ping\n\
data: {\"type\": \"ping\"}\n\
\n\
event: content_block_delta\n\
data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"text\": \"Hello\"}}\n\
\n\
event: content_block_delta\n\
data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"text\": \"!\"}}\n\
\n\
event: content_block_stop\n\
data: {\"type\": \"content_block_stop\", \"index\": 0}\n\
\n\
event: message_delta\n\
data: {\"type\": \"message_delta\", \"delta\": {\"stop_reason\": \"end_turn\", \"stop_sequence\":null}, \"usage\": {\"output_tokens\": 15}}\n\
\n\
event: message_stop\n\
data: {\"type\": \"message_stop\"}\n\
\n";

    fn decode_all(chunks: &[&[u8]]) -> Vec<StreamEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            for e in d.feed(c) {
                out.push(decode_stream(&e).unwrap());
            }
        }
        out
    }

    #[test]
    fn the_reference_stream_decodes_in_order() {
        let events = decode_all(&[STREAM.as_bytes()]);
        let names: Vec<_> = events.iter().map(StreamEvent::name).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ContentBlockDelta {
                    delta: Delta::TextDelta { text },
                    ..
                } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Hello!");
        assert!(
            matches!(&events[6], StreamEvent::MessageDelta { delta, usage }
            if delta.stop_reason.as_deref() == Some("end_turn") && usage.output_tokens == 15)
        );
    }

    #[test]
    fn the_reference_stream_split_at_any_byte_and_with_crlf() {
        let whole = format!("{:?}", decode_all(&[STREAM.as_bytes()]));
        let crlf = STREAM.replace('\n', "\r\n");
        for text in [STREAM, crlf.as_str()] {
            let b = text.as_bytes();
            for i in 0..=b.len() {
                assert_eq!(
                    format!("{:?}", decode_all(&[&b[..i], &b[i..]])),
                    whole,
                    "split at {i}"
                );
            }
        }
    }

    #[test]
    fn tool_thinking_and_error_events() {
        let text = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\",\"input\":{}}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"location\\\": \\\"San Fra\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me solve this\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds\"}}\n\n\
event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n";
        let events = decode_all(&[text.as_bytes()]);
        assert!(
            matches!(&events[1], StreamEvent::ContentBlockDelta { index: 1, delta: Delta::InputJsonDelta { partial_json } }
            if partial_json == "{\"location\": \"San Fra")
        );
        assert!(matches!(
            &events[2],
            StreamEvent::ContentBlockDelta {
                delta: Delta::ThinkingDelta { .. },
                ..
            }
        ));
        assert!(matches!(
            &events[3],
            StreamEvent::ContentBlockDelta {
                delta: Delta::SignatureDelta { .. },
                ..
            }
        ));
        assert!(
            matches!(&events[4], StreamEvent::Error { error } if error.kind == "overloaded_error")
        );
    }

    #[test]
    fn mismatched_unknown_or_garbled_events_are_errors() {
        let bad = [
            SseEvent { event: Some("ping".into()), data: "{\"type\": \"message_stop\"}".into() },
            SseEvent { event: Some("telemetry".into()), data: "{\"type\": \"telemetry\"}".into() },
            SseEvent { event: None, data: "{\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\"".into() },
            SseEvent { event: None, data: "".into() },
        ];
        for e in &bad {
            assert!(decode_stream(e).is_err(), "{e:?}");
        }
    }
}

/// Steady frames of a Messages stream (`frames.rs`): a `content_block_delta` event whose only
/// varying value is its delta's text, thinking text or tool-input JSON fragment.
pub static STEADY_FRAMES: crate::wire::SteadyFrames = {
    use crate::wire::{text, Framing, Kind, SteadyFrames, Step::*};
    SteadyFrames {
        framing: Framing::Sse,
        kinds: &[
            Kind { slots: &[text(&[Key("delta"), Key("text")])], text_excludes: &[] },
            Kind { slots: &[text(&[Key("delta"), Key("thinking")])], text_excludes: &[] },
            Kind { slots: &[text(&[Key("delta"), Key("partial_json")])], text_excludes: &[] },
        ],
    }
};
