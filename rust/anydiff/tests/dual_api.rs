//! The dual-number helpers (gradient, Jacobian, Hessian) against analytic
//! answers and finite differences, including random compositions (proptest).

use anydiff::dual::{
    derivative, gradient, gradient_n, hessian, hessian_n, jacobian, jacobian_n, second_derivative,
    Dual, Dual2Vec, DualNum, DualVec, Elementary,
};
use ndarray::{Array1, Array2};
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

fn lotka_volterra<D: DualNum<f64>>(p: &[D]) -> [D; 2] {
    let [x, y, a, b, c, d] = [0, 1, 2, 3, 4, 5].map(|i| p[i].clone());
    let xy = x.clone() * y.clone();
    [a * x - b * xy.clone(), c * xy - d * y]
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
        let (vals, jac) = jacobian(|v| lotka_volterra(v).to_vec(), &p);
        assert_eq!(vals.len(), 2);
        assert!(max_diff(&jac, &lv_exact(&p)) < 1e-14);
        let (vals_n, jac_n) = jacobian_n(lotka_volterra, p);
        assert_eq!(Array1::from(vals_n.to_vec()), vals);
        let jac_n = Array2::from_shape_fn((2, 6), |(i, j)| jac_n[i][j]);
        assert!(max_diff(&jac_n, &jac) == 0.0);
    }
}

