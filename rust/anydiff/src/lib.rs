//! Core of **anydiff**: dense Jacobians and Hessians assembled from batched
//! derivative oracles (JVP, VJP, HVP) or from finite differences of a
//! batched primal function.
//!
//! Conventions (relied upon by the Python bindings): every block is
//! batch-leading and row-major — `k` seeds of length `n` form a `k x n` view
//! whose row `i` is seed `i` — and a Jacobian is `m x n` (`m` outputs, `n`
//! inputs). Everything is generic over a [`Scalar`] (`f32` or `f64`);
//! oracles are closures `FnMut(ArrayView2<T>, ArrayViewMut2<T>) -> Result<(), E>`
//! or any type implementing [`Jvp`], [`Vjp`], [`Hvp`] or [`Primal`], and their
//! errors come back unchanged as [`Error::Oracle`].
//!
//! ```
//! use anydiff::{jacobian_forward, jacobian_reverse, oracle_fn, BatchPolicy, FiniteDiff, Scheme};
//! use ndarray::{array, ArrayView2, ArrayViewMut2};
//! use std::convert::Infallible;
//!
//! // f(x) = [x0 * x1, sin(x0)] at x = (1, 2): J = [[2, 1], [cos 1, 0]]
//! let (x0, x1) = (1.0f64, 2.0f64);
//! let jac = array![[x1, x0], [x0.cos(), 0.0]];
//! let mut jvp = oracle_fn(|t: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
//!     out.assign(&t.dot(&jac.t()));
//!     Ok::<(), Infallible>(())
//! });
//! let policy = BatchPolicy::default();
//! let j = jacobian_forward(&mut jvp, 2, 2, &policy).unwrap();
//! assert_eq!(j, jac);
//!
//! let mut vjp = oracle_fn(|c: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
//!     out.assign(&c.dot(&jac));
//!     Ok::<(), Infallible>(())
//! });
//! assert_eq!(jacobian_reverse(&mut vjp, 2, 2, &policy).unwrap(), jac);
//!
//! // the same Jacobian by central differences of the batched primal
//! let mut f = oracle_fn(|p: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
//!     for (x, mut o) in p.rows().into_iter().zip(out.rows_mut()) {
//!         o[0] = x[0] * x[1];
//!         o[1] = x[0].sin();
//!     }
//!     Ok::<(), Infallible>(())
//! });
//! let fd = FiniteDiff::new(Scheme::Central);
//! let j_fd = fd.jacobian(&mut f, array![x0, x1].view(), None, 2, &policy).unwrap();
//! assert!((&j_fd - &jac).iter().all(|d| d.abs() < 1e-9));
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod assemble;
pub mod dual;
pub mod error;
pub mod finite_diff;
#[cfg(feature = "ir")]
pub mod ir;
pub mod scalar;
pub mod sparse;
pub mod stop;

pub use assemble::{
    hessian_from_hvp, hessian_from_hvp_into, jacobian_forward, jacobian_forward_into,
    jacobian_reverse, jacobian_reverse_into, oracle_fn, pick_mode, seeds_block,
    symmetrize_in_place, BatchPolicy, Hvp, Jvp, Mode, Primal, Vjp, WithBasis,
    DEFAULT_MEMORY_CAP_BYTES,
};
pub use dual::{Dual, Dual2Vec, DualNum, DualVec, Elementary};
pub use error::Error;
pub use finite_diff::{FdJvp, FiniteDiff, Scheme};
#[cfg(feature = "ir")]
pub use ir::Program;
pub use scalar::Scalar;
pub use sparse::{
    color_acyclic, color_columns, color_columns_best, color_rows, color_rows_best, color_star,
    color_symmetric_best, decompress_acyclic, decompress_columns, decompress_rows, decompress_star,
    Coloring, ColoringKind, Order, Pattern,
};
pub use stop::StopFlag;
