//! Streamed answers cut into frames, and *steady* frames recognised, for the fast stream path
//! (`edgequake_patch/paths/fast_stream.py`). The mechanism is the same for every wire format; what a
//! frame is and which of its parts may vary is each format's knowledge, described in that
//! format's module (`openai::STEADY_FRAMES`, `anthropic::…`, `gemini::…`, `ollama::…`).
//!
//! A streamed answer is mostly frames that are the same JSON again and again but for a few
//! values: the text delta, and in some formats a running usage object or a timestamp. Once
//! stock LiteLLM has turned such a frame into a chunk, the frame is *armed*: cut into the
//! literal bytes around its varying values. A later frame that is those literal bytes with
//! other values in between is steady, and `take()` hands back just its values (a tuple);
//! every other frame comes back as its exact bytes, for stock's own parser, in order.
//!
//! Frames are cut where stock's readers cut them: a server-sent event ends at the first blank
//! line (`\n\n`, `\r\r` or `\r\n\r\n`), an NDJSON record at its newline. So a frame taken out
//! of the byte stream never leaves stock's reader with half an event.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::formats::steady_frames;
use crate::pyjson;
use crate::wire::{Framing, SteadyFrames, Step};

/// An armed frame: the literal bytes around its varying values (`literals.len() ==
/// slots.len() + 1`), the values in the order they appear in the frame.
struct Armed {
    literals: Vec<Vec<u8>>,
    /// For each value in frame order: whether it is a text slot.
    text: Vec<bool>,
    excludes: &'static [&'static str],
}

/// A steady frame's values, still as byte spans of the frame.
type Spans = Vec<(usize, usize)>;

pub struct Splitter {
    format: &'static SteadyFrames,
    buf: Vec<u8>,
    /// Start of the bytes not yet handed out.
    start: usize,
    /// Where the search for the next frame end resumes (no rescanning of a long partial frame).
    scan: usize,
    armed: Option<Armed>,
    /// The last frame handed out as values, in case the caller gives it back to stock.
    last: Vec<u8>,
}

