//! The crate's error type.
//!
//! Every fallible routine returns [`Error<E>`](Error), where `E` is the error
//! type of the user oracle it calls. Routines that call no oracle (patterns,
//! colorings, parsing an option) return the plain [`Error`] (`E =`
//! [`NoOracle`]), which converts into any `Error<E>` whose `E` is an error
//! type, so `?` mixes both:
//!
//! ```
//! use anydiff::sparse::{color_columns, Order, Pattern};
//! use anydiff::{jacobian_forward, oracle_fn, BatchPolicy, Error};
//! use ndarray::{ArrayView2, ArrayViewMut2};
//!
//! #[derive(Debug)]
//! struct Diverged;
//! impl std::fmt::Display for Diverged {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("the model diverged")
//!     }
//! }
//! impl std::error::Error for Diverged {}
//!
//! fn colors_and_jacobian() -> Result<usize, Error<Diverged>> {
//!     let pattern = Pattern::from_coo(2, 2, &[0, 1], &[0, 1])?; // a structural Error
//!     let mut jvp = oracle_fn(|t: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
//!         out.assign(&t);
//!         Ok::<(), Diverged>(())
//!     });
//!     let j = jacobian_forward(&mut jvp, 2, 2, &BatchPolicy::default())?; // Error<Diverged>
//!     assert_eq!(j[[1, 1]], 1.0);
//!     Ok(color_columns(&pattern, Order::Natural).ncolors)
//! }
//! assert_eq!(colors_and_jacobian().unwrap(), 1);
//! ```

use std::error::Error as StdError;
use std::fmt;

/// Errors returned by the routines of this crate.
///
/// `E` is the error type of the user oracle; routines that call no oracle
/// use the default [`NoOracle`], and infallible oracles
/// [`std::convert::Infallible`]. An oracle's error comes back unchanged in
/// [`Error::Oracle`] and is this error's [`source`](StdError::source).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E = NoOracle> {
    /// An error raised by a user oracle, passed through unchanged.
    Oracle(E),
    /// An array had the wrong shape or length.
    Shape {
        /// Which argument or quantity was wrong.
        what: String,
        /// What was expected.
        expected: String,
        /// What was found.
        got: String,
    },
    /// An argument had an invalid value.
    InvalidArgument(String),
    /// The computation stopped early because its [`crate::StopFlag`] was raised.
    Interrupted,
    /// Memory whose size the arguments decide could not be allocated
    /// (see [`crate::memory`]).
    OutOfMemory {
        /// What the memory was for, with its shape.
        what: String,
        /// The size asked for, in bytes.
        bytes: usize,
    },
}

/// The oracle error type of routines that call no oracle: it has no values,
/// so an `Error<NoOracle>` is never [`Error::Oracle`].
///
/// It deliberately does not implement [`std::error::Error`]: that keeps the
/// conversion `Error<NoOracle>` into `Error<E>` (for every error type `E`)
/// coherent, which is what lets `?` mix structural and oracle errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoOracle {}

impl fmt::Display for NoOracle {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

/// Oracle error types that [`Error`] can report as its
/// [`source`](StdError::source): every `std::error::Error + 'static` type,
/// and [`NoOracle`].
pub trait OracleError: fmt::Debug + fmt::Display {
    /// This error as the source of an [`Error::Oracle`].
    fn as_source(&self) -> Option<&(dyn StdError + 'static)>;
}

impl<E: StdError + 'static> OracleError for E {
    fn as_source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self)
    }
}

impl OracleError for NoOracle {
    fn as_source(&self) -> Option<&(dyn StdError + 'static)> {
        match *self {}
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Oracle(e) => e.fmt(f),
            Error::Shape {
                what,
                expected,
                got,
            } => write!(f, "{what}: expected {expected}, got {got}"),
            Error::InvalidArgument(msg) => f.write_str(msg),
            Error::Interrupted => f.write_str("interrupted"),
            Error::OutOfMemory { what, bytes } => write!(
                f,
                "cannot allocate {} for {what}",
                crate::memory::human_bytes(*bytes)
            ),
        }
    }
}

impl<E: OracleError> StdError for Error<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Oracle(e) => e.as_source(),
            _ => None,
        }
    }
}

impl<E: StdError + 'static> From<Error<NoOracle>> for Error<E> {
    fn from(e: Error<NoOracle>) -> Self {
        e.map_oracle(|never| match never {})
    }
}

