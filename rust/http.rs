//! The HTTP path: `send` / `send_async`, the runtime and connection pool behind them, the
//! per-attempt timeout accounting, and the error taxonomy Python maps to SDK exceptions.
//!
//! Latency budget is tens of microseconds per call, so the design choices below are about
//! avoiding thread hand-offs, not about throughput.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE,
};

use crate::net::{ClientSet, NetConfig, NetSettings};
use crate::pyjson;
use crate::retry::{self, Jitter, Outcome, Policy};

pyo3::create_exception!(
    edgequake_patch._native,
    TransportError,
    PyException,
    "The request did not produce an HTTP response. Attributes: kind, sent, attempts, message (and timeout_seconds for timeouts); where a connected exchange broke: phase ('head' or 'body', else ''), os_error (errno or None), headers and received (a whole answer's head and body bytes so far, when its body broke; else None)."
);

// ---------------------------------------------------------------------------------------
// Runtime and client
// ---------------------------------------------------------------------------------------

/// The shared multi-thread runtime + pooled client behind `send_async` (sync calls use a
/// per-thread runtime, see `run_blocking`). Never dropped: after a fork the child cannot
/// drop the parent's (its worker threads do not exist in the child and their sockets are
/// shared with the parent), and in the parent it lives for the process anyway.
pub(crate) struct Core {
    pid: u32,
    pub(crate) rt: tokio::runtime::Runtime,
    /// One pooled client per network settings (see `net`).
    clients: Mutex<ClientSet>,
}

static CORE: Mutex<Option<&'static Core>> = Mutex::new(None);
/// Lock-free fast path to the current core; the mutex only serializes (re)creation.
static CORE_FAST: std::sync::atomic::AtomicPtr<Core> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

pub(crate) fn core() -> &'static Core {
    let pid = std::process::id();
    let p = CORE_FAST.load(Ordering::Acquire);
    // SAFETY: pointers stored here come from Box::leak and are never freed.
    if let Some(c) = unsafe { p.as_ref() } {
        if c.pid == pid {
            return c;
        }
    }
    // A fork while another thread held this lock would leave it locked forever in the
    // child, so never block on it indefinitely: past the deadline, build without it
    // (at worst a duplicate core is leaked).
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    let mut guard = loop {
        match CORE.try_lock() {
            Ok(g) => break Some(g),
            Err(std::sync::TryLockError::Poisoned(e)) => break Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(200))
            }
            Err(std::sync::TryLockError::WouldBlock) => break None,
        }
    };
    if let Some(Some(c)) = guard.as_deref() {
        if c.pid == pid {
            return c;
        }
    }
    // A previous core belongs to the parent process: leak it (see `Core`).
    let c: &'static Core = Box::leak(Box::new(Core::new(pid)));
    if let Some(g) = guard.as_mut() {
        **g = Some(c);
    }
    CORE_FAST.store(c as *const Core as *mut Core, Ordering::Release);
    c
}

impl Core {
    fn new(pid: u32) -> Core {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("edgequake-io")
            .enable_all()
            .build()
            .expect("failed to start the tokio runtime");
        // Clients are built on first use, inside the runtime (see `client`).
        Core {
            pid,
            rt,
            clients: Mutex::new(ClientSet::new()),
        }
    }

    /// The shared runtime's client for these settings. reqwest registers pooled connections
    /// with the runtime current at connect time; building inside it keeps everything on this
    /// one runtime.
    pub(crate) fn client(&self, net: Option<&Arc<NetSettings>>) -> Result<reqwest::Client, String> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.get(net, |n| {
            let _g = self.rt.enter();
            build_client(n)
        })
    }
}

fn build_client(net: Option<&NetSettings>) -> Result<reqwest::Client, String> {
    let builder = reqwest::Client::builder()
        .connector_layer(ConnectTimeoutLayer)
        // Same as the SDK's httpx limits (keepalive_expiry 5 s, 100 keep-alive
        // connections): shorter than typical server/LB idle timeouts, so a pooled socket
        // is rarely one the server already closed.
        .pool_idle_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(100)
        .tcp_nodelay(true);
    NetSettings::apply(net, builder)?
        .build()
        .map_err(|e| format!("could not build the HTTP client: {e}"))
}

// ---------------------------------------------------------------------------------------
// Per-attempt state shared with the connector and the body, to classify timeouts
// ---------------------------------------------------------------------------------------

/// What one attempt has done so far. Needed because our total timeout fires from outside
/// reqwest, which then cannot say whether the request had left.
struct AttemptState {
    connect_timeout: Option<Duration>,
    connects_in_flight: AtomicU32,
    body_polled: AtomicBool,
    /// When this attempt's own connect finished (ns after `created`; 0 = none, e.g. a
    /// pooled connection): the wait for the response head starts there, as in httpx.
    created: std::time::Instant,
    connected_ns: std::sync::atomic::AtomicU64,
}

impl AttemptState {
    fn head_wait_starts(&self) -> std::time::Instant {
        match self.connected_ns.load(Ordering::Acquire) {
            0 => self.created,
            ns => self.created + Duration::from_nanos(ns),
        }
    }
}

tokio::task_local! {
    static ATTEMPT: Arc<AttemptState>;
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Marker in the error chain for our per-request connect timeout.
#[derive(Debug)]
struct ConnectTimedOut;

impl std::fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timed out while connecting")
    }
}

