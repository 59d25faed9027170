//! What the Anthropic, Gemini and Ollama format modules share: which format module answers
//! for a provider, the one Python entry point (`parse_answer`), and the stream framings
//! (Server-Sent Events, newline-delimited JSON) their streams are decoded with.
//!
//! `parse_answer` is used by the httpx transports for every 2xx whole (non-streamed) answer of
//! those providers: the format module classifies the request stock built (which endpoint,
//! streamed or not), checks the answer against its typed model of that endpoint's response
//! (from the provider's public API reference), and only if both hold the core builds the
//! Python object — exactly what `json.loads(body)` gives (`pyjson`) — which stock's parser
//! then reads from `response.json()`. Anything else (a shape the model does not know, a body
//! that is not JSON, a streamed answer) returns `None` and stock parses the bytes itself, so
//! its own errors are raised exactly as without the patch.

use pyo3::prelude::*;

use crate::{anthropic, gemini, ollama, pyjson};

/// Above this many bytes (request and answer together) the typed check runs with the GIL
/// released: other Python threads (the caller's own, or another call's) keep running while a
/// large exchange is checked. Below it, releasing and re-taking the GIL would cost more.
const DETACH_ABOVE: usize = 64 * 1024;

/// Whether the format module for `format` accepts this exchange: the request (`path`, the
/// body stock sent) names an endpoint answered with one whole JSON document, and `body`
/// has the shape the provider documents for it.
pub fn accepts(format: &str, path: &str, request: &[u8], body: &[u8]) -> bool {
    match format {
        "anthropic" => anthropic::accepts_answer(path, request, body),
        "gemini" => gemini::accepts_answer(path, request, body),
        "ollama" => ollama::accepts_answer(path, request, body),
        _ => false,
    }
}

/// `parse_answer(format, path, request_body, body) -> object | None`: the parsed answer when
/// the format module accepted it, else `None` (no accepted answer is JSON `null`).
#[pyfunction]
pub fn parse_answer<'py>(
    py: Python<'py>,
    format: &str,
    path: &str,
    request: &[u8],
    body: &[u8],
) -> Option<Bound<'py, PyAny>> {
    // Both documents are read: a large request (images) counts as much as a large answer.
    let accepted = if request.len() + body.len() > DETACH_ABOVE {
        py.detach(|| accepts(format, path, request, body))
    } else {
        accepts(format, path, request, body)
    };
    if !accepted {
        return None;
    }
    // Cannot fail for a body serde_json accepted as UTF-8 JSON; if it ever did, stock parses.
    pyjson::loads(py, body).ok()
}

/// serde_json's typed parse of a whole document, or why not (for tests and diagnostics).
pub fn typed<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------
// Server-Sent Events (the WHATWG "event stream" format), as Anthropic and Gemini stream.
// ---------------------------------------------------------------------------------------

/// One dispatched event: its `event:` name (if any) and its data lines joined with "\n".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// Incremental SSE decoder: feed bytes as they arrive, split anywhere (inside a line, a
/// CRLF, or a multi-byte character); it yields each event once its blank line has arrived.
/// Lines end with CRLF, LF or CR; `:` lines are comments; a field without `:` has an empty
/// value; one space after the colon is dropped; `id` and `retry` are accepted and ignored.
// Stock's own line iterators read these streams in production; the decoders serve the format
// modules' stream decoding, which the tests exercise.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    /// The previous byte was a CR: a LF right after it ends nothing more.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

#[cfg_attr(not(test), allow(dead_code))]
impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_done(&line) {
                        out.push(event);
                    }
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(b);
                }
            }
        }
        out
    }

    /// End of stream: an event whose blank line never came is dropped (as the SSE spec says),
    /// so there is nothing left to yield; the decoder starts afresh.
    pub fn finish(&mut self) {
        *self = Self::default();
    }

    fn line_done(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            let event = self.event.take();
            if !std::mem::take(&mut self.has_data) {
                self.data.clear();
                return None;
            }
            let data = std::mem::take(&mut self.data);
            return Some(SseEvent { event, data });
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.event = Some(value.into_owned()),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            _ => {} // id, retry, unknown fields
        }
        None
    }
}

