//! OpenAI-style chat completion streams (server-sent events), cut into frames for the fast
//! stream path (`edgequake_patch/fast_stream.py`).
//!
//! A streamed answer is mostly *steady* frames: the same JSON chunk again and again, only
//! `choices[0].delta.content` changing. Once stock LiteLLM has turned one such frame into a
//! chunk (the *armed* frame), every later frame that is byte for byte that frame with another
//! content string gives, by construction, stock's chunk with that content. Those frames come
//! back from `take()` as just their content (`str`); every other frame comes back as its exact
//! bytes (`bytes`), for stock's own decoder and chunk logic.
//!
//! Frames end at the first blank line (`\n\n`, `\r\r` or `\r\n\r\n`), as the OpenAI SDK's
//! decoder cuts them, so a frame taken out of the byte stream never leaves that decoder with
//! a half-read event. Only frames without a carriage return, made of one `data:` line, can be
//! armed or steady; anything unusual is simply handed to stock.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// The bytes around the armed frame's content string: a steady frame is
/// `prefix + <JSON string literal> + suffix`.
struct Armed {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
}

#[derive(Default)]
pub struct Splitter {
    buf: Vec<u8>,
    /// Start of the bytes not yet handed out.
    start: usize,
    /// Where the search for the next frame end resumes (no rescanning of a long partial frame).
    scan: usize,
    armed: Option<Armed>,
    /// The last frame handed out as content, in case the caller gives it back to stock.
    last: Vec<u8>,
}

/// What `take` found.
#[derive(Debug, PartialEq)]
pub enum Frame<'a> {
    /// A steady frame's content.
    Content(String),
    /// Any other frame, verbatim.
    Raw(&'a [u8]),
}

impl Splitter {
    pub fn feed(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            self.scan = 0;
        } else if self.start > 64 * 1024 {
            self.buf.drain(..self.start);
            self.scan -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// End (exclusive) of the next complete frame, if one is in.
    fn frame_end(&mut self) -> Option<usize> {
        let bytes = &self.buf;
        let mut i = self.scan.max(self.start);
        while i + 1 < bytes.len() {
            match (bytes[i], bytes[i + 1]) {
                (b'\n', b'\n') | (b'\r', b'\r') => return Some(i + 2),
                (b'\r', b'\n') if i + 3 < bytes.len() && bytes[i + 2] == b'\r' && bytes[i + 3] == b'\n' => {
                    return Some(i + 4)
                }
                (b'\r', b'\n') if i + 3 >= bytes.len() => break, // maybe the rest of "\r\n\r\n"
                _ => i += 1,
            }
        }
        // Resume one byte back: the last byte may begin a frame end.
        self.scan = i.max(self.start);
        None
    }

    /// The next complete frame; `raw` asks for bytes even for a steady frame.
    pub fn take(&mut self, raw: bool) -> Option<Frame<'_>> {
        let end = self.frame_end()?;
        let begin = self.start;
        self.start = end;
        self.scan = end;
        let frame = &self.buf[begin..end];
        if !raw {
            if let Some(content) = self.armed.as_ref().and_then(|a| steady_content(a, frame)) {
                self.last.clear();
                self.last.extend_from_slice(frame);
                return Some(Frame::Content(content));
            }
        }
        Some(Frame::Raw(&self.buf[begin..end]))
    }

    /// Bytes after the last complete frame (a stream that ended mid-frame), handed out once.
    pub fn rest(&mut self) -> &[u8] {
        let begin = self.start;
        self.start = self.buf.len();
        self.scan = self.start;
        &self.buf[begin..]
    }

    /// Make `frame` the armed frame and return its content; None (and disarmed) if it cannot
    /// be one.
    pub fn arm(&mut self, frame: &[u8]) -> Option<String> {
        let (armed, content) = armable(frame).unzip();
        self.armed = armed;
        content
    }
}

/// The content of `frame` if it is the armed frame with another (non-empty) content string.
fn steady_content(armed: &Armed, frame: &[u8]) -> Option<String> {
    let (p, s) = (armed.prefix.len(), armed.suffix.len());
    if frame.len() < p + s + 3 || !frame.starts_with(&armed.prefix) || !frame.ends_with(&armed.suffix) {
        return None;
    }
    let literal = &frame[p..frame.len() - s];
    let content = json_string(literal)?;
    (!content.is_empty()).then_some(content)
}

/// Decodes a complete JSON string literal (quotes included); None unless it is exactly one.
fn json_string(literal: &[u8]) -> Option<String> {
    if literal.len() < 2 || literal[0] != b'"' || literal[literal.len() - 1] != b'"' {
        return None;
    }
    let inner = &literal[1..literal.len() - 1];
    // The common case: nothing escaped. JSON forbids raw control characters and quotes here.
    if !inner.iter().any(|&b| b == b'\\' || b == b'"' || b < 0x20) {
        return std::str::from_utf8(inner).ok().map(str::to_owned);
    }
    serde_json::from_slice::<String>(literal).ok()
}

const CONTENT_KEY: &[u8] = b"\"content\"";

