//! asyncio bridge for `send_async`.
//!
//! pyo3-async-runtimes' generic bridge finishes every future from a tokio blocking-pool
//! thread that takes the GIL and calls `call_soon_threadsafe`. Under load that makes the
//! GIL ping-pong between those threads and the event loop and dominated our profile
//! (futex + thread churn, ~3x the cost of the HTTP work itself). Here workers never touch
//! the GIL: they queue finished results and poke a socketpair the event loop watches with
//! `add_reader`; the loop thread then resolves every queued future in one batch.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCFunction;

/// How a finished piece of work becomes the future's outcome: run on the loop thread, with
/// the GIL; `Err` is set as the future's exception. Never run if the future was cancelled
/// meanwhile (dropping it must release whatever it owns).
pub type Deliver = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

type Done = (Py<PyAny>, Deliver);

/// The half of a loop's channel that tokio workers use.
pub struct Completer {
    queue: Mutex<Vec<Done>>,
    wake: UnixStream,
}

impl Completer {
    /// Hand a result to the loop. Only the push that finds the queue empty writes to the
    /// socket: one wake-up per batch, however many requests finish meanwhile.
    pub fn complete(&self, fut: Py<PyAny>, result: Deliver) {
        let was_empty = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let was_empty = q.is_empty();
            q.push((fut, result));
            was_empty
        };
        if was_empty {
            // WouldBlock means unread bytes are already waiting: the loop will wake anyway.
            let _ = (&self.wake).write(&[1]);
        }
    }
}

/// One per event loop: the queue, the socket the loop watches, and the reader callback.
#[pyclass(frozen, module = "edgequake_patch._native")]
pub struct LoopChannel {
    completer: Arc<Completer>,
    readable: UnixStream,
    pid: u32,
    event_loop: Py<PyAny>,
}

#[pymethods]
impl LoopChannel {
    /// Registered with `loop.add_reader`; runs on the loop thread.
    fn _drain(&self, py: Python<'_>) {
        // Clear readiness first, then take the queue: a push racing with us either lands
        // in what we take or writes a fresh byte that wakes us again.
        let mut buf = [0u8; 64];
        loop {
            match (&self.readable).read(&mut buf) {
                Ok(n) if n == buf.len() => continue,
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let items = std::mem::take(
            &mut *self
                .completer
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for (fut, result) in items {
            // A failure to resolve one future (it was cancelled meanwhile) must not strand
            // the rest of the batch.
            let _ = resolve(py, fut.bind(py), result);
        }
    }
}

fn resolve(py: Python<'_>, fut: &Bound<'_, PyAny>, deliver: Deliver) -> PyResult<()> {
    if fut.call_method0(pyo3::intern!(py, "done"))?.is_truthy()? {
        return Ok(());
    }
    match deliver(py) {
        Ok(value) => fut.call_method1(pyo3::intern!(py, "set_result"), (value,))?,
        Err(e) => fut.call_method1(pyo3::intern!(py, "set_exception"), (e.into_value(py),))?,
    };
    Ok(())
}

/// Open channels, one per live event loop. Only touched with the GIL held, and never
/// held across a call into Python: Python code may switch threads, and another thread
/// blocking on this lock while holding the GIL would deadlock us.
static CHANNELS: Mutex<Vec<Py<LoopChannel>>> = Mutex::new(Vec::new());

fn channels() -> std::sync::MutexGuard<'static, Vec<Py<LoopChannel>>> {
    CHANNELS.lock().unwrap_or_else(|e| e.into_inner())
}

fn get_running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    F.import(py, "asyncio", "get_running_loop")?.call0()
}

fn os_err(e: std::io::Error) -> PyErr {
    pyo3::exceptions::PyOSError::new_err(e.to_string())
}

/// The channel for the running loop, created (and hooked into the loop) on first use.
fn channel_for<'py>(
    py: Python<'py>,
    event_loop: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, LoopChannel>> {
    let pid = std::process::id();
    // A channel inherited across fork shares its socket with the parent's loop, hence pid.
    let matches = |c: &LoopChannel| c.event_loop.as_ptr() == event_loop.as_ptr() && c.pid == pid;
    let snapshot: Vec<Py<LoopChannel>> = {
        let chans = channels();
        if let Some(ch) = chans.iter().find(|ch| matches(ch.get())) {
            return Ok(ch.bind(py).clone());
        }
        chans.iter().map(|ch| ch.clone_ref(py)).collect()
    };
    // A miss is rare (a new loop). Forget channels of closed loops or of the parent
    // process, which also releases the loop objects they pin.
    let mut dead: Vec<*mut pyo3::ffi::PyObject> = Vec::new();
    for ch in &snapshot {
        let c = ch.get();
        let closed = c
            .event_loop
            .bind(py)
            .call_method0("is_closed")
            .and_then(|v| v.is_truthy())
            .unwrap_or(true);
        if c.pid != pid || closed {
            dead.push(ch.as_ptr());
        }
    }
    let (readable, wake) = UnixStream::pair().map_err(os_err)?;
    readable.set_nonblocking(true).map_err(os_err)?;
    wake.set_nonblocking(true).map_err(os_err)?;
    let fd = readable.as_raw_fd();
    let ch = Bound::new(
        py,
        LoopChannel {
            completer: Arc::new(Completer {
                queue: Mutex::new(Vec::new()),
                wake,
            }),
            readable,
            pid,
            event_loop: event_loop.clone().unbind(),
        },
    )?;
    event_loop.call_method1("add_reader", (fd, ch.getattr("_drain")?))?;
    let removed: Vec<Py<LoopChannel>> = {
        let mut chans = channels();
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut *chans)
            .into_iter()
            .partition(|c| dead.contains(&c.as_ptr()));
        *chans = keep;
        chans.push(ch.clone().unbind());
        gone
    };
    // Dropped here, outside the lock: releasing a loop can run Python finalizers.
    drop(removed);
    drop(snapshot);
    Ok(ch)
}

/// Spawn `work` on `runtime` for the running loop and return the asyncio future it will
/// resolve.
/// Cancelling that future aborts the task, which drops the request and its connection.
pub fn spawn_for_loop<'py, F>(
    py: Python<'py>,
    runtime: &tokio::runtime::Handle,
    work: F,
) -> PyResult<Bound<'py, PyAny>>
where
    F: std::future::Future<Output = Deliver> + Send + 'static,
{
    let event_loop = get_running_loop(py)?;
    let channel = channel_for(py, &event_loop)?;
    let completer = channel.get().completer.clone();
    let fut = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
    let fut_for_task = fut.clone().unbind();
    let handle = runtime.spawn(async move {
        let result = work.await;
        completer.complete(fut_for_task, result);
    });
    let abort = handle.abort_handle();
    let on_done = PyCFunction::new_closure(py, None, None, move |args, _kwargs| -> PyResult<()> {
        let f = args.get_item(0)?;
        if f.call_method0(pyo3::intern!(args.py(), "cancelled"))?
            .is_truthy()?
        {
            abort.abort();
        }
        Ok(())
    })?;
    fut.call_method1(pyo3::intern!(py, "add_done_callback"), (on_done,))?;
    Ok(fut)
}
