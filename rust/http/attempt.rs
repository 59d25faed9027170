//! The tries on the wire: one attempt (sending, waiting for the head within the caller's
//! timeouts, and what it had done when it failed: connected? written? which decides how the
//! failure is worded and whether it may be retried), and `perform`, an exchange's attempts
//! under the retry policy.

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::*;

/// What one attempt has done so far. Needed because our total timeout fires from outside
/// reqwest, which then cannot say whether the request had left.
pub(crate) struct AttemptState {
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) connects_in_flight: AtomicU32,
    pub(crate) body_polled: AtomicBool,
    /// When this attempt's own connect finished (ns after `created`; 0 = none, e.g. a
    /// pooled connection): the wait for the response head starts there, as in httpx.
    pub(crate) created: std::time::Instant,
    pub(crate) connected_ns: std::sync::atomic::AtomicU64,
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

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Marker in the error chain for our per-request connect timeout.
#[derive(Debug)]
pub(crate) struct ConnectTimedOut;

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
pub(crate) struct ConnectTimeoutLayer;

impl<S> tower_layer::Layer<S> for ConnectTimeoutLayer {
    type Service = ConnectTimeout<S>;
    fn layer(&self, inner: S) -> ConnectTimeout<S> {
        ConnectTimeout { inner }
    }
}

#[derive(Clone)]
pub(crate) struct ConnectTimeout<S> {
    pub(crate) inner: S,
}

pub(crate) struct InFlight(Arc<AttemptState>);

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
pub(crate) struct TrackedBody {
    pub(crate) data: Option<Bytes>,
    pub(crate) len: u64,
    pub(crate) state: Arc<AttemptState>,
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

pub(crate) enum AttemptResult {
    Response(reqwest::StatusCode, HeaderMap, Bytes, String),
    Failed {
        kind: &'static str,
        sent: bool,
        message: String,
        timeout: Option<Duration>,
        broke: Broke,
    },
}

pub(crate) fn new_attempt_state(spec: &RequestSpec) -> Arc<AttemptState> {
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
pub(crate) fn read_timed_out(
    spec: &RequestSpec,
    t: Duration,
    phase: &'static str,
) -> AttemptResult {
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
pub(crate) async fn head(
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

pub(crate) async fn attempt(client: &reqwest::Client, spec: &RequestSpec, n: u32) -> AttemptResult {
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

/// Map a reqwest error onto the kinds Python understands, with a message built only from
/// the innermost causes (reqwest's own Display includes the full URL, query and all).
/// `phase`: what the exchange was waiting for when it failed ("head" or "body"); a failure to
/// connect is the connect phase whatever the caller waited for.
pub(crate) fn classify(
    e: &reqwest::Error,
    spec: &RequestSpec,
    phase: &'static str,
) -> AttemptResult {
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

impl RequestSpec {
    pub(crate) fn build(&self, attempt: u32, state: &Arc<AttemptState>) -> reqwest::Request {
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

pub(crate) async fn perform(
    client: &reqwest::Client,
    spec: &RequestSpec,
) -> Result<RawResponse, Failure> {
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
