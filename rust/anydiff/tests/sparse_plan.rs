//! The prepared sparse Jacobian against dense dual-number Jacobians, for
//! every engine, and its refusals.

mod common;

use anydiff::dual::{jacobian, DualNum, VectorFunction};
use anydiff::sparse::{Engine, Pattern, SparseJacobianPlan};
use anydiff::Scheme;
use common::brusselator;

/// The 2-D Brusselator right-hand side (DESIGN.md) at t = 0, Julia layout.
struct Brusselator(usize);

impl VectorFunction<f64> for Brusselator {
    fn n_inputs(&self) -> usize {
        2 * self.0 * self.0
    }
    fn n_outputs(&self) -> usize {
        2 * self.0 * self.0
    }
    fn eval<D: DualNum<f64> + Copy>(&self, y: &[D], dy: &mut [D]) {
        brusselator(self.0, y, dy);
    }
}

fn state(size: usize) -> Vec<f64> {
    (0..size)
        .map(|k| 1.0 + ((k * 37) % 11) as f64 * 0.3)
        .collect()
}

#[test]
fn every_engine_matches_the_dense_dual_jacobian() {
    let f = Brusselator(6);
    let size = 72;
    let x = state(size);
    let (_, dense) = jacobian(
        |v| {
            let mut out = vec![anydiff::dual::DualVec::constant(0.0); size];
            // DualVec is not Copy: evaluate element by element on clones
            brusselator(6, v, &mut out);
            out
        },
        &x,
    );
    for (engine, tol) in [
        (Engine::Auto, 1e-12),
        (Engine::Compiled, 1e-12),
        (Engine::Dual, 0.0),
        (Engine::FiniteDiff(Scheme::Central), 1e-6),
        (Engine::FiniteDiff(Scheme::Forward), 1e-3),
        (Engine::FiniteDiff(Scheme::Central5), 1e-8),
    ] {
        let mut plan = SparseJacobianPlan::new(Brusselator(6), None, engine).unwrap();
        if engine == Engine::Auto {
            assert_eq!(plan.engine(), Engine::Compiled);
        }
        let p = plan.pattern().clone();
        assert_eq!(p.nnz(), 6 * size);
        let values = plan.compute(&x).unwrap();
        let got = p.to_dense(&values).unwrap();
        let scale = dense.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let err = (&got - &dense).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(
            err <= tol * scale,
            "{engine:?}: max error {err:e} (scale {scale})"
        );
        // a second point reuses the buffers
        let x2: Vec<f64> = x.iter().map(|v| v * 0.5).collect();
        let mut again = vec![0.0; p.nnz()];
        plan.compute_into(&x2, &mut again).unwrap();
        assert!(again.iter().zip(&values).any(|(a, b)| a != b));
    }
    let _ = f;
}

/// `y_i = max(x_i, x_{i+1})` written with a branch: cannot be traced.
struct Branchy(usize);

impl VectorFunction<f64> for Branchy {
    fn n_inputs(&self) -> usize {
        self.0
    }
    fn n_outputs(&self) -> usize {
        self.0 - 1
    }
    fn eval<D: DualNum<f64> + Copy>(&self, x: &[D], y: &mut [D]) {
        for i in 0..self.0 - 1 {
            y[i] = if x[i] > x[i + 1] {
                x[i]
            } else {
                x[i + 1] * 2.0
            };
        }
    }
}

#[test]
fn untraceable_functions_fall_back_to_duals_or_are_refused() {
    let err = SparseJacobianPlan::new(Branchy(5), None, Engine::Auto)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("cannot be detected") && err.contains("compares"),
        "{err}"
    );
    assert!(SparseJacobianPlan::new(Branchy(5), None, Engine::Compiled).is_err());
    let rows: Vec<usize> = (0..4).flat_map(|i| [i, i]).collect();
    let cols: Vec<usize> = (0..4).flat_map(|i| [i, i + 1]).collect();
    let p = Pattern::from_coo(4, 5, &rows, &cols).unwrap();
    let mut plan = SparseJacobianPlan::new(Branchy(5), Some(p), Engine::Auto).unwrap();
    assert_eq!(plan.engine(), Engine::Dual);
    let v = plan.compute(&[3.0, 1.0, 2.0, 0.0, 5.0]).unwrap();
    assert_eq!(v, vec![1.0, 0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 2.0]);
}

#[test]
fn shapes_and_patterns_are_checked() {
    let wrong = Pattern::empty(3, 3);
    let err = SparseJacobianPlan::new(Brusselator(3), Some(wrong), Engine::Dual)
        .err()
        .unwrap();
    assert!(err.to_string().contains("pattern"), "{err}");
    // a given pattern missing entries: the compiled engine says so
    let diag = Pattern::from_coo(
        18,
        18,
        &(0..18).collect::<Vec<_>>(),
        &(0..18).collect::<Vec<_>>(),
    )
    .unwrap();
    let err = SparseJacobianPlan::new(Brusselator(3), Some(diag), Engine::Compiled)
        .err()
        .unwrap();
    assert!(err.to_string().contains("pattern lacks"), "{err}");
    let mut plan = SparseJacobianPlan::new(Brusselator(3), None, Engine::Dual).unwrap();
    let mut values = vec![0.0; plan.pattern().nnz()];
    assert!(plan.compute_into(&[1.0; 17], &mut values).is_err());
    assert!(plan.compute_into(&[1.0; 18], &mut values[1..]).is_err());
}

/// More colors than lanes: several chunks of `DUAL_LANES` colors.
struct Dense(usize);

impl VectorFunction<f32> for Dense {
    fn n_inputs(&self) -> usize {
        self.0
    }
    fn n_outputs(&self) -> usize {
        2
    }
    fn eval<D: DualNum<f32> + Copy>(&self, x: &[D], y: &mut [D]) {
        let mut s = x[0] * 0.0;
        let mut q = x[0] * 0.0;
        for (j, &v) in x.iter().enumerate() {
            s += v * (j as f32 + 1.0);
            q += v.powi(2);
        }
        y[0] = s;
        y[1] = q.sqrt();
    }
}

#[test]
fn f32_dense_rows_take_several_chunks_of_lanes() {
    let n = 19;
    let rows: Vec<usize> = (0..2 * n).map(|k| k / n).collect();
    let cols: Vec<usize> = (0..2 * n).map(|k| k % n).collect();
    let p = Pattern::from_coo(2, n, &rows, &cols).unwrap();
    let mut plan = SparseJacobianPlan::new(Dense(n), Some(p), Engine::Auto).unwrap();
    assert_eq!(plan.engine(), Engine::Dual);
    assert_eq!(plan.coloring().unwrap().ncolors, n);
    let x: Vec<f32> = (0..n).map(|j| j as f32 * 0.1 + 0.5).collect();
    let v = plan.compute(&x).unwrap();
    let norm = x.iter().map(|v| v * v).sum::<f32>().sqrt();
    for j in 0..n {
        assert_eq!(v[j], j as f32 + 1.0);
        assert!((v[n + j] - x[j] / norm).abs() < 1e-6);
    }
    assert!(SparseJacobianPlan::new(Dense(n), None, Engine::Dual).is_err());
}