// ---------------------------------------------------------------------------------------
// Newline-delimited JSON, as Ollama streams.
// ---------------------------------------------------------------------------------------

/// Incremental line splitter for NDJSON: yields each complete line (without its LF or a CR
/// before it), skipping blank lines; `finish` yields a last line that had no LF.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Default)]
pub struct LineDecoder {
    line: Vec<u8>,
}

#[cfg_attr(not(test), allow(dead_code))]
impl LineDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if !line.iter().all(u8::is_ascii_whitespace) {
                    out.push(line);
                }
            } else {
                self.line.push(b);
            }
        }
        out
    }

    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let line = std::mem::take(&mut self.line);
        (!line.iter().all(u8::is_ascii_whitespace)).then_some(line)
    }
}

// ---------------------------------------------------------------------------------------
// Small validating types for the format models: they check a JSON value's kind without
// keeping it (free-form objects such as tool inputs are the caller's business).
// ---------------------------------------------------------------------------------------

/// Any JSON object (its members are not inspected).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AnyObject;

impl<'de> serde::Deserialize<'de> for AnyObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = AnyObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<AnyObject, A::Error> {
                while m
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(AnyObject)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_events(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(d.feed(c));
        }
        out
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn sse_fields_comments_and_multi_line_data() {
        let text = b": keep-alive comment\nevent: ping\ndata: {\"type\":\"ping\"}\n\nid: 7\nretry: 10\ndata:a\ndata: b\ndata\n\n\n\n";
        assert_eq!(
            all_events(&[text]),
            vec![ev(Some("ping"), "{\"type\":\"ping\"}"), ev(None, "a\nb\n")]
        );
    }

    #[test]
    fn sse_line_endings_are_crlf_lf_or_cr() {
        let want = vec![ev(Some("x"), "1"), ev(None, "2"), ev(None, "3")];
        assert_eq!(
            all_events(&[b"event: x\r\ndata: 1\r\n\r\ndata: 2\n\ndata: 3\r\r"]),
            want
        );
    }

    #[test]
    fn sse_split_at_every_byte_gives_the_same_events() {
        let text: &[u8] =
            "event: a\r\ndata: h\u{e9}llo \u{1F600}\r\n\r\n: c\r\ndata: 2\n\n".as_bytes();
        let whole = all_events(&[text]);
        assert_eq!(
            whole,
            vec![ev(Some("a"), "h\u{e9}llo \u{1F600}"), ev(None, "2")]
        );
        for i in 0..=text.len() {
            for j in i..=text.len() {
                assert_eq!(
                    all_events(&[&text[..i], &text[i..j], &text[j..]]),
                    whole,
                    "split {i} {j}"
                );
            }
        }
    }

    #[test]
    fn sse_event_without_blank_line_is_dropped_and_event_without_data_is_not_dispatched() {
        let mut d = SseDecoder::new();
        assert_eq!(d.feed(b"event: lonely\n\ndata: cut"), vec![]);
        d.finish();
        assert_eq!(d.feed(b"data: next\n\n"), vec![ev(None, "next")]);
    }

    #[test]
    fn ndjson_lines_split_anywhere() {
        let text = b"{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\":3}";
        for i in 0..=text.len() {
            let mut d = LineDecoder::new();
            let mut lines = d.feed(&text[..i]);
            lines.extend(d.feed(&text[i..]));
            lines.extend(d.finish());
            assert_eq!(
                lines,
                vec![
                    b"{\"a\":1}".to_vec(),
                    b"{\"b\":2}".to_vec(),
                    b"{\"c\":3}".to_vec()
                ]
            );
        }
    }

    #[test]
    fn unknown_format_is_never_accepted() {
        assert!(!accepts("openai", "/v1/chat/completions", b"{}", b"{}"));
    }
}