impl std::error::Error for ConnectTimedOut {}

/// reqwest only has a client-wide connect timeout, but callers pass one per request.
/// This layer reads the current attempt's value from a task-local instead, so one
/// client (one pool) serves every timeout setting.
#[derive(Clone)]
struct ConnectTimeoutLayer;

impl<S> tower_layer::Layer<S> for ConnectTimeoutLayer {
    type Service = ConnectTimeout<S>;
    fn layer(&self, inner: S) -> ConnectTimeout<S> {
        ConnectTimeout { inner }
    }
}

#[derive(Clone)]
struct ConnectTimeout<S> {
    inner: S,
}

struct InFlight(Arc<AttemptState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.connects_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S, R> tower_service::Service<R> for ConnectTimeout<S>
where
    S: tower_service::Service<R, Error = BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        // Read the task-local now: hyper may finish this connect in a background task
        // (when a pooled connection frees up first), where the task-local is gone.
        let state = ATTEMPT.try_with(Arc::clone).ok();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let Some(state) = state else { return fut.await };
            state.connects_in_flight.fetch_add(1, Ordering::AcqRel);
            let _in_flight = InFlight(state.clone());
            let result = match state.connect_timeout {
                Some(t) => match tokio::time::timeout(t, fut).await {
                    Ok(r) => r,
                    Err(_) => Err(Box::new(ConnectTimedOut) as BoxError),
                },
                None => fut.await,
            };
            if result.is_ok() {
                let ns = state.created.elapsed().as_nanos().max(1) as u64;
                state.connected_ns.store(ns, Ordering::Release);
            }
            result
        })
    }
}

/// Request body that records when hyper first pulls it, i.e. when the request is
/// being written. That is the "may have reached the server" signal for timeouts.
struct TrackedBody {
    data: Option<Bytes>,
    len: u64,
    state: Arc<AttemptState>,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.state.body_polled.store(true, Ordering::Release);
        Poll::Ready(self.data.take().map(|d| Ok(http_body::Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.len)
    }
}

// ---------------------------------------------------------------------------------------
// Request description and results
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
pub(crate) struct RequestSpec {
    pub(crate) method: reqwest::Method,
    pub(crate) url: reqwest::Url,
    headers: HeaderMap,
    body: Option<Bytes>,
    pub(crate) timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    max_retries: u32,
    policy: Policy,
    /// The SDK numbers its attempts in this header; keep doing so if the caller sent it.
    retry_count_header: bool,
    /// TLS trust and proxy; None: the core's defaults.
    pub(crate) net: Option<Arc<NetSettings>>,
}

pub(crate) struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
    attempts: u32,
    url: String,
}

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

enum Waited {
    Done(Result<RawResponse, Failure>),
    Interrupted(PyErr),
}

/// URL for messages: no userinfo, no query, no fragment (any of them can hold secrets).
pub(crate) fn safe_url(u: &reqwest::Url) -> String {
    let mut s = String::with_capacity(64);
    s.push_str(u.scheme());
    s.push_str("://");
    s.push_str(u.host_str().unwrap_or(""));
    if let Some(p) = u.port() {
        s.push(':');
        s.push_str(&p.to_string());
    }
    s.push_str(u.path());
    s
}

