//! A request as Python describes it (method, URL, headers, body, timeouts, retry policy,
//! network settings), read once into a `RequestSpec`.

use crate::net::{NetConfig, NetSettings};
use crate::pyjson;
use crate::retry::Policy;
use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE};
use std::sync::Arc;
use std::time::Duration;

use super::*;

#[derive(Clone)]
pub(crate) struct RequestSpec {
    pub(crate) method: reqwest::Method,
    pub(crate) url: reqwest::Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) max_retries: u32,
    pub(crate) policy: Policy,
    /// The SDK numbers its attempts in this header; keep doing so if the caller sent it.
    pub(crate) retry_count_header: bool,
    /// TLS trust and proxy; None: the core's defaults.
    pub(crate) net: Option<Arc<NetSettings>>,
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
}

pub(crate) fn seconds(v: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
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
pub(crate) fn for_each_pair(
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
