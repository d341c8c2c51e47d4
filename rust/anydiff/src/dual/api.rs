//! Derivatives of plain functions: gradients, Jacobians and Hessians by
//! evaluating the function once on dual numbers.
//!
//! Functions are written once, generic over the number type, e.g.
//! `fn f<D: DualNum<f64>>(x: &[D]) -> D`, and passed by name; each helper
//! instantiates them with the dual type it needs.
//!
//! One return convention: the value comes first, then the derivatives in
//! increasing order. Sizes known at run time give `ndarray` arrays
//! (`Array1` vectors, `Array2` matrices, `m x n` for a Jacobian); sizes
//! fixed at compile time (the `_n` helpers) give plain arrays (`[T; N]`,
//! `[[T; N]; M]`) and allocate nothing.

use ndarray::{Array1, Array2};

use super::{Dual, Dual2Vec, DualVec, Elementary};
use crate::scalar::Scalar;

/// Value and first derivative of a scalar function: one evaluation on
/// `Dual<T, 1>`.
///
/// ```
/// use anydiff::dual::{derivative, DualNum};
///
/// // d/dx [x^3 / ln x] at x = e is 3 e^2 - e^2 = 2 e^2
/// fn f<D: DualNum<f64>>(x: D) -> D {
///     x.powi(3) / x.ln()
/// }
/// let e = std::f64::consts::E;
/// let (v, d) = derivative(f, e);
/// assert!((v - e.powi(3)).abs() < 1e-12);
/// assert!((d - 2.0 * e * e).abs() < 1e-12);
/// ```
pub fn derivative<T, F>(f: F, x: T) -> (T, T)
where
    T: Scalar + Elementary<Real = T>,
    F: FnOnce(Dual<T, 1>) -> Dual<T, 1>,
{
    let r = f(Dual::seeded(x, 0));
    let [d] = r.eps;
    (r.re, d)
}

/// Value, first and second derivative of a scalar function: one evaluation
/// on the nested dual `Dual<Dual<T, 1>, 1>`.
///
/// ```
/// use anydiff::dual::{second_derivative, DualNum};
///
/// // f = x sin x: f' = sin x + x cos x, f'' = 2 cos x - x sin x
/// fn f<D: DualNum<f64>>(x: D) -> D {
///     x.sin() * x
/// }
/// let x = 0.7f64;
/// let (v, d, dd) = second_derivative(f, x);
/// assert!((v - x * x.sin()).abs() < 1e-15);
/// assert!((d - (x.sin() + x * x.cos())).abs() < 1e-15);
/// assert!((dd - (2.0 * x.cos() - x * x.sin())).abs() < 1e-15);
/// ```
pub fn second_derivative<T, F>(f: F, x: T) -> (T, T, T)
where
    T: Scalar + Elementary<Real = T>,
    F: FnOnce(Dual<Dual<T, 1>, 1>) -> Dual<Dual<T, 1>, 1>,
{
    let r = f(Dual::seeded(Dual::seeded(x, 0), 0));
    let [inner] = r.re.eps;
    let [outer] = r.eps;
    let [dd] = outer.eps;
    (r.re.re, inner, dd)
}

/// Value and gradient of `f: R^n -> R`: one evaluation on [`DualVec`] with
/// `n` lanes (cost about `n + 1` evaluations of `f` in floating point).
///
/// ```
/// use anydiff::dual::{gradient, DualNum};
///
/// // Rosenbrock f = (1 - x)^2 + 100 (y - x^2)^2 at (-1.2, 1):
/// // grad = (-2 (1 - x) - 400 x (y - x^2), 200 (y - x^2)) = (-215.6, -88)
/// fn rosenbrock<D: DualNum<f64>>(v: &[D]) -> D {
///     let (x, y) = (v[0].clone(), v[1].clone());
///     (-x.clone() + 1.0).powi(2) + (y - x.powi(2)).powi(2) * 100.0
/// }
/// let (f, g) = gradient(rosenbrock, &[-1.2f64, 1.0]);
/// assert!((f - 24.2).abs() < 1e-12);
/// assert!((g[0] + 215.6).abs() < 1e-12 && (g[1] + 88.0).abs() < 1e-12);
/// ```
pub fn gradient<T, F>(f: F, x: &[T]) -> (T, Array1<T>)
where
    T: Scalar + Elementary<Real = T>,
    F: FnOnce(&[DualVec<T>]) -> DualVec<T>,
{
    let n = x.len();
    let r = f(&DualVec::variables(x));
    (r.re, Array1::from_shape_fn(n, |i| r.lane(i)))
}

