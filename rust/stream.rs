//! Streamed responses (SSE, NDJSON): `open_stream` / `open_stream_async` return as soon as the
//! status line and headers are in, and the body then arrives chunk by chunk.
//!
//! A task on the shared runtime reads the body into a small bounded channel, so the reader
//! stays at most a few chunks ahead of the consumer (a 100 MB body is never buffered whole)
//! and a consumer that finds a chunk waiting takes it without any thread hand-off. The task
//! ends, dropping the connection, when the body ends, when the consumer closes the stream or
//! drops it, or when a read fails.
//!
//! Bytes are handed over as received: Content-Encoding is left for the HTTP library the caller
//! feeds them to (httpx decodes them exactly as for stock), and there are no retries here (the
//! caller's own retry loop decides, as it does for stock).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tokio::sync::{mpsc, Notify};

use crate::http::{self, Broke, Failure, RequestSpec};
use crate::net::NetConfig;

/// Chunks read ahead of the consumer. Enough to keep the socket busy while Python works on
/// the previous ones; small enough that an abandoned or huge body costs little memory.
const READ_AHEAD: usize = 32;

type Chunk = Result<Bytes, Failure>;

/// What the body task needs: the response, where chunks go, and the consumer's close signal.
struct Body {
    response: reqwest::Response,
    tx: mpsc::Sender<Chunk>,
    closed: Arc<Notify>,
    read_timeout: Option<Duration>,
    target: String,
}

impl Body {
    fn failure(&self, kind: &'static str, message: String, os_error: Option<i32>) -> Failure {
        Failure {
            kind,
            sent: true,
            attempts: 1,
            message,
            timeout: if kind == "read_timeout" {
                self.read_timeout
            } else {
                None
            },
            // The consumer knows the head and counts what it was handed: see `http::Broke`.
            broke: Broke {
                phase: "body",
                os_error,
                ..Broke::default()
            },
        }
    }

    async fn pump(mut self) {
        loop {
            let next = tokio::select! {
                biased;
                _ = self.closed.notified() => return,
                _ = self.tx.closed() => return,
                r = read_chunk(&mut self.response, self.read_timeout) => r,
            };
            let item = match next {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => return, // end of body: dropping `tx` tells the consumer
                Err(ReadFailed::TimedOut(t)) => Err(self.failure(
                    "read_timeout",
                    format!(
                        "timed out after {:.3} s waiting for the next part of the response from {}",
                        t.as_secs_f64(),
                        self.target
                    ),
                    None,
                )),
                Err(ReadFailed::Broken {
                    detail,
                    closed,
                    os_error,
                }) => {
                    // The peer closing before the body's end is told apart from a reset:
                    // HTTP stacks report them in their own words, which Python matches.
                    Err(self.failure(
                        if closed { "incomplete" } else { "read" },
                        format!(
                            "the connection broke while receiving the response ({detail}) from {}",
                            self.target
                        ),
                        os_error,
                    ))
                }
            };
            let last = item.is_err();
            tokio::select! {
                biased;
                _ = self.closed.notified() => return,
                sent = self.tx.send(item) => if sent.is_err() { return },
            }
            if last {
                return;
            }
        }
    }
}

enum ReadFailed {
    TimedOut(Duration),
    Broken {
        detail: String,
        closed: bool,
        os_error: Option<i32>,
    },
}

async fn read_chunk(
    response: &mut reqwest::Response,
    read_timeout: Option<Duration>,
) -> Result<Option<Bytes>, ReadFailed> {
    let read = response.chunk();
    let result = match read_timeout {
        Some(t) => tokio::time::timeout(t, read)
            .await
            .map_err(|_| ReadFailed::TimedOut(t))?,
        None => read.await,
    };
    result.map_err(|e| {
        let (closed, os_error) = http::how_it_broke(&e);
        ReadFailed::Broken {
            detail: innermost(&e),
            closed,
            os_error,
        }
    })
}

/// The innermost cause's text: reqwest's own Display names the full URL (query included).
fn innermost(e: &reqwest::Error) -> String {
    let mut detail = None;
    let mut src = std::error::Error::source(e);
    while let Some(err) = src {
        detail = Some(err.to_string());
        src = err.source();
    }
    detail.unwrap_or_else(|| "unknown error".into())
}