impl RequestSpec {
    /// Everything that can be checked is checked here, with the GIL, before anything is
    /// sent: body serialization (TypeError), header and URL validity ("builder").
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_py(
        py: Python<'_>,
        method: &str,
        url: &str,
        headers: &Bound<'_, PyAny>,
        body: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        connect_timeout: Option<f64>,
        max_retries: i64,
        retry: &str,
        default_content_type: bool,
        net: Option<&Bound<'_, NetConfig>>,
    ) -> PyResult<RequestSpec> {
        let policy = Policy::parse(retry).ok_or_else(|| {
            PyValueError::new_err(format!(
                "unknown retry policy {retry:?} (expected 'none' or 'openai_sdk')"
            ))
        })?;
        if max_retries < 0 {
            return Err(PyValueError::new_err("max_retries must be >= 0"));
        }
        let timeout = seconds(timeout, "timeout")?;
        let connect_timeout = match connect_timeout {
            None => timeout,
            c => seconds(c, "connect_timeout")?,
        };
        let body = match body {
            None => None,
            Some(b) if b.is_none() => None,
            Some(b) => Some(match b.cast::<PyBytes>() {
                Ok(bytes) => Bytes::copy_from_slice(bytes.as_bytes()),
                Err(_) => Bytes::from(pyjson::dumps(py, b)?),
            }),
        };
        let builder_err = |message: String| Failure {
            kind: "builder",
            sent: false,
            attempts: 0,
            message,
            timeout: None,
            broke: Broke::default(),
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            // The URL itself may carry a key in its query: never echo it.
            builder_err(format!("invalid URL: {e}")).into_pyerr(py)
        })?;
        if parsed.scheme() != "http" && parsed.scheme() != "https" {
            return Err(
                builder_err(format!("unsupported URL scheme {:?}", parsed.scheme())).into_pyerr(py),
            );
        }
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| builder_err(format!("invalid HTTP method {method:?}")).into_pyerr(py))?;
        let mut map = HeaderMap::with_capacity(16);
        let mut retry_count_header = false;
        let mut add = |name: &str, value: &str| -> Result<(), Failure> {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| builder_err(format!("invalid header name {name:?}")))?;
            // httpx encodes header values as ASCII and refuses anything else; so do we,
            // so a request that stock would reject is not sent by us either.
            if !value.is_ascii() {
                return Err(builder_err(format!(
                    "header {name:?} has a non-ASCII value"
                )));
            }
            let v = HeaderValue::from_str(value)
                .map_err(|_| builder_err(format!("header {name:?} has an invalid value")))?;
            if n.as_str() == "x-stainless-retry-count" {
                retry_count_header = true;
            }
            map.append(n, v);
            Ok(())
        };
        for_each_pair(headers, |k, v| add(k, v).map_err(|f| f.into_pyerr(py)))?;
        if !map.contains_key(ACCEPT) {
            map.insert(ACCEPT, HeaderValue::from_static("application/json"));
        }
        if !map.contains_key(ACCEPT_ENCODING) {
            // httpx's default (it adds br/zstd only when those packages are installed).
            map.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip, deflate"));
        }
        // A caller forwarding a request another HTTP stack already framed (an httpx.Request)
        // turns this off: that request's headers are complete, and a body without a
        // Content-Type must stay without one.
        if default_content_type && body.is_some() && !map.contains_key(CONTENT_TYPE) {
            map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        Ok(RequestSpec {
            method,
            url: parsed,
            headers: map,
            body,
            timeout,
            connect_timeout,
            max_retries: max_retries.min(u32::MAX as i64) as u32,
            policy,
            retry_count_header,
            net: net.map(|n| n.get().inner.clone()),
        })
    }

    fn build(&self, attempt: u32, state: &Arc<AttemptState>) -> reqwest::Request {
        let mut req = reqwest::Request::new(self.method.clone(), self.url.clone());
        let mut headers = self.headers.clone();
        if self.retry_count_header {
            headers.insert("x-stainless-retry-count", HeaderValue::from(attempt));
        }
        *req.headers_mut() = headers;
        if let Some(b) = &self.body {
            *req.body_mut() = Some(reqwest::Body::wrap(TrackedBody {
                len: b.len() as u64,
                data: Some(b.clone()),
                state: state.clone(),
            }));
        }
        req
    }
}

fn seconds(v: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
    match v {
        None => Ok(None),
        // Too large for a Duration (or infinite) means "never" in practice.
        Some(s) if s >= 0.0 && !s.is_nan() => Ok(Duration::try_from_secs_f64(s).ok()),
        Some(_) => Err(PyValueError::new_err(format!(
            "{what} must be a non-negative number of seconds or None"
        ))),
    }
}