/// What `take` found.
#[derive(Debug, PartialEq)]
pub enum Frame<'a> {
    /// A steady frame (its byte range in the buffer, and its values' spans).
    Steady(&'a [u8], Spans),
    /// Any other frame, verbatim.
    Raw(&'a [u8]),
}

impl Splitter {
    pub fn new(format: &'static SteadyFrames) -> Self {
        Splitter {
            format,
            buf: Vec::new(),
            start: 0,
            scan: 0,
            armed: None,
            last: Vec::new(),
        }
    }

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
        if self.format.framing == Framing::Ndjson {
            return match bytes[i..].iter().position(|&b| b == b'\n') {
                Some(at) => Some(i + at + 1),
                None => {
                    self.scan = bytes.len();
                    None
                }
            };
        }
        while i + 1 < bytes.len() {
            match (bytes[i], bytes[i + 1]) {
                (b'\n', b'\n') | (b'\r', b'\r') => return Some(i + 2),
                (b'\r', b'\n')
                    if i + 3 < bytes.len() && bytes[i + 2] == b'\r' && bytes[i + 3] == b'\n' =>
                {
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
        if !raw {
            if let Some(spans) = self
                .armed
                .as_ref()
                .and_then(|a| steady(a, &self.buf[begin..end]))
            {
                self.last.clear();
                self.last.extend_from_slice(&self.buf[begin..end]);
                return Some(Frame::Steady(&self.buf[begin..end], spans));
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

    /// Make `frame` the armed frame and return its values' spans; None (and disarmed) if it
    /// is no steady kind of this format.
    pub fn arm(&mut self, frame: &[u8]) -> Option<Spans> {
        match armable(self.format, frame) {
            Some((armed, spans)) => {
                self.armed = Some(armed);
                Some(spans)
            }
            None => {
                self.armed = None;
                None
            }
        }
    }

    /// The values' spans of `frame` if it is steady for the armed frame (nothing changes).
    pub fn matches(&self, frame: &[u8]) -> Option<Spans> {
        self.armed.as_ref().and_then(|a| steady(a, frame))
    }

    pub fn disarm(&mut self) {
        self.armed = None;
    }
}

/// The spans of `frame`'s values if it is the armed frame with other values.
fn steady(armed: &Armed, frame: &[u8]) -> Option<Spans> {
    let mut at = 0;
    let mut spans = Vec::with_capacity(armed.text.len());
    for (literal, &is_text) in armed.literals.iter().zip(&armed.text) {
        if !frame[at..].starts_with(literal) {
            return None;
        }
        at += literal.len();
        let end = if is_text {
            literal_end(frame, at)?
        } else {
            skip_value(frame, at)?
        };
        if is_text && !text_ok(&frame[at..end], armed.excludes) {
            return None;
        }
        spans.push((at, end));
        at = end;
    }
    (frame[at..] == armed.literals[armed.literals.len() - 1][..]).then_some(spans)
}

/// A text slot's literal is acceptable: non-empty, and none of the excluded texts in it.
fn text_ok(literal: &[u8], excludes: &[&str]) -> bool {
    match json_string(literal) {
        Some(text) => !text.is_empty() && !excludes.iter().any(|e| text.contains(e)),
        None => false,
    }
}

/// Where `frame`'s JSON document is: SSE, the one `data:` line (any other line may only be an
/// `event:` line); NDJSON, the line without its end.
fn payload(framing: Framing, frame: &[u8]) -> Option<(usize, usize)> {
    match framing {
        Framing::Ndjson => {
            let body = frame.strip_suffix(b"\n")?;
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            Some((0, body.len()))
        }
        Framing::Sse => {
            let mut data = None;
            let mut at = 0;
            while at < frame.len() {
                let line_end = frame[at..]
                    .iter()
                    .position(|&b| b == b'\n' || b == b'\r')
                    .map(|p| at + p)?;
                let line = &frame[at..line_end];
                if let Some(rest) = line.strip_prefix(b"data:") {
                    if data.is_some() {
                        return None; // several data lines: joined by stock's decoder
                    }
                    let skip = usize::from(rest.first() == Some(&b' '));
                    data = Some((at + 5 + skip, line_end));
                } else if !line.is_empty() && !line.starts_with(b"event:") {
                    return None;
                }
                at = line_end + 1;
                if frame[line_end] == b'\r' && frame.get(line_end + 1) == Some(&b'\n') {
                    at += 1;
                }
            }
            data
        }
    }
}

/// The armed form of `frame`, and its values' spans, if it is a steady kind of `format`.
fn armable(format: &'static SteadyFrames, frame: &[u8]) -> Option<(Armed, Spans)> {
    let (begin, end) = payload(format.framing, frame)?;
    let json = &frame[begin..end];
    if json.first() != Some(&b'{') {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    'kinds: for kind in format.kinds {
        let mut found: Vec<(usize, usize, bool)> = Vec::new();
        for slot in kind.slots {
            let expected = match lookup(&value, slot.path) {
                Some(v) => v,
                None if slot.required => continue 'kinds,
                None => continue,
            };
            if slot.text {
                match expected.as_str() {
                    Some(t)
                        if !t.is_empty() && !kind.text_excludes.iter().any(|e| t.contains(e)) => {}
                    _ => continue 'kinds,
                }
            }
            // Where the value is in the text; it must be the very value serde read (a key
            // repeated in an object would make the two disagree).
            let (s, e) = locate(json, 0, slot.path)?;
            let located: serde_json::Value = serde_json::from_slice(&json[s..e]).ok()?;
            if &located != expected {
                return None;
            }
            found.push((begin + s, begin + e, slot.text));
        }
        if found.is_empty() {
            continue;
        }
        found.sort_unstable();
        let mut literals = Vec::with_capacity(found.len() + 1);
        let mut at = 0;
        for &(s, e, _) in &found {
            if s < at {
                return None; // nested slots: not a shape this mechanism describes
            }
            literals.push(frame[at..s].to_vec());
            at = e;
        }
        literals.push(frame[at..].to_vec());
        let armed = Armed {
            literals,
            text: found.iter().map(|f| f.2).collect(),
            excludes: kind.text_excludes,
        };
        // The slots in frame order are also how they are handed out.
        let spans = found.iter().map(|&(s, e, _)| (s, e)).collect();
        return Some((armed, spans));
    }
    None
}

fn lookup<'a>(value: &'a serde_json::Value, path: &[Step]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get(*k),
        Step::Index(i) => v.get(*i),
    })
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while i < text.len() && matches!(text[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// End (exclusive) of the JSON value starting at `start` (no whitespace before it).
fn skip_value(text: &[u8], start: usize) -> Option<usize> {
    match *text.get(start)? {
        b'"' => literal_end(text, start),
        open @ (b'{' | b'[') => {
            let close = if open == b'{' { b'}' } else { b']' };
            let mut i = skip_ws(text, start + 1);
            if text.get(i) == Some(&close) {
                return Some(i + 1);
            }
            loop {
                if open == b'{' {
                    i = literal_end(text, i)?;
                    i = skip_ws(text, i);
                    if text.get(i) != Some(&b':') {
                        return None;
                    }
                    i = skip_ws(text, i + 1);
                }
                i = skip_ws(text, skip_value(text, i)?);
                match text.get(i) {
                    Some(b',') => i = skip_ws(text, i + 1),
                    Some(&c) if c == close => return Some(i + 1),
                    _ => return None,
                }
            }
        }
        _ => {
            let n = text[start..]
                .iter()
                .take_while(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'))
                .count();
            (n > 0).then_some(start + n)
        }
    }
}

/// The span of the value at `path` in the JSON text starting at `start` (first occurrence of
/// each key).
fn locate(text: &[u8], start: usize, path: &[Step]) -> Option<(usize, usize)> {
    let i = skip_ws(text, start);
    let Some((step, rest)) = path.split_first() else {
        return Some((i, skip_value(text, i)?));
    };
    match step {
        Step::Key(key) => {
            if text.get(i) != Some(&b'{') {
                return None;
            }
            let mut j = skip_ws(text, i + 1);
            while text.get(j) == Some(&b'"') {
                let key_end = literal_end(text, j)?;
                let name = json_string(&text[j..key_end])?;
                j = skip_ws(text, key_end);
                if text.get(j) != Some(&b':') {
                    return None;
                }
                j = skip_ws(text, j + 1);
                if name == *key {
                    return locate(text, j, rest);
                }
                j = skip_ws(text, skip_value(text, j)?);
                if text.get(j) != Some(&b',') {
                    return None;
                }
                j = skip_ws(text, j + 1);
            }
            None
        }
        Step::Index(n) => {
            if text.get(i) != Some(&b'[') {
                return None;
            }
            let mut j = skip_ws(text, i + 1);
            for _ in 0..*n {
                j = skip_ws(text, skip_value(text, j)?);
                if text.get(j) != Some(&b',') {
                    return None;
                }
                j = skip_ws(text, j + 1);
            }
            locate(text, j, rest)
        }
    }
}

/// Decodes a complete JSON string literal (quotes included); None unless it is exactly one.
pub fn json_string(literal: &[u8]) -> Option<String> {
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
pub struct PyFrameSplitter {
    inner: Splitter,
}

/// A steady frame's values as a Python tuple: texts as `str`, other values as Python objects.
fn values<'py>(
    py: Python<'py>,
    frame: &[u8],
    spans: &Spans,
    splitter_text: &[bool],
) -> PyResult<Bound<'py, PyTuple>> {
    let mut out = Vec::with_capacity(spans.len());
    for (&(s, e), &is_text) in spans.iter().zip(splitter_text) {
        if is_text {
            let text = json_string(&frame[s..e]).unwrap_or_default();
            out.push(PyString::new(py, &text).into_any());
        } else {
            out.push(pyjson::loads(py, &frame[s..e])?);
        }
    }
    PyTuple::new(py, out)
}

#[pymethods]
impl PyFrameSplitter {
    /// A splitter for `format`'s streams ("openai", "anthropic", "gemini" or "ollama").
    #[new]
    fn new(format: &str) -> PyResult<Self> {
        let format = steady_frames(format)
            .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("unknown stream format"))?;
        Ok(Self {
            inner: Splitter::new(format),
        })
    }

    fn feed(&mut self, data: &[u8]) {
        self.inner.feed(data);
    }

    /// The next complete frame: a tuple (a steady frame's values), `bytes` (any other frame,
    /// or any frame with `raw=True`), or None if no complete frame is in yet.
    #[pyo3(signature = (raw = false))]
    fn take(&mut self, py: Python<'_>, raw: bool) -> PyResult<Py<PyAny>> {
        let text: Vec<bool> = self
            .inner
            .armed
            .as_ref()
            .map(|a| a.text.clone())
            .unwrap_or_default();
        Ok(match self.inner.take(raw) {
            Some(Frame::Steady(frame, spans)) => {
                values(py, frame, &spans, &text)?.into_any().unbind()
            }
            Some(Frame::Raw(b)) => PyBytes::new(py, b).into_any().unbind(),
            None => py.None(),
        })
    }

    /// The bytes of the last frame `take` returned as values.
    fn last<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.last)
    }

    /// What is left after the last complete frame (a stream cut mid-frame), once.
    fn rest<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.rest())
    }

    /// Arm `frame` (a frame stock just turned into a chunk); its values, or None if it is no
    /// steady kind (the splitter is then disarmed).
    fn arm<'py>(&mut self, py: Python<'py>, frame: &[u8]) -> PyResult<Option<Bound<'py, PyTuple>>> {
        match self.inner.arm(frame) {
            Some(spans) => {
                let text = self
                    .inner
                    .armed
                    .as_ref()
                    .map(|a| a.text.clone())
                    .unwrap_or_default();
                Ok(Some(values(py, frame, &spans, &text)?))
            }
            None => Ok(None),
        }
    }

    /// `frame`'s values if it is steady for the armed frame; nothing changes.
    fn matches<'py>(&self, py: Python<'py>, frame: &[u8]) -> PyResult<Option<Bound<'py, PyTuple>>> {
        match (self.inner.matches(frame), self.inner.armed.as_ref()) {
            (Some(spans), Some(armed)) => Ok(Some(values(py, frame, &spans, &armed.text)?)),
            _ => Ok(None),
        }
    }

    fn disarm(&mut self) {
        self.inner.disarm();
    }

    /// Whether `frame` is a steady kind of this format (one `arm` would take); nothing changes.
    fn steady_kind(&self, frame: &[u8]) -> bool {
        armable(self.inner.format, frame).is_some()
    }

    /// `frame`'s whole JSON document, as Python objects (None if it has none): what a stock
    /// parser that keeps every event it parsed keeps.
    fn document<'py>(&self, py: Python<'py>, frame: &[u8]) -> PyResult<Option<Bound<'py, PyAny>>> {
        match payload(self.inner.format.framing, frame) {
            Some((begin, end)) => pyjson::loads(py, &frame[begin..end]).map(Some).or(Ok(None)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openai() -> Splitter {
        Splitter::new(steady_frames("openai").unwrap())
    }

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

    fn texts(s: &Splitter, frame: &[u8], spans: &Spans) -> String {
        let _ = s;
        spans
            .iter()
            .map(|&(a, b)| {
                json_string(&frame[a..b])
                    .unwrap_or_else(|| String::from_utf8_lossy(&frame[a..b]).into_owned())
            })
            .collect::<Vec<_>>()
            .join("|")
    }

    fn all(s: &mut Splitter, raw: bool) -> Vec<String> {
        let mut out = vec![];
        loop {
            let item = match s.take(raw) {
                None => break,
                Some(Frame::Steady(f, spans)) => (true, f.to_vec(), spans),
                Some(Frame::Raw(b)) => (false, b.to_vec(), vec![]),
            };
            out.push(if item.0 {
                format!("steady:{}", texts(s, &item.1, &item.2))
            } else {
                format!("raw:{}", String::from_utf8_lossy(&item.1))
            });
        }
        out
    }

    fn arm_texts(s: &mut Splitter, frame: &str) -> Option<String> {
        let spans = s.arm(frame.as_bytes())?;
        Some(texts(s, frame.as_bytes(), &spans))
    }

    #[test]
    fn unarmed_frames_come_back_verbatim() {
        let mut s = openai();
        let text = format!("{ROLE}{}{DONE}", chunk("Hello"));
        s.feed(text.as_bytes());
        assert_eq!(
            all(&mut s, false),
            vec![
                format!("raw:{ROLE}"),
                format!("raw:{}", chunk("Hello")),
                format!("raw:{DONE}")
            ]
        );
        assert!(s.rest().is_empty());
    }

    #[test]
    fn steady_frames_come_back_as_their_values() {
        let mut s = openai();
        assert_eq!(arm_texts(&mut s, &chunk("Hello")).as_deref(), Some("Hello"));
        let text = format!(
            "{}{}{}{DONE}",
            chunk(" world"),
            chunk("a \"quoted\" \\ é \u{2028} \n"),
            chunk("")
        );
        s.feed(text.as_bytes());
        assert_eq!(
            all(&mut s, false),
            vec![
                "steady: world".to_string(),
                "steady:a \"quoted\" \\ é \u{2028} \n".to_string(),
                format!("raw:{}", chunk("")), // empty text is not steady: stock drops such chunks
                format!("raw:{DONE}"),
            ]
        );
        assert_eq!(s.last, chunk("a \"quoted\" \\ é \u{2028} \n").as_bytes());
    }

    #[test]
    fn raw_mode_hands_out_steady_frames_as_bytes() {
        let mut s = openai();
        assert!(arm_texts(&mut s, &chunk("Hello")).is_some());
        s.feed(chunk("x").as_bytes());
        assert_eq!(all(&mut s, true), vec![format!("raw:{}", chunk("x"))]);
    }

    #[test]
    fn a_frame_differing_anywhere_else_is_not_steady() {
        let mut s = openai();
        assert!(arm_texts(&mut s, &chunk("Hello")).is_some());
        let other_id = chunk("x").replace("chatcmpl-123", "chatcmpl-124");
        let finish = chunk("x").replace("\"finish_reason\":null", "\"finish_reason\":\"stop\"");
        let two_keys = chunk("x").replace(
            "{\"content\":\"x\"}",
            "{\"content\":\"x\",\"role\":\"assistant\"}",
        );
        let injected = chunk("x").replace("\"x\"", "\"x\",\"refusal\":\"y\"");
        for f in [&other_id, &finish, &two_keys, &injected] {
            s.feed(f.as_bytes());
            assert_eq!(all(&mut s, false), vec![format!("raw:{f}")]);
        }
    }

    #[test]
    fn other_kinds_of_openai_deltas_arm_on_their_own_text() {
        let mut s = openai();
        let reasoning =
            chunk("x").replace("{\"content\":\"x\"}", "{\"reasoning_content\":\"think\"}");
        assert_eq!(arm_texts(&mut s, &reasoning).as_deref(), Some("think"));
        let args = chunk("x").replace(
            "{\"content\":\"x\"}",
            "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"lo\"}}]}",
        );
        assert_eq!(arm_texts(&mut s, &args).as_deref(), Some("{\"lo"));
        // OpenAI pads chunks with a random `obfuscation` string: a value that varies too.
        let padded = chunk("x").replace(
            "\"finish_reason\":null}]",
            "\"finish_reason\":null}],\"obfuscation\":\"ab\"",
        );
        assert_eq!(arm_texts(&mut s, &padded).as_deref(), Some("x|ab"));
        s.feed(
            padded
                .replace("\"x\"", "\"yz\"")
                .replace("\"ab\"", "\"Qr9\"")
                .as_bytes(),
        );
        assert_eq!(all(&mut s, false), vec!["steady:yz|Qr9".to_string()]);
    }

    #[test]
    fn frames_split_at_every_byte_give_the_same_frames() {
        let text = format!(
            "{ROLE}: keep-alive\n\n{}event: x\ndata: {{}}\n\n{}{DONE}",
            chunk("a"),
            chunk("bc")
        );
        let mut whole = openai();
        assert!(arm_texts(&mut whole, &chunk("z")).is_some());
        whole.feed(text.as_bytes());
        let expected = all(&mut whole, false);
        assert_eq!(
            expected.iter().filter(|f| f.starts_with("steady:")).count(),
            2
        );
        for cut in 0..text.len() {
            let mut s = openai();
            assert!(arm_texts(&mut s, &chunk("z")).is_some());
            s.feed(&text.as_bytes()[..cut]);
            let mut got = all(&mut s, false);
            s.feed(&text.as_bytes()[cut..]);
            got.extend(all(&mut s, false));
            assert_eq!(got, expected, "cut at {cut}");
        }
    }

    #[test]
    fn crlf_and_cr_frames_end_where_the_sse_decoders_end_them() {
        let mut s = openai();
        s.feed(b"data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n");
        assert_eq!(
            all(&mut s, false),
            vec!["raw:data: a\r\n\r\n", "raw:data: b\r\r", "raw:data: c\n\n"]
        );
        s.feed(b"\r\n");
        assert_eq!(all(&mut s, false), vec!["raw:data: d\r\n\r\n"]);
    }

    #[test]
    fn a_stream_cut_mid_frame_leaves_its_tail_in_rest() {
        let mut s = openai();
        s.feed(format!("{}data: {{\"id\"", chunk("a")).as_bytes());
        assert_eq!(all(&mut s, false).len(), 1);
        assert_eq!(s.rest(), b"data: {\"id\"");
        assert!(s.rest().is_empty());
    }

    #[test]
    fn frames_that_cannot_be_armed() {
        let mut s = openai();
        for f in [
            ROLE.to_string(),                                          // empty content
            format!(": note\n{}", chunk("a")),                         // a comment line
            chunk("a").replace("data: {", "data: {\"a\":1}\ndata: {"), // two data lines
            DONE.to_string(),
            chunk("a").replace("\"choices\":[{", "\"choices\":[{\"index\":1},{"), // content not in choice 0
            "data: {\"choices\":[{\"delta\":{\"content\":5}}]}\n\n".to_string(),
            "data: {\"choices\":[{\"delta\":{\"content\":\"a\",\"content\":\"b\"}}]}\n\n"
                .to_string(), // repeated key
        ] {
            assert!(s.arm(f.as_bytes()).is_none(), "{f}");
        }
        assert!(s.arm(chunk("a").as_bytes()).is_some());
        assert!(s.arm(b"garbage\n\n").is_none());
        s.feed(chunk("b").as_bytes());
        assert_eq!(all(&mut s, false), vec![format!("raw:{}", chunk("b"))]); // disarmed
    }

    // Anthropic's Messages stream events, as its streaming reference shows them.
    fn anthropic_text(text: &str) -> String {
        format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":{}}}}}\n\n",
            serde_json::to_string(text).unwrap()
        )
    }

    #[test]
    fn anthropic_deltas_with_their_event_line() {
        let mut s = Splitter::new(steady_frames("anthropic").unwrap());
        assert_eq!(
            arm_texts(&mut s, &anthropic_text("Hi")).as_deref(),
            Some("Hi")
        );
        let ping = "event: ping\ndata: {\"type\": \"ping\"}\n\n";
        let thinking = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let\"}}\n\n";
        s.feed(format!("{}{ping}{thinking}", anthropic_text(" there")).as_bytes());
        assert_eq!(
            all(&mut s, false),
            vec![
                "steady: there".to_string(),
                format!("raw:{ping}"),
                format!("raw:{thinking}")
            ]
        );
        assert!(s.arm(ping.as_bytes()).is_none());
        assert_eq!(arm_texts(&mut s, thinking).as_deref(), Some("Let"));
    }

    #[test]
    fn gemini_chunks_vary_in_text_and_usage() {
        let frame = |text: &str, n: u32| {
            format!(
                "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":{}}}],\"role\":\"model\"}},\"index\":0}}],\
                 \"usageMetadata\":{{\"promptTokenCount\":8,\"candidatesTokenCount\":{n},\"totalTokenCount\":{}}},\
                 \"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"abc\"}}\r\n\r\n",
                serde_json::to_string(text).unwrap(),
                8 + n
            )
        };
        let mut s = Splitter::new(steady_frames("gemini").unwrap());
        assert!(arm_texts(&mut s, &frame("Hi", 1)).is_some());
        s.feed(frame(" there", 2).as_bytes());
        assert_eq!(
            all(&mut s, false),
            vec!["steady: there|{\"promptTokenCount\":8,\"candidatesTokenCount\":2,\"totalTokenCount\":10}".to_string()]
        );
    }

    #[test]
    fn ollama_lines_vary_in_text_and_timestamp_but_not_in_think_tags() {
        let line = |text: &str, at: &str| {
            format!(
                "{{\"model\":\"llama3.2\",\"created_at\":\"{at}\",\"message\":{{\"role\":\"assistant\",\"content\":{}}},\"done\":false}}\n",
                serde_json::to_string(text).unwrap()
            )
        };
        let mut s = Splitter::new(steady_frames("ollama").unwrap());
        assert!(arm_texts(&mut s, &line("Hi", "2024-01-01T00:00:00.1Z")).is_some());
        let think = line("<think>", "2024-01-01T00:00:00.3Z");
        s.feed(format!("{}{think}", line(" there", "2024-01-01T00:00:00.2Z")).as_bytes());
        assert_eq!(
            all(&mut s, false),
            vec![
                "steady:2024-01-01T00:00:00.2Z| there".to_string(),
                format!("raw:{think}")
            ]
        );
        let generate = "{\"model\":\"llama3.2\",\"created_at\":\"2024-01-01T00:00:00Z\",\"response\":\"Hi\",\"done\":false}\n";
        assert!(arm_texts(&mut s, generate).is_some());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_nothing_is_lost() {
        use proptest::prelude::*;
        proptest!(|(data in proptest::collection::vec(any::<u8>(), 0..400), cut in 0usize..400, arm in any::<bool>(), ndjson in any::<bool>())| {
            let mut s = Splitter::new(steady_frames(if ndjson { "ollama" } else { "openai" }).unwrap());
            if arm { s.arm(chunk("q").as_bytes()); }
            let cut = cut.min(data.len());
            let mut out: Vec<u8> = vec![];
            for part in [&data[..cut], &data[cut..]] {
                s.feed(part);
                loop {
                    let bytes = match s.take(false) {
                        None => break,
                        Some(Frame::Raw(b)) | Some(Frame::Steady(b, _)) => b.to_vec(),
                    };
                    out.extend_from_slice(&bytes);
                }
            }
            out.extend_from_slice(&s.rest().to_vec());
            prop_assert_eq!(out, data);
        });
    }

    #[test]
    fn skipping_and_locating_values() {
        let text = br#"{"a": [1, {"b": "x\"}"}, null], "c" : {"d": -1.5e3}, "e": true}"#;
        assert_eq!(skip_value(text, 0), Some(text.len()));
        let (s, e) = locate(text, 0, &[Step::Key("a"), Step::Index(1), Step::Key("b")]).unwrap();
        assert_eq!(&text[s..e], br#""x\"}""#);
        let (s, e) = locate(text, 0, &[Step::Key("c"), Step::Key("d")]).unwrap();
        assert_eq!(&text[s..e], b"-1.5e3");
        assert!(locate(text, 0, &[Step::Key("z")]).is_none());
        assert!(locate(text, 0, &[Step::Key("a"), Step::Index(3)]).is_none());
    }
}