impl<E> Error<E> {
    /// Builds an [`Error::Shape`].
    pub fn shape(
        what: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        Error::Shape {
            what: what.into(),
            expected: expected.into(),
            got: got.into(),
        }
    }

    /// Builds an [`Error::InvalidArgument`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    /// Maps the oracle error with `f`, keeping the other variants.
    pub fn map_oracle<F>(self, f: impl FnOnce(E) -> F) -> Error<F> {
        match self {
            Error::Oracle(e) => Error::Oracle(f(e)),
            Error::Shape {
                what,
                expected,
                got,
            } => Error::Shape {
                what,
                expected,
                got,
            },
            Error::InvalidArgument(msg) => Error::InvalidArgument(msg),
            Error::Interrupted => Error::Interrupted,
            Error::OutOfMemory { what, bytes } => Error::OutOfMemory { what, bytes },
        }
    }
}

impl<E> Error<Error<E>> {
    /// Collapses an error whose oracle error is itself an [`Error`] (as
    /// produced when a finite-difference adapter is used as an oracle).
    pub fn flatten(self) -> Error<E> {
        match self {
            Error::Oracle(inner) => inner,
            Error::Shape {
                what,
                expected,
                got,
            } => Error::Shape {
                what,
                expected,
                got,
            },
            Error::InvalidArgument(msg) => Error::InvalidArgument(msg),
            Error::Interrupted => Error::Interrupted,
            Error::OutOfMemory { what, bytes } => Error::OutOfMemory { what, bytes },
        }
    }
}

impl Error<NoOracle> {
    /// Converts a structural error into any `Error<E>`, also where `E` is
    /// not a [`std::error::Error`] (otherwise `?` or `into()` does it).
    pub fn widen<E>(self) -> Error<E> {
        self.map_oracle(|never| match never {})
    }
}

/// Formats a 2-D shape as `(rows, cols)` for error messages.
pub(crate) fn shape2(rows: usize, cols: usize) -> String {
    format!("({rows}, {cols})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    #[test]
    fn display_messages() {
        let e: Error<String> = Error::Oracle("boom".to_string());
        assert_eq!(e.to_string(), "boom");
        let e: Error<String> = Error::shape("out", "(2, 3)", "(3, 2)");
        assert_eq!(e.to_string(), "out: expected (2, 3), got (3, 2)");
        let e: Error<String> = Error::invalid("bad");
        assert_eq!(e.to_string(), "bad");
        assert_eq!(Error::<NoOracle>::Interrupted.to_string(), "interrupted");
    }

    #[test]
    fn map_flatten_widen() {
        let e: Error<i32> = Error::Oracle(3);
        assert_eq!(e.map_oracle(|v| v * 2), Error::Oracle(6));
        let nested: Error<Error<i32>> = Error::Oracle(Error::Oracle(7));
        assert_eq!(nested.flatten(), Error::Oracle(7));
        let nested: Error<Error<i32>> = Error::invalid("x");
        assert_eq!(nested.flatten(), Error::invalid("x"));
        let e: Error<Infallible> = Error::shape("a", "b", "c");
        let w: Error<u8> = e.map_oracle(|never| match never {});
        assert_eq!(w, Error::shape("a", "b", "c"));
        let e: Error = Error::invalid("d");
        let w: Error<u8> = e.widen();
        assert_eq!(w, Error::invalid("d"));
    }

    #[test]
    fn question_mark_mixes_structural_and_oracle_errors() {
        fn structural() -> Result<(), Error> {
            Err(Error::invalid("no"))
        }
        fn with_oracle() -> Result<(), Error<std::io::Error>> {
            structural()?;
            Ok(())
        }
        fn infallible_oracle() -> Result<(), Error<Infallible>> {
            structural()?;
            Ok(())
        }
        fn back_to_structural() -> Result<(), Error> {
            infallible_oracle().map_err(|e| e.map_oracle(|never| match never {}))
        }
        assert_eq!(with_oracle().unwrap_err().to_string(), "no");
        assert_eq!(back_to_structural(), Err(Error::invalid("no")));
        let boxed: Box<dyn StdError + Send + Sync> = structural().unwrap_err().into();
        assert_eq!(boxed.to_string(), "no");
    }

    #[test]
    fn the_oracle_error_is_the_source() {
        let io = std::io::Error::other("disk");
        let e: Error<std::io::Error> = Error::Oracle(io);
        assert_eq!(e.source().map(|s| s.to_string()), Some("disk".into()));
        let e: Error<std::io::Error> = Error::invalid("x");
        assert!(e.source().is_none());
    }
}
