//! The shared multi-thread tokio runtime and its pooled clients (one per network
//! settings), behind every async call and every stream; `spawn` puts work on it.

use crate::net::{ClientSet, NetSettings};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

/// The shared multi-thread runtime + pooled client behind `send_async` (sync calls use a
/// per-thread runtime, see `run_blocking`). Never dropped: after a fork the child cannot
/// drop the parent's (its worker threads do not exist in the child and their sockets are
/// shared with the parent), and in the parent it lives for the process anyway.
pub(crate) struct Core {
    pub(crate) pid: u32,
    pub(crate) rt: tokio::runtime::Runtime,
    /// One pooled client per network settings (see `net`).
    pub(crate) clients: Mutex<ClientSet>,
}

pub(crate) static CORE: Mutex<Option<&'static Core>> = Mutex::new(None);

/// Lock-free fast path to the current core; the mutex only serializes (re)creation.
pub(crate) static CORE_FAST: std::sync::atomic::AtomicPtr<Core> =
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

pub(crate) fn build_client(net: Option<&NetSettings>) -> Result<reqwest::Client, String> {
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

pub(crate) fn spawn<F>(fut: F) -> tokio::task::JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    core().rt.spawn(fut)
}