/// Status, headers and the consumer's end of the body channel; the body task is spawned.
fn start_body(response: reqwest::Response, spec: &RequestSpec) -> StreamResponse {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    let closed = Arc::new(Notify::new());
    let status = response.status().as_u16();
    let url = response.url().as_str().to_owned();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                http::decode_header_value(v.as_bytes()),
            )
        })
        .collect();
    let body = Body {
        response,
        tx,
        closed: closed.clone(),
        read_timeout: spec.timeout,
        target: format!("{} {}", spec.method, http::safe_url(&spec.url)),
    };
    http::spawn(body.pump());
    StreamResponse {
        status,
        url,
        raw_headers: headers,
        rx: Arc::new(tokio::sync::Mutex::new(Some(rx))),
        closed,
        read_error: Mutex::new(None),
    }
}

/// A response whose body is still arriving. `next_chunk()` (blocking, GIL released) or
/// `try_next()` + `next_async()` hand out the body's chunks; `close()` (or dropping the object)
/// stops reading and closes the connection.
#[pyclass(frozen, module = "edgequake_patch._native")]
pub struct StreamResponse {
    #[pyo3(get)]
    status: u16,
    url: String,
    raw_headers: Vec<(String, String)>,
    /// `None` once closed. A tokio mutex: an awaiting `next_async` holds it across the wait.
    rx: Arc<tokio::sync::Mutex<Option<mpsc::Receiver<Chunk>>>>,
    closed: Arc<Notify>,
    /// Set once the body failed; later reads repeat it rather than report a clean end.
    read_error: Mutex<Option<Failure>>,
}

/// What one receive produced, before it becomes a Python value.
enum Received {
    Chunk(Bytes),
    End,
    Failed(Failure),
}

impl StreamResponse {
    fn remember(&self, r: Option<Chunk>) -> Received {
        match r {
            Some(Ok(b)) => Received::Chunk(b),
            None => {
                let e = self.read_error.lock().unwrap_or_else(|e| e.into_inner());
                match &*e {
                    Some(failure) => Received::Failed(failure.clone()),
                    None => Received::End,
                }
            }
            Some(Err(f)) => {
                *self.read_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(f.clone());
                Received::Failed(f)
            }
        }
    }
}

fn to_python(py: Python<'_>, r: Received) -> PyResult<Py<PyAny>> {
    match r {
        Received::Chunk(b) => Ok(PyBytes::new(py, &b).into_any().unbind()),
        Received::End => Ok(py.None()),
        Received::Failed(f) => Err(f.into_pyerr(py)),
    }
}

fn closed_failure() -> Failure {
    Failure {
        kind: "read",
        sent: true,
        attempts: 1,
        message: "the response stream was closed".into(),
        timeout: None,
        broke: Broke::default(),
    }
}

