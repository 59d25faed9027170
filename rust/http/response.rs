//! A whole answer: its head as Python's pairs, its body decoded as httpx decodes it, and the
//! `Response` object handed to Python.

use crate::pyjson;
use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use reqwest::header::{HeaderMap, CONTENT_ENCODING};
use std::sync::OnceLock;

pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
    pub(crate) attempts: u32,
    pub(crate) url: String,
}

/// Lookup like httpx `Headers.get`: duplicates joined with ", ".
pub(crate) fn header_joined(h: &HeaderMap, name: &str) -> Option<String> {
    let mut it = h.get_all(name).iter();
    let first = it.next()?;
    let mut s = decode_header_value(first.as_bytes());
    for v in it {
        s.push_str(", ");
        s.push_str(&decode_header_value(v.as_bytes()));
    }
    Some(s)
}

/// httpx decodes header bytes as UTF-8 when valid, else Latin-1; so do we.
pub(crate) fn decode_header_value(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => b.iter().map(|&c| c as char).collect(),
    }
}

/// Undo Content-Encoding the way httpx does: codings applied in the order listed, so
/// decoded in reverse; unknown codings (and "identity") passed through; a gzip stream cut
/// short yields what it holds (zlib's flush does not complain), a corrupt one is an error;
/// "deflate" is zlib-wrapped, or raw deflate from servers that get it wrong.
pub(crate) fn decode_content(headers: &HeaderMap, body: Bytes) -> Result<Bytes, String> {
    use std::io::Read;
    if !headers.contains_key(CONTENT_ENCODING) || body.is_empty() {
        return Ok(body);
    }
    let codings: Vec<String> = headers
        .get_all(CONTENT_ENCODING)
        .iter()
        .flat_map(|v| {
            decode_header_value(v.as_bytes())
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut data = body;
    for coding in codings.iter().rev() {
        let mut out = Vec::with_capacity(data.len() * 4);
        match coding.as_str() {
            "gzip" | "x-gzip" => {
                match flate2::read::GzDecoder::new(&data[..]).read_to_end(&mut out) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            "deflate" => {
                if flate2::read::ZlibDecoder::new(&data[..])
                    .read_to_end(&mut out)
                    .is_err()
                {
                    out.clear();
                    match flate2::read::DeflateDecoder::new(&data[..]).read_to_end(&mut out) {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
            }
            _ => continue,
        }
        data = Bytes::from(out);
    }
    Ok(data)
}

/// A response head as Python's `[(name, value), ...]` pairs.
pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), decode_header_value(v.as_bytes())))
        .collect()
}

/// Received headers as Python's `[(name, value), ...]`.
pub(crate) fn header_list<'py>(
    py: Python<'py>,
    headers: &[(String, String)],
) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// An HTTP response (any status). Immutable; the body stays in Rust until asked for.
#[pyclass(frozen, module = "edgequake_patch._native")]
pub struct Response {
    #[pyo3(get)]
    pub(crate) status: u16,
    #[pyo3(get)]
    pub(crate) attempts: u32,
    pub(crate) url: String,
    pub(crate) raw_headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
    pub(crate) body_obj: OnceLock<Py<PyBytes>>,
}

impl From<RawResponse> for Response {
    fn from(r: RawResponse) -> Response {
        Response {
            status: r.status,
            attempts: r.attempts,
            url: r.url,
            raw_headers: r.headers,
            body: r.body,
            body_obj: OnceLock::new(),
        }
    }
}

#[pymethods]
impl Response {
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// `[(name, value), ...]`, names lower-cased, in received order.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        header_list(py, &self.raw_headers)
    }

    /// `{name: value}` with duplicates joined by ", ", like `dict(httpx.Headers)`.
    fn headers_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.raw_headers {
            match d.get_item(k.as_str())? {
                Some(prev) => {
                    let joined = format!("{}, {}", prev.cast::<PyString>()?.to_str()?, v);
                    d.set_item(k.as_str(), joined)?;
                }
                None => d.set_item(k.as_str(), v.as_str())?,
            }
        }
        Ok(d)
    }

    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.body_obj
            .get_or_init(|| PyBytes::new(py, &self.body).unbind())
            .bind(py)
            .clone()
    }

    /// Body decoded as UTF-8, invalid sequences replaced.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Body parsed as JSON (see `loads`); `ValueError` if it is not valid JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pyjson::loads(py, &self.body)
    }

    fn __repr__(&self) -> String {
        format!("<Response [{}] attempts={}>", self.status, self.attempts)
    }
}