/// Iterate (name, value) pairs from a list/tuple of 2-tuples, or any iterable of pairs.
fn for_each_pair(
    headers: &Bound<'_, PyAny>,
    mut f: impl FnMut(&str, &str) -> PyResult<()>,
) -> PyResult<()> {
    let pair =
        |item: &Bound<'_, PyAny>, f: &mut dyn FnMut(&str, &str) -> PyResult<()>| -> PyResult<()> {
            if let Ok(t) = item.cast::<PyTuple>() {
                if t.len() == 2 {
                    let k = t.get_borrowed_item(0)?;
                    let v = t.get_borrowed_item(1)?;
                    let k = k
                        .cast::<PyString>()
                        .map_err(|_| PyTypeError::new_err("header names must be str"))?;
                    let v = v
                        .cast::<PyString>()
                        .map_err(|_| PyTypeError::new_err("header values must be str"))?;
                    return f(k.to_str()?, v.to_str()?);
                }
            }
            let (k, v): (String, String) = item
                .extract()
                .map_err(|_| PyTypeError::new_err("headers must be (str, str) pairs"))?;
            f(&k, &v)
        };
    if let Ok(list) = headers.cast::<PyList>() {
        for item in list.iter() {
            pair(&item, &mut f)?;
        }
        return Ok(());
    }
    if headers.is_none() {
        return Ok(());
    }
    for item in headers.try_iter()? {
        pair(&item?, &mut f)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------

/// Lookup like httpx `Headers.get`: duplicates joined with ", ".
fn header_joined(h: &HeaderMap, name: &str) -> Option<String> {
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

enum AttemptResult {
    Response(reqwest::StatusCode, HeaderMap, Bytes, String),
    Failed {
        kind: &'static str,
        sent: bool,
        message: String,
        timeout: Option<Duration>,
        broke: Broke,
    },
}

fn new_attempt_state(spec: &RequestSpec) -> Arc<AttemptState> {
    Arc::new(AttemptState {
        connect_timeout: spec.connect_timeout,
        connects_in_flight: AtomicU32::new(0),
        body_polled: AtomicBool::new(false),
        created: std::time::Instant::now(),
        connected_ns: std::sync::atomic::AtomicU64::new(0),
    })
}

/// The failure for a wait for bytes (the response head, or a piece of the body: `phase`) that
/// our timeout `t` cut short, after the request was written.
fn read_timed_out(spec: &RequestSpec, t: Duration, phase: &'static str) -> AttemptResult {
    AttemptResult::Failed {
        kind: "read_timeout",
        sent: true,
        message: format!(
            "timed out after {:.3} s waiting for the response from {} {}",
            t.as_secs_f64(),
            spec.method,
            safe_url(&spec.url)
        ),
        timeout: Some(t),
        broke: Broke {
            phase,
            ..Broke::default()
        },
    }
}

/// Send the request and wait for the status line and headers.
///
/// The timeout means what it means to httpx (which stock's clients use): connecting has its
/// own limit (the connector layer), then the wait for the head may last up to `timeout`
/// from when this attempt's connection was ready -- and, in `attempt` and the stream, every
/// wait for a piece of the body too. Not a total: a body that keeps arriving slowly
/// completes under stock, so it must here too.
async fn head(
    client: &reqwest::Client,
    spec: &RequestSpec,
    state: &Arc<AttemptState>,
    req: reqwest::Request,
) -> Result<reqwest::Response, AttemptResult> {
    let mut exec = std::pin::pin!(ATTEMPT.scope(state.clone(), client.execute(req)));
    let resp = match spec.timeout {
        None => exec.await,
        Some(t) => loop {
            let deadline = tokio::time::Instant::from_std(state.head_wait_starts() + t);
            if let Ok(r) = tokio::time::timeout_at(deadline, &mut exec).await {
                break r;
            }
            let connecting = state.connects_in_flight.load(Ordering::Acquire) > 0
                && !state.body_polled.load(Ordering::Acquire);
            if connecting {
                // The connector's own limit decides; look again shortly.
                if let Ok(r) = tokio::time::timeout(Duration::from_millis(5), &mut exec).await {
                    break r;
                }
                continue;
            }
            if state.head_wait_starts() + t > std::time::Instant::now() {
                continue; // a connect finished since: the wait starts there
            }
            return Err(read_timed_out(spec, t, "head"));
        },
    };
    resp.map_err(|e| classify(&e, spec, "head"))
}

async fn attempt(client: &reqwest::Client, spec: &RequestSpec, n: u32) -> AttemptResult {
    let state = new_attempt_state(spec);
    let req = spec.build(n, &state);
    let work = async {
        let mut resp = head(client, spec, &state, req).await?;
        let status = resp.status();
        let url = resp.url().as_str().to_owned();
        let headers = resp.headers().clone();
        // One piece: kept as is. More: gathered in one buffer sized from Content-Length.
        let mut first: Option<Bytes> = None;
        let mut gathered: Option<Vec<u8>> = None;
        let mut received: u64 = 0;
        loop {
            let next = match spec.timeout {
                None => resp.chunk().await,
                Some(t) => match tokio::time::timeout(t, resp.chunk()).await {
                    Ok(r) => r,
                    Err(_) => return Err(read_timed_out(spec, t, "body")),
                },
            };
            let next = next.map_err(|e| {
                let mut failed = classify(&e, spec, "body");
                if let AttemptResult::Failed { broke, .. } = &mut failed {
                    broke.headers = Some(header_pairs(&headers));
                    broke.received = Some(received);
                }
                failed
            })?;
            if let Some(piece) = &next {
                received += piece.len() as u64;
            }
            match next {
                None => break,
                Some(piece) => match (&mut gathered, first.take()) {
                    (Some(buf), _) => buf.extend_from_slice(&piece),
                    (None, None) => first = Some(piece),
                    (None, Some(head)) => {
                        let expected = resp.content_length().unwrap_or(0) as usize;
                        let mut buf =
                            Vec::with_capacity(expected.clamp(head.len() + piece.len(), 1 << 30));
                        buf.extend_from_slice(&head);
                        buf.extend_from_slice(&piece);
                        gathered = Some(buf);
                    }
                },
            }
        }
        let body = match gathered {
            Some(buf) => Bytes::from(buf),
            None => first.unwrap_or_default(),
        };
        Ok((status, headers, body, url))
    };
    let (status, headers, body, url) = match work.await {
        Ok(r) => r,
        Err(failed) => return failed,
    };
    match decode_content(&headers, body) {
        Ok(body) => AttemptResult::Response(status, headers, body, url),
        Err(detail) => AttemptResult::Failed {
            kind: "decode",
            sent: true,
            message: format!(
                "could not decode the response body ({detail}) for {} {}",
                spec.method,
                safe_url(&spec.url)
            ),
            timeout: None,
            broke: Broke::default(),
        },
    }
}

/// One attempt that stops once the status line and headers are in (`timeout` bounds that
/// wait, as httpx's read timeout bounds each read); the body is left to the caller.
pub(crate) async fn attempt_head(
    client: &reqwest::Client,
    spec: &RequestSpec,
) -> Result<reqwest::Response, Failure> {
    let state = new_attempt_state(spec);
    let req = spec.build(0, &state);
    let outcome = head(client, spec, &state, req).await;
    outcome.map_err(|failed| match failed {
        AttemptResult::Failed {
            kind,
            sent,
            message,
            timeout,
            broke,
        } => Failure {
            kind,
            sent,
            attempts: if kind == "builder" { 0 } else { 1 },
            message,
            timeout,
            broke,
        },
        AttemptResult::Response(..) => unreachable!("only failures are mapped"),
    })
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

/// Map a reqwest error onto the kinds Python understands, with a message built only from
/// the innermost causes (reqwest's own Display includes the full URL, query and all).
/// `phase`: what the exchange was waiting for when it failed ("head" or "body"); a failure to
/// connect is the connect phase whatever the caller waited for.
fn classify(e: &reqwest::Error, spec: &RequestSpec, phase: &'static str) -> AttemptResult {
    let mut detail: Option<String> = None;
    let mut connect_timed_out = false;
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = src {
        if err.is::<ConnectTimedOut>() {
            connect_timed_out = true;
        }
        detail = Some(err.to_string());
        src = err.source();
    }
    let detail = detail.unwrap_or_else(|| "unknown error".into());
    let target = format!("{} {}", spec.method, safe_url(&spec.url));
    let mut broke = Broke::default();
    let (kind, sent, timeout) = if e.is_builder() {
        ("builder", false, None)
    } else if e.is_connect() {
        // Only our own limit is a connect timeout. The kernel giving up on SYNs (ETIMEDOUT,
        // which reqwest also calls a timeout) is a failed connect to stock's transports too:
        // httpx calls it a ConnectTimeout, aiohttp a ConnectError, so stock's transport, given
        // the last try a request that never left gets, words it.
        if connect_timed_out {
            ("connect_timeout", false, spec.connect_timeout)
        } else {
            ("connect", false, None)
        }
    } else {
        let (closed, os_error) = how_it_broke(e);
        broke.phase = phase;
        broke.os_error = os_error;
        (if closed { "incomplete" } else { "read" }, true, None)
    };
    let what = match kind {
        "builder" => "could not build the request",
        "connect" => "could not connect",
        "connect_timeout" => "timed out while connecting",
        _ => "connection failed after the request was sent",
    };
    AttemptResult::Failed {
        kind,
        sent,
        message: format!("{what} ({detail}) for {target}"),
        timeout,
        broke,
    }
}

/// How a connection that was answering broke: `(closed, os_error)`. `closed`: the peer closed
/// it cleanly before the response was complete (hyper's "incomplete message" before the head
/// was in, an unexpected end of file in the body); `os_error`: the OS error that ended it
/// otherwise (a reset, say), when there was one.
pub(crate) fn how_it_broke(e: &reqwest::Error) -> (bool, Option<i32>) {
    let mut closed = false;
    let mut os_error = None;
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = src {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            closed |= h.is_incomplete_message();
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            closed |= io.kind() == std::io::ErrorKind::UnexpectedEof;
            os_error = os_error.or(io.raw_os_error());
        }
        src = err.source();
    }
    (closed && os_error.is_none(), os_error)
}

/// A response head as Python's `[(name, value), ...]` pairs.
fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), decode_header_value(v.as_bytes())))
        .collect()
}