/// Value and gradient of `f: R^N -> R` for a size fixed at compile time:
/// one evaluation on `Dual<T, N>` (no allocation).
///
/// ```
/// use anydiff::dual::gradient_n;
/// use num_traits::Float;
///
/// // any code generic over num_traits::Float works: f = x y z + sin x
/// fn f<D: Float>(v: &[D]) -> D {
///     v[0] * v[1] * v[2] + v[0].sin()
/// }
/// let (v, g) = gradient_n(f, [1.0f64, 2.0, 3.0]);
/// assert!((v - (6.0 + 1f64.sin())).abs() < 1e-15);
/// assert_eq!(g, [6.0 + 1f64.cos(), 3.0, 2.0]);
/// ```
pub fn gradient_n<T, const N: usize, F>(f: F, x: [T; N]) -> (T, [T; N])
where
    T: Scalar + Elementary<Real = T>,
    F: FnOnce(&[Dual<T, N>]) -> Dual<T, N>,
{
    let r = f(&Dual::variables(x));
    (r.re, r.eps)
}

/// Values and the `m x n` Jacobian of `f: R^n -> R^m`: one forward
/// evaluation on [`DualVec`] with `n` lanes (one lane per input).
///
/// ```
/// use anydiff::dual::{jacobian, DualNum};
/// use ndarray::array;
///
/// // Lotka-Volterra: inputs (x, y, a, b, c, d), outputs (a x - b x y, c x y - d y)
/// fn lv<D: DualNum<f64>>(p: &[D]) -> Vec<D> {
///     let [x, y, a, b, c, d] = [0, 1, 2, 3, 4, 5].map(|i| p[i].clone());
///     let xy = x.clone() * y.clone();
///     vec![a * x - b * xy.clone(), c * xy - d * y]
/// }
/// let (x, y, a, b, c, d) = (1.5f64, 0.5, 1.1, 0.4, 0.1, 0.4);
/// let (vals, jac) = jacobian(lv, &[x, y, a, b, c, d]);
/// assert_eq!(vals, array![a * x - b * x * y, c * x * y - d * y]);
/// let exact = array![
///     [a - b * y, -b * x, x, -x * y, 0.0, 0.0],
///     [c * y, c * x - d, 0.0, 0.0, x * y, -y],
/// ];
/// assert!((&jac - &exact).iter().all(|e| e.abs() < 1e-15));
/// ```
pub fn jacobian<T, F>(f: F, x: &[T]) -> (Array1<T>, Array2<T>)
where
    T: Scalar + Elementary<Real = T>,
    F: FnOnce(&[DualVec<T>]) -> Vec<DualVec<T>>,
{
    let n = x.len();
    let ys = f(&DualVec::variables(x));
    let jac = Array2::from_shape_fn((ys.len(), n), |(i, j)| ys[i].lane(j));
    (ys.into_iter().map(|y| y.re).collect(), jac)
}

/// Values and the `M x N` Jacobian of `f: R^N -> R^M` for sizes fixed at
/// compile time: one evaluation on `Dual<T, N>`, no allocation.
///
/// ```
/// use anydiff::dual::{jacobian_n, DualNum};
///
/// // polar to Cartesian: (r cos t, r sin t)
/// fn polar<D: DualNum<f64> + Copy>(p: &[D]) -> [D; 2] {
///     let (s, c) = p[1].sin_cos();
///     [p[0] * c, p[0] * s]
/// }
/// let (r, t) = (2.0f64, 0.3f64);
/// let (xy, jac) = jacobian_n(polar, [r, t]);
/// assert_eq!(xy, [r * t.cos(), r * t.sin()]);
/// let exact = [[t.cos(), -r * t.sin()], [t.sin(), r * t.cos()]];
/// for i in 0..2 {
///     for j in 0..2 {
///         assert!((jac[i][j] - exact[i][j]).abs() < 1e-15);
///     }
/// }
/// ```
pub fn jacobian_n<T, const N: usize, const M: usize, F>(f: F, x: [T; N]) -> ([T; M], [[T; N]; M])
where
    T: Scalar + Elementary<Real = T>,
    F: FnOnce(&[Dual<T, N>]) -> [Dual<T, N>; M],
{
    let ys = f(&Dual::variables(x));
    (ys.map(|y| y.re), ys.map(|y| y.eps))
}

