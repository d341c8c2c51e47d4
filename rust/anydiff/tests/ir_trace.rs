//! Programs traced from generic Rust functions against the same functions
//! run on `f64` and on dual numbers: values, Jacobians and patterns, edge
//! points included.

mod common;

use anydiff::dual::{jacobian, DualNum, Elementary};
use anydiff::ir::trace;
use common::brusselator;
use ndarray::{Array2, Array3};

/// Every recorded operation, with the ones composed from several
/// instructions (signum, round, trunc, min, max) at their edge points.
fn kitchen_sink<D: DualNum<f64> + Copy>(x: &[D], y: &mut [D]) {
    let (a, b, c) = (x[0], x[1], x[2]);
    y[0] = a * b - c / (b.powi(2) + 1.0) + a.powi(3) - c.powi(-2) * 2.0;
    y[1] = a.sin() * b.cos() + c.tanh() + a.atan2(&b) + a.hypot(&c) + b.exp() * 0.1;
    y[2] = a.min(&b) + b.max(&c) * a.abs() + c.mul_add(&a, &b);
    y[3] = a.signum() + b.round() + c.trunc() + a.floor() * b.ceil();
    y[4] = (a * a + 1.0).ln() + (b * b + 2.0).sqrt().recip() + c.erf() + a.pow(&(b * 0.5 + 2.0));
    y[5] = D::from_f64(4.0) - a.cbrt() * (c * 0.25).asinh() + (a * 0.1).atan();
}

fn same(a: f64, b: f64, tol: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

#[test]
fn traced_program_matches_the_function_on_f64_and_duals() {
    let prog = trace(3, 6, kitchen_sink).unwrap();
    let points = [
        [0.7, -1.3, 0.4],
        [-0.5, 0.5, 2.5],
        [0.0, -0.0, 1.5],
        [-0.0, 2.5, -3.5],
        [1.0, 1.0, -0.5],
        [2.0, f64::NAN, 0.3],
        [f64::NAN, 0.2, 0.3],
        [0.49999999999999994, -0.5, -2.5],
    ];
    let np = points.len();
    let pts = Array2::from_shape_fn((np, 3), |(p, j)| points[p][j]);
    let mut vals = Array2::zeros((np, 6));
    prog.eval_points(pts.view(), &[], vals.view_mut()).unwrap();
    let mut jac = Array3::zeros((np, 6, 3));
    prog.jacobian_points(pts.view(), &[], jac.view_mut())
        .unwrap();
    for (p, x) in points.iter().enumerate() {
        let mut y = [0.0; 6];
        kitchen_sink(x, &mut y);
        let (_, j) = jacobian(
            |v| {
                let mut out = vec![Elementary::from_f64(0.0); 6];
                sink_vec(v, &mut out);
                out
            },
            x,
        );
        for r in 0..6 {
            // values: bit for bit except where mul_add is fused on f64
            let tol = if r == 2 { 1e-15 } else { 0.0 };
            assert!(
                same(vals[[p, r]], y[r], tol),
                "value {r} at {x:?}: {} vs {}",
                vals[[p, r]],
                y[r]
            );
            for c in 0..3 {
                // (where a NaN value meets a zero tangent, dual arithmetic's
                // product rule gives NaN and the IR engine keeps the zero)
                let nan_meets_zero = j[(r, c)].is_nan() && x.iter().any(|v| v.is_nan());
                assert!(
                    nan_meets_zero || same(jac[[p, r, c]], j[(r, c)], 1e-14),
                    "J[{r},{c}] at {x:?}: {} vs {}",
                    jac[[p, r, c]],
                    j[(r, c)]
                );
            }
        }
    }
}

/// `kitchen_sink` for the non-`Copy` `DualVec`.
fn sink_vec<D: DualNum<f64>>(x: &[D], y: &mut [D]) {
    let (a, b, c) = (x[0].clone(), x[1].clone(), x[2].clone());
    y[0] = a.clone() * b.clone() - c.clone() / (b.powi(2) + 1.0) + a.powi(3) - c.powi(-2) * 2.0;
    y[1] = a.sin() * b.cos() + c.tanh() + a.atan2(&b) + a.hypot(&c) + b.exp() * 0.1;
    y[2] = a.min(&b) + b.max(&c) * a.abs() + c.mul_add(&a, &b);
    y[3] = a.signum() + b.round() + c.trunc() + a.floor() * b.ceil();
    y[4] = (a.clone() * a.clone() + 1.0).ln()
        + (b.clone() * b.clone() + 2.0).sqrt().recip()
        + c.erf()
        + a.pow(&(b.clone() * 0.5 + 2.0));
    y[5] = D::from_f64(4.0) - a.cbrt() * (c * 0.25).asinh() + (a * 0.1).atan();
}

#[test]
fn brusselator_traces_to_a_small_vector_program_with_the_exact_pattern() {
    let n = 8;
    let size = 2 * n * n;
    let prog = trace(size, size, |x, y| brusselator(n, x, y)).unwrap();
    assert!(prog.n_nodes() < 60, "{} nodes", prog.n_nodes());
    let p = prog.jacobian_sparsity();
    assert_eq!(p.nnz(), 6 * size);
    assert!((0..size).all(|r| p.row(r).len() == 6));
    let x: Vec<f64> = (0..size).map(|k| 0.5 + 0.01 * k as f64).collect();
    let pts = Array2::from_shape_vec((1, size), x.clone()).unwrap();
    let mut vals = Array2::zeros((1, size));
    prog.eval_points(pts.view(), &[], vals.view_mut()).unwrap();
    let mut want = vec![0.0; size];
    brusselator(n, &x, &mut want);
    assert!(vals.iter().zip(&want).all(|(a, b)| a == b));
}