async fn perform(client: &reqwest::Client, spec: &RequestSpec) -> Result<RawResponse, Failure> {
    let mut jitter: Option<Jitter> = None;
    let mut any_sent = false;
    let mut n = 0u32;
    loop {
        let result = attempt(client, spec, n).await;
        let attempts = n + 1;
        let delay = match &result {
            AttemptResult::Response(status, headers, _, _) => {
                any_sent = true;
                let lookup = |name: &str| header_joined(headers, name);
                let outcome = Outcome::Response {
                    status: status.as_u16(),
                    header: &lookup,
                };
                retry::next_delay(
                    spec.policy,
                    &outcome,
                    n,
                    spec.max_retries,
                    SystemTime::now(),
                    jitter.get_or_insert_with(Jitter::new),
                )
            }
            AttemptResult::Failed { kind, sent, .. } => {
                any_sent |= *sent;
                if *kind == "builder" {
                    None
                } else {
                    retry::next_delay(
                        spec.policy,
                        &Outcome::TransportError,
                        n,
                        spec.max_retries,
                        SystemTime::now(),
                        jitter.get_or_insert_with(Jitter::new),
                    )
                }
            }
        };
        match delay {
            Some(d) => {
                tokio::time::sleep(d).await;
                n += 1;
            }
            None => {
                return match result {
                    AttemptResult::Response(status, headers, body, url) => Ok(RawResponse {
                        status: status.as_u16(),
                        headers: headers
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_owned(), decode_header_value(v.as_bytes()))
                            })
                            .collect(),
                        body,
                        attempts,
                        url,
                    }),
                    AttemptResult::Failed {
                        kind,
                        message,
                        timeout,
                        broke,
                        ..
                    } => Err(Failure {
                        kind,
                        sent: any_sent,
                        // A request reqwest refused to build never left.
                        attempts: if kind == "builder" { n } else { attempts },
                        message,
                        timeout,
                        broke,
                    }),
                };
            }
        }
    }
}

/// How often a blocked sync call wakes to let Python run signal handlers, so Ctrl-C
/// interrupts a long request as it would interrupt httpx's blocking socket read.
pub(crate) const SIGNAL_CHECK: Duration = Duration::from_millis(100);

async fn perform_interruptible(client: &reqwest::Client, spec: &RequestSpec) -> Waited {
    let fut = perform(client, spec);
    tokio::pin!(fut);
    loop {
        match tokio::time::timeout(SIGNAL_CHECK, &mut fut).await {
            Ok(r) => return Waited::Done(r),
            Err(_) => {
                if let Err(e) = Python::attach(|py| py.check_signals()) {
                    // Dropping `fut` (on return) closes the connection mid-request.
                    return Waited::Interrupted(e);
                }
            }
        }
    }
}

