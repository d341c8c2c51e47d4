//! Dual numbers: forward-mode derivatives of plain Rust code.
//!
//! * [`Dual<T, N>`](Dual): a value and `N` tangent lanes (const generic,
//!   `Copy`, no allocation); implements [`num_traits::Float`], so code
//!   generic over `Float` (or this crate's [`Scalar`](crate::Scalar)) runs
//!   on it, and `Dual<Dual<f64, N>, M>` gives second derivatives.
//! * [`DualVec<T>`](DualVec): the same with a run-time number of lanes.
//! * [`Dual2Vec<T>`](Dual2Vec): value, gradient and Hessian over a
//!   run-time number of variables, in one pass.
//! * [`Elementary`]: arithmetic plus every elementary function with its
//!   derivative, for `f32`, `f64` and every dual type (recursively);
//!   [`DualNum<F>`](DualNum) adds arithmetic with plain `F` and is the
//!   bound to write generic functions against.
//! * [`VectorFunction`]: a function `R^n -> R^m` written once for every
//!   number type, the input of the sparse Jacobian plan.
//! * Helpers on functions of slices: [`derivative`], [`second_derivative`],
//!   [`gradient`], [`jacobian`], [`hessian`] (run-time sizes, results as
//!   `ndarray` arrays) and [`gradient_n`], [`jacobian_n`], [`hessian_n`]
//!   (sizes fixed at compile time, results as plain arrays, no
//!   allocation). Each returns the value first, then the derivatives.
//!
//! ```
//! use anydiff::dual::{gradient, hessian, DualNum};
//!
//! // f(x, y) = x^2 y + exp(y): grad = (2 x y, x^2 + exp(y)), H = [[2 y, 2 x], [2 x, exp(y)]]
//! fn f<D: DualNum<f64>>(v: &[D]) -> D {
//!     v[0].powi(2) * v[1].clone() + v[1].exp()
//! }
//! let (value, grad) = gradient(f, &[3.0, 0.0]);
//! assert_eq!(value, 1.0);
//! assert_eq!(grad.to_vec(), vec![0.0, 10.0]);
//! let (_, _, h) = hessian(f, &[3.0, 0.0]);
//! assert_eq!(h, ndarray::array![[0.0, 6.0], [6.0, 1.0]]);
//! ```
//!
//! Dual numbers print as `value + [tangents]ε`:
//!
//! ```
//! use anydiff::dual::{Dual, Elementary};
//!
//! let [x, y] = Dual::variables([1.0f64, 2.0]);
//! assert_eq!((x * y).to_string(), "2 + [2, 1]ε");
//! ```

mod api;
mod dynamic;
mod function;
mod functions;
mod number;
mod second;

pub use api::{
    derivative, gradient, gradient_n, hessian, hessian_n, jacobian, jacobian_n, second_derivative,
};
pub use dynamic::DualVec;
pub use function::VectorFunction;
pub use functions::{DualNum, Elementary};
pub use number::Dual;
pub use second::Dual2Vec;
