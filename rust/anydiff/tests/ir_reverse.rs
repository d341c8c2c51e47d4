//! Reverse mode of the IR engine: VJPs against the transposed forward
//! Jacobians, gradients against closed forms, forward-over-reverse HVPs
//! against the forward-over-forward Hessians.

#![allow(clippy::needless_range_loop)]

mod ir_support;

use anydiff::ir::{BinaryFn, CompareFn, Op, Program, ReduceFn, UnaryFn};
use anydiff::DualVec;
use ir_support::*;
use ndarray::{Array1, Array2, Array3};
use proptest::prelude::*;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

/// Checks `vjp_points` against `J^T w` from `jacobian_points` and the values
/// against `eval_points`.
fn check_vjp(prog: &Program, pts: &Array2<f64>, params: &[f64], lanes: usize, tol: f64) {
    let (np, n, m) = (pts.nrows(), prog.n_inputs(), prog.n_outputs());
    let w = Array2::from_shape_vec((lanes, m), uniform(lanes * m, 77, -1.0, 1.0)).unwrap();
    let mut vals = Array2::zeros((np, m));
    let mut out = Array3::zeros((np, lanes, n));
    prog.vjp_points(
        pts.view(),
        params,
        w.view(),
        vals.view_mut(),
        out.view_mut(),
    )
    .unwrap();
    let mut want_vals = Array2::zeros((np, m));
    prog.eval_points(pts.view(), params, want_vals.view_mut())
        .unwrap();
    let mut jac = Array3::zeros((np, m, n));
    prog.jacobian_points(pts.view(), params, jac.view_mut())
        .unwrap();
    for p in 0..np {
        for r in 0..m {
            assert!(
                close(vals[[p, r]], want_vals[[p, r]], 1e-15),
                "value {p} {r}"
            );
        }
        for l in 0..lanes {
            for j in 0..n {
                let want: f64 = (0..m).map(|r| w[[l, r]] * jac[[p, r, j]]).sum();
                // The rounding of both sides scales with the terms summed, not
                // with the result, which cancellation can make arbitrarily small:
                // the tolerance is relative to the condition sum |w_r J_rj|.
                let cond: f64 = (0..m).map(|r| (w[[l, r]] * jac[[p, r, j]]).abs()).sum();
                let got = out[[p, l, j]];
                assert!(
                    (got - want).abs() <= tol * (1.0 + cond.max(want.abs())),
                    "point {p} lane {l} input {j}: {got} vs {want} (condition {cond:e})"
                );
            }
        }
    }
}

/// Checks `hvp_reverse_points` against `hessian_points @ v` and the
/// gradient against `value_grad_hessian_points`.
fn check_hvp(prog: &Program, pts: &Array2<f64>, params: &[f64], lanes: usize, tol: f64) {
    let (np, n) = (pts.nrows(), prog.n_inputs());
    let v = Array2::from_shape_vec((lanes, n), uniform(lanes * n, 5, -1.0, 1.0)).unwrap();
    let mut grad = Array2::zeros((np, n));
    let mut hv = Array3::zeros((np, lanes, n));
    prog.hvp_reverse_points(pts.view(), params, v.view(), grad.view_mut(), hv.view_mut())
        .unwrap();
    let mut vals = Array1::zeros(np);
    let mut g2 = Array2::zeros((np, n));
    let mut hess = Array3::zeros((np, n, n));
    prog.value_grad_hessian_points(
        pts.view(),
        params,
        vals.view_mut(),
        g2.view_mut(),
        hess.view_mut(),
    )
    .unwrap();
    for p in 0..np {
        for j in 0..n {
            assert!(close(grad[[p, j]], g2[[p, j]], tol), "grad {p} {j}");
        }
        for l in 0..lanes {
            for i in 0..n {
                let want: f64 = (0..n).map(|j| hess[[p, i, j]] * v[[l, j]]).sum();
                let got = hv[[p, l, i]];
                assert!(
                    close(got, want, tol),
                    "point {p} lane {l} row {i}: {got} vs {want}"
                );
            }
        }
    }
}

fn points(np: usize, n: usize, seed: u64, lo: f64, hi: f64) -> Array2<f64> {
    Array2::from_shape_vec((np, n), uniform(np * n, seed, lo, hi)).unwrap()
}

