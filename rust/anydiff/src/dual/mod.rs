//! Dual numbers: forward-mode derivatives of plain Rust code.
//!
//! * [`Dual<T, N>`](Dual): a value and `N` tangent lanes (const generic,
//!   `Copy`, no allocation); implements [`num_traits::Float`], so code
//!   generic over `Float` (or this crate's [`Scalar`](crate::Scalar)) runs
//!   on it, and `Dual<Dual<f64, N>, M>` gives second derivatives.
//! * [`DualVec<T>`](DualVec): the same with a run-time number of lanes.
//! * [`Elementary`]: arithmetic plus every elementary function with its
//!   derivative, for `f32`, `f64`, `Dual` and `DualVec` (recursively);
//!   [`DualNum<F>`](DualNum) adds arithmetic with plain `F` and is the
//!   bound to write generic functions against.
//! * Helpers on functions of slices: [`derivative`], [`second_derivative`],
//!   [`gradient`], [`jacobian`], [`hessian`] (run-time sizes, `DualVec`) and
//!   [`gradient_n`], [`jacobian_n`], [`hessian_n`] (const sizes, `Dual`).
//!
//! ```
//! use anydiff::dual::{gradient, DualNum};
//!
//! // f(x, y) = x^2 y + exp(y): grad = (2 x y, x^2 + exp(y))
//! fn f<D: DualNum<f64>>(v: &[D]) -> D {
//!     v[0].powi(2) * v[1].clone() + v[1].exp()
//! }
//! let (value, grad) = gradient(f, &[3.0, 0.0]);
//! assert_eq!(value, 1.0);
//! assert_eq!(grad, vec![0.0, 10.0]);
//! ```

mod api;
mod dynamic;
mod functions;
mod number;
mod special;

pub use api::{
    derivative, gradient, gradient_n, hessian, hessian_n, jacobian, jacobian_n, second_derivative,
};
pub use dynamic::DualVec;
pub use functions::{DualNum, Elementary};
pub use number::Dual;