/// The armed form of `frame`: one `data:` line, ending in `\n\n`, no carriage return, whose
/// JSON is a chunk with one choice and a non-empty `delta.content` string that is the only
/// `"content"` key in the text (so its position is unambiguous).
fn armable(frame: &[u8]) -> Option<(Armed, String)> {
    let body = frame.strip_suffix(b"\n\n")?;
    if !body.starts_with(b"data:") || body.contains(&b'\n') || body.contains(&b'\r') {
        return None;
    }
    let json = &body[5..];
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    let choices = value.get("choices")?.as_array()?;
    if choices.len() != 1 {
        return None;
    }
    let expected = choices[0].get("delta")?.get("content")?.as_str()?;
    if expected.is_empty() {
        return None;
    }
    let mut found = frame.windows(CONTENT_KEY.len()).enumerate().filter(|(_, w)| *w == CONTENT_KEY);
    let (key_at, _) = found.next()?;
    if found.next().is_some() {
        return None;
    }
    let mut i = key_at + CONTENT_KEY.len();
    i += frame[i..].iter().take_while(|b| b.is_ascii_whitespace()).count();
    if frame.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    i += frame[i..].iter().take_while(|b| b.is_ascii_whitespace()).count();
    let lit_start = i;
    let lit_end = literal_end(frame, lit_start)?;
    if json_string(&frame[lit_start..lit_end])? != expected {
        return None;
    }
    let armed = Armed { prefix: frame[..lit_start].to_vec(), suffix: frame[lit_end..].to_vec() };
    Some((armed, expected.to_owned()))
}

