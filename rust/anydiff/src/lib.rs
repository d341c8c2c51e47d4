//! Derivatives for Rust code: dual numbers, dense and sparse Jacobians and
//! Hessians, finite differences, assembly from derivative oracles, and an
//! expression-graph engine. (It is also the core of the anydiff Python
//! library, but has no Python in it.)
//!
//! # What is where
//!
//! | need | use |
//! |---|---|
//! | derivatives of a Rust function written once, generically | [`dual`]: [`Dual`], [`DualVec`], [`Dual2Vec`]; [`dual::gradient`], [`dual::jacobian`], [`dual::hessian`] and their const-size `_n` forms |
//! | a sparse Jacobian at many points | [`SparseJacobianPlan`] of a [`VectorFunction`]: pattern detected or given, coloring and decompression prepared once, no allocation per call |
//! | patterns, colorings, decompression by hand | [`sparse`]: [`Pattern`], [`sparse::color_columns`], [`sparse::decompress_columns`], star/acyclic colorings for Hessians |
//! | a program of your function: global sparsity, compiled sparse Jacobians, many points at once | [`ir`] (feature `ir`, on by default): [`ir::trace`] records a generic function, or build [`Program`]s from [`ir::Op`]s |
//! | Jacobians/Hessians from products you already have (JVP, VJP, HVP) | [`jacobian_forward`], [`jacobian_reverse`], [`hessian_from_hvp`] with a [`BatchPolicy`] |
//! | finite differences of a batched function | [`FiniteDiff`] with a [`Scheme`] |
//!
//! `use anydiff::prelude::*;` brings the traits and types most code needs.
//! Every fallible routine returns [`Error<E>`](Error) (`E`: the error of
//! your oracle; the plain [`Error`] for routines that call none, which `?`
//! converts into any `Error<E>`). [`ndarray`] is re-exported, at the
//! version this crate's signatures use.
//!
//! # Quick start
//!
//! A dense Jacobian from a closure, by forward mode on dual numbers:
//!
//! ```
//! use anydiff::dual::jacobian;
//! use anydiff::prelude::*;
//!
//! // f(x) = [x0 * x1, sin(x0)] at (1, 2): J = [[2, 1], [cos 1, 0]]
//! let (y, j) = jacobian(|x: &[DualVec<f64>]| vec![x[0].clone() * x[1].clone(), x[0].sin()], &[1.0, 2.0]);
//! assert_eq!(y[0], 2.0);
//! assert_eq!(j, anydiff::ndarray::array![[2.0, 1.0], [1f64.cos(), 0.0]]);
//! ```
//!
//! A gradient and a Hessian from one generic function:
//!
//! ```
//! use anydiff::dual::{gradient_n, hessian};
//! use anydiff::prelude::*;
//!
//! fn rosenbrock<D: DualNum<f64>>(v: &[D]) -> D {
//!     let (x, y) = (v[0].clone(), v[1].clone());
//!     (-x.clone() + 1.0).powi(2) + (y - x.powi(2)).powi(2) * 100.0
//! }
//! let (f, g) = gradient_n(rosenbrock, [1.0, 1.0]); // Dual<f64, 2>, no allocation
//! assert_eq!((f, g), (0.0, [0.0, 0.0]));
//! let (_, _, h) = hessian(rosenbrock, &[1.0, 1.0]); // Dual2Vec, one pass
//! assert_eq!(h, anydiff::ndarray::array![[802.0, -400.0], [-400.0, 200.0]]);
//! ```
//!
//! Jacobians assembled from batched oracles (here closures), and by
//! central differences of the batched primal:
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
//!
//! # Conventions
//!
//! Oracle blocks are batch-leading and row-major (`k` seeds of length `n`
//! form a `k x n` view whose row `i` is seed `i`); a Jacobian is `m x n`
//! (`m` outputs, `n` inputs); sparse values follow the CSR order of their
//! [`Pattern`]. Everything is generic over a [`Scalar`] (`f32` or `f64`).
//!
//! # Features
//!
//! * `ir` (default): the [`ir`] module, pattern detection by tracing and
//!   the compiled engine of [`SparseJacobianPlan`]; brings `rayon`. Without
//!   it (`default-features = false`) the crate depends on `ndarray` and
//!   `num-traits` only.

#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod assemble;
pub mod dual;
mod error;
mod finite_diff;
#[cfg(feature = "ir")]
pub mod ir;
/// Allocation sized by user input, checked before it is tried (used by the bindings).
#[doc(hidden)]
pub mod memory;
mod scalar;
pub mod sparse;
mod stop;

pub use ndarray;

pub use assemble::{
    hessian_from_hvp, hessian_from_hvp_into, jacobian_forward, jacobian_forward_into,
    jacobian_reverse, jacobian_reverse_into, oracle_fn, pick_mode, seeds_block,
    symmetrize_in_place, BatchPolicy, Hvp, Jvp, Mode, Primal, Vjp, WithBasis,
    DEFAULT_MEMORY_CAP_BYTES,
};
pub use dual::{Dual, Dual2Vec, DualNum, DualVec, Elementary, VectorFunction};
pub use error::{Error, NoOracle, OracleError};
pub use finite_diff::{FdJvp, FiniteDiff, Scheme};
#[cfg(feature = "ir")]
pub use ir::{Program, Tracer};
pub use scalar::Scalar;
pub use sparse::{Coloring, ColoringKind, Engine, Order, Pattern, SparseJacobianPlan};
pub use stop::StopFlag;

/// The traits and types most code needs: `use anydiff::prelude::*;`.
///
/// Functions stay in their modules (`dual::gradient`, `sparse::color_columns`,
/// `ir::trace`, the assembly functions at the crate root).
///
/// ```
/// use anydiff::prelude::*;
///
/// fn square<D: DualNum<f64>>(x: D) -> D {
///     x.powi(2)
/// }
/// let [x] = Dual::variables([3.0]);
/// assert_eq!(square(x).eps, [6.0]);
/// ```
pub mod prelude {
    pub use crate::dual::{Dual, Dual2Vec, DualNum, DualVec, Elementary, VectorFunction};
    #[cfg(feature = "ir")]
    pub use crate::ir::{Program, Tracer};
    pub use crate::sparse::{Engine, Pattern, SparseJacobianPlan};
    pub use crate::{
        BatchPolicy, Error, FiniteDiff, Hvp, Jvp, Primal, Scalar, Scheme, StopFlag, Vjp,
    };
}

/// The crate README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
