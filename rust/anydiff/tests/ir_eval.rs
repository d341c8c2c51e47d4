//! Values and derivatives of hand-built programs against closed forms and
//! finite differences.

#![allow(clippy::needless_range_loop)]

mod ir_support;

use anydiff::ir::{BinaryFn, CompareFn, Op, Program, ReduceFn, UnaryFn};
use anydiff::{Dual, DualVec};
use ir_support::*;
use ndarray::{s, Array1, Array2, Array3, Axis};

fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol * (1.0 + b.abs()),
        "{what}: {a} vs {b} (tol {tol})"
    );
}

/// Central-difference Jacobian (m x n) of the program at one point.
fn fd_jacobian(prog: &Program, x: &[f64], params: &[f64]) -> Array2<f64> {
    let (n, m) = (prog.n_inputs(), prog.n_outputs());
    let mut jac = Array2::zeros((m, n));
    for j in 0..n {
        let h = 1e-6 * (1.0 + x[j].abs());
        let mut pts = Array2::from_shape_fn((2, n), |(_, k)| x[k]);
        pts[[0, j]] += h;
        pts[[1, j]] -= h;
        let mut out = Array2::zeros((2, m));
        prog.eval_points(pts.view(), params, out.view_mut())
            .unwrap();
        for i in 0..m {
            jac[[i, j]] = (out[[0, i]] - out[[1, i]]) / (2.0 * h);
        }
    }
    jac
}

#[test]
fn lotka_volterra_values_and_jacobians() {
    let prog = lotka_volterra();
    assert_eq!((prog.n_inputs(), prog.n_outputs()), (6, 2));
    let np = 1000;
    let pts = Array2::from_shape_vec((np, 6), uniform(np * 6, 1, 0.5, 1.5)).unwrap();
    let mut vals = Array2::zeros((np, 2));
    prog.eval_points(pts.view(), &[], vals.view_mut()).unwrap();
    let mut jac = Array3::zeros((np, 2, 6));
    prog.jacobian_points(pts.view(), &[], jac.view_mut())
        .unwrap();
    let mut vals2 = Array2::zeros((np, 2));
    let mut jac2 = Array3::zeros((np, 2, 6));
    prog.value_and_jacobian_points(pts.view(), &[], vals2.view_mut(), jac2.view_mut())
        .unwrap();
    assert_eq!(jac, jac2);
    assert_eq!(vals, vals2);
    for p in 0..np {
        let z = pts.row(p).to_vec();
        let v = lv_values(&z);
        let j = lv_jacobian(&z);
        for i in 0..2 {
            assert_close(vals[[p, i]], v[i], 1e-15, "value");
            for k in 0..6 {
                assert_close(jac[[p, i, k]], j[i][k], 1e-15, "jacobian");
            }
        }
    }
    let fd = fd_jacobian(&prog, &pts.row(3).to_vec(), &[]);
    for ((i, k), v) in fd.indexed_iter() {
        assert_close(jac[[3, i, k]], *v, 1e-7, "finite differences");
    }
}

#[test]
fn jvp_lanes_match_the_jacobian() {
    let prog = stencil(9);
    let np = 37;
    let pts = Array2::from_shape_vec((np, 9), uniform(np * 9, 2, -1.0, 1.0)).unwrap();
    let mut jac = Array3::zeros((np, 9, 9));
    prog.jacobian_points(pts.view(), &[], jac.view_mut())
        .unwrap();
    for lanes in [1usize, 2, 3, 5, 8, 16, 17, 40] {
        let seeds = Array2::from_shape_vec((lanes, 9), uniform(lanes * 9, 3, -1.0, 1.0)).unwrap();
        let mut vals = Array2::zeros((np, 9));
        let mut tan = Array3::zeros((np, lanes, 9));
        prog.jvp_points(
            pts.view(),
            &[],
            seeds.view(),
            vals.view_mut(),
            tan.view_mut(),
        )
        .unwrap();
        for p in 0..np {
            let want = jac.index_axis(Axis(0), p).dot(&seeds.t());
            for l in 0..lanes {
                for i in 0..9 {
                    assert_close(tan[[p, l, i]], want[[i, l]], 1e-13, "jvp");
                }
            }
        }
    }
}

