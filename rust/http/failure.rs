//! A request that produced no HTTP response: the facts Python words as stock's transport
//! would (`Failure`, `Broke`), raised as `TransportError`.

use pyo3::prelude::*;
use std::time::Duration;

use super::*;

pyo3::create_exception!(
    edgequake_patch._native,
    TransportError,
    PyException,
    "The request did not produce an HTTP response. Attributes: kind, sent, attempts, message (and timeout_seconds for timeouts); where a connected exchange broke: phase ('head' or 'body', else ''), os_error (errno or None), headers and received (a whole answer's head and body bytes so far, when its body broke; else None)."
);

#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) kind: &'static str,
    pub(crate) sent: bool,
    pub(crate) attempts: u32,
    pub(crate) message: String,
    pub(crate) timeout: Option<Duration>,
    pub(crate) broke: Broke,
}

/// Where an exchange that had connected broke, and how. Stock's transports word the same
/// failure differently by these facts (httpx: "Server disconnected without sending a
/// response." for a close before the response head, "[Errno 104] Connection reset by peer"
/// for a reset anywhere; aiohttp: its own words, and a cut body by its framing), and LiteLLM's
/// async handler re-sends or not by the class they become: Python words each failure as the
/// transport stock would have used (transport_errors.py), from these facts alone. Kept to what
/// the connection shows: hyper does not tell whether part of a head had arrived before a close.
#[derive(Debug, Clone, Default)]
pub(crate) struct Broke {
    /// "head": the request was (being) written and no complete response head had arrived;
    /// "body": the head had, the body had not; "" otherwise (not connected, not built).
    pub(crate) phase: &'static str,
    /// The OS error that broke the connection (ECONNRESET, EPIPE, ...), if one did. None with
    /// kind "incomplete": the peer closed cleanly.
    pub(crate) os_error: Option<i32>,
    /// A whole answer's head and how many body bytes had come when its body broke (a streamed
    /// body's reader knows both itself).
    pub(crate) headers: Option<Vec<(String, String)>>,
    pub(crate) received: Option<u64>,
}

/// A client for the request's network settings could not be built: nothing was sent.
pub(crate) fn unbuildable(message: String) -> Failure {
    Failure {
        kind: "builder",
        sent: false,
        attempts: 0,
        message,
        timeout: None,
        broke: Broke::default(),
    }
}

impl Failure {
    pub(crate) fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let err = TransportError::new_err(self.message.clone());
        let value = err.value(py);
        let set = || -> PyResult<()> {
            value.setattr("kind", self.kind)?;
            value.setattr("sent", self.sent)?;
            value.setattr("attempts", self.attempts)?;
            value.setattr("message", &self.message)?;
            if self.kind.ends_with("timeout") {
                value.setattr("timeout_seconds", self.timeout.map(|t| t.as_secs_f64()))?;
            }
            let broke = &self.broke;
            value.setattr("phase", broke.phase)?;
            value.setattr("os_error", broke.os_error)?;
            match &broke.headers {
                Some(h) => value.setattr("headers", header_list(py, h)?)?,
                None => value.setattr("headers", py.None())?,
            }
            value.setattr("received", broke.received)?;
            Ok(())
        };
        match set() {
            Ok(()) => err,
            Err(e) => e,
        }
    }
}