#[pymethods]
impl StreamResponse {
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// `[(name, value), ...]`, names lower-cased, in received order.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        http::header_list(py, &self.raw_headers)
    }

    /// The next chunk of the body as `bytes`, `None` at its end; raises TransportError if the
    /// body broke or a read timed out. Waits with the GIL released (waking to run signal
    /// handlers, so Ctrl-C interrupts it as it would interrupt a socket read).
    fn next_chunk(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let received = {
            let mut guard = match self.rx.try_lock() {
                Ok(g) => g,
                Err(_) => py.detach(|| self.rx.blocking_lock()),
            };
            let Some(rx) = guard.as_mut() else {
                return Err(closed_failure().into_pyerr(py));
            };
            match rx.try_recv() {
                Ok(c) => Some(c),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) => loop {
                    let waited = py.detach(|| {
                        http::core().rt.block_on(async {
                            tokio::time::timeout(http::SIGNAL_CHECK, rx.recv()).await
                        })
                    });
                    match waited {
                        Ok(c) => break c,
                        Err(_) => py.check_signals()?,
                    }
                },
            }
        };
        to_python(py, self.remember(received))
    }

    /// Like `next_chunk`, but never waits: `False` when no chunk has arrived yet (then await
    /// `next_async()`).
    fn try_next(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let Ok(mut guard) = self.rx.try_lock() else {
            return Ok(false.into_pyobject(py)?.to_owned().into_any().unbind());
        };
        let Some(rx) = guard.as_mut() else {
            return Err(closed_failure().into_pyerr(py));
        };
        let received = match rx.try_recv() {
            Ok(c) => Some(c),
            Err(mpsc::error::TryRecvError::Disconnected) => None,
            Err(mpsc::error::TryRecvError::Empty) => {
                return Ok(false.into_pyobject(py)?.to_owned().into_any().unbind())
            }
        };
        drop(guard);
        to_python(py, self.remember(received))
    }

    /// An asyncio future for the next chunk (`bytes`, or `None` at the end). Cancelling it
    /// abandons the wait, not the stream.
    fn next_async<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let rx = slf.get().rx.clone();
        let owner = slf.clone().unbind();
        #[cfg(unix)]
        return crate::aio::spawn_for_loop(py, crate::http::core().rt.handle(), async move {
            let received = {
                let mut guard = rx.lock().await;
                match guard.as_mut() {
                    Some(rx) => Ok(rx.recv().await),
                    None => Err(closed_failure()),
                }
            };
            Box::new(move |py: Python<'_>| match received {
                Ok(r) => to_python(py, owner.bind(py).get().remember(r)),
                Err(f) => Err(f.into_pyerr(py)),
            }) as crate::aio::Deliver
        });
        #[cfg(not(unix))]
        {
            let _ = (rx, owner);
            Err(pyo3::exceptions::PyNotImplementedError::new_err(
                "next_async needs a Unix event loop",
            ))
        }
    }

    /// Stop reading and close the connection. Idempotent.
    fn close(&self) {
        self.closed.notify_one();
        if let Ok(mut guard) = self.rx.try_lock() {
            guard.take();
        }
    }

    fn __repr__(&self) -> String {
        format!("<StreamResponse [{}]>", self.status)
    }
}

impl Drop for StreamResponse {
    fn drop(&mut self) {
        // Dropping the receiver alone would also end the body task, but only at its next
        // read; the signal ends it now, closing the connection promptly.
        self.closed.notify_one();
    }
}

/// The checked request (nothing sent yet) and the client for its network settings.
#[allow(clippy::too_many_arguments)]
fn stream_request(
    py: Python<'_>,
    method: &str,
    url: &str,
    headers: &Bound<'_, PyAny>,
    body: Option<&Bound<'_, PyAny>>,
    timeout: Option<f64>,
    connect_timeout: Option<f64>,
    net: Option<&Bound<'_, NetConfig>>,
) -> PyResult<(RequestSpec, reqwest::Client)> {
    // No retries here: the caller's own retry loop decides, as for stock.
    let spec = RequestSpec::from_py(
        py,
        method,
        url,
        headers,
        body,
        timeout,
        connect_timeout,
        0,
        "none",
        // Streams carry requests another HTTP stack framed: their headers are complete.
        false,
        net,
    )?;
    let client = http::core()
        .client(spec.net.as_ref())
        .map_err(|m| http::unbuildable(m).into_pyerr(py))?;
    Ok((spec, client))
}

/// Send one request and return once its headers are in (no retries; see the module doc).
#[pyfunction]
#[pyo3(signature = (method, url, headers, body, *, timeout, connect_timeout, net = None))]
#[allow(clippy::too_many_arguments)]
pub fn open_stream<'py>(
    py: Python<'py>,
    method: &str,
    url: &str,
    headers: &Bound<'py, PyAny>,
    body: Option<&Bound<'py, PyAny>>,
    timeout: Option<f64>,
    connect_timeout: Option<f64>,
    net: Option<&Bound<'py, NetConfig>>,
) -> PyResult<Bound<'py, StreamResponse>> {
    let (spec, client) = stream_request(
        py,
        method,
        url,
        headers,
        body,
        timeout,
        connect_timeout,
        net,
    )?;
    let core = http::core();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let task_spec = spec.clone();
    let task = core.rt.spawn(async move {
        let head = http::attempt_head(&client, &task_spec).await;
        let _ = tx.send(head.map(|resp| start_body(resp, &task_spec)));
    });
    let mut rx = Some(rx);
    loop {
        // The receiver is moved through the GIL-free wait (it is Send, not Sync).
        let (back, waited) = py.detach(move || {
            let r = rx.take().expect("receiver is put back after every wait");
            let waited = r.recv_timeout(http::SIGNAL_CHECK);
            (r, waited)
        });
        rx = Some(back);
        match waited {
            Ok(Ok(stream)) => return Bound::new(py, stream),
            Ok(Err(f)) => return Err(f.into_pyerr(py)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Err(e) = py.check_signals() {
                    // Aborting the task drops the request and its connection.
                    task.abort();
                    return Err(e);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Failure {
                    kind: "read",
                    sent: true,
                    attempts: 1,
                    message: "request task ended unexpectedly".into(),
                    timeout: None,
                    broke: Broke::default(),
                }
                .into_pyerr(py))
            }
        }
    }
}