/// Value, gradient and `n x n` Hessian of `f: R^n -> R`: one evaluation on
/// [`Dual2Vec`], which carries the value, the gradient and the Hessian's
/// lower triangle together (each operation costs about `n^2 / 2`
/// multiply-adds and one allocation).
///
/// ```
/// use anydiff::dual::{hessian, DualNum};
///
/// // Rosenbrock at (-1.2, 1): H = [[2 - 400 (y - x^2) + 800 x^2, -400 x], [-400 x, 200]]
/// fn rosenbrock<D: DualNum<f64>>(v: &[D]) -> D {
///     let (x, y) = (v[0].clone(), v[1].clone());
///     (-x.clone() + 1.0).powi(2) + (y - x.powi(2)).powi(2) * 100.0
/// }
/// let (f, g, h) = hessian(rosenbrock, &[-1.2f64, 1.0]);
/// assert!((f - 24.2).abs() < 1e-12);
/// assert!((g[0] + 215.6).abs() < 1e-12 && (g[1] + 88.0).abs() < 1e-12);
/// let exact = [[1330.0, 480.0], [480.0, 200.0]];
/// for i in 0..2 {
///     for j in 0..2 {
///         assert!((h[(i, j)] - exact[i][j]).abs() < 1e-10);
///     }
/// }
/// ```
pub fn hessian<T, F>(f: F, x: &[T]) -> (T, Array1<T>, Array2<T>)
where
    T: Scalar + Elementary<Real = T>,
    F: FnOnce(&[Dual2Vec<T>]) -> Dual2Vec<T>,
{
    let n = x.len();
    let r = f(&Dual2Vec::variables(x));
    let grad = Array1::from_shape_fn(n, |i| r.grad(i));
    let hess = Array2::from_shape_fn((n, n), |(i, j)| r.hessian(i, j));
    (r.value(), grad, hess)
}

/// Value, gradient and Hessian of `f: R^N -> R` for a size fixed at compile
/// time: one evaluation on `Dual<Dual<T, N>, N>` (outer lanes over inner
/// lanes: `(N + 1)^2` numbers per intermediate, no allocation).
///
/// ```
/// use anydiff::dual::hessian_n;
/// use num_traits::Float;
///
/// // f = exp(x) y^2: H = [[e^x y^2, 2 e^x y], [2 e^x y, 2 e^x]]
/// fn f<D: Float>(v: &[D]) -> D {
///     v[0].exp() * v[1] * v[1]
/// }
/// let (v, g, h) = hessian_n(f, [0.0f64, 3.0]);
/// assert_eq!((v, g), (9.0, [9.0, 6.0]));
/// assert_eq!(h, [[9.0, 6.0], [6.0, 2.0]]);
/// ```
pub fn hessian_n<T, const N: usize, F>(f: F, x: [T; N]) -> (T, [T; N], [[T; N]; N])
where
    T: Scalar + Elementary<Real = T>,
    F: FnOnce(&[Dual<Dual<T, N>, N>]) -> Dual<Dual<T, N>, N>,
{
    let mut i = 0;
    let xs = x.map(|v| {
        let d = Dual::seeded(Dual::seeded(v, i), i);
        i += 1;
        d
    });
    let r = f(&xs);
    let hess = std::array::from_fn(|i| std::array::from_fn(|j| r.eps[j].eps[i]));
    (r.re.re, r.re.eps, hess)
}
