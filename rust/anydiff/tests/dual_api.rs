//! The dual-number helpers (gradient, Jacobian, Hessian) against analytic
//! answers and finite differences, including random compositions (proptest).

use anydiff::dual::{
    derivative, gradient, gradient_n, hessian, hessian_n, jacobian, jacobian_n, second_derivative,
    Dual, DualNum, DualVec, Elementary,
};
use ndarray::Array2;
use num_traits::Float;
use proptest::prelude::*;

/// Extended Rosenbrock: sum 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2.
fn rosenbrock<D: DualNum<f64>>(x: &[D]) -> D {
    x.windows(2).fold(D::from_f64(0.0), |acc, w| {
        let t = w[1].clone() - w[0].powi(2);
        let u = -w[0].clone() + 1.0;
        acc + t.powi(2) * 100.0 + u.powi(2)
    })
}

fn rosenbrock_grad(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    (0..n)
        .map(|i| {
            let mut g = 0.0;
            if i + 1 < n {
                g += -400.0 * x[i] * (x[i + 1] - x[i] * x[i]) - 2.0 * (1.0 - x[i]);
            }
            if i > 0 {
                g += 200.0 * (x[i] - x[i - 1] * x[i - 1]);
            }
            g
        })
        .collect()
}

fn rosenbrock_hess(x: &[f64]) -> Array2<f64> {
    let n = x.len();
    let mut h = Array2::zeros((n, n));
    for i in 0..n {
        if i + 1 < n {
            h[(i, i)] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0;
            h[(i, i + 1)] = -400.0 * x[i];
            h[(i + 1, i)] = -400.0 * x[i];
        }
        if i > 0 {
            h[(i, i)] += 200.0;
        }
    }
    h
}

fn max_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max)
}

#[test]
fn rosenbrock_gradient_and_hessian() {
    let x: Vec<f64> = (0..7).map(|i| -1.2 + 0.37 * i as f64).collect();
    let (f, g) = gradient(rosenbrock, &x);
    assert!((f - rosenbrock(&x)).abs() < 1e-12);
    let exact = rosenbrock_grad(&x);
    for (a, b) in g.iter().zip(&exact) {
        assert!((a - b).abs() < 1e-11, "{a} vs {b}");
    }
    let (f2, g2, h) = hessian(rosenbrock, &x);
    assert_eq!((f2, g2.clone()), (f, g.clone()));
    assert!(max_diff(&h, &rosenbrock_hess(&x)) < 1e-10);

    // const-size variants agree
    let xa: [f64; 7] = std::array::from_fn(|i| x[i]);
    let (fa, ga) = gradient_n(rosenbrock, xa);
    assert_eq!(fa, f);
    assert!(ga.iter().zip(&g).all(|(a, b)| (a - b).abs() < 1e-12));
    let (_, _, ha) = hessian_n(rosenbrock, xa);
    let ha = Array2::from_shape_fn((7, 7), |(i, j)| ha[i][j]);
    assert!(max_diff(&ha, &h) < 1e-10);
}

fn lotka_volterra<D: DualNum<f64>>(p: &[D]) -> Vec<D> {
    let [x, y, a, b, c, d] = [0, 1, 2, 3, 4, 5].map(|i| p[i].clone());
    let xy = x.clone() * y.clone();
    vec![a * x - b * xy.clone(), c * xy - d * y]
}

fn lv_exact(p: &[f64]) -> Array2<f64> {
    let (x, y, a, b, c, d) = (p[0], p[1], p[2], p[3], p[4], p[5]);
    ndarray::array![
        [a - b * y, -b * x, x, -x * y, 0.0, 0.0],
        [c * y, c * x - d, 0.0, 0.0, x * y, -y],
    ]
}

#[test]
fn lotka_volterra_jacobian() {
    for s in 0..20 {
        let t = s as f64 * 0.37;
        let p = [1.0 + t, 0.5 - t, 1.1, 0.4 + t, 0.1, 0.4 * t];
        let (vals, jac) = jacobian(lotka_volterra, &p);
        assert_eq!(vals.len(), 2);
        assert!(max_diff(&jac, &lv_exact(&p)) < 1e-14);
        let (vals_n, jac_n) = jacobian_n(lotka_volterra, p);
        assert_eq!(vals_n, vals);
        assert!(max_diff(&jac_n, &jac) == 0.0);
    }
}

#[test]
fn empty_and_degenerate_inputs() {
    let (f, g) = gradient(|_: &[_]| DualVec::constant(2.0), &[]);
    assert_eq!((f, g), (2.0, vec![]));
    let (f, g, h) = hessian(|_: &[Dual<DualVec<f64>, 1>]| Elementary::from_f64(3.0), &[]);
    assert_eq!((f, g.len(), h.dim()), (3.0, 0, (0, 0)));
    let (v, j) = jacobian(|_: &[DualVec<f64>]| vec![], &[1.0, 2.0]);
    assert!(v.is_empty() && j.dim() == (0, 2));
    // an output that ignores an input gets a zero column
    let (_, j) = jacobian(|x: &[DualVec<f64>]| vec![x[0].sin()], &[0.0, 5.0]);
    assert_eq!(j, ndarray::array![[1.0, 0.0]]);
}