#[test]
fn lotka_volterra_vjp_many_points() {
    let prog = lotka_volterra();
    let pts = points(1000, 6, 1, 0.5, 1.5);
    check_vjp(&prog, &pts, &[], 3, 1e-14);
    // closed form for w = e_0 and w = e_1
    let w = ndarray::array![[1.0, 0.0], [0.0, 1.0]];
    let mut vals = Array2::zeros((1000, 2));
    let mut out = Array3::zeros((1000, 2, 6));
    prog.vjp_points(pts.view(), &[], w.view(), vals.view_mut(), out.view_mut())
        .unwrap();
    for p in 0..1000 {
        let z = pts.row(p).to_vec();
        let jac = lv_jacobian(&z);
        let v = lv_values(&z);
        for r in 0..2 {
            assert!(close(vals[[p, r]], v[r], 1e-15));
            for j in 0..6 {
                assert!(close(out[[p, r, j]], jac[r][j], 1e-14));
            }
        }
    }
}

#[test]
fn mlp_vjp_with_dot_and_tanh() {
    let n = 7;
    let w2 = uniform(n * n, 3, -1.0, 1.0);
    let w1 = uniform(n * n, 4, -1.0, 1.0);
    let prog = mlp(n, &w2);
    let pts = points(130, n, 2, -1.0, 1.0);
    check_vjp(&prog, &pts, &w1, 4, 1e-13);
}

/// Gathers with -1, concat, reductions (sum / max / min), select, compare,
/// binary max and a batched dot.
fn mixed(n: usize) -> Program {
    let left: Vec<i64> = (0..n as i64).map(|i| i - 1).collect();
    let ops = vec![
        Op::Input { index: 0, len: n },           // 0
        gather(0, left),                          // 1
        gather(0, (0..n as i64).rev().collect()), // 2
        bin(BinaryFn::Max, 1, 2),                 // 3
        un(UnaryFn::Sin, 0),                      // 4
        Op::Compare {
            func: CompareFn::Gt,
            a: 0,
            b: 2,
        }, // 5
        Op::Select { c: 5, t: 3, f: 4 },          // 6
        Op::Concat(vec![6, 0, 4]),                // 7
        Op::Reduce {
            func: ReduceFn::Max,
            a: 7,
            offsets: vec![0, n, 2 * n, 3 * n],
            indices: (0..3 * n).collect(),
        }, // 8
        Op::Reduce {
            func: ReduceFn::Min,
            a: 7,
            offsets: vec![0, 2, 5],
            indices: vec![0, n, 1, n + 1, 2 * n],
        }, // 9
        Op::Reduce {
            func: ReduceFn::Sum,
            a: 7,
            offsets: vec![0, 0, 3, 3 * n],
            indices: (0..3 * n).collect(),
        }, // 10
        Op::Dot {
            a: 7,
            b: 0,
            batch: 1,
            m: 3,
            k: n,
            n: 1,
        }, // 11
        Op::Dot {
            a: 4,
            b: 0,
            batch: n,
            m: 1,
            k: 1,
            n: 1,
        }, // 12
        Op::Powi { a: 12, n: 3 },                 // 13
        bin(BinaryFn::Atan2, 4, 3),               // 14
        Op::Concat(vec![8, 9, 10, 11, 13, 14]),   // 15
    ];
    Program::new(ops, &[n], &[], &[15]).unwrap()
}

#[test]
fn stencil_and_mixed_programs() {
    let prog = stencil(9);
    let pts = points(200, 9, 9, -1.0, 1.0);
    check_vjp(&prog, &pts, &[], 2, 1e-14);
    let prog = mixed(6);
    let pts = points(300, 6, 10, -2.0, 2.0);
    check_vjp(&prog, &pts, &[], 5, 1e-13);
    // ties in a reduction: the maximal elements share the adjoint (JAX)
    let ops = vec![
        Op::Input { index: 0, len: 3 },
        Op::Reduce {
            func: ReduceFn::Max,
            a: 0,
            offsets: vec![0, 3],
            indices: vec![0, 1, 2],
        },
    ];
    let prog = Program::new(ops, &[3], &[], &[1]).unwrap();
    let pts = ndarray::array![[1.0, 2.0, 2.0]];
    let mut vals = Array1::zeros(1);
    let mut g = Array2::zeros((1, 3));
    prog.gradient_points(pts.view(), &[], vals.view_mut(), g.view_mut())
        .unwrap();
    assert_eq!(vals[0], 2.0);
    assert_eq!(g.row(0).to_vec(), vec![0.0, 0.5, 0.5]);
}

