//! Stopping long computations from outside: a shared flag that loops poll
//! between chunks of work.
//!
//! Long routines (assembly loops, batches of points, coloring searches)
//! return [`Error::Interrupted`] soon after their flag is raised. Searches
//! that take a budget take a [`StopFlag`] argument; the others (the IR
//! engine's chunks of points, the blocks of an assembly, finite
//! differences) poll the flag that [`StopFlag::run`] installs on the calling
//! thread, so that their signatures stay as they are. The Python bindings
//! raise the flag when Ctrl-C arrives, so that a `KeyboardInterrupt` stops
//! the work within a fraction of a second and leaves the process usable.
//!
//! ```
//! use anydiff::StopFlag;
//!
//! let flag = StopFlag::new();
//! let seen_by_worker = flag.clone();
//! assert!(seen_by_worker.check::<()>().is_ok());
//! flag.raise();
//! assert!(seen_by_worker.check::<()>().is_err());
//! ```

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::Error;

/// A flag shared between the caller and the threads doing the work; clones
/// see the same flag.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A new, lowered flag.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every holder of the flag to stop.
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Error::Interrupted)` once the flag is raised: for `?` between
    /// chunks of work.
    pub fn check<E>(&self) -> Result<(), Error<E>> {
        if self.is_raised() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Runs `work` with this flag as the calling thread's current flag
    /// ([`StopFlag::current`]), which the crate's long loops started by
    /// `work` on this thread poll between chunks. Whatever `work` returns,
    /// the result is `Err(Error::Interrupted)` when the flag was raised by
    /// the time it returned: a loop that stopped early leaves its outputs
    /// incomplete, and they never pass for a result.
    ///
    /// ```
    /// use anydiff::{Error, StopFlag};
    ///
    /// let flag = StopFlag::new();
    /// let done = flag.run(|| {
    ///     assert!(StopFlag::current().is_some());
    ///     Ok::<_, Error<()>>(42)
    /// });
    /// assert_eq!(done, Ok(42));
    /// assert!(StopFlag::current().is_none());
    /// let stopped = flag.run(|| {
    ///     flag.raise();
    ///     Ok::<_, Error<()>>(0)
    /// });
    /// assert_eq!(stopped, Err(Error::Interrupted));
    /// ```
    pub fn run<R, E>(&self, work: impl FnOnce() -> Result<R, Error<E>>) -> Result<R, Error<E>> {
        /// Restores the previous flag, also when `work` unwinds.
        struct Restore(Option<StopFlag>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        let _restore = Restore(previous);
        let out = work();
        self.check()?;
        out
    }

    /// The flag installed on this thread by the innermost [`StopFlag::run`]
    /// (`None` outside one). Parallel loops read it on the calling thread
    /// and hand it to their workers.
    pub fn current() -> Option<StopFlag> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// `Err(Error::Interrupted)` when this thread's current flag is raised;
    /// `Ok` when it is lowered or there is none.
    pub fn check_current<E>() -> Result<(), Error<E>> {
        CURRENT.with(|c| match &*c.borrow() {
            Some(flag) => flag.check(),
            None => Ok(()),
        })
    }
}

thread_local! {
    static CURRENT: RefCell<Option<StopFlag>> = const { RefCell::new(None) };
}