/// Sync calls run on a current-thread runtime driven by the calling thread itself, so a
/// request costs exactly writev + epoll_wait + recvfrom and no thread hand-off. Measured
/// alternatives: `block_on` on the shared multi-thread runtime (the connection task lives
/// on a worker, so each request crosses threads three times: p50 ~60 us with a bimodal
/// p90 ~110 us) and spawn + channel (worse). Of the remaining ~67 us, ~45 us is the
/// (virtualized) wake-up from epoll_wait, which the spin below removes (p50 ~40 us).
///
/// Such runtimes (each with its own connection pool) are kept in a LIFO free list rather
/// than per thread: a server that spawns a thread per request still reuses warm
/// connections, and concurrent calls each get their own runtime.
struct SyncCore {
    pid: u32,
    rt: tokio::runtime::Runtime,
    /// This runtime's own pool, one client per network settings.
    clients: ClientSet,
    /// Whether the last call answered within the spin window; spinning for an upstream
    /// that takes 100 ms (a real LLM) would only burn CPU.
    upstream_fast: bool,
}

struct SyncCores {
    pid: u32,
    idle: Vec<SyncCore>,
}

static SYNC_CORES: Mutex<SyncCores> = Mutex::new(SyncCores {
    pid: 0,
    idle: Vec::new(),
});

/// More idle runtimes than this are dropped on return (with their connections): enough for
/// any realistic burst of concurrent sync calls.
const MAX_IDLE_SYNC_CORES: usize = 64;

/// The free list lock, unless it is unavailable: held only for a push or pop, so failing
/// to get it for 10 ms means it was held by a thread that does not exist here (we are a
/// forked child). Callers then work without the list.
fn sync_cores() -> Option<std::sync::MutexGuard<'static, SyncCores>> {
    let deadline = std::time::Instant::now() + Duration::from_millis(10);
    loop {
        match SYNC_CORES.try_lock() {
            Ok(g) => return Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => {
                if std::time::Instant::now() > deadline {
                    return None;
                }
                std::thread::yield_now();
            }
        }
    }
}