/// `open_stream` as an asyncio future. Cancelling it before the headers are in drops the
/// request and its connection.
#[pyfunction]
#[pyo3(signature = (method, url, headers, body, *, timeout, connect_timeout, net = None))]
#[allow(clippy::too_many_arguments)]
pub fn open_stream_async<'py>(
    py: Python<'py>,
    method: &str,
    url: &str,
    headers: &Bound<'py, PyAny>,
    body: Option<&Bound<'py, PyAny>>,
    timeout: Option<f64>,
    connect_timeout: Option<f64>,
    net: Option<&Bound<'py, NetConfig>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (spec, client) = stream_request(
        py,
        method,
        url,
        headers,
        body,
        timeout,
        connect_timeout,
        net,
    )?;
    #[cfg(unix)]
    return crate::aio::spawn_for_loop(py, crate::http::core().rt.handle(), async move {
        let head = http::attempt_head(&client, &spec).await;
        let opened = head.map(|resp| start_body(resp, &spec));
        Box::new(move |py: Python<'_>| match opened {
            Ok(stream) => Ok(Bound::new(py, stream)?.into_any().unbind()),
            Err(f) => Err(f.into_pyerr(py)),
        }) as crate::aio::Deliver
    });
    #[cfg(not(unix))]
    {
        let _ = (client, spec);
        Err(pyo3::exceptions::PyNotImplementedError::new_err(
            "open_stream_async needs a Unix event loop",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP/1.1 server that sends `head` + `body` and then closes.
    async fn serve_once(reply: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            sock.write_all(reply).await.unwrap();
            sock.shutdown().await.ok();
        });
        format!("http://{addr}/v1/chat/completions")
    }

    async fn pump_all(reply: &'static [u8], read_timeout: Option<Duration>) -> Vec<Chunk> {
        let url = serve_once(reply).await;
        let response = reqwest::Client::new().post(&url).send().await.unwrap();
        let (tx, mut rx) = mpsc::channel(READ_AHEAD);
        let body = Body {
            response,
            tx,
            closed: Arc::new(Notify::new()),
            read_timeout,
            target: "POST test".into(),
        };
        tokio::spawn(body.pump());
        let mut out = Vec::new();
        while let Some(c) = rx.recv().await {
            out.push(c);
        }
        out
    }

    #[tokio::test]
    async fn a_whole_chunked_body_arrives_and_ends() {
        let got = pump_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n\
              7\r\ndata: 1\r\n7\r\ndata: 2\r\n0\r\n\r\n",
            Some(Duration::from_secs(5)),
        )
        .await;
        let bytes: Vec<u8> = got.into_iter().flat_map(|c| c.unwrap().to_vec()).collect();
        assert_eq!(bytes, b"data: 1data: 2");
    }

    #[tokio::test]
    async fn a_body_cut_short_is_incomplete_after_what_came() {
        let got = pump_all(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n7\r\ndata: 1\r\n",
            None,
        )
        .await;
        let (last, before) = got.split_last().unwrap();
        let bytes: Vec<u8> = before
            .iter()
            .flat_map(|c| c.as_ref().unwrap().to_vec())
            .collect();
        assert_eq!(bytes, b"data: 1");
        let failure = last.as_ref().unwrap_err();
        assert_eq!(failure.kind, "incomplete");
        assert_eq!(
            (failure.broke.phase, failure.broke.os_error),
            ("body", None)
        );
        assert!(failure.sent);
        assert!(!failure.message.contains("chat/completions?"));
    }

    #[tokio::test]
    async fn a_content_length_body_cut_short_is_incomplete() {
        let got = pump_all(
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this",
            None,
        )
        .await;
        assert_eq!(got.last().unwrap().as_ref().unwrap_err().kind, "incomplete");
    }
}
