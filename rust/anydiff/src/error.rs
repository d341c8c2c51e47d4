//! The crate's error type.

use std::convert::Infallible;

/// Errors returned by assembly and finite-difference routines.
///
/// `E` is the error type of the user oracle; infallible oracles use
/// [`std::convert::Infallible`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error<E> {
    /// An error raised by a user oracle, passed through unchanged.
    #[error("{0}")]
    Oracle(E),
    /// An array had the wrong shape or length.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which argument or quantity was wrong.
        what: String,
        /// What was expected.
        expected: String,
        /// What was found.
        got: String,
    },
    /// An argument had an invalid value.
    #[error("{0}")]
    InvalidArgument(String),
    /// The computation stopped early because its [`crate::StopFlag`] was raised.
    #[error("interrupted")]
    Interrupted,
    /// Memory whose size the arguments decide could not be allocated
    /// (see [`crate::memory`]).
    #[error("cannot allocate {} for {what}", crate::memory::human_bytes(*bytes))]
    OutOfMemory {
        /// What the memory was for, with its shape.
        what: String,
        /// The size asked for, in bytes.
        bytes: usize,
    },
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

impl Error<Infallible> {
    /// Converts an error that cannot hold an oracle error into any `Error<E>`.
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

    #[test]
    fn display_messages() {
        let e: Error<String> = Error::Oracle("boom".to_string());
        assert_eq!(e.to_string(), "boom");
        let e: Error<String> = Error::shape("out", "(2, 3)", "(3, 2)");
        assert_eq!(e.to_string(), "out: expected (2, 3), got (3, 2)");
        let e: Error<String> = Error::invalid("bad");
        assert_eq!(e.to_string(), "bad");
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
        let w: Error<u8> = e.widen();
        assert_eq!(w, Error::shape("a", "b", "c"));
    }
}