fn take_sync_core() -> Option<SyncCore> {
    let pid = std::process::id();
    if let Some(mut cores) = sync_cores() {
        if cores.pid != pid {
            // Built by the parent before a fork: their sockets and epoll instances are
            // shared with the parent, so they must be neither used nor dropped (drop would
            // deregister the parent's sockets). Leak them.
            for old in cores.idle.drain(..) {
                std::mem::forget(old);
            }
            cores.pid = pid;
        }
        if let Some(c) = cores.idle.pop() {
            return Some(c);
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    Some(SyncCore {
        pid,
        rt,
        clients: ClientSet::new(),
        upstream_fast: true,
    })
}

fn return_sync_core(core: SyncCore) {
    let Some(mut cores) = sync_cores() else {
        std::mem::forget(core);
        return;
    };
    if core.pid != cores.pid {
        // Taken before a fork and returned in the child: see take_sync_core.
        std::mem::forget(core);
    } else if cores.idle.len() < MAX_IDLE_SYNC_CORES {
        cores.idle.push(core);
    } else {
        drop(cores);
        drop(core);
    }
}

/// Busy-poll window before parking in epoll_wait. Only pays off for upstreams that answer
/// within it (local gateways, mocks, caches); `EDGEQUAKE_SPIN_US=0` disables it.
///
/// Why 250 µs: a loopback exchange takes ~40 µs in a tight loop but 55–120 µs inside a
/// LiteLLM call (LiteLLM's logging threads wake on the other core, caches are cold). At 100 µs
/// a third of the calls parked just before their answer came, and parking costs the wake-up
/// plus, often, a wait for the GIL behind a logging thread (bench: p50 +60–90 µs per call).
/// The window is only used while the upstream keeps answering within it (`upstream_fast`).
fn spin_budget() -> Duration {
    static SPIN: OnceLock<Duration> = OnceLock::new();
    *SPIN.get_or_init(|| {
        let us = std::env::var("EDGEQUAKE_SPIN_US")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(250);
        Duration::from_micros(us)
    })
}

/// Waits in two phases. First, for the spin window, with the GIL *held*: a loopback or
/// cached upstream answers within it, and keeping the GIL means no other Python thread
/// (LiteLLM's logging pool, say) can take it and make this caller wait for its turn once
/// the answer is in. Then, if the answer is not in yet, with the GIL released for as long
/// as it takes, so a slow upstream never stalls the other threads.
fn run_blocking(py: Python<'_>, spec: &RequestSpec) -> Waited {
    let Some(mut core) = take_sync_core() else {
        return py.detach(|| run_on_shared(spec));
    };
    let budget = if core.upstream_fast {
        spin_budget()
    } else {
        Duration::ZERO
    };
    let client = {
        let rt = &core.rt;
        core.clients.get(spec.net.as_ref(), |n| {
            let _g = rt.enter();
            build_client(n)
        })
    };
    let client = match client {
        Ok(c) => c,
        Err(message) => {
            return_sync_core(core);
            return Waited::Done(Err(unbuildable(message)));
        }
    };
    let started = std::time::Instant::now();
    let waited = {
        let client = &client;
        let rt = &core.rt;
        let mut main = std::pin::pin!(perform_interruptible(client, spec));
        let early = rt.block_on(async {
            // Run the idle connections' tasks once before checking one out, so a connection
            // the server closed while nobody drove this runtime is seen as closed instead of
            // being picked and failing after the request was written. Two yields: the first
            // lets the driver deliver pending events, the second lets the woken connection
            // tasks run (the block_on future is polled before other tasks).
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            let spin_until = std::time::Instant::now() + budget;
            std::future::poll_fn(|cx| {
                if let Poll::Ready(v) = main.as_mut().poll(cx) {
                    return Poll::Ready(Some(v));
                }
                if std::time::Instant::now() >= spin_until {
                    return Poll::Ready(None);
                }
                // Ask to be polled again at once: the scheduler then polls epoll with a
                // zero timeout instead of sleeping in it.
                cx.waker().wake_by_ref();
                Poll::Pending
            })
            .await
        });
        match early {
            Some(v) => (v, started.elapsed()),
            None => {
                let main = &mut main;
                // Timed inside: waiting to get the GIL back says nothing about the upstream
                // (and counting it would switch spinning off for good under a busy GIL).
                py.detach(move || (rt.block_on(main), started.elapsed()))
            }
        }
    };
    let (waited, upstream_time) = waited;
    // Spin next time only for an upstream that answered within the window: one that takes a
    // little longer would have every caller hold the GIL for the whole window, then park anyway.
    core.upstream_fast = upstream_time <= spin_budget();
    if !matches!(waited, Waited::Done(Ok(_))) {
        // Connection tasks only run while someone drives this runtime. After a timeout or
        // interrupt, let them see the abandoned request and close its socket now rather
        // than whenever this runtime is next used.
        py.detach(|| {
            core.rt.block_on(async {
                for _ in 0..4 {
                    tokio::task::yield_now().await;
                }
            })
        });
    }
    return_sync_core(core);
    waited
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

/// Fallback for the rare cases a sync runtime cannot be had: run on the shared
/// runtime and wait on a channel.
fn run_on_shared(spec: &RequestSpec) -> Waited {
    let core = core();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let client = match core.client(spec.net.as_ref()) {
        Ok(c) => c,
        Err(message) => return Waited::Done(Err(unbuildable(message))),
    };
    // The spec is borrowed; the task needs an owned copy.
    let spec = spec.clone();
    core.rt.spawn(async move {
        let _ = tx.send(perform(&client, &spec).await);
    });
    loop {
        match rx.recv_timeout(SIGNAL_CHECK) {
            Ok(r) => return Waited::Done(r),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Err(e) = Python::attach(|py| py.check_signals()) {
                    return Waited::Interrupted(e);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Waited::Done(Err(Failure {
                    kind: "read",
                    sent: true,
                    attempts: 1,
                    message: "request task ended unexpectedly".into(),
                    timeout: None,
                    broke: Broke::default(),
                }));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Python objects
// ---------------------------------------------------------------------------------------

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
    status: u16,
    #[pyo3(get)]
    attempts: u32,
    url: String,
    raw_headers: Vec<(String, String)>,
    body: Bytes,
    body_obj: OnceLock<Py<PyBytes>>,
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

// ---------------------------------------------------------------------------------------
// Python entry points
// ---------------------------------------------------------------------------------------

/// Send one HTTP request (plus policy retries) and wait for the full response.
#[pyfunction]
#[pyo3(signature = (method, url, headers, body, *, timeout, connect_timeout, max_retries, retry, default_content_type=true, net = None))]
#[allow(clippy::too_many_arguments)]
pub fn send<'py>(
    py: Python<'py>,
    method: &str,
    url: &str,
    headers: &Bound<'py, PyAny>,
    body: Option<&Bound<'py, PyAny>>,
    timeout: Option<f64>,
    connect_timeout: Option<f64>,
    max_retries: i64,
    retry: &str,
    default_content_type: bool,
    net: Option<&Bound<'py, NetConfig>>,
) -> PyResult<Bound<'py, Response>> {
    let spec = RequestSpec::from_py(
        py,
        method,
        url,
        headers,
        body,
        timeout,
        connect_timeout,
        max_retries,
        retry,
        default_content_type,
        net,
    )?;
    match run_blocking(py, &spec) {
        Waited::Done(Ok(raw)) => Bound::new(py, Response::from(raw)),
        Waited::Done(Err(f)) => Err(f.into_pyerr(py)),
        Waited::Interrupted(e) => Err(e),
    }
}

pub(crate) fn spawn<F>(fut: F) -> tokio::task::JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    core().rt.spawn(fut)
}

/// Like `send`, but returns an awaitable. Validation and body serialization happen now,
/// so a `TypeError` is raised at call time and nothing is sent. Cancelling the awaiting
/// task drops the request, closing its connection.
#[pyfunction]
#[pyo3(signature = (method, url, headers, body, *, timeout, connect_timeout, max_retries, retry, default_content_type=true, net = None))]
#[allow(clippy::too_many_arguments)]
pub fn send_async<'py>(
    py: Python<'py>,
    method: &str,
    url: &str,
    headers: &Bound<'py, PyAny>,
    body: Option<&Bound<'py, PyAny>>,
    timeout: Option<f64>,
    connect_timeout: Option<f64>,
    max_retries: i64,
    retry: &str,
    default_content_type: bool,
    net: Option<&Bound<'py, NetConfig>>,
) -> PyResult<Bound<'py, PyAny>> {
    let spec = RequestSpec::from_py(
        py,
        method,
        url,
        headers,
        body,
        timeout,
        connect_timeout,
        max_retries,
        retry,
        default_content_type,
        net,
    )?;
    let client = core()
        .client(spec.net.as_ref())
        .map_err(|m| unbuildable(m).into_pyerr(py))?;
    #[cfg(unix)]
    return crate::aio::spawn_for_loop(py, async move {
        let result = perform(&client, &spec).await;
        Box::new(move |py: Python<'_>| match result {
            Ok(raw) => Ok(Bound::new(py, Response::from(raw))?.into_any().unbind()),
            Err(f) => Err(f.into_pyerr(py)),
        }) as crate::aio::Deliver
    });
    #[cfg(not(unix))]
    {
        let _ = (client, spec);
        Err(pyo3::exceptions::PyNotImplementedError::new_err(
            "send_async needs a Unix event loop",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_url_drops_secrets() {
        let u =
            reqwest::Url::parse("https://user:pw@api.example.com:8443/v1/chat?api-key=SECRET#frag")
                .unwrap();
        assert_eq!(safe_url(&u), "https://api.example.com:8443/v1/chat");
        let u = reqwest::Url::parse("http://127.0.0.1/x?key=SECRET").unwrap();
        assert_eq!(safe_url(&u), "http://127.0.0.1/x");
    }

    #[test]
    fn header_values_decode_like_httpx() {
        assert_eq!(decode_header_value(b"plain"), "plain");
        assert_eq!(decode_header_value("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(decode_header_value(b"caf\xe9"), "caf\u{e9}");
        let mut h = HeaderMap::new();
        h.append("x-should-retry", HeaderValue::from_static("true"));
        assert_eq!(header_joined(&h, "x-should-retry").as_deref(), Some("true"));
        h.append("x-should-retry", HeaderValue::from_static("true"));
        // httpx joins duplicates, so the SDK's == "true" no longer matches; neither do we.
        assert_eq!(
            header_joined(&h, "x-should-retry").as_deref(),
            Some("true, true")
        );
        assert_eq!(header_joined(&h, "retry-after"), None);
    }

    // --- how a connected exchange broke (Broke), which Python words as stock's transport ---

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One connection served like this: read the request head, send `reply`, then reset the
    /// connection (`reset`) or close it cleanly.
    async fn misbehave_once(reply: &'static [u8], reset: bool) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            sock.write_all(reply).await.unwrap();
            if reset {
                // What is sent must be read before the reset overtakes it.
                tokio::time::sleep(Duration::from_millis(50)).await;
                #[allow(deprecated)] // a zero linger never blocks: close() just sends RST
                sock.set_linger(Some(Duration::ZERO)).unwrap();
                drop(sock);
            } else {
                sock.shutdown().await.ok();
                let _ = sock.read(&mut buf).await; // until the client closes
            }
        });
        format!("http://{addr}/v1/x")
    }

    fn spec_for(url: &str) -> RequestSpec {
        Python::initialize();
        Python::attach(|py| {
            let headers = PyList::empty(py);
            RequestSpec::from_py(
                py,
                "POST",
                url,
                headers.as_any(),
                None,
                Some(5.0),
                None,
                0,
                "none",
                false,
                None,
            )
            .unwrap()
        })
    }

    async fn failed(reply: &'static [u8], reset: bool) -> Failure {
        let url = misbehave_once(reply, reset).await;
        let client = build_client(None).unwrap();
        match perform(&client, &spec_for(&url)).await {
            Err(f) => f,
            Ok(r) => panic!("answered {}", r.status),
        }
    }

    #[tokio::test]
    async fn a_close_before_the_head_is_incomplete_in_the_head() {
        for reply in [&b""[..], b"HTTP/1.1 20", b"HTTP/1.1 200 OK\r\ncontent-type: a/b\r\n"] {
            let f = failed(reply, false).await;
            assert_eq!((f.kind, f.broke.phase, f.broke.os_error), ("incomplete", "head", None));
            assert!(f.sent);
            assert!(f.broke.headers.is_none() && f.broke.received.is_none());
        }
    }

    #[tokio::test]
    async fn a_reset_before_the_head_is_a_read_failure_with_its_os_error() {
        for reply in [&b""[..], b"HTTP/1.1 20", b"HTTP/1.1 200 OK\r\ncontent-type: a/b\r\n"] {
            let f = failed(reply, true).await;
            assert_eq!((f.kind, f.broke.phase), ("read", "head"));
            assert_eq!(f.broke.os_error, Some(104)); // ECONNRESET
        }
    }

    #[tokio::test]
    async fn a_whole_body_cut_short_says_what_had_come() {
        let f = failed(b"HTTP/1.1 200 OK\r\ncontent-length: 200\r\n\r\n{\"id\": \"partial", false).await;
        assert_eq!((f.kind, f.broke.phase, f.broke.os_error), ("incomplete", "body", None));
        assert_eq!(f.broke.received, Some(15));
        let headers = f.broke.headers.unwrap();
        assert!(headers.contains(&("content-length".into(), "200".into())), "{headers:?}");

        let f = failed(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n40\r\n{\"id\"", true).await;
        assert_eq!((f.kind, f.broke.phase, f.broke.os_error), ("read", "body", Some(104)));
        assert_eq!(f.broke.received, Some(5));
    }
}
