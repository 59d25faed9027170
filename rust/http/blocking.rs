//! How a sync call waits: on a current-thread runtime driven by the calling thread (spinning
//! briefly with the GIL held, then parking without it), with Ctrl-C still delivered.

use crate::net::ClientSet;
use pyo3::prelude::*;
use std::future::Future;
use std::sync::{Mutex, OnceLock};
use std::task::Poll;
use std::time::Duration;

use super::*;

pub(crate) enum Waited {
    Done(Result<RawResponse, Failure>),
    Interrupted(PyErr),
}

/// How often a blocked sync call wakes to let Python run signal handlers, so Ctrl-C
/// interrupts a long request as it would interrupt httpx's blocking socket read.
pub(crate) const SIGNAL_CHECK: Duration = Duration::from_millis(100);

pub(crate) async fn perform_interruptible(client: &reqwest::Client, spec: &RequestSpec) -> Waited {
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
pub(crate) struct SyncCore {
    pub(crate) pid: u32,
    pub(crate) rt: tokio::runtime::Runtime,
    /// This runtime's own pool, one client per network settings.
    pub(crate) clients: ClientSet,
    /// Whether the last call answered within the spin window; spinning for an upstream
    /// that takes 100 ms (a real LLM) would only burn CPU.
    pub(crate) upstream_fast: bool,
}

pub(crate) struct SyncCores {
    pub(crate) pid: u32,
    pub(crate) idle: Vec<SyncCore>,
}

pub(crate) static SYNC_CORES: Mutex<SyncCores> = Mutex::new(SyncCores {
    pid: 0,
    idle: Vec::new(),
});

/// More idle runtimes than this are dropped on return (with their connections): enough for
/// any realistic burst of concurrent sync calls.
pub(crate) const MAX_IDLE_SYNC_CORES: usize = 64;

/// The free list lock, unless it is unavailable: held only for a push or pop, so failing
/// to get it for 10 ms means it was held by a thread that does not exist here (we are a
/// forked child). Callers then work without the list.
pub(crate) fn sync_cores() -> Option<std::sync::MutexGuard<'static, SyncCores>> {
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

pub(crate) fn take_sync_core() -> Option<SyncCore> {
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

pub(crate) fn return_sync_core(core: SyncCore) {
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
pub(crate) fn spin_budget() -> Duration {
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
pub(crate) fn run_blocking(py: Python<'_>, spec: &RequestSpec) -> Waited {
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

/// Fallback for the rare cases a sync runtime cannot be had: run on the shared
/// runtime and wait on a channel.
pub(crate) fn run_on_shared(spec: &RequestSpec) -> Waited {
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
