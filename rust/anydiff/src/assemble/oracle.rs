//! Oracle traits (JVP, VJP, HVP, batched primal) and their closure impls.
//!
//! Every block is batch-leading and row-major: `k` tangents for an input of
//! size `n` form a `k x n` view whose row `i` is tangent `i`. Outputs may be
//! strided views (for example the transpose of a column block of a Jacobian),
//! so implementations must write elementwise or with `assign`, never assume
//! contiguity.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::scalar::Scalar;

/// The `k x n` block of standard basis vectors `e_start .. e_{start+k}`.
///
/// Row `i` is `e_{start+i}`; rows whose index `start + i` is `>= n` are zero.
///
/// ```
/// let b = anydiff::seeds_block::<f64>(4, 1, 2);
/// assert_eq!(b, ndarray::array![[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]);
/// ```
pub fn seeds_block<T: Scalar>(n: usize, start: usize, k: usize) -> Array2<T> {
    let mut seeds = Array2::zeros((k, n));
    for (i, mut row) in seeds.rows_mut().into_iter().enumerate() {
        if let Some(slot) = start.checked_add(i).and_then(|j| row.get_mut(j)) {
            *slot = T::one();
        }
    }
    seeds
}

/// Jacobian-vector products of a function `f: R^n -> R^m`.
pub trait Jvp<T: Scalar> {
    /// Error raised by the oracle.
    type Error;

    /// `out[i, :] = J @ tangents[i, :]`; `tangents` is `k x n`, `out` is `k x m`.
    fn jvp(
        &mut self,
        tangents: ArrayView2<'_, T>,
        out: ArrayViewMut2<'_, T>,
    ) -> Result<(), Self::Error>;

    /// JVPs against `e_start .. e_{start+k}` (`k = out.nrows()`), i.e. columns
    /// `start .. start+k` of `J`, written as rows of `out` (`k x m`).
    ///
    /// The default materialises the basis block with [`seeds_block`] and
    /// calls [`Jvp::jvp`]; oracles that can build basis seeds themselves
    /// override it.
    fn jvp_basis(
        &mut self,
        n: usize,
        start: usize,
        out: ArrayViewMut2<'_, T>,
    ) -> Result<(), Self::Error> {
        let seeds = seeds_block::<T>(n, start, out.nrows());
        self.jvp(seeds.view(), out)
    }
}

/// Vector-Jacobian products of a function `f: R^n -> R^m`.
pub trait Vjp<T: Scalar> {
    /// Error raised by the oracle.
    type Error;

    /// `out[i, :] = cotangents[i, :] @ J`; `cotangents` is `k x m`, `out` is `k x n`.
    fn vjp(
        &mut self,
        cotangents: ArrayView2<'_, T>,
        out: ArrayViewMut2<'_, T>,
    ) -> Result<(), Self::Error>;

    /// VJPs against `e_start .. e_{start+k}` of `R^m` (`k = out.nrows()`), i.e.
    /// rows `start .. start+k` of `J`. The default materialises the basis
    /// block and calls [`Vjp::vjp`].
    fn vjp_basis(
        &mut self,
        m: usize,
        start: usize,
        out: ArrayViewMut2<'_, T>,
    ) -> Result<(), Self::Error> {
        let seeds = seeds_block::<T>(m, start, out.nrows());
        self.vjp(seeds.view(), out)
    }
}

/// Hessian-vector products of a scalar function `f: R^n -> R`.
pub trait Hvp<T: Scalar> {
    /// Error raised by the oracle.
    type Error;

    /// `out[i, :] = H @ tangents[i, :]`; both `k x n`.
    fn hvp(
        &mut self,
        tangents: ArrayView2<'_, T>,
        out: ArrayViewMut2<'_, T>,
    ) -> Result<(), Self::Error>;

    /// HVPs against `e_start .. e_{start+k}` (`k = out.nrows()`), i.e.
    /// columns `start .. start+k` of `H`. The default materialises the basis
    /// block and calls [`Hvp::hvp`].
    fn hvp_basis(
        &mut self,
        n: usize,
        start: usize,
        out: ArrayViewMut2<'_, T>,
    ) -> Result<(), Self::Error> {
        let seeds = seeds_block::<T>(n, start, out.nrows());
        self.hvp(seeds.view(), out)
    }
}

/// Batched evaluation of a function `f: R^n -> R^m`.
pub trait Primal<T: Scalar> {
    /// Error raised by the oracle.
    type Error;

    /// Evaluates `f` at `k` points: `out[i, :] = f(points[i, :])`;
    /// `points` is `k x n`, `out` is `k x m`.
    fn eval(
        &mut self,
        points: ArrayView2<'_, T>,
        out: ArrayViewMut2<'_, T>,
    ) -> Result<(), Self::Error>;
}

/// Implements a dense oracle trait for every matching closure.
macro_rules! closure_impls {
    ($($tr:ident :: $method:ident),* $(,)?) => {$(
        impl<T: Scalar, E, F> $tr<T> for F
        where
            F: FnMut(ArrayView2<'_, T>, ArrayViewMut2<'_, T>) -> Result<(), E>,
        {
            type Error = E;

            fn $method(
                &mut self,
                input: ArrayView2<'_, T>,
                out: ArrayViewMut2<'_, T>,
            ) -> Result<(), E> {
                self(input, out)
            }
        }
    )*};
}

