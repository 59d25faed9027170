//! What the wire-format modules (`openai`, `anthropic`, `gemini`, `ollama`) share: typed
//! checks of an answer against a format's model, the stream framings (Server-Sent Events,
//! newline-delimited JSON) their streams are decoded with, and the vocabulary in which each
//! describes its streams' steady frames for `frames`.

/// How a format's stream is cut into frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Framing {
    /// Server-sent events: a frame ends at a blank line; its JSON is its one `data:` line.
    Sse,
    /// One JSON document per line.
    Ndjson,
}

/// One step into a JSON document.
#[derive(Debug)]
pub enum Step {
    Key(&'static str),
    Index(usize),
}

/// A value of a steady frame that may differ from frame to frame.
#[derive(Debug)]
pub struct Slot {
    pub path: &'static [Step],
    /// A text delta: a non-empty JSON string, handed out as `str`. Otherwise any JSON value,
    /// handed out as Python objects.
    pub text: bool,
    /// Whether a frame of this kind must have it (an optional slot that is absent from the
    /// armed frame is simply not part of its shape).
    pub required: bool,
}

/// One kind of steady frame: which values vary. The first kind whose required slots a frame
/// has is the frame's kind.
#[derive(Debug)]
pub struct Kind {
    pub slots: &'static [Slot],
    /// Texts containing any of these are not steady: the format's stock parser treats them
    /// specially (Ollama's `<think>` tags, for instance).
    pub text_excludes: &'static [&'static str],
}

/// A wire format's description of its steady frames.
#[derive(Debug)]
pub struct SteadyFrames {
    pub framing: Framing,
    pub kinds: &'static [Kind],
}

pub const fn text(path: &'static [Step]) -> Slot {
    Slot {
        path,
        text: true,
        required: true,
    }
}

pub const fn optional_value(path: &'static [Step]) -> Slot {
    Slot {
        path,
        text: false,
        required: false,
    }
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
}
