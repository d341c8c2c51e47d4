//! Dense Hessian assembly from HVP oracles, and in-place symmetrisation.

use ndarray::{s, Array2, ArrayViewMut2};

use crate::assemble::batch::BatchPolicy;
use crate::assemble::oracle::Hvp;
use crate::error::{shape2, Error};
use crate::memory::try_zeros;
use crate::scalar::Scalar;
use crate::stop::StopFlag;

/// Replaces a square matrix by `(H + H^T) / 2` in place (no allocation).
///
/// Returns [`Error::Shape`] when `out` is not square.
///
/// ```
/// use ndarray::array;
/// let mut h = array![[1.0, 2.0], [4.0, 3.0]];
/// anydiff::symmetrize_in_place(h.view_mut()).unwrap();
/// assert_eq!(h, array![[1.0, 3.0], [3.0, 3.0]]);
/// ```
pub fn symmetrize_in_place<T: Scalar>(mut out: ArrayViewMut2<'_, T>) -> Result<(), Error> {
    let (rows, cols) = out.dim();
    if rows != cols {
        return Err(Error::shape(
            "matrix to symmetrize",
            "a square matrix",
            shape2(rows, cols),
        ));
    }
    let half = T::one() / (T::one() + T::one());
    // Walk the upper triangle in square tiles so that the mirrored reads of the lower
    // triangle stay in cache; elementwise indexing would stride through memory.
    const TILE: usize = 64;
    for bi in (0..rows).step_by(TILE) {
        for bj in (bi..cols).step_by(TILE) {
            for i in bi..(bi + TILE).min(rows) {
                let j0 = if bi == bj { i + 1 } else { bj };
                for j in j0..(bj + TILE).min(cols) {
                    let mean = (out[[i, j]] + out[[j, i]]) * half;
                    out[[i, j]] = mean;
                    out[[j, i]] = mean;
                }
            }
        }
    }
    Ok(())
}

/// Fills `out` (`n x n`) with the Hessian from column blocks of HVPs
/// ([`Hvp::hvp_basis`] writing rows `start..stop`, the transposed columns), then
/// symmetrises it. Nothing is called when `n == 0`; the current [`StopFlag`]
/// is checked before each block.
///
/// ```
/// use anydiff::{hessian_from_hvp_into, oracle_fn, BatchPolicy};
/// use ndarray::{array, Array2};
/// // f(x) = x0^2 x1 at x = (1, 2): H = [[2 x1, 2 x0], [2 x0, 0]] = [[4, 2], [2, 0]]
/// let mut hvp = oracle_fn(|t: ndarray::ArrayView2<f64>, mut out: ndarray::ArrayViewMut2<f64>| {
///     for (v, mut o) in t.rows().into_iter().zip(out.rows_mut()) {
///         o[0] = 4.0 * v[0] + 2.0 * v[1];
///         o[1] = 2.0 * v[0];
///     }
///     Ok::<(), std::convert::Infallible>(())
/// });
/// let mut h = Array2::zeros((2, 2));
/// hessian_from_hvp_into(&mut hvp, &BatchPolicy::default(), h.view_mut()).unwrap();
/// assert_eq!(h, array![[4.0, 2.0], [2.0, 0.0]]);
/// ```
pub fn hessian_from_hvp_into<T: Scalar, O: Hvp<T>>(
    oracle: &mut O,
    policy: &BatchPolicy,
    mut out: ArrayViewMut2<'_, T>,
) -> Result<(), Error<O::Error>> {
    let (rows, n) = out.dim();
    if rows != n {
        return Err(Error::shape(
            "Hessian output",
            "a square (n, n) array",
            shape2(rows, n),
        ));
    }
    if n == 0 {
        return Ok(());
    }
    // H e_j is column j of H; it is written as row j (contiguous) because the
    // symmetrisation below makes the two placements equal.
    for block in policy.blocks(n, n, n, std::mem::size_of::<T>()) {
        StopFlag::check_current()?;
        let start = block.start;
        let rows = out.slice_mut(s![block, ..]);
        oracle.hvp_basis(n, start, rows).map_err(Error::Oracle)?;
    }
    symmetrize_in_place(out).map_err(Error::widen)
}

/// Allocating [`hessian_from_hvp_into`]: the symmetrised `n x n` Hessian.
pub fn hessian_from_hvp<T: Scalar, O: Hvp<T>>(
    oracle: &mut O,
    n: usize,
    policy: &BatchPolicy,
) -> Result<Array2<T>, Error<O::Error>> {
    let mut out = try_zeros("the Hessian", (n, n))?;
    hessian_from_hvp_into(oracle, policy, out.view_mut())?;
    Ok(out)
}
