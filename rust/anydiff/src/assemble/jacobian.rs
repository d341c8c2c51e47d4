//! Dense Jacobian assembly from JVP (column blocks) or VJP (row blocks) oracles.

use ndarray::{s, Array2, ArrayViewMut2};

use crate::assemble::batch::BatchPolicy;
use crate::assemble::oracle::{Jvp, Vjp};
use crate::error::Error;
use crate::memory::try_zeros;
use crate::scalar::Scalar;
use crate::stop::StopFlag;

/// Fills `out` (`m x n`) with the Jacobian, one column block per
/// [`Jvp::jvp_basis`] call.
///
/// The oracle writes straight into the transposed column block
/// `out[:, start..stop].t()` (a `k x m`, generally strided view). Nothing is
/// called when `m == 0` or `n == 0`. Before each block the thread's current
/// [`StopFlag`] is checked ([`StopFlag::run`]).
///
/// ```
/// use anydiff::{jacobian_forward_into, oracle_fn, BatchPolicy};
/// use ndarray::{array, Array2};
/// // f(x) = [x0 * x1, 3 x0] at x = (2, 5): J = [[5, 2], [3, 0]]
/// let mut jvp = oracle_fn(|t: ndarray::ArrayView2<f64>, mut out: ndarray::ArrayViewMut2<f64>| {
///     for (v, mut o) in t.rows().into_iter().zip(out.rows_mut()) {
///         o[0] = 5.0 * v[0] + 2.0 * v[1];
///         o[1] = 3.0 * v[0];
///     }
///     Ok::<(), std::convert::Infallible>(())
/// });
/// let mut j = Array2::zeros((2, 2));
/// jacobian_forward_into(&mut jvp, &BatchPolicy::default(), j.view_mut()).unwrap();
/// assert_eq!(j, array![[5.0, 2.0], [3.0, 0.0]]);
/// ```
pub fn jacobian_forward_into<T: Scalar, O: Jvp<T>>(
    oracle: &mut O,
    policy: &BatchPolicy,
    mut out: ArrayViewMut2<'_, T>,
) -> Result<(), Error<O::Error>> {
    let (m, n) = out.dim();
    if m == 0 || n == 0 {
        return Ok(());
    }
    for block in policy.blocks(n, n, m, std::mem::size_of::<T>()) {
        StopFlag::check_current()?;
        let start = block.start;
        let cols = out.slice_mut(s![.., block]).reversed_axes();
        oracle.jvp_basis(n, start, cols).map_err(Error::Oracle)?;
    }
    Ok(())
}

/// Fills `out` (`m x n`) with the Jacobian, one row block per
/// [`Vjp::vjp_basis`] call writing straight into `out[start..stop, :]`.
/// Nothing is called when `m == 0` or `n == 0`; the current [`StopFlag`] is
/// checked before each block.
///
/// ```
/// use anydiff::{jacobian_reverse_into, oracle_fn, BatchPolicy};
/// use ndarray::{array, Array2};
/// // f(x) = [x0 * x1, 3 x0] at x = (2, 5): J = [[5, 2], [3, 0]]
/// let mut vjp = oracle_fn(|c: ndarray::ArrayView2<f64>, mut out: ndarray::ArrayViewMut2<f64>| {
///     for (w, mut o) in c.rows().into_iter().zip(out.rows_mut()) {
///         o[0] = 5.0 * w[0] + 3.0 * w[1];
///         o[1] = 2.0 * w[0];
///     }
///     Ok::<(), std::convert::Infallible>(())
/// });
/// let mut j = Array2::zeros((2, 2));
/// jacobian_reverse_into(&mut vjp, &BatchPolicy::default(), j.view_mut()).unwrap();
/// assert_eq!(j, array![[5.0, 2.0], [3.0, 0.0]]);
/// ```
pub fn jacobian_reverse_into<T: Scalar, O: Vjp<T>>(
    oracle: &mut O,
    policy: &BatchPolicy,
    mut out: ArrayViewMut2<'_, T>,
) -> Result<(), Error<O::Error>> {
    let (m, n) = out.dim();
    if m == 0 || n == 0 {
        return Ok(());
    }
    for block in policy.blocks(m, m, n, std::mem::size_of::<T>()) {
        StopFlag::check_current()?;
        let start = block.start;
        let rows = out.slice_mut(s![block, ..]);
        oracle.vjp_basis(m, start, rows).map_err(Error::Oracle)?;
    }
    Ok(())
}

/// Allocating [`jacobian_forward_into`]: the `m x n` Jacobian of
/// `f: R^n -> R^m` from JVPs ([`Error::OutOfMemory`] when it cannot be had).
pub fn jacobian_forward<T: Scalar, O: Jvp<T>>(
    oracle: &mut O,
    n: usize,
    m: usize,
    policy: &BatchPolicy,
) -> Result<Array2<T>, Error<O::Error>> {
    let mut out = try_zeros("the Jacobian", (m, n))?;
    jacobian_forward_into(oracle, policy, out.view_mut())?;
    Ok(out)
}

/// Allocating [`jacobian_reverse_into`]: the `m x n` Jacobian of
/// `f: R^n -> R^m` from VJPs ([`Error::OutOfMemory`] when it cannot be had).
pub fn jacobian_reverse<T: Scalar, O: Vjp<T>>(
    oracle: &mut O,
    n: usize,
    m: usize,
    policy: &BatchPolicy,
) -> Result<Array2<T>, Error<O::Error>> {
    let mut out = try_zeros("the Jacobian", (m, n))?;
    jacobian_reverse_into(oracle, policy, out.view_mut())?;
    Ok(out)
}
