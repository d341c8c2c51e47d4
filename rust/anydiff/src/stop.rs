//! Stopping long computations from outside: a shared flag that loops poll
//! between chunks of work.
//!
//! Long routines (assembly loops, batches of points, coloring searches)
//! take a [`StopFlag`] and return [`Error::Interrupted`] soon after it is
//! raised. The Python bindings raise it when Ctrl-C arrives, so that a
//! `KeyboardInterrupt` stops the work within a fraction of a second and
//! leaves the process usable.
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
}
