//! Fallible allocation for sizes that the caller decides.
//!
//! A size that comes from an argument (a Jacobian's shape, a pattern's number
//! of rows, a batch of points) is multiplied out with checked arithmetic
//! first — a shape whose bytes do not fit in `isize` is
//! [`Error::InvalidArgument`], as numpy's "array is too big" — and then
//! allocated with `try_reserve`, so that memory the machine cannot give is
//! [`Error::OutOfMemory`] naming the size instead of an abort.
//!
//! ```
//! use anydiff::memory::try_zeros;
//! use anydiff::Error;
//!
//! let small = try_zeros::<f64, _, ()>("a Jacobian", (2, 3)).unwrap();
//! assert_eq!(small.shape(), &[2, 3]);
//! let huge = try_zeros::<f64, _, ()>("a Jacobian", (1 << 40, 1 << 40));
//! assert!(matches!(huge, Err(Error::InvalidArgument(_))));
//! ```

use ndarray::{Array, Dimension, IntoDimension};
use num_traits::Zero;

use crate::error::Error;

/// `(a, b, c)`, or `(a,)` for one axis: a shape as numpy prints it.
pub fn shape_str(dims: &[usize]) -> String {
    match dims {
        [one] => format!("({one},)"),
        _ => {
            let parts: Vec<String> = dims.iter().map(usize::to_string).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// A byte count for messages: `8 B`, `1.5 KiB`, `298.0 GiB`.
pub fn human_bytes(bytes: usize) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

/// The number of elements of an array of shape `dims` with elements of
/// `elem_bytes` bytes, or [`Error::InvalidArgument`] when its size in bytes
/// does not fit in `isize` (no allocator can give it).
pub fn checked_len<E>(what: &str, dims: &[usize], elem_bytes: usize) -> Result<usize, Error<E>> {
    let too_big = || {
        Error::invalid(format!(
            "{what} of shape {} is too large: its {}-byte elements exceed the largest \
             possible allocation ({} bytes)",
            shape_str(dims),
            elem_bytes,
            isize::MAX
        ))
    };
    let len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(too_big)?;
    match len.checked_mul(elem_bytes.max(1)) {
        Some(bytes) if isize::try_from(bytes).is_ok() => Ok(len),
        _ => Err(too_big()),
    }
}

/// `len` copies of `value`, or [`Error::OutOfMemory`] (what: `what`) when the
/// memory cannot be had.
pub fn try_vec<T: Clone, E>(what: &str, len: usize, value: T) -> Result<Vec<T>, Error<E>> {
    let mut v = Vec::new();
    reserve(&mut v, len, what)?;
    v.resize(len, value);
    Ok(v)
}

/// Reserves room for `additional` more elements in `v`, or
/// [`Error::OutOfMemory`] naming `what`.
pub fn reserve<T, E>(v: &mut Vec<T>, additional: usize, what: &str) -> Result<(), Error<E>> {
    v.try_reserve_exact(additional)
        .map_err(|_| Error::OutOfMemory {
            what: what.to_string(),
            bytes: additional.saturating_mul(std::mem::size_of::<T>()),
        })
}

/// A zeroed array of `shape`, or an error naming `what` and the shape: too
/// large to address ([`Error::InvalidArgument`]) or not available
/// ([`Error::OutOfMemory`]).
pub fn try_zeros<T, Sh, E>(what: &str, shape: Sh) -> Result<Array<T, Sh::Dim>, Error<E>>
where
    T: Clone + Zero,
    Sh: IntoDimension,
{
    let dim = shape.into_dimension();
    let dims = dim.slice().to_vec();
    let len = checked_len(what, &dims, std::mem::size_of::<T>())?;
    let data = try_vec(
        &format!("{what} of shape {}", shape_str(&dims)),
        len,
        T::zero(),
    )?;
    Array::from_shape_vec(dim, data)
        .map_err(|e| Error::invalid(format!("{what}: internal shape error: {e}")))
}

/// Checks that an array of shape `dims` (elements of `elem_bytes` bytes) can
/// be allocated now, by allocating and releasing it (untouched, so no page is
/// written): for memory that another library will allocate, such as a
/// framework's whole Jacobian, whose failure there would abort the process.
pub fn ensure_allocatable<E>(
    what: &str,
    dims: &[usize],
    elem_bytes: usize,
) -> Result<(), Error<E>> {
    let len = checked_len(what, dims, elem_bytes)?;
    let bytes = len.saturating_mul(elem_bytes);
    let mut probe: Vec<u8> = Vec::new();
    reserve(
        &mut probe,
        bytes,
        &format!("{what} of shape {}", shape_str(dims)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    #[test]
    fn sizes_and_messages() {
        assert_eq!(shape_str(&[3]), "(3,)");
        assert_eq!(shape_str(&[2, 3]), "(2, 3)");
        assert_eq!(human_bytes(8), "8 B");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
        assert_eq!(checked_len::<Infallible>("x", &[2, 3], 8), Ok(6));
        assert_eq!(checked_len::<Infallible>("x", &[], 8), Ok(1));
        assert_eq!(checked_len::<Infallible>("x", &[0, usize::MAX], 8), Ok(0));
        let err = checked_len::<Infallible>("the Jacobian", &[1 << 40, 1 << 40], 8).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(ref m) if m.contains("(1099511627776, 1099511627776)"))
        );
        assert!(checked_len::<Infallible>("x", &[1 << 60], 8).is_err());
    }

    #[test]
    fn zeros_and_failures() {
        let a = try_zeros::<f32, _, Infallible>("a", (2, 2)).unwrap();
        assert_eq!(a.sum(), 0.0);
        // 2^58 bytes fit isize but no machine has them
        let err = try_zeros::<f64, _, Infallible>("the block", (1 << 27, 1 << 28)).unwrap_err();
        match err {
            Error::OutOfMemory { what, bytes } => {
                assert_eq!(bytes, 1 << 58);
                assert!(
                    what.contains("the block of shape (134217728, 268435456)"),
                    "{what}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(ensure_allocatable::<Infallible>("x", &[1 << 55], 8).is_err());
        assert!(ensure_allocatable::<Infallible>("x", &[1 << 10], 8).is_ok());
        let msg = Error::<Infallible>::OutOfMemory {
            what: "w".into(),
            bytes: 3 << 30,
        }
        .to_string();
        assert_eq!(msg, "cannot allocate 3.0 GiB for w");
    }
}
