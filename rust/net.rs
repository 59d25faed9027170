//! Network settings a request must be sent with: which certificate authorities to trust (or
//! none: verification off) and which proxy carries it. Python reads them off the client stock
//! would have used for the request (edgequake_patch/transport/net_settings.py), so the core honours
//! SSL_CERT_FILE, `litellm.ssl_verify`, HTTP(S)_PROXY / NO_PROXY and friends exactly where
//! stock does. The core keeps one pooled client per distinct settings: a connection opened
//! with one trust store or through one proxy never serves a request meant for another.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use reqwest::header::HeaderValue;

/// The settings themselves; equality is over everything that changes what a connection is.
pub(crate) struct NetSettings {
    /// Hash of the fields below: a cheap first test before comparing them in full.
    digest: u64,
    verify: bool,
    /// DER certificates to trust instead of the built-in roots; None keeps the built-in ones.
    roots: Option<Vec<Vec<u8>>>,
    proxy: Option<String>,
    proxy_authorization: Option<String>,
}

impl PartialEq for NetSettings {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
            && self.verify == other.verify
            && self.proxy == other.proxy
            && self.proxy_authorization == other.proxy_authorization
            && self.roots == other.roots
    }
}

impl NetSettings {
    fn new(
        verify: bool,
        roots: Option<Vec<Vec<u8>>>,
        proxy: Option<String>,
        proxy_authorization: Option<String>,
    ) -> NetSettings {
        let mut h = DefaultHasher::new();
        (verify, &roots, &proxy, &proxy_authorization).hash(&mut h);
        NetSettings {
            digest: h.finish(),
            verify,
            roots,
            proxy,
            proxy_authorization,
        }
    }

