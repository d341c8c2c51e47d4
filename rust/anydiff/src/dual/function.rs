//! [`VectorFunction`]: a function `R^n -> R^m` written once for every
//! number type, so that one definition serves dual numbers, plain floats,
//! finite differences and tracing.

use super::DualNum;
use crate::scalar::Scalar;

/// A function `y = f(x)` from `R^n` to `R^m`, generic over the number type.
///
/// Implement it on a type holding the function's parameters; the
/// [sparse Jacobian plan](crate::sparse::SparseJacobianPlan) then runs it
/// on `T` (finite differences), on dual numbers of a width it picks, and on
/// [`Tracer`](crate::ir::Tracer)s to detect the pattern and compile the
/// Jacobian. `eval` must write every element of `y` and must not branch on
/// the values of `x` where that changes which operations run (tracing
/// records one path; a comparison of traced values is refused).
///
/// ```
/// use anydiff::dual::{DualNum, VectorFunction};
///
/// /// y_i = c x_i^2 - x_{i+1}
/// struct Chain {
///     n: usize,
///     c: f64,
/// }
///
/// impl VectorFunction<f64> for Chain {
///     fn n_inputs(&self) -> usize {
///         self.n
///     }
///     fn n_outputs(&self) -> usize {
///         self.n - 1
///     }
///     fn eval<D: DualNum<f64> + Copy>(&self, x: &[D], y: &mut [D]) {
///         for i in 0..self.n - 1 {
///             y[i] = x[i].powi(2) * self.c - x[i + 1];
///         }
///     }
/// }
///
/// let mut y = [0.0; 2];
/// Chain { n: 3, c: 2.0 }.eval(&[1.0, 2.0, 3.0], &mut y);
/// assert_eq!(y, [0.0, 5.0]);
/// ```
pub trait VectorFunction<T: Scalar> {
    /// `n`, the length of `x`.
    fn n_inputs(&self) -> usize;
    /// `m`, the length of `y`.
    fn n_outputs(&self) -> usize;
    /// Writes `f(x)` into `y` (`x.len() == n`, `y.len() == m`).
    fn eval<D: DualNum<T> + Copy>(&self, x: &[D], y: &mut [D]);
}