#[test]
fn stencil_jacobian_against_finite_differences() {
    let prog = stencil(11);
    let x = uniform(11, 4, -2.0, 2.0);
    let pts = Array2::from_shape_vec((1, 11), x.clone()).unwrap();
    let mut jac = Array3::zeros((1, 11, 11));
    prog.jacobian_points(pts.view(), &[], jac.view_mut())
        .unwrap();
    let fd = fd_jacobian(&prog, &x, &[]);
    for ((i, k), v) in fd.indexed_iter() {
        assert_close(jac[[0, i, k]], *v, 1e-6, "stencil");
    }
}

#[test]
fn rosenbrock_gradient_hessian_and_hvp() {
    let n = 10;
    let prog = rosenbrock(n);
    let np = 7;
    let pts = Array2::from_shape_vec((np, n), uniform(np * n, 5, -1.5, 1.5)).unwrap();
    let mut vals = Array1::zeros(np);
    let mut grad = Array2::zeros((np, n));
    let mut hess = Array3::zeros((np, n, n));
    prog.value_grad_hessian_points(
        pts.view(),
        &[],
        vals.view_mut(),
        grad.view_mut(),
        hess.view_mut(),
    )
    .unwrap();
    let mut hess2 = Array3::zeros((np, n, n));
    prog.hessian_points(pts.view(), &[], hess2.view_mut())
        .unwrap();
    assert_eq!(hess, hess2);
    let lanes = 6;
    let v = Array2::from_shape_vec((lanes, n), uniform(lanes * n, 6, -1.0, 1.0)).unwrap();
    let mut hv = Array3::zeros((np, lanes, n));
    prog.hvp_points(pts.view(), &[], v.view(), hv.view_mut())
        .unwrap();
    for p in 0..np {
        let x = pts.row(p).to_vec();
        assert_close(vals[p], rosenbrock_value(&x), 1e-14, "value");
        let g = rosenbrock_grad(&x);
        let h = rosenbrock_hessian(&x);
        for i in 0..n {
            assert_close(grad[[p, i]], g[i], 1e-13, "gradient");
            for j in 0..n {
                assert_close(hess[[p, i, j]], h[i][j], 1e-13, "hessian");
            }
            for l in 0..lanes {
                let want: f64 = (0..n).map(|j| h[i][j] * v[[l, j]]).sum();
                assert_close(hv[[p, l, i]], want, 1e-12, "hvp");
            }
        }
    }
    // one input: the smallest lane type
    let prog1 = Program::new(
        vec![Op::Input { index: 0, len: 1 }, Op::Powi { a: 0, n: 3 }],
        &[1],
        &[],
        &[1],
    )
    .unwrap();
    let pts1 = Array2::from_elem((3, 1), 2.0);
    let mut h1 = Array3::zeros((3, 1, 1));
    prog1
        .hessian_points(pts1.view(), &[], h1.view_mut())
        .unwrap();
    assert!(h1.iter().all(|&v| v == 12.0));
}

#[test]
fn scalar_routines_need_one_output() {
    let prog = lotka_volterra();
    let pts = Array2::<f64>::zeros((2, 6));
    let mut h = Array3::zeros((2, 6, 6));
    let err = prog
        .hessian_points(pts.view(), &[], h.view_mut())
        .unwrap_err();
    assert!(err.to_string().contains("one scalar output"), "{err}");
    let v = Array2::zeros((1, 6));
    let mut out = Array3::zeros((2, 1, 6));
    assert!(prog
        .hvp_points(pts.view(), &[], v.view(), out.view_mut())
        .is_err());
}

