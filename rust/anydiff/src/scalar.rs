//! The scalar bound shared by every generic routine.

use num_traits::Float;

/// Floating-point element type of every array (implemented for `f32` and `f64`).
pub trait Scalar: Float + Send + Sync + 'static {}

impl<T: Float + Send + Sync + 'static> Scalar for T {}

/// Converts an `f64` constant to `T` (NaN if it cannot be represented, which
/// does not happen for `f32`/`f64`).
pub(crate) fn cast<T: Scalar>(v: f64) -> T {
    T::from(v).unwrap_or_else(T::nan)
}