#[test]
fn float_generic_code_runs_on_nested_duals() {
    // written against num_traits::Float only
    fn f<T: Float>(x: &[T]) -> T {
        let two = T::one() + T::one();
        (x[0] * x[1]).sin() + x[0].powf(two) * x[1].exp() + x[1].atan2(x[0])
    }
    let (x, y) = (0.8f64, -0.3f64);
    let (v, g, h) = hessian_n(f, [x, y]);
    assert!((v - f(&[x, y])).abs() < 1e-15);
    let r2 = x * x + y * y;
    let gx = y * (x * y).cos() + 2.0 * x * y.exp() - y / r2;
    let gy = x * (x * y).cos() + x * x * y.exp() + x / r2;
    assert!((g[0] - gx).abs() < 1e-14 && (g[1] - gy).abs() < 1e-14);
    let hxx = -y * y * (x * y).sin() + 2.0 * y.exp() + 2.0 * x * y / (r2 * r2);
    let hyy = -x * x * (x * y).sin() + x * x * y.exp() - 2.0 * x * y / (r2 * r2);
    let hxy =
        (x * y).cos() - x * y * (x * y).sin() + 2.0 * x * y.exp() + (y * y - x * x) / (r2 * r2);
    assert!((h[0][0] - hxx).abs() < 1e-13 && (h[1][1] - hyy).abs() < 1e-13);
    assert!((h[0][1] - hxy).abs() < 1e-13 && (h[1][0] - hxy).abs() < 1e-13);
    // and through this crate's Scalar bound
    fn g2<T: anydiff::Scalar>(x: T) -> T {
        x.tanh() * x
    }
    let (_, d) = derivative(g2, 0.4f64);
    let t = 0.4f64.tanh();
    assert!((d - (t + 0.4 * (1.0 - t * t))).abs() < 1e-15);
    let (_, _, dd) = second_derivative(g2, 0.4f64);
    let want = 2.0 * (1.0 - t * t) - 2.0 * 0.4 * t * (1.0 - t * t);
    assert!((dd - want).abs() < 1e-14);
}

#[test]
fn f32_helpers() {
    fn f<D: DualNum<f32>>(x: &[D]) -> D {
        x[0].exp() * x[1].clone() - x[1].sqrt()
    }
    let (v, g) = gradient(f, &[0.5f32, 4.0]);
    assert!((v - (0.5f32.exp() * 4.0 - 2.0)).abs() < 1e-5);
    assert!((g[0] - 0.5f32.exp() * 4.0).abs() < 1e-5);
    assert!((g[1] - (0.5f32.exp() - 0.25)).abs() < 1e-6);
    let (_, _, h) = hessian(f, &[0.5f32, 4.0]);
    assert!((h[(0, 0)] - 0.5f32.exp() * 4.0).abs() < 1e-5);
    assert!((h[(0, 1)] - 0.5f32.exp()).abs() < 1e-6 && (h[(1, 0)] - 0.5f32.exp()).abs() < 1e-6);
    assert!((h[(1, 1)] - 0.25 / 8.0).abs() < 1e-6);
}

/// A random composition of elementary functions of three inputs.
fn compose<D: DualNum<f64>>(ops: &[u8], x: &[D]) -> D {
    let mut s = x[0].clone();
    for (k, op) in ops.iter().enumerate() {
        let v = x[k % 3].clone();
        s = match op % 10 {
            0 => s * v,
            1 => s.sin() + v,
            2 => (s.powi(2) + 1.0).sqrt() - v,
            3 => s.tanh() * v,
            4 => (s * 0.1).exp() + v.cos(),
            5 => s.atan2(&(v.powi(2) + 0.5)),
            6 => s / (v.powi(2) + 1.0),
            7 => s.hypot(&v) + s.erf(),
            8 => (s.powi(2) + v.powi(2) + 1.0).ln(),
            _ => s.mul_add(&v, &v.atan()),
        };
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn gradient_matches_finite_differences(
        ops in proptest::collection::vec(0u8..10, 1..7),
        x in proptest::collection::vec(-2.0f64..2.0, 3),
    ) {
        let (f, g) = gradient(|v| compose(&ops, v), &x);
        prop_assert!((f - compose(&ops, &x)).abs() <= 1e-12 * (1.0 + f.abs()));
        let (_, g_n) = gradient_n(|v| compose(&ops, v), [x[0], x[1], x[2]]);
        for i in 0..3 {
            prop_assert!((g[i] - g_n[i]).abs() <= 1e-12 * (1.0 + g[i].abs()));
            let h = 1e-6;
            let mut xp = x.clone();
            let mut xm = x.clone();
            xp[i] += h;
            xm[i] -= h;
            let fd = (compose(&ops, &xp) - compose(&ops, &xm)) / (2.0 * h);
            prop_assert!((g[i] - fd).abs() <= 1e-5 * (1.0 + fd.abs()), "lane {i}: {} vs {fd}", g[i]);
        }
    }

    #[test]
    fn hessian_is_symmetric_and_matches_gradient_differences(
        ops in proptest::collection::vec(0u8..10, 1..5),
        x in proptest::collection::vec(-1.5f64..1.5, 3),
    ) {
        let (_, g, h) = hessian(|v| compose(&ops, v), &x);
        let (_, g0) = gradient(|v| compose(&ops, v), &x);
        prop_assert_eq!(&g, &g0);
        for j in 0..3 {
            let step = 1e-6;
            let mut xp = x.clone();
            let mut xm = x.clone();
            xp[j] += step;
            xm[j] -= step;
            let (_, gp) = gradient(|v| compose(&ops, v), &xp);
            let (_, gm) = gradient(|v| compose(&ops, v), &xm);
            for i in 0..3 {
                let fd = (gp[i] - gm[i]) / (2.0 * step);
                prop_assert!((h[(i, j)] - fd).abs() <= 1e-4 * (1.0 + fd.abs()), "H[{i},{j}]: {} vs {fd}", h[(i, j)]);
                prop_assert!((h[(i, j)] - h[(j, i)]).abs() <= 1e-9 * (1.0 + h[(i, j)].abs()));
            }
        }
    }
}