#[test]
fn mlp_jacobian_closed_form() {
    let n = 12;
    let w1 = uniform(n * n, 7, -0.3, 0.3);
    let w2 = uniform(n * n, 8, -0.3, 0.3);
    let prog = mlp(n, &w2);
    let np = 5;
    let pts = Array2::from_shape_vec((np, n), uniform(np * n, 9, -1.0, 1.0)).unwrap();
    let mut vals = Array2::zeros((np, n));
    let mut jac = Array3::zeros((np, n, n));
    prog.value_and_jacobian_points(pts.view(), &w1, vals.view_mut(), jac.view_mut())
        .unwrap();
    let w1m = Array2::from_shape_vec((n, n), w1.clone()).unwrap();
    let w2m = Array2::from_shape_vec((n, n), w2).unwrap();
    for p in 0..np {
        let x = pts.row(p);
        let hidden = w1m.dot(&x).mapv(f64::tanh);
        let y = w2m.dot(&hidden) + x.mapv(f64::sin);
        let d = hidden.mapv(|t| 1.0 - t * t);
        let mut want = w2m.dot(&(&w1m * &d.view().insert_axis(Axis(1))));
        for i in 0..n {
            want[[i, i]] += x[i].cos();
        }
        for i in 0..n {
            assert_close(vals[[p, i]], y[i], 1e-14, "mlp value");
            for j in 0..n {
                assert_close(jac[[p, i, j]], want[[i, j]], 1e-13, "mlp jacobian");
            }
        }
    }
    // wrong parameter length
    let mut out = Array2::zeros((np, n));
    let err = prog
        .eval_points(pts.view(), &w1[1..], out.view_mut())
        .unwrap_err();
    assert!(err.to_string().contains("params"), "{err}");
}

#[test]
fn every_unary_and_binary_function_matches_f64_and_finite_differences() {
    for &func in UnaryFn::ALL {
        let prog = Program::new(
            vec![Op::Input { index: 0, len: 1 }, un(func, 0)],
            &[1],
            &[],
            &[1],
        )
        .unwrap();
        for x in [0.3f64, 0.71, -0.45, 1.6] {
            let x: f64 = if matches!(func, UnaryFn::Acosh) {
                x.abs() + 1.0
            } else {
                x
            };
            let want = match func {
                UnaryFn::Neg => -x,
                UnaryFn::Exp => x.exp(),
                UnaryFn::Exp2 => x.exp2(),
                UnaryFn::Expm1 => x.exp_m1(),
                UnaryFn::Log => x.ln(),
                UnaryFn::Log1p => x.ln_1p(),
                UnaryFn::Log2 => x.log2(),
                UnaryFn::Log10 => x.log10(),
                UnaryFn::Sqrt => x.sqrt(),
                UnaryFn::Cbrt => x.cbrt(),
                UnaryFn::Sin => x.sin(),
                UnaryFn::Cos => x.cos(),
                UnaryFn::Tan => x.tan(),
                UnaryFn::Asin => x.asin(),
                UnaryFn::Acos => x.acos(),
                UnaryFn::Atan => x.atan(),
                UnaryFn::Sinh => x.sinh(),
                UnaryFn::Cosh => x.cosh(),
                UnaryFn::Tanh => x.tanh(),
                UnaryFn::Asinh => x.asinh(),
                UnaryFn::Acosh => x.acosh(),
                UnaryFn::Atanh => x.atanh(),
                UnaryFn::Abs => x.abs(),
                UnaryFn::Sign => x.signum(),
                UnaryFn::Floor => x.floor(),
                UnaryFn::Ceil => x.ceil(),
                UnaryFn::Round => x.round(),
                UnaryFn::Recip => 1.0 / x,
                UnaryFn::Erf => erf_ref(x),
                UnaryFn::Logistic => 1.0 / (1.0 + (-x).exp()),
                UnaryFn::Square => x * x,
            };
            let pts = Array2::from_elem((1, 1), x);
            let mut out = Array2::zeros((1, 1));
            prog.eval_points(pts.view(), &[], out.view_mut()).unwrap();
            if !(x.is_nan() || want.is_nan()) {
                assert_close(out[[0, 0]], want, 1e-12, func.as_str());
                let mut jac = Array3::zeros((1, 1, 1));
                prog.jacobian_points(pts.view(), &[], jac.view_mut())
                    .unwrap();
                let fd = fd_jacobian(&prog, &[x], &[]);
                assert_close(jac[[0, 0, 0]], fd[[0, 0]], 1e-6, func.as_str());
            }
        }
    }
    for &func in BinaryFn::ALL {
        let ops = vec![
            Op::Input { index: 0, len: 2 },
            gather(0, vec![0]),
            gather(0, vec![1]),
            bin(func, 1, 2),
        ];
        let prog = Program::new(ops, &[2], &[], &[3]).unwrap();
        let (a, b) = (1.7f64, 0.6f64);
        let want = match func {
            BinaryFn::Add => a + b,
            BinaryFn::Sub => a - b,
            BinaryFn::Mul => a * b,
            BinaryFn::Div => a / b,
            BinaryFn::Pow => a.powf(b),
            BinaryFn::Atan2 => a.atan2(b),
            BinaryFn::Min => a.min(b),
            BinaryFn::Max => a.max(b),
            BinaryFn::Hypot => a.hypot(b),
            BinaryFn::Rem => a % b,
        };
        let pts = Array2::from_shape_vec((1, 2), vec![a, b]).unwrap();
        let mut out = Array2::zeros((1, 1));
        prog.eval_points(pts.view(), &[], out.view_mut()).unwrap();
        assert_close(out[[0, 0]], want, 1e-14, func.as_str());
        let mut jac = Array3::zeros((1, 1, 2));
        prog.jacobian_points(pts.view(), &[], jac.view_mut())
            .unwrap();
        let fd = fd_jacobian(&prog, &[a, b], &[]);
        for k in 0..2 {
            assert_close(jac[[0, 0, k]], fd[[0, k]], 1e-6, func.as_str());
        }
    }
}