#[test]
fn empty_and_degenerate_inputs() {
    let (f, g) = gradient(|_: &[_]| DualVec::constant(2.0), &[]);
    assert_eq!((f, g.len()), (2.0, 0));
    let (f, g, h) = hessian(|_: &[Dual2Vec<f64>]| Elementary::from_f64(3.0), &[]);
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

#[test]
fn variable_lanes_out_of_range_are_errors() {
    assert!(Dual::<f64, 2>::variable(1.0, 2).is_err());
    let e = Dual::<f64, 3>::variable(1.0, 7).unwrap_err().to_string();
    assert!(e.contains("lane 7") && e.contains("3 lanes"), "{e}");
    assert!(DualVec::variable(1.0f64, 2, 2).is_err());
    assert!(Dual2Vec::variable(1.0f64, 5, 5).is_err());
    assert_eq!(Dual::<f64, 2>::variable(1.0, 1).unwrap().eps, [0.0, 1.0]);
}

#[test]
fn display_and_default() {
    let d: Dual<f64, 2> = Dual::default();
    assert_eq!((d.re, d.eps), (0.0, [0.0, 0.0]));
    assert_eq!(DualVec::<f64>::default().eps.len(), 0);
    assert_eq!(Dual2Vec::<f64>::default().n_vars(), 0);
    assert_eq!(Dual::new(1.0f64, [2.0]).to_string(), "1 + [2]ε");
    let nested = Dual::new(Dual::new(1.0f64, [2.0]), [Dual::new(3.0, [4.0])]);
    assert_eq!(nested.to_string(), "1 + [2]ε + [3 + [4]ε]ε");
    assert_eq!(format!("{:.1}", Dual::new(1.0f64, [0.25])), "1.0 + [0.2]ε");
}

/// `x^n` against closed forms, through every dual type: the small powers
/// take the product path, the others `powi` of the value.
#[test]
fn powi_matches_closed_forms_at_edge_points() {
    for n in -3i32..=5 {
        for x in [
            0.0f64,
            -0.0,
            1.5,
            -2.0,
            1e-3,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let (v, d, dd) = second_derivative(|t| t.powi(n), x);
            let nf = f64::from(n);
            let want_d = if n == 0 { 0.0 } else { nf * x.powi(n - 1) };
            let want_dd = if n == 0 || n == 1 {
                0.0
            } else {
                nf * (nf - 1.0) * x.powi(n - 2)
            };
            let same = |a: f64, b: f64| {
                a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * b.abs()
            };
            assert!(same(v, x.powi(n)), "value x^{n} at {x}: {v}");
            assert!(same(d, want_d), "d/dx x^{n} at {x}: {d} vs {want_d}");
            // (at a pole or at infinity the product rule of nested duals
            // meets 0 * inf: NaN, as for every function there)
            let pole = !want_dd.is_finite() || !x.is_finite();
            assert!(
                pole || same(dd, want_dd),
                "d2/dx2 x^{n} at {x}: {dd} vs {want_dd}"
            );
            let (_, g, h) = hessian(|v: &[Dual2Vec<f64>]| v[0].powi(n), &[x]);
            assert!(same(g[0], want_d), "Dual2Vec d/dx x^{n} at {x}: {}", g[0]);
            assert!(
                pole || same(h[(0, 0)], want_dd),
                "Dual2Vec d2 x^{n} at {x}: {}",
                h[(0, 0)]
            );
        }
    }
    // a zero tangent stays zero where the factor is infinite
    let y = Dual::<f64, 2>::new(f64::INFINITY, [0.0, 1.0]).powi(2);
    assert_eq!(y.eps[0], 0.0);
    assert!(y.eps[1].is_infinite());
}

/// One-pass Hessians (`Dual2Vec`) against the nested const-size duals and
/// closed forms, at ordinary and edge points (0, ties of min/max, a NaN in
/// the branch not taken).
#[test]
fn dual2vec_hessians_match_nested_duals_and_closed_forms() {
    fn f<D: DualNum<f64>>(v: &[D]) -> D {
        let (x, y, z) = (v[0].clone(), v[1].clone(), v[2].clone());
        let a = (x.clone() * y.clone()).sin() / (z.powi(2) + 1.0);
        let b = x.clone().pow(&(y.clone() * 0.5 + 2.0)) + y.atan2(&(z.clone() + 3.0));
        let c = x.hypot(&z).exp() - (y.clone() * z.clone()).tanh() * x.cbrt();
        let d = x.max(&y) * z.min(&y) + x.abs() * y.recip() + z.erf() * x.ln_1p();
        a + b + c + d * (z / y).sqrt()
    }
    for point in [
        [0.7f64, 1.3, 0.4],
        [1.1, 0.9, 2.5],
        [0.5, 0.5, 0.5],
        [2.0, 3.0, 1.0],
    ] {
        let (v, g, h) = hessian(f, &point);
        let (vn, gn, hn) = hessian_n(f, point);
        assert!((v - vn).abs() <= 1e-14 * (1.0 + v.abs()));
        for i in 0..3 {
            assert!(
                (g[i] - gn[i]).abs() <= 1e-13 * (1.0 + gn[i].abs()),
                "g[{i}] at {point:?}"
            );
            for j in 0..3 {
                let (a, b) = (h[(i, j)], hn[i][j]);
                assert!(
                    (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                    "H[{i},{j}] at {point:?}: {a} vs {b}"
                );
            }
        }
    }
    // closed forms: x y / z at (2, 3, 4)
    let (v, g, h) = hessian(
        |v: &[Dual2Vec<f64>]| v[0].clone() * v[1].clone() / v[2].clone(),
        &[2.0, 3.0, 4.0],
    );
    assert_eq!(v, 1.5);
    assert_eq!(g, Array1::from(vec![0.75, 0.5, -0.375]));
    let want = ndarray::array![
        [0.0, 0.25, -0.1875],
        [0.25, 0.0, -0.125],
        [-0.1875, -0.125, 0.1875]
    ];
    assert!(max_diff(&h, &want) < 1e-15);
    // sqrt(x) + y at x = 0: the y derivatives stay exact although sqrt'(0) = inf
    let (_, g, h) = hessian(
        |v: &[Dual2Vec<f64>]| v[0].sqrt() + v[1].powi(2),
        &[0.0, 3.0],
    );
    assert!(g[0].is_infinite() && g[1] == 6.0);
    assert_eq!((h[(1, 1)], h[(0, 1)], h[(1, 0)]), (2.0, 0.0, 0.0));
    // a NaN in the branch not taken (min picks the finite side) leaves no trace
    let (_, g, h) = hessian(
        |v: &[Dual2Vec<f64>]| v[0].powi(3).min(&(v[1].clone() - 1.0).ln()),
        &[0.5, 0.5],
    );
    assert_eq!((g[0], g[1]), (0.75, 0.0));
    assert_eq!((h[(0, 0)], h[(0, 1)], h[(1, 1)]), (3.0, 0.0, 0.0));
    // ties: max selects the first argument, its derivatives included
    let (_, g, _) = hessian(|v: &[Dual2Vec<f64>]| v[0].max(&v[1]), &[1.0, 1.0]);
    assert_eq!((g[0], g[1]), (1.0, 0.0));
    // constants mixed with variables of different widths
    let x = Dual2Vec::variable(2.0f64, 0, 1).unwrap();
    let y = Dual2Vec::variable(3.0f64, 1, 2).unwrap();
    let p = x.clone() * y.clone() + 1.0;
    assert_eq!(
        (p.value(), p.grad(0), p.grad(1), p.hessian(0, 1)),
        (7.0, 3.0, 2.0, 1.0)
    );
    let q = 1.0 / (x - 1.0);
    assert_eq!((q.value(), q.grad(0), q.hessian(0, 0)), (1.0, -1.0, 2.0));
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