#[test]
fn rosenbrock_gradient_closed_form() {
    for n in [2, 10, 1000] {
        let prog = rosenbrock(n);
        let pts = points(5, n, n as u64, -1.5, 1.5);
        let mut vals = Array1::zeros(5);
        let mut g = Array2::zeros((5, n));
        prog.gradient_points(pts.view(), &[], vals.view_mut(), g.view_mut())
            .unwrap();
        for p in 0..5 {
            let x = pts.row(p).to_vec();
            assert!(close(vals[p], rosenbrock_value(&x), 1e-14));
            let want = rosenbrock_grad(&x);
            for j in 0..n {
                assert!(close(g[[p, j]], want[j], 1e-13), "n {n} point {p} {j}");
            }
        }
    }
}

#[test]
fn hvp_reverse_matches_hessians() {
    let prog = rosenbrock(10);
    let pts = points(40, 10, 11, -1.5, 1.5);
    for lanes in [0, 1, 2, 3, 5, 8, 16, 17, 40] {
        check_hvp(&prog, &pts, &[], lanes, 1e-13);
    }
    // closed-form Rosenbrock Hessian at n = 1000 with 3 star-coloring columns
    let n = 1000;
    let prog = rosenbrock(n);
    let pts = points(2, n, 12, -1.5, 1.5);
    let s = Array2::from_shape_fn((3, n), |(l, j)| if j % 3 == l { 1.0 } else { 0.0 });
    let mut grad = Array2::zeros((2, n));
    let mut hs = Array3::zeros((2, 3, n));
    prog.hvp_reverse_points(pts.view(), &[], s.view(), grad.view_mut(), hs.view_mut())
        .unwrap();
    for p in 0..2 {
        let x = pts.row(p).to_vec();
        let h = rosenbrock_hessian(&x);
        let g = rosenbrock_grad(&x);
        for i in 0..n {
            assert!(close(grad[[p, i]], g[i], 1e-13));
            for l in 0..3 {
                let want: f64 = (0..n).filter(|j| j % 3 == l).map(|j| h[i][j]).sum();
                assert!(close(hs[[p, l, i]], want, 1e-13), "{p} {l} {i}");
            }
        }
    }
    // a scalar program over the mixed ops
    let inner = mixed(5);
    let m = inner.n_outputs();
    let mut ops = inner.ops().to_vec();
    let last = ops.len() - 1;
    ops.push(Op::Reduce {
        func: ReduceFn::Sum,
        a: last,
        offsets: vec![0, m],
        indices: (0..m).collect(),
    });
    let prog = Program::new(ops, &[5], &[], &[last + 1]).unwrap();
    let pts = points(100, 5, 13, -2.0, 2.0);
    check_hvp(&prog, &pts, &[], 3, 1e-12);
}