/// End (exclusive) of the JSON string literal starting at `start`.
fn literal_end(text: &[u8], start: usize) -> Option<usize> {
    if text.get(start) != Some(&b'"') {
        return None;
    }
    let mut i = start + 1;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Python face of `Splitter`.
#[pyclass(module = "edgequake_patch._native", name = "FrameSplitter")]
#[derive(Default)]
pub struct PyFrameSplitter {
    inner: Splitter,
}

#[pymethods]
impl PyFrameSplitter {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    fn feed(&mut self, data: &[u8]) {
        self.inner.feed(data);
    }

    /// The next complete frame: `str` (a steady frame's content), `bytes` (any other frame, or
    /// any frame with `raw=True`), or None if no complete frame is in yet.
    #[pyo3(signature = (raw = false))]
    fn take(&mut self, py: Python<'_>, raw: bool) -> Py<PyAny> {
        match self.inner.take(raw) {
            Some(Frame::Content(c)) => PyString::new(py, &c).into_any().unbind(),
            Some(Frame::Raw(b)) => PyBytes::new(py, b).into_any().unbind(),
            None => py.None(),
        }
    }

    /// The bytes of the last frame `take` returned as content.
    fn last<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.last)
    }

    /// What is left after the last complete frame (a stream cut mid-frame), once.
    fn rest<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.rest())
    }

    /// Arm `frame` (a frame stock just turned into a chunk); its content, or None if it
    /// cannot be armed.
    fn arm(&mut self, frame: &[u8]) -> Option<String> {
        self.inner.arm(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Chunk frames as the OpenAI API reference shows them (chat.completion.chunk objects).
    fn chunk(content: &str) -> String {
        format!(
            "data: {{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\
             \"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{{\"index\":0,\
             \"delta\":{{\"content\":{}}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n",
            serde_json::to_string(content).unwrap()
        )
    }
    const ROLE: &str = "data: {\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
    const DONE: &str = "data: [DONE]\n\n";

    fn all(s: &mut Splitter, raw: bool) -> Vec<String> {
        let mut out = vec![];
        while let Some(f) = s.take(raw) {
            out.push(match f {
                Frame::Content(c) => format!("content:{c}"),
                Frame::Raw(b) => format!("raw:{}", String::from_utf8_lossy(b)),
            });
        }
        out
    }

    #[test]
    fn unarmed_frames_come_back_verbatim() {
        let mut s = Splitter::default();
        let text = format!("{ROLE}{}{DONE}", chunk("Hello"));
        s.feed(text.as_bytes());
        assert_eq!(all(&mut s, false), vec![format!("raw:{ROLE}"), format!("raw:{}", chunk("Hello")), format!("raw:{DONE}")]);
        assert!(s.rest().is_empty());
    }

    #[test]
    fn steady_frames_come_back_as_their_content() {
        let mut s = Splitter::default();
        assert_eq!(s.arm(chunk("Hello").as_bytes()).as_deref(), Some("Hello"));
        let text = format!("{}{}{}{DONE}", chunk(" world"), chunk("a \"quoted\" \\ é \u{2028} \n"), chunk(""));
        s.feed(text.as_bytes());
        assert_eq!(
            all(&mut s, false),
            vec![
                "content: world".to_string(),
                "content:a \"quoted\" \\ é \u{2028} \n".to_string(),
                format!("raw:{}", chunk("")), // empty content is not steady: stock drops such chunks
                format!("raw:{DONE}"),
            ]
        );
        assert_eq!(s.last, chunk("a \"quoted\" \\ é \u{2028} \n").as_bytes());
    }

    #[test]
    fn raw_mode_hands_out_steady_frames_as_bytes() {
        let mut s = Splitter::default();
        assert_eq!(s.arm(chunk("Hello").as_bytes()).as_deref(), Some("Hello"));
        s.feed(chunk("x").as_bytes());
        assert_eq!(all(&mut s, true), vec![format!("raw:{}", chunk("x"))]);
    }

    #[test]
    fn a_frame_differing_anywhere_else_is_not_steady() {
        let mut s = Splitter::default();
        assert_eq!(s.arm(chunk("Hello").as_bytes()).as_deref(), Some("Hello"));
        let other_id = chunk("x").replace("chatcmpl-123", "chatcmpl-124");
        let finish = chunk("x").replace("\"finish_reason\":null", "\"finish_reason\":\"stop\"");
        let two_keys = chunk("x").replace("{\"content\":\"x\"}", "{\"content\":\"x\",\"role\":\"assistant\"}");
        let injected = chunk("x").replace("\"x\"", "\"x\",\"refusal\":\"y\"");
        for f in [&other_id, &finish, &two_keys, &injected] {
            s.feed(f.as_bytes());
            assert_eq!(all(&mut s, false), vec![format!("raw:{f}")]);
        }
    }

    #[test]
    fn frames_split_at_every_byte_give_the_same_frames() {
        let text = format!("{ROLE}: keep-alive\n\n{}event: x\ndata: {{}}\n\n{}{DONE}", chunk("a"), chunk("bc"));
        let mut whole = Splitter::default();
        assert!(whole.arm(chunk("z").as_bytes()).is_some());
        whole.feed(text.as_bytes());
        let expected = all(&mut whole, false);
        assert_eq!(expected.iter().filter(|f| f.starts_with("content:")).count(), 2);
        for cut in 0..text.len() {
            let mut s = Splitter::default();
            assert!(s.arm(chunk("z").as_bytes()).is_some());
            s.feed(&text.as_bytes()[..cut]);
            let mut got = all(&mut s, false);
            s.feed(&text.as_bytes()[cut..]);
            got.extend(all(&mut s, false));
            assert_eq!(got, expected, "cut at {cut}");
        }
    }

    #[test]
    fn crlf_and_cr_frames_end_where_the_sdk_decoder_ends_them() {
        let mut s = Splitter::default();
        s.feed(b"data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n");
        assert_eq!(all(&mut s, false), vec!["raw:data: a\r\n\r\n", "raw:data: b\r\r", "raw:data: c\n\n"]);
        s.feed(b"\r\n");
        assert_eq!(all(&mut s, false), vec!["raw:data: d\r\n\r\n"]);
    }

    #[test]
    fn a_stream_cut_mid_frame_leaves_its_tail_in_rest() {
        let mut s = Splitter::default();
        s.feed(format!("{}data: {{\"id\"", chunk("a")).as_bytes());
        assert_eq!(all(&mut s, false).len(), 1);
        assert_eq!(s.rest(), b"data: {\"id\"");
        assert!(s.rest().is_empty());
    }

    #[test]
    fn frames_that_cannot_be_armed() {
        let mut s = Splitter::default();
        for f in [
            ROLE.to_string(),                                     // empty content
            chunk("a").replace("\n\n", "\r\n\r\n"),               // carriage returns
            format!("event: chunk\n{}", chunk("a")),              // more than a data line
            DONE.to_string(),
            chunk("a").replace("\"choices\":[{", "\"choices\":[{\"index\":1},{"), // two choices
            chunk("a").replace("\"model\"", "\"content\""),       // "content" twice
            "data: {\"choices\":[{\"delta\":{\"content\":5}}]}\n\n".to_string(),
        ] {
            assert!(s.arm(f.as_bytes()).is_none(), "{f}");
        }
        assert!(s.arm(chunk("a").as_bytes()).is_some());
        assert!(s.arm(b"garbage\n\n").is_none());
        s.feed(chunk("b").as_bytes());
        assert_eq!(all(&mut s, false), vec![format!("raw:{}", chunk("b"))]); // disarmed
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_nothing_is_lost() {
        use proptest::prelude::*;
        proptest!(|(data in proptest::collection::vec(any::<u8>(), 0..400), cut in 0usize..400, arm in any::<bool>())| {
            let mut s = Splitter::default();
            if arm { s.arm(chunk("q").as_bytes()); }
            let cut = cut.min(data.len());
            let mut out: Vec<u8> = vec![];
            for part in [&data[..cut], &data[cut..]] {
                s.feed(part);
                while let Some(f) = s.take(false) {
                    match f {
                        Frame::Raw(b) => out.extend_from_slice(b),
                        Frame::Content(_) => out.extend_from_slice(&s.last.clone()),
                    }
                }
            }
            out.extend_from_slice(&s.rest().to_vec());
            prop_assert_eq!(out, data);
        });
    }
}