closure_impls!(Jvp::jvp, Vjp::vjp, Hvp::hvp, Primal::eval);

/// Pins a closure's signature to the dense-oracle shape
/// `FnMut(ArrayView2<T>, ArrayViewMut2<T>) -> Result<(), E>`, so that its
/// argument types need no annotations.
///
/// ```
/// use anydiff::{oracle_fn, Jvp};
/// use std::convert::Infallible;
/// let mut double = oracle_fn(|t, mut out| {
///     out.assign(&(&t * 2.0));
///     Ok::<(), Infallible>(())
/// });
/// let mut out = ndarray::Array2::<f64>::zeros((1, 2));
/// double.jvp(ndarray::array![[1.0, 2.0]].view(), out.view_mut()).unwrap();
/// assert_eq!(out, ndarray::array![[2.0, 4.0]]);
/// ```
pub fn oracle_fn<T, E, F>(f: F) -> F
where
    T: Scalar,
    F: FnMut(ArrayView2<'_, T>, ArrayViewMut2<'_, T>) -> Result<(), E>,
{
    f
}

/// A basis-aware oracle: a dense closure plus a closure that fills the
/// products against `e_start ..` itself (`FnMut(start, out)`).
///
/// Implements [`Jvp`], [`Vjp`] and [`Hvp`]: the dense closure serves the
/// dense method, the basis closure the `*_basis` method.
#[derive(Debug, Clone)]
pub struct WithBasis<F, G> {
    /// Dense products: `FnMut(seeds k x len, out k x out_len)`.
    pub dense: F,
    /// Basis products: `FnMut(start, out k x out_len)`.
    pub basis: G,
}

impl<F, G> WithBasis<F, G> {
    /// Bundles a dense and a basis closure (and pins their signatures).
    pub fn new<T, E>(dense: F, basis: G) -> Self
    where
        T: Scalar,
        F: FnMut(ArrayView2<'_, T>, ArrayViewMut2<'_, T>) -> Result<(), E>,
        G: FnMut(usize, ArrayViewMut2<'_, T>) -> Result<(), E>,
    {
        WithBasis { dense, basis }
    }
}

/// Implements a basis-aware oracle trait for [`WithBasis`].
macro_rules! with_basis_impls {
    ($($tr:ident :: $method:ident / $basis:ident),* $(,)?) => {$(
        impl<T: Scalar, E, F, G> $tr<T> for WithBasis<F, G>
        where
            F: FnMut(ArrayView2<'_, T>, ArrayViewMut2<'_, T>) -> Result<(), E>,
            G: FnMut(usize, ArrayViewMut2<'_, T>) -> Result<(), E>,
        {
            type Error = E;

            fn $method(
                &mut self,
                input: ArrayView2<'_, T>,
                out: ArrayViewMut2<'_, T>,
            ) -> Result<(), E> {
                (self.dense)(input, out)
            }

            fn $basis(
                &mut self,
                _len: usize,
                start: usize,
                out: ArrayViewMut2<'_, T>,
            ) -> Result<(), E> {
                (self.basis)(start, out)
            }
        }
    )*};
}

with_basis_impls!(
    Jvp::jvp / jvp_basis,
    Vjp::vjp / vjp_basis,
    Hvp::hvp / hvp_basis
);

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use std::convert::Infallible;

    #[test]
    fn seeds_block_clips_past_n() {
        let b = seeds_block::<f32>(3, 2, 2);
        assert_eq!(b, array![[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]);
        let b = seeds_block::<f64>(0, 0, 0);
        assert_eq!(b.shape(), &[0, 0]);
    }

    #[test]
    fn default_basis_uses_dense() {
        // J = [[1, 2], [3, 4], [5, 6]]
        let a = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let mut f = oracle_fn(|t: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
            out.assign(&t.dot(&a.t()));
            Ok::<(), Infallible>(())
        });
        let mut out = Array2::zeros((1, 3));
        f.jvp_basis(2, 1, out.view_mut()).unwrap();
        assert_eq!(out, array![[2.0, 4.0, 6.0]]);
    }

    #[test]
    fn with_basis_routes_calls() {
        let mut dense_calls = 0;
        let mut basis_calls = 0;
        {
            let mut o = WithBasis::new(
                |_t: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
                    dense_calls += 1;
                    out.fill(1.0);
                    Ok::<(), Infallible>(())
                },
                |start, mut out: ArrayViewMut2<f64>| {
                    basis_calls += 1;
                    out.fill(start as f64);
                    Ok(())
                },
            );
            let mut out = Array2::zeros((2, 2));
            Jvp::jvp_basis(&mut o, 2, 1, out.view_mut()).unwrap();
            assert_eq!(out, array![[1.0, 1.0], [1.0, 1.0]]);
            Vjp::vjp(&mut o, Array2::zeros((2, 2)).view(), out.view_mut()).unwrap();
            Hvp::hvp_basis(&mut o, 2, 0, out.view_mut()).unwrap();
            assert_eq!(out, Array2::<f64>::zeros((2, 2)));
        }
        assert_eq!((dense_calls, basis_calls), (1, 2));
    }
}