/// erf by its Taylor series (|x| < 2).
fn erf_ref(x: f64) -> f64 {
    let mut sum = 0.0;
    let mut term = x;
    for k in 0..60 {
        sum += term / (2 * k + 1) as f64;
        term *= -x * x / (k + 1) as f64;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

#[test]
fn numpy_conventions_for_sign_round_and_nan() {
    let ops = vec![
        Op::Input { index: 0, len: 4 },
        un(UnaryFn::Sign, 0),
        un(UnaryFn::Round, 0),
        Op::Concat(vec![1, 2]),
    ];
    let prog = Program::new(ops, &[4], &[], &[3]).unwrap();
    let pts = Array2::from_shape_vec((1, 4), vec![0.0, 2.5, -0.5, 1.5]).unwrap();
    let mut out = Array2::zeros((1, 8));
    prog.eval_points(pts.view(), &[], out.view_mut()).unwrap();
    assert_eq!(
        out.row(0).to_vec(),
        vec![0.0, 1.0, -1.0, 1.0, 0.0, 2.0, -0.0, 2.0]
    );
}

#[test]
fn select_compare_reduce_and_batched_dot() {
    // x (4), w = x where x > 0 else -2 x; out = [sum w, max x, min x, (x0..x3 as 2x2) @ itself]
    let ops = vec![
        Op::Input { index: 0, len: 4 },
        Op::Const(vec![0.0; 4]),
        Op::Compare {
            func: CompareFn::Gt,
            a: 0,
            b: 1,
        },
        Op::Const(vec![-2.0; 4]),
        bin(BinaryFn::Mul, 3, 0),
        Op::Select { c: 2, t: 0, f: 4 },
        Op::Reduce {
            func: ReduceFn::Sum,
            a: 5,
            offsets: vec![0, 4],
            indices: vec![0, 1, 2, 3],
        },
        Op::Reduce {
            func: ReduceFn::Max,
            a: 0,
            offsets: vec![0, 4],
            indices: vec![0, 1, 2, 3],
        },
        Op::Reduce {
            func: ReduceFn::Min,
            a: 0,
            offsets: vec![0, 2, 4],
            indices: vec![0, 1, 2, 3],
        },
        Op::Dot {
            a: 0,
            b: 0,
            batch: 2,
            m: 1,
            k: 2,
            n: 1,
        },
        Op::Concat(vec![6, 7, 8, 9, 2]),
    ];
    let prog = Program::new(ops, &[4], &[], &[10]).unwrap();
    assert_eq!(prog.n_outputs(), 1 + 1 + 2 + 2 + 4);
    let x = [1.5, -0.5, 3.0, 3.0];
    let pts = Array2::from_shape_vec((1, 4), x.to_vec()).unwrap();
    let mut vals = Array2::zeros((1, 10));
    let mut jac = Array3::zeros((1, 10, 4));
    prog.value_and_jacobian_points(pts.view(), &[], vals.view_mut(), jac.view_mut())
        .unwrap();
    let v = vals.row(0).to_vec();
    assert_eq!(v[0], 1.5 + 1.0 + 3.0 + 3.0);
    assert_eq!(v[1], 3.0);
    assert_eq!((v[2], v[3]), (-0.5, 3.0));
    // batched (1 x 2) @ (2 x 1): x0^2 + x1^2 and x2^2 + x3^2
    assert_eq!((v[4], v[5]), (2.5, 18.0));
    assert_eq!(jac[[0, 4, 0]], 3.0);
    assert_eq!(jac[[0, 5, 3]], 6.0);
    assert_eq!(jac[[0, 0, 1]], -2.0); // d sum / d x1 through the false branch
    assert_eq!(jac[[0, 1, 2]], 1.0); // max: first of the tie
    assert_eq!(jac[[0, 1, 3]], 0.0);
    assert_eq!(jac[[0, 2, 1]], 1.0);
    assert!(jac.slice(s![0, 6.., ..]).iter().all(|&d| d == 0.0)); // compare: zero tangents
    assert_eq!(&v[6..], &[1.0, 0.0, 1.0, 1.0]);
}

#[test]
fn generic_number_types() {
    let prog = lotka_volterra();
    let z = [1.2, 0.7, 1.1, 0.4, 0.9, 1.3];
    // DualVec with a run-time number of lanes
    let x: Vec<DualVec<f64>> = (0..6)
        .map(|j| DualVec::variable(z[j], j, 6).unwrap())
        .collect();
    let out = prog.eval_one(&x, &[]).unwrap();
    let j = lv_jacobian(&z);
    for i in 0..2 {
        for k in 0..6 {
            assert_close(out[i].lane(k), j[i][k], 1e-15, "DualVec");
        }
    }
    // nested duals: second derivative d2/dx dy of (c x y - d y) is c
    type D2 = Dual<Dual<f64, 6>, 6>;
    let x: Vec<D2> = (0..6)
        .map(|j| {
            Dual::new(
                Dual::variable(z[j], j).unwrap(),
                std::array::from_fn(|k| Dual::constant(if k == j { 1.0 } else { 0.0 })),
            )
        })
        .collect();
    let out = prog.eval_one(&x, &[]).unwrap();
    assert_eq!(out[1].eps[0].eps[1], z[4]);
    // f32 points
    let pts = Array2::from_shape_vec((1, 6), z.iter().map(|&v| v as f32).collect()).unwrap();
    let mut jac = Array3::<f32>::zeros((1, 2, 6));
    prog.jacobian_points(pts.view(), &[], jac.view_mut())
        .unwrap();
    assert!((jac[[0, 0, 0]] - (1.1 - 0.4 * 0.7) as f32).abs() < 1e-6);
    assert!(prog.eval_one(&x[..3], &[]).is_err());
}

#[test]
fn shapes_are_checked_and_strided_outputs_work() {
    let prog = lotka_volterra();
    let pts = Array2::from_shape_vec((4, 6), uniform(24, 10, 0.5, 1.5)).unwrap();
    let mut out = Array2::zeros((4, 3));
    let err = prog
        .eval_points(pts.view(), &[], out.view_mut())
        .unwrap_err();
    assert_eq!(err.to_string(), "out: expected (4, 2), got (4, 3)");
    let bad = Array2::zeros((4, 5));
    let mut out = Array2::zeros((4, 2));
    assert!(prog.eval_points(bad.view(), &[], out.view_mut()).is_err());
    // Fortran-order points and a transposed output view
    let pts_t = pts.t().as_standard_layout().into_owned();
    let pts_f = pts_t.t();
    let mut big = Array2::zeros((2, 4));
    prog.eval_points(pts_f.view(), &[], big.view_mut().reversed_axes())
        .unwrap();
    prog.eval_points(pts.view(), &[], out.view_mut()).unwrap();
    assert_eq!(big.t(), out);
    // zero points
    let none = Array2::<f64>::zeros((0, 6));
    let mut jac = Array3::zeros((0, 2, 6));
    prog.jacobian_points(none.view(), &[], jac.view_mut())
        .unwrap();
}

#[test]
fn large_array_program_with_one_point() {
    let n = 5000;
    let prog = stencil(n);
    let x = uniform(n, 11, -1.0, 1.0);
    let pts = Array2::from_shape_vec((1, n), x.clone()).unwrap();
    let mut out = Array2::zeros((1, n));
    prog.eval_points(pts.view(), &[], out.view_mut()).unwrap();
    for i in [0, 1, 2500, n - 1] {
        let l = if i > 0 { x[i - 1] } else { 0.0 };
        let r = if i + 1 < n { x[i + 1] } else { 0.0 };
        assert_close(
            out[[0, i]],
            (l - 2.0 * x[i] + r) * x[i] * x[i],
            1e-14,
            "stencil",
        );
    }
    let seeds = Array2::from_elem((3, n), 1.0);
    let mut vals = Array2::zeros((1, n));
    let mut tan = Array3::zeros((1, 3, n));
    prog.jvp_points(
        pts.view(),
        &[],
        seeds.view(),
        vals.view_mut(),
        tan.view_mut(),
    )
    .unwrap();
    assert_eq!(vals, out);
}

/// Outputs assembled by concatenations (nested, of input views, and one that
/// another instruction also reads) are copied from their parts: the same
/// values and Jacobians at one point and at many (several chunks).
#[test]
fn outputs_assembled_by_concatenation() {
    let ops = vec![
        Op::Input { index: 0, len: 3 },
        Op::Gather {
            a: 0,
            indices: vec![0],
        },
        Op::Gather {
            a: 0,
            indices: vec![1, 2],
        },
        Op::Binary {
            func: BinaryFn::Mul,
            a: 1,
            b: 1,
        }, // x0^2
        Op::Concat(vec![3, 2]), // [x0^2, x1, x2], also read below
        Op::Unary {
            func: UnaryFn::Sin,
            a: 4,
        }, // sin of it
        Op::Concat(vec![5, 1]), // [sin(x0^2), sin x1, sin x2, x0]
        Op::Concat(vec![6, 4]), // output: nested concatenation
    ];
    let prog = Program::new(ops, &[3], &[], &[7, 3]).unwrap();
    assert_eq!(prog.n_outputs(), 8);
    for np in [1, 3, 5000] {
        let pts = Array2::from_shape_fn((np, 3), |(p, j)| 0.3 + 0.001 * p as f64 - 0.4 * j as f64);
        let mut vals = Array2::zeros((np, 8));
        let mut jac = Array3::zeros((np, 8, 3));
        prog.value_and_jacobian_points(pts.view(), &[], vals.view_mut(), jac.view_mut())
            .unwrap();
        for p in 0..np {
            let x = [pts[[p, 0]], pts[[p, 1]], pts[[p, 2]]];
            let want = [
                (x[0] * x[0]).sin(),
                x[1].sin(),
                x[2].sin(),
                x[0],
                x[0] * x[0],
                x[1],
                x[2],
                x[0] * x[0],
            ];
            let mut dwant = [[0.0; 3]; 8];
            dwant[0][0] = (x[0] * x[0]).cos() * 2.0 * x[0];
            dwant[1][1] = x[1].cos();
            dwant[2][2] = x[2].cos();
            dwant[3][0] = 1.0;
            dwant[4][0] = 2.0 * x[0];
            dwant[5][1] = 1.0;
            dwant[6][2] = 1.0;
            dwant[7][0] = 2.0 * x[0];
            for i in 0..8 {
                assert_close(vals[[p, i]], want[i], 1e-15, "value");
                for j in 0..3 {
                    assert_close(jac[[p, i, j]], dwant[i][j], 1e-15, "jacobian");
                }
            }
        }
    }
}
