//! The HTTP path: `send` / `send_async`, the runtime and connection pool behind them, the
//! per-attempt timeout accounting, and the error taxonomy Python maps to SDK exceptions.
//!
//! Latency budget is tens of microseconds per call, so the design choices below are about
//! avoiding thread hand-offs, not about throughput.
//!
//! Its parts, bottom up: `response` and `failure` (an exchange's two outcomes), `request`
//! (what Python asks for), `attempt` (the tries on the wire, under the retry policy),
//! `runtime` (the shared runtime and its clients), `blocking` (how a sync call waits); here,
//! the Python entry points.

mod attempt;
mod blocking;
mod failure;
mod request;
mod response;
mod runtime;

pub(crate) use attempt::*;
pub(crate) use blocking::*;
pub(crate) use failure::*;
pub(crate) use request::*;
pub(crate) use response::*;
pub(crate) use runtime::*;

use crate::net::NetConfig;
use crate::retry::{self, Jitter, Outcome};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use std::time::SystemTime;

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
    return crate::aio::spawn_for_loop(py, core().rt.handle(), async move {
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
    use pyo3::types::PyList;
    use reqwest::header::{HeaderMap, HeaderValue};
    use std::time::Duration;

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
        for reply in [
            &b""[..],
            b"HTTP/1.1 20",
            b"HTTP/1.1 200 OK\r\ncontent-type: a/b\r\n",
        ] {
            let f = failed(reply, false).await;
            assert_eq!(
                (f.kind, f.broke.phase, f.broke.os_error),
                ("incomplete", "head", None)
            );
            assert!(f.sent);
            assert!(f.broke.headers.is_none() && f.broke.received.is_none());
        }
    }

    #[tokio::test]
    async fn a_reset_before_the_head_is_a_read_failure_with_its_os_error() {
        for reply in [
            &b""[..],
            b"HTTP/1.1 20",
            b"HTTP/1.1 200 OK\r\ncontent-type: a/b\r\n",
        ] {
            let f = failed(reply, true).await;
            assert_eq!((f.kind, f.broke.phase), ("read", "head"));
            assert_eq!(f.broke.os_error, Some(104)); // ECONNRESET
        }
    }

    #[tokio::test]
    async fn a_whole_body_cut_short_says_what_had_come() {
        let f = failed(
            b"HTTP/1.1 200 OK\r\ncontent-length: 200\r\n\r\n{\"id\": \"partial",
            false,
        )
        .await;
        assert_eq!(
            (f.kind, f.broke.phase, f.broke.os_error),
            ("incomplete", "body", None)
        );
        assert_eq!(f.broke.received, Some(15));
        let headers = f.broke.headers.unwrap();
        assert!(
            headers.contains(&("content-length".into(), "200".into())),
            "{headers:?}"
        );

        let f = failed(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n40\r\n{\"id\"",
            true,
        )
        .await;
        assert_eq!(
            (f.kind, f.broke.phase, f.broke.os_error),
            ("read", "body", Some(104))
        );
        assert_eq!(f.broke.received, Some(5));
    }
}