    /// Apply these settings to a client builder. Every client the core builds goes through
    /// here, so reqwest never reads proxy variables on its own: Python resolves the proxy
    /// stock would use for each URL (NO_PROXY included), and without settings (`send` called
    /// directly, without `net=`) there is none. No settings also means the built-in roots.
    pub(crate) fn apply(
        settings: Option<&NetSettings>,
        builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, String> {
        let mut builder = builder.no_proxy();
        let Some(s) = settings else {
            return Ok(builder);
        };
        if !s.verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(roots) = &s.roots {
            builder = builder.tls_built_in_root_certs(false);
            for der in roots {
                let cert = reqwest::Certificate::from_der(der)
                    .map_err(|e| format!("unusable CA certificate: {e}"))?;
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some(url) = &s.proxy {
            let mut proxy =
                reqwest::Proxy::all(url.as_str()).map_err(|e| format!("invalid proxy URL: {e}"))?;
            if let Some(auth) = &s.proxy_authorization {
                let mut value = HeaderValue::from_str(auth)
                    .map_err(|_| "invalid proxy authorization".to_string())?;
                value.set_sensitive(true);
                proxy = proxy.custom_http_auth(value);
            }
            builder = builder.proxy(proxy);
        }
        Ok(builder)
    }
}

/// Settings for `send(..., net=...)`. Immutable; build one per distinct configuration and
/// reuse it (building checks the certificates by constructing a client once).
#[pyclass(frozen, module = "edgequake_patch._native")]
pub struct NetConfig {
    pub(crate) inner: Arc<NetSettings>,
}

#[pymethods]
impl NetConfig {
    /// `verify`: check the server's certificate. `ca_certs`: DER certificates to trust
    /// instead of the built-in roots (an iterable of bytes). `proxy`: URL of an HTTP proxy
    /// (plain forwarding for http://, CONNECT for https://). `proxy_authorization`: the
    /// Proxy-Authorization header value to send it.
    #[new]
    #[pyo3(signature = (*, verify = true, ca_certs = None, proxy = None, proxy_authorization = None))]
    fn new(
        verify: bool,
        ca_certs: Option<&Bound<'_, PyAny>>,
        proxy: Option<String>,
        proxy_authorization: Option<String>,
    ) -> PyResult<NetConfig> {
        let roots = match ca_certs {
            None => None,
            Some(items) => {
                let mut out = Vec::new();
                for item in items.try_iter()? {
                    let item = item?;
                    let bytes = item
                        .cast::<PyBytes>()
                        .map_err(|_| PyValueError::new_err("ca_certs must hold DER bytes"))?;
                    out.push(bytes.as_bytes().to_vec());
                }
                Some(out)
            }
        };
        let settings = NetSettings::new(verify, roots, proxy, proxy_authorization);
        // Fail here, at configuration time, rather than on the first request.
        NetSettings::apply(Some(&settings), reqwest::Client::builder())
            .and_then(|b| {
                b.build()
                    .map_err(|e| format!("invalid network settings: {e}"))
            })
            .map_err(PyValueError::new_err)?;
        Ok(NetConfig {
            inner: Arc::new(settings),
        })
    }

    #[getter]
    fn verify(&self) -> bool {
        self.inner.verify
    }

    #[getter]
    fn proxy(&self) -> Option<&str> {
        self.inner.proxy.as_deref()
    }

    #[getter]
    fn ca_count(&self) -> Option<usize> {
        self.inner.roots.as_ref().map(Vec::len)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<NetConfig>() {
            Ok(o) => *self.inner == *o.get().inner,
            Err(_) => false,
        }
    }

    fn __hash__(&self) -> u64 {
        self.inner.digest
    }

    fn __repr__(&self) -> String {
        // The proxy URL may hold credentials: show only whether there is one.
        format!(
            "<NetConfig verify={} ca_certs={} proxy={}>",
            self.inner.verify,
            self.inner
                .roots
                .as_ref()
                .map_or("built-in".to_string(), |r| r.len().to_string()),
            if self.inner.proxy.is_some() {
                "set"
            } else {
                "none"
            }
        )
    }
}

/// Clients for a handful of settings, looked up by identity first (Python reuses its
/// NetConfig objects), then by content. Small and linear: a process uses few settings.
pub(crate) struct ClientSet {
    /// For calls without settings; built on first use (the transports always pass settings,
    /// so in a patched app it is never built).
    default: Option<reqwest::Client>,
    keyed: Vec<(Arc<NetSettings>, reqwest::Client)>,
}

/// More distinct settings than this in one pool: the least recently added is dropped.
const MAX_KEYED_CLIENTS: usize = 16;

impl ClientSet {
    pub(crate) fn new() -> ClientSet {
        ClientSet {
            default: None,
            keyed: Vec::new(),
        }
    }

    /// The client for `net`, built with `build` on first use.
    pub(crate) fn get(
        &mut self,
        net: Option<&Arc<NetSettings>>,
        build: impl FnOnce(Option<&NetSettings>) -> Result<reqwest::Client, String>,
    ) -> Result<reqwest::Client, String> {
        let Some(net) = net else {
            if let Some(c) = &self.default {
                return Ok(c.clone());
            }
            let client = build(None)?;
            self.default = Some(client.clone());
            return Ok(client);
        };
        if let Some((_, c)) = self
            .keyed
            .iter()
            .find(|(k, _)| Arc::ptr_eq(k, net) || **k == **net)
        {
            return Ok(c.clone());
        }
        let client = build(Some(net))?;
        if self.keyed.len() >= MAX_KEYED_CLIENTS {
            self.keyed.remove(0);
        }
        self.keyed.push((net.clone(), client.clone()));
        Ok(client)
    }

    #[cfg(test)]
    pub(crate) fn keyed_len(&self) -> usize {
        self.keyed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(_: Option<&NetSettings>) -> Result<reqwest::Client, String> {
        Ok(reqwest::Client::new())
    }

    #[test]
    fn settings_key_the_pool() {
        let mut set = ClientSet::new();
        let a = Arc::new(NetSettings::new(true, Some(vec![vec![1, 2]]), None, None));
        let a_again = Arc::new(NetSettings::new(true, Some(vec![vec![1, 2]]), None, None));
        let other_ca = Arc::new(NetSettings::new(true, Some(vec![vec![3]]), None, None));
        let no_verify = Arc::new(NetSettings::new(false, None, None, None));
        let proxied = Arc::new(NetSettings::new(
            true,
            None,
            Some("http://127.0.0.1:1".into()),
            None,
        ));
        for s in [&a, &a_again, &other_ca, &no_verify, &proxied] {
            set.get(Some(s), client).unwrap();
        }
        // Equal content shares a client; anything else gets its own.
        assert_eq!(set.keyed_len(), 4);
        let mut built = false;
        set.get(Some(&a_again), |_| {
            built = true;
            client(None)
        })
        .unwrap();
        assert!(!built);
        set.get(None, client).unwrap();
        set.get(None, |_| panic!("the default client is never rebuilt"))
            .unwrap();
    }

    #[test]
    fn pool_is_bounded() {
        let mut set = ClientSet::new();
        for i in 0..(MAX_KEYED_CLIENTS + 5) {
            let s = Arc::new(NetSettings::new(
                true,
                None,
                Some(format!("http://127.0.0.1:{}", i + 1)),
                None,
            ));
            set.get(Some(&s), client).unwrap();
        }
        assert_eq!(set.keyed_len(), MAX_KEYED_CLIENTS);
    }

    #[test]
    fn bad_settings_are_refused_when_applied() {
        let s = NetSettings::new(true, None, Some("not a url".into()), None);
        assert!(NetSettings::apply(Some(&s), reqwest::Client::builder()).is_err());
        let s = NetSettings::new(true, Some(vec![b"not DER".to_vec()]), None, None);
        let built = NetSettings::apply(Some(&s), reqwest::Client::builder())
            .and_then(|b| b.build().map_err(|e| e.to_string()));
        assert!(built.is_err());
    }
}