#[test]
fn float32_and_errors() {
    let prog = lotka_volterra();
    let pts = points(50, 6, 14, 0.5, 1.5).mapv(|v| v as f32);
    let w = ndarray::array![[1.0f32, -2.0]];
    let mut vals = Array2::<f32>::zeros((50, 2));
    let mut out = Array3::<f32>::zeros((50, 1, 6));
    prog.vjp_points(pts.view(), &[], w.view(), vals.view_mut(), out.view_mut())
        .unwrap();
    for p in 0..50 {
        let z: Vec<f64> = pts.row(p).iter().map(|&v| f64::from(v)).collect();
        let jac = lv_jacobian(&z);
        for j in 0..6 {
            let want = jac[0][j] - 2.0 * jac[1][j];
            assert!((f64::from(out[[p, 0, j]]) - want).abs() < 1e-4);
        }
    }
    // m != 1
    let mut v1 = Array1::zeros(50);
    let mut g = Array2::zeros((50, 6));
    let pts64 = pts.mapv(f64::from);
    let err = prog
        .gradient_points(pts64.view(), &[], v1.view_mut(), g.view_mut())
        .unwrap_err();
    assert!(err.to_string().contains("one scalar output"), "{err}");
    let v = Array2::zeros((2, 6));
    let mut hv = Array3::zeros((50, 2, 6));
    assert!(prog
        .hvp_reverse_points(pts64.view(), &[], v.view(), g.view_mut(), hv.view_mut())
        .is_err());
    // shapes
    let bad_w = Array2::zeros((1, 3));
    let mut vals = Array2::zeros((50, 2));
    let mut out = Array3::zeros((50, 1, 6));
    let err = prog
        .vjp_points(
            pts64.view(),
            &[],
            bad_w.view(),
            vals.view_mut(),
            out.view_mut(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("cotangents"), "{err}");
    let w = Array2::zeros((1, 2));
    let mut out = Array3::zeros((50, 2, 6));
    assert!(prog
        .vjp_points(pts64.view(), &[], w.view(), vals.view_mut(), out.view_mut())
        .is_err());
    // strided outputs
    let mut out = Array3::zeros((6, 1, 50));
    let mut vals_t = Array2::zeros((2, 50));
    let w = ndarray::array![[0.5, 1.0]];
    prog.vjp_points(
        pts64.view(),
        &[],
        w.view(),
        vals_t.view_mut().reversed_axes(),
        out.view_mut().permuted_axes([2, 1, 0]),
    )
    .unwrap();
    let mut want = Array3::zeros((50, 1, 6));
    let mut vals = Array2::zeros((50, 2));
    prog.vjp_points(
        pts64.view(),
        &[],
        w.view(),
        vals.view_mut(),
        want.view_mut(),
    )
    .unwrap();
    assert_eq!(out.view().permuted_axes([2, 1, 0]), want);
    assert_eq!(vals_t.t(), vals);
}

/// A xorshift generator from a seed: `next(k)` is in `0..k`.
/// The lanes engine on `np` random points with sparse seeds against the generic duals.
fn check_random_lanes(prog: &Program, np: usize, lanes: usize, seed: u64) {
    let n = prog.n_inputs();
    let pts = points(np, n, seed ^ 2, -1.5, 1.5);
    check_lanes_engine(prog, &pts, &sparse_seeds(lanes, n, seed ^ 3), 1e-12);
}

/// A random program from a seed: elementwise functions with finite
/// derivatives on the whole line, comparisons and selects, gathers (with
/// -1), concatenations, reductions and dots. (No `atan2`: gathers of -1
/// make exact zeros, and at `atan2(0, 0)` the partials are NaN, which the
/// forward mode hides behind exactly-zero tangents but a reverse sweep
/// cannot.)
fn random_program(seed: u64, n_ops: usize, n: usize) -> Program {
    let mut next = below(seed);
    let unaries = [
        UnaryFn::Sin,
        UnaryFn::Cos,
        UnaryFn::Tanh,
        UnaryFn::Atan,
        UnaryFn::Square,
        UnaryFn::Neg,
        UnaryFn::Logistic,
        UnaryFn::Erf,
        UnaryFn::Asinh,
    ];
    let binaries = [
        BinaryFn::Add,
        BinaryFn::Sub,
        BinaryFn::Mul,
        BinaryFn::Max,
        BinaryFn::Min,
    ];
    let mut ops = vec![Op::Input { index: 0, len: n }];
    let mut lens = vec![n];
    for _ in 0..n_ops {
        let i = ops.len();
        let a = next(i);
        let la = lens[a];
        let same_len: Vec<usize> = (0..i).filter(|&b| lens[b] == la).collect();
        let b = same_len[next(same_len.len())];
        let (op, len) = match next(10) {
            0 | 1 => (un(unaries[next(unaries.len())], a), la),
            2 | 3 => (bin(binaries[next(binaries.len())], a, b), la),
            4 => (
                Op::Powi {
                    a,
                    n: next(4) as i32,
                },
                la,
            ),
            5 => {
                let k = 1 + next(2 * n);
                let idx = (0..k).map(|_| next(la + 1) as i64 - 1).collect();
                (gather(a, idx), k)
            }
            6 => (Op::Concat(vec![a, b]), 2 * la),
            7 => {
                let groups = 1 + next(3);
                let mut offsets = vec![0];
                let mut indices = Vec::new();
                for _ in 0..groups {
                    for _ in 0..1 + next(4) {
                        indices.push(next(la));
                    }
                    offsets.push(indices.len());
                }
                let func = [ReduceFn::Sum, ReduceFn::Max, ReduceFn::Min][next(3)];
                (
                    Op::Reduce {
                        func,
                        a,
                        offsets,
                        indices,
                    },
                    groups,
                )
            }
            8 => {
                // (1, la) @ (la, 1) within a batch of 1
                (
                    Op::Dot {
                        a,
                        b,
                        batch: 1,
                        m: 1,
                        k: la,
                        n: 1,
                    },
                    1,
                )
            }
            _ => {
                let cmp = Op::Compare {
                    func: CompareFn::Lt,
                    a,
                    b,
                };
                ops.push(cmp);
                lens.push(la);
                (Op::Select { c: i, t: a, f: b }, la)
            }
        };
        ops.push(op);
        lens.push(len);
    }
    let last = ops.len() - 1;
    let outputs = vec![last, next(last + 1)];
    Program::new(ops, &[n], &[], &outputs).unwrap()
}

fn scalarised(prog: &Program) -> Program {
    let m = prog.n_outputs();
    let mut ops = prog.ops().to_vec();
    let outs: Vec<usize> = prog.outputs().to_vec();
    ops.push(Op::Concat(outs));
    let cat = ops.len() - 1;
    ops.push(Op::Reduce {
        func: ReduceFn::Sum,
        a: cat,
        offsets: vec![0, m],
        indices: (0..m).collect(),
    });
    Program::new(ops, &[prog.n_inputs()], &[], &[cat + 1]).unwrap()
}

/// `jvp_points` (the struct-of-arrays lanes engine) against `eval_one` with
/// `DualVec` (the generic engine) at every point, lane by lane.
fn check_lanes_engine(prog: &Program, pts: &Array2<f64>, seeds: &Array2<f64>, tol: f64) {
    let (np, n, m, lanes) = (
        pts.nrows(),
        prog.n_inputs(),
        prog.n_outputs(),
        seeds.nrows(),
    );
    let mut vals = Array2::zeros((np, m));
    let mut tan = Array3::zeros((np, lanes, m));
    prog.jvp_points(
        pts.view(),
        &[],
        seeds.view(),
        vals.view_mut(),
        tan.view_mut(),
    )
    .unwrap();
    for p in 0..np {
        let x: Vec<DualVec<f64>> = (0..n)
            .map(|j| DualVec::new(pts[[p, j]], seeds.column(j).to_vec()))
            .collect();
        let want = prog.eval_one(&x, &[]).unwrap();
        for (r, d) in want.iter().enumerate() {
            let same = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || close(a, b, tol);
            assert!(same(vals[[p, r]], d.re), "value {r} at point {p}");
            for l in 0..lanes {
                let (got, exp) = (tan[[p, l, r]], d.eps.get(l).copied().unwrap_or(0.0));
                assert!(
                    same(got, exp),
                    "lane {l} of output {r} at point {p}: {got} vs {exp}"
                );
            }
        }
    }
}

/// Seed directions where about half the entries, and every third lane, are zero:
/// lanes that never reach some nodes, and lanes that reach none.
fn sparse_seeds(lanes: usize, n: usize, seed: u64) -> Array2<f64> {
    let u = uniform(lanes * n, seed, -1.0, 1.0);
    Array2::from_shape_fn((lanes, n), |(l, j)| {
        let v = u[l * n + j];
        if l % 3 == 2 || v.abs() < 0.5 {
            0.0
        } else {
            v
        }
    })
}

#[test]
fn lanes_engine_on_a_large_array_program_with_one_point() {
    // many lanes over a 5000-element stencil: lanes split across threads,
    // live lanes tracked node by node
    let n = 5000;
    let prog = stencil(n);
    let pts = Array2::from_shape_vec((1, n), uniform(n, 3, -1.0, 1.0)).unwrap();
    assert!(
        prog.workspace_len() * 64 >= 1 << 20,
        "big enough to split lanes"
    );
    check_lanes_engine(&prog, &pts, &sparse_seeds(64, n, 4), 1e-13);
    let one_hot = Array2::from_shape_fn((3, n), |(l, j)| f64::from(u8::from(j == 7 * l)));
    check_lanes_engine(&prog, &pts, &one_hot, 1e-13);
}

/// VJPs of `lanes` cotangents at one point in one call (the lane sweep) against
/// one call per cotangent (scalar sweeps): equal up to rounding, NaN where NaN.
fn check_lane_sweep(prog: &Program, x: &[f64], params: &[f64], w: &Array2<f64>, tol: f64) {
    let (n, m, lanes) = (prog.n_inputs(), prog.n_outputs(), w.nrows());
    let pt = Array2::from_shape_vec((1, n), x.to_vec()).unwrap();
    let mut vals = Array2::zeros((1, m));
    let mut all = Array3::zeros((1, lanes, n));
    prog.vjp_points(pt.view(), params, w.view(), vals.view_mut(), all.view_mut())
        .unwrap();
    for l in 0..lanes {
        let mut one = Array3::zeros((1, 1, n));
        let wl = w.slice(ndarray::s![l..l + 1, ..]);
        prog.vjp_points(pt.view(), params, wl, vals.view_mut(), one.view_mut())
            .unwrap();
        for j in 0..n {
            let (got, want) = (all[[0, l, j]], one[[0, 0, j]]);
            assert!(
                (got.is_nan() && want.is_nan()) || close(got, want, tol),
                "lane {l} input {j}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn lane_sweep_matches_scalar_sweeps() {
    let prog = mixed(6);
    let x = uniform(6, 5, -2.0, 2.0);
    let w = Array2::from_shape_vec(
        (5, prog.n_outputs()),
        uniform(5 * prog.n_outputs(), 6, -1.0, 1.0),
    );
    check_lane_sweep(&prog, &x, &[], &w.unwrap(), 1e-13);
    // more cotangents than one block of lanes (128): two sweeps of lane rows
    let n = 9;
    let w1 = uniform(n * n, 4, -1.0, 1.0);
    let prog = mlp(n, &uniform(n * n, 3, -1.0, 1.0));
    let w = Array2::from_shape_vec((200, n), uniform(200 * n, 8, -1.0, 1.0)).unwrap();
    check_lane_sweep(&prog, &uniform(n, 9, -1.0, 1.0), &w1, &w, 1e-13);
}

#[test]
fn lane_sweep_keeps_unreached_adjoints_away_from_infinite_partials() {
    // y = A x with an infinite entry in row 0, which no output reads;
    // out = [y1, sqrt(x0) * 0] at x0 = 0 (an infinite partial times a reached zero)
    let a = vec![1.0, f64::INFINITY, 2.0, 3.0, 4.0, 5.0];
    let ops = vec![
        Op::Input { index: 0, len: 3 }, // 0
        Op::Const(a),                   // 1
        Op::Dot {
            a: 1,
            b: 0,
            batch: 1,
            m: 2,
            k: 3,
            n: 1,
        }, // 2
        gather(2, vec![1]),             // 3
        gather(0, vec![0]),             // 4
        un(UnaryFn::Sqrt, 4),           // 5
        Op::Const(vec![0.0]),           // 6
        bin(BinaryFn::Mul, 5, 6),       // 7
        Op::Concat(vec![3, 7]),         // 8
    ];
    let prog = Program::new(ops, &[3], &[], &[8]).unwrap();
    let w = ndarray::array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
    check_lane_sweep(&prog, &[0.0, 1.0, 2.0], &[], &w, 1e-15);
    let pt = ndarray::array![[0.0, 1.0, 2.0]];
    let (mut vals, mut out) = (Array2::zeros((1, 2)), Array3::zeros((1, 3, 3)));
    prog.vjp_points(pt.view(), &[], w.view(), vals.view_mut(), out.view_mut())
        .unwrap();
    // row 0 of A is never multiplied (a GEMM over the whole block would give NaN);
    // sqrt'(0) = inf meets a reached zero adjoint: NaN in every lane, as in the scalar sweep
    assert!(out[[0, 0, 0]].is_nan());
    assert_eq!(out.slice(ndarray::s![0, 0, 1..]).to_vec(), vec![4.0, 5.0]);
    assert!(out[[0, 1, 0]].is_nan());
    assert_eq!(out.slice(ndarray::s![0, 1, 1..]).to_vec(), vec![0.0, 0.0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_programs_lanes_engine_matches_generic_duals(
        seed in any::<u64>(),
        n_ops in 1usize..25,
        n in 1usize..5,
        np in 1usize..40,
        lanes in 1usize..7,
    ) {
        check_random_lanes(&random_program(seed, n_ops, n), np, lanes, seed);
    }

    #[test]
    fn random_array_programs_tiled_match_generic_duals(
        seed in any::<u64>(),
        n_ops in 2usize..30,
        n in 1024usize..2600,
        np in 1usize..3,
        lanes in 1usize..6,
    ) {
        check_random_lanes(&random_array_program(seed, n_ops, n), np, lanes, seed);
    }

    #[test]
    fn random_programs_vjp_is_transposed_jacobian(
        seed in any::<u64>(),
        n_ops in 1usize..25,
        n in 1usize..5,
        np in 1usize..70,
    ) {
        let prog = random_program(seed, n_ops, n);
        let pts = points(np, n, seed ^ 1, -1.5, 1.5);
        // 1e-12 relative to the condition: about 4500 eps, 13 times the worst
        // error seen in 200,000 random cases (349 eps). Relative to the result
        // instead, a small result failed once in about 32 runs (1.1e-12).
        check_vjp(&prog, &pts, &[], 2, 1e-12);
        let w = Array2::from_shape_vec((9, prog.n_outputs()), uniform(9 * prog.n_outputs(), seed, -1.0, 1.0)).unwrap();
        check_lane_sweep(&prog, pts.row(0).as_slice().unwrap(), &[], &w, 1e-12);
        let scalar = scalarised(&prog);
        check_hvp(&scalar, &pts, &[], 3, 1e-10);
    }
}

/// A scalar program of matrix products: `t . (X @ T)` with `t = tanh(W x)`,
/// `X` and `T` the 4 x 4 matrices of `x` and `t` (two traced operands), plus
/// `sum(sin(x))` and `sum(t @ cos(C))`; `W` (16 x 16) a parameter, `C`
/// (16 x 4) a constant (a constant operand on either side).
fn products_of_traced_operands() -> Program {
    let n = 16;
    let dot = |a, b, m, k, n| Op::Dot {
        a,
        b,
        batch: 1,
        m,
        k,
        n,
    };
    let ops = vec![
        Op::Input { index: 0, len: n },
        Op::Param {
            index: 0,
            len: n * n,
        },
        dot(1, 0, n, n, 1),
        un(UnaryFn::Tanh, 2),
        dot(0, 3, 4, 4, 4),
        dot(3, 4, 1, n, 1),
        un(UnaryFn::Sin, 0),
        Op::Reduce {
            func: ReduceFn::Sum,
            a: 6,
            offsets: vec![0, n],
            indices: (0..n).collect(),
        },
        bin(BinaryFn::Add, 5, 7),
        Op::Const(uniform(n * 4, 25, -1.0, 1.0)),
        un(UnaryFn::Cos, 9), // a computed constant
        dot(3, 10, 1, n, 4), // a constant on the right
        Op::Reduce {
            func: ReduceFn::Sum,
            a: 11,
            offsets: vec![0, 4],
            indices: (0..4).collect(),
        },
        bin(BinaryFn::Add, 8, 12),
    ];
    Program::new(ops, &[n], &[n * n], &[13]).unwrap()
}

#[test]
fn hvp_through_products_on_dual_blocks() {
    // At one point the products of dual numbers run as real GEMMs of their
    // parts; at many points per chunk, element by element. Both agree with
    // the forward-over-forward Hessian, at one point and at 64.
    let prog = products_of_traced_operands();
    let w = uniform(256, 21, -0.5, 0.5);
    let one = points(1, 16, 22, -1.0, 1.0);
    check_hvp(&prog, &one, &w, 5, 1e-12);
    let mut many = points(64, 16, 23, -1.0, 1.0);
    many.row_mut(7).assign(&one.row(0));
    check_hvp(&prog, &many, &w, 5, 1e-12);
    let v = Array2::from_shape_vec((3, 16), uniform(48, 24, -1.0, 1.0)).unwrap();
    let hvp = |pts: &Array2<f64>| {
        let np = pts.nrows();
        let (mut g, mut hv) = (Array2::zeros((np, 16)), Array3::zeros((np, 3, 16)));
        prog.hvp_reverse_points(pts.view(), &w, v.view(), g.view_mut(), hv.view_mut())
            .unwrap();
        hv
    };
    let (h1, h64) = (hvp(&one), hvp(&many));
    for l in 0..3 {
        for i in 0..16 {
            let (a, b) = (h1[[0, l, i]], h64[[7, l, i]]);
            assert!(close(a, b, 1e-12), "lane {l} row {i}: {a} vs {b}");
        }
    }
}
