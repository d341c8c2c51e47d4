//! Running engine work so that Ctrl-C stops it and `fork()` cannot hang it.
//!
//! **Ctrl-C.** Python runs signal handlers on the main thread only, between
//! bytecodes; a thread inside Rust with the GIL released never gets there.
//! [`run`] therefore does long work on a helper thread with the GIL released
//! while the calling thread waits in steps of [`POLL`], taking the GIL
//! between steps for `PyErr_CheckSignals`. When a handler raises (Ctrl-C's
//! `KeyboardInterrupt`), the work's [`StopFlag`] is raised; the engine's
//! loops poll it between chunks of points ([`StopFlag::run`]), the work ends
//! within one chunk, and the call raises the handler's exception. Short work
//! is not worth a thread (tens of microseconds) and runs in place.
//!
//! Work that calls back into Python (assembly over a framework's blocks,
//! finite differences of a Python function) stays on the calling thread
//! instead, so that callbacks see the caller's thread-local state (JAX and
//! torch contexts): the oracles check for signals each time they take the
//! GIL (`oracle.rs`).
//!
//! **fork.** rayon's global pool does not survive `fork()`: the child
//! inherits a pool whose threads do not exist, and its first parallel loop
//! waits forever (multiprocessing forks by default on Linux). A
//! `pthread_atfork` handler counts forks; in a forked child, engine work runs
//! in a pool built for that process instead ([`engine`]).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use anydiff::{Error, StopFlag};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;
use rayon::ThreadPool;

use crate::error::panic_err;

/// How often the waiting thread checks for signals.
pub const POLL: Duration = Duration::from_millis(20);

/// Work below this cost (about one scalar operation per unit) runs with the
/// GIL held: releasing it costs more than the work.
pub const HOLD_GIL_BELOW: usize = 1 << 12;

/// Work from this cost on runs on a helper thread and can be interrupted;
/// below, it runs in place: a few milliseconds at most (under 100 ms even at
/// 5 ns per unit), while a helper thread costs tens of microseconds, a tenth
/// of a compiled batch of 10^5 small points.
pub const WATCH_FROM: usize = 1 << 24;

/// Forks this process has gone through (counted in the child).
static FORKS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn after_fork_in_child() {
    // only an atomic store: async-signal-safe, as a fork handler must be
    FORKS.fetch_add(1, Ordering::SeqCst);
}

/// Registers the fork handler (once per process, at module import).
pub fn register_fork_handler() -> PyResult<()> {
    // SAFETY: the handler only increments an atomic.
    let rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    if rc != 0 {
        return Err(PyRuntimeError::new_err(format!(
            "pthread_atfork failed with error {rc}"
        )));
    }
    Ok(())
}

/// The pool of a forked child and the fork count it was built at (leaked:
/// after a further fork its threads no longer exist, so it is never dropped).
struct ChildPool {
    forks: usize,
    pool: ThreadPool,
}

static CHILD_POOL: AtomicPtr<ChildPool> = AtomicPtr::new(ptr::null_mut());

/// The pool for this forked process, built on first use.
fn child_pool(forks: usize) -> PyResult<&'static ThreadPool> {
    let current = CHILD_POOL.load(Ordering::Acquire);
    // SAFETY: pointers stored in CHILD_POOL come from Box::leak and are never freed
    if let Some(p) = unsafe { current.as_ref() } {
        if p.forks == forks {
            return Ok(&p.pool);
        }
    }
    let pool = rayon::ThreadPoolBuilder::new().build().map_err(|e| {
        PyRuntimeError::new_err(format!(
            "cannot start the engine's threads in this forked process: {e}"
        ))
    })?;
    let fresh: &'static mut ChildPool = Box::leak(Box::new(ChildPool { forks, pool }));
    match CHILD_POOL.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Ok(&fresh.pool),
        // another thread installed one first: use it (ours stays leaked, idle)
        Err(winner) => {
            // SAFETY: as above
            match unsafe { winner.as_ref() } {
                Some(p) if p.forks == forks => Ok(&p.pool),
                _ => Ok(&fresh.pool),
            }
        }
    }
}

/// Runs `f` where rayon's parallel loops work: in place (rayon's global pool)
/// in the process that imported anydiff, in a pool of its own in a forked
/// child.
pub fn engine<R: Send>(f: impl FnOnce() -> R + Send) -> PyResult<R> {
    match FORKS.load(Ordering::SeqCst) {
        0 => Ok(f()),
        forks => Ok(child_pool(forks)?.install(f)),
    }
}

/// Runs engine work that costs about `cost` scalar operations and calls no
/// Python: with the GIL held when tiny, with it released otherwise, and from
/// [`WATCH_FROM`] on on a helper thread while this thread checks for
/// signals (see the module docs). A panic in the work is `InternalError`.
pub fn run<R: Send>(
    py: Python<'_>,
    cost: usize,
    work: impl FnOnce() -> PyResult<R> + Send,
) -> PyResult<R> {
    if cost < HOLD_GIL_BELOW {
        return engine(work)?;
    }
    if cost < WATCH_FROM {
        return py.detach(|| engine(work))?;
    }
    py.detach(|| watched(work))
}

/// What the helper thread hands back: the work's result, or its panic.
type Outcome<R> = std::thread::Result<PyResult<Result<PyResult<R>, Error>>>;

/// [`run`]'s helper-thread path (called with the GIL released).
fn watched<R: Send>(work: impl FnOnce() -> PyResult<R> + Send) -> PyResult<R> {
    let flag = StopFlag::new();
    let (tx, rx) = mpsc::sync_channel::<Outcome<R>>(1);
    // the work stays here until the helper takes it, so that it can still run
    // in place when no thread can be started
    let slot = Mutex::new(Some(work));
    let take = || slot.lock().ok().and_then(|mut w| w.take());
    std::thread::scope(|s| {
        let (worker_flag, take) = (flag.clone(), &take);
        let spawned = std::thread::Builder::new()
            .name("anydiff-work".into())
            .spawn_scoped(s, move || {
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    engine(|| {
                        worker_flag.run(|| match take() {
                            Some(work) => Ok(work()),
                            None => Err(Error::invalid("the engine's work was already taken")),
                        })
                    })
                }));
                let _ = tx.send(outcome);
            });
        if spawned.is_err() {
            // no thread to be had: run in place, without Ctrl-C
            return match take() {
                Some(work) => engine(work)?,
                None => Err(PyRuntimeError::new_err("cannot run the engine's work")),
            };
        }
        let mut signal: Option<PyErr> = None;
        let outcome = loop {
            match rx.recv_timeout(POLL) {
                Ok(outcome) => break outcome,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if signal.is_none() {
                        if let Err(e) = Python::attach(|py| py.check_signals()) {
                            flag.raise();
                            signal = Some(e);
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break Err(Box::new("the engine's thread ended without a result"))
                }
            }
        };
        if let Some(e) = signal {
            return Err(e);
        }
        match outcome {
            Ok(Ok(Ok(result))) => result,
            Ok(Ok(Err(Error::Interrupted))) => Err(PyKeyboardInterrupt::new_err("interrupted")),
            Ok(Ok(Err(e))) => Err(crate::error::core_err(e)),
            Ok(Err(e)) => Err(e),
            Err(payload) => Err(panic_err(payload)),
        }
    })
}
