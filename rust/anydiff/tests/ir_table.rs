//! Sweeps over the op tables: every elementwise function, reduction and
//! linear algebra function, checked for its value against an independent
//! reference, its derivative against finite differences, forward mode against
//! reverse mode, and second derivatives (nested duals, forward over reverse)
//! against finite differences of the first. A function added to a table
//! without a reference here fails to compile (the matches are exhaustive).

use anydiff::ir::{BinaryFn, LinalgFn, Op, Program, ReduceFn, UnaryFn};
use ndarray::{Array1, Array2, Array3};

fn close(got: f64, want: f64, rtol: f64, atol: f64) -> bool {
    (got - want).abs() <= atol + rtol * want.abs() || (got.is_nan() && want.is_nan()) || got == want
}

/// erf by its Taylor series (|x| < 3).
fn erf_ref(x: f64) -> f64 {
    let mut sum = 0.0;
    let mut term = x;
    for k in 0..120 {
        sum += term / (2 * k + 1) as f64;
        term *= -x * x / (k + 1) as f64;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// `ln |Gamma(x)|`: shift to x >= 12, Stirling's series, reflection below 0.5.
fn lgamma_ref(x: f64) -> f64 {
    if x < 0.5 {
        let s = (std::f64::consts::PI * x).sin().abs();
        return (std::f64::consts::PI / s).ln() - lgamma_ref(1.0 - x);
    }
    let (mut y, mut shift) = (x, 0.0);
    while y < 12.0 {
        shift += y.ln();
        y += 1.0;
    }
    let r = 1.0 / (y * y);
    let series = (1.0 / 12.0 - r * (1.0 / 360.0 - r * (1.0 / 1260.0 - r / 1680.0))) / y;
    (y - 0.5) * y.ln() - y + 0.5 * (2.0 * std::f64::consts::PI).ln() + series - shift
}

/// The inverse of `erf_ref` by bisection.
fn erf_inv_ref(x: f64) -> f64 {
    let (mut lo, mut hi) = (-3.0, 3.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if erf_ref(mid) < x {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Reference value, points to test, and whether the derivative is the value's
/// (else the expected derivative) for each unary function.
/// A reference: value, test points, derivative where it is not the value's.
type Reference = (fn(f64) -> f64, Vec<f64>, Option<fn(f64) -> f64>);

fn unary_reference(func: UnaryFn) -> Reference {
    let general = vec![-1.3, -0.4, 0.25, 0.7, 1.9];
    let positive = vec![0.3, 0.8, 1.7, 4.5];
    let unit = vec![-0.8, -0.3, 0.2, 0.6];
    use UnaryFn::*;
    match func {
        Neg => (|x| -x, general, None),
        Exp => (f64::exp, general, None),
        Exp2 => (f64::exp2, general, None),
        Expm1 => (f64::exp_m1, general, None),
        Log => (f64::ln, positive, None),
        Log1p => (f64::ln_1p, vec![-0.5, 0.1, 2.0], None),
        Log2 => (f64::log2, positive, None),
        Log10 => (f64::log10, positive, None),
        Sqrt => (f64::sqrt, positive, None),
        Cbrt => (f64::cbrt, general, None),
        Sin => (f64::sin, general, None),
        Cos => (f64::cos, general, None),
        Tan => (f64::tan, general, None),
        Asin => (f64::asin, unit, None),
        Acos => (f64::acos, unit, None),
        Atan => (f64::atan, general, None),
        Sinh => (f64::sinh, general, None),
        Cosh => (f64::cosh, general, None),
        Tanh => (f64::tanh, general, None),
        Asinh => (f64::asinh, general, None),
        Acosh => (f64::acosh, vec![1.2, 2.5, 7.0], None),
        Atanh => (f64::atanh, unit, None),
        Abs => (f64::abs, general, None),
        Sign => (f64::signum, general, None),
        Floor => (f64::floor, general, None),
        Ceil => (f64::ceil, general, None),
        Round => (f64::round, general, None),
        Recip => (f64::recip, general, None),
        Erf => (erf_ref, general, None),
        Logistic => (|x| 1.0 / (1.0 + (-x).exp()), general, None),
        Square => (|x| x * x, general, None),
        Trunc => (f64::trunc, general, None),
        Erfc => (|x| 1.0 - erf_ref(x), general, None),
        ErfInv => (erf_inv_ref, unit, None),
        Lgamma => (lgamma_ref, vec![-2.5, -0.4, 0.3, 1.5, 6.0], None),
        // the derivative of lgamma, by differences of the reference
        Digamma => (
            |x| (lgamma_ref(x + 1e-5) - lgamma_ref(x - 1e-5)) / 2e-5,
            vec![-2.5, -0.4, 0.3, 1.5, 6.0],
            None,
        ),
        IsFinite => (|x| f64::from(u8::from(x.is_finite())), general, None),
        StopGradient => (|x| x, general, Some(|_| 0.0)),
        Perturbation => (|_| 0.0, general, Some(|_| 1.0)),
    }
}

fn binary_reference(func: BinaryFn) -> fn(f64, f64) -> f64 {
    use BinaryFn::*;
    match func {
        Add => |a, b| a + b,
        Sub => |a, b| a - b,
        Mul => |a, b| a * b,
        Div => |a, b| a / b,
        Pow => f64::powf,
        Atan2 => f64::atan2,
        Min => f64::min,
        Max => f64::max,
        Hypot => f64::hypot,
        Rem => |a, b| a % b,
    }
}

/// `sum(f(x)^2)` of the last instruction of `ops` (one input of length `len`): a
/// scalar program for gradients and Hessians.
fn scalar_of(ops: Vec<Op>, len: usize) -> Program {
    let mut ops = ops;
    let last = ops.len() - 1;
    ops.push(Op::Unary {
        func: UnaryFn::Square,
        a: last,
    });
    let n = Program::new(ops.clone(), &[len], &[], &[last + 1])
        .unwrap()
        .n_outputs();
    ops.push(Op::Reduce {
        func: ReduceFn::Sum,
        a: last + 1,
        offsets: vec![0, n],
        indices: (0..n).collect(),
    });
    Program::new(ops, &[len], &[], &[last + 2]).unwrap()
}

fn jacobian(prog: &Program, x: &[f64]) -> Array3<f64> {
    let pts = Array2::from_shape_vec((1, x.len()), x.to_vec()).unwrap();
    let mut jac = Array3::zeros((1, prog.n_outputs(), x.len()));
    prog.jacobian_points(pts.view(), &[], jac.view_mut())
        .unwrap();
    jac
}

fn values(prog: &Program, x: &[f64]) -> Vec<f64> {
    let pts = Array2::from_shape_vec((1, x.len()), x.to_vec()).unwrap();
    let mut out = Array2::zeros((1, prog.n_outputs()));
    prog.eval_points(pts.view(), &[], out.view_mut()).unwrap();
    out.row(0).to_vec()
}

fn gradient(prog: &Program, x: &[f64]) -> Vec<f64> {
    let pts = Array2::from_shape_vec((1, x.len()), x.to_vec()).unwrap();
    let (mut v, mut g) = (Array1::zeros(1), Array2::zeros((1, x.len())));
    prog.gradient_points(pts.view(), &[], v.view_mut(), g.view_mut())
        .unwrap();
    g.row(0).to_vec()
}

/// Checks a scalar program's gradient (forward and reverse) and Hessian (nested
/// duals and forward over reverse) against central differences.
fn check_scalar(prog: &Program, x: &[f64], what: &str) {
    let n = x.len();
    let jac = jacobian(prog, x);
    let grad = gradient(prog, x);
    let h = 1e-6;
    for j in 0..n {
        let (mut a, mut b) = (x.to_vec(), x.to_vec());
        a[j] += h;
        b[j] -= h;
        let fd = (values(prog, &a)[0] - values(prog, &b)[0]) / (2.0 * h);
        assert!(
            close(jac[[0, 0, j]], fd, 1e-5, 1e-6),
            "{what}: d/dx{j} {} vs {fd}",
            jac[[0, 0, j]]
        );
        assert!(
            close(grad[j], jac[[0, 0, j]], 1e-13, 1e-14),
            "{what}: reverse {} forward {}",
            grad[j],
            jac[[0, 0, j]]
        );
    }
    let pts = Array2::from_shape_vec((1, n), x.to_vec()).unwrap();
    let mut hess = Array3::zeros((1, n, n));
    prog.hessian_points(pts.view(), &[], hess.view_mut())
        .unwrap();
    let eye = Array2::from_shape_fn((n, n), |(i, j)| f64::from(u8::from(i == j)));
    let mut hvp = Array3::zeros((1, n, n));
    prog.hvp_points(pts.view(), &[], eye.view(), hvp.view_mut())
        .unwrap();
    for j in 0..n {
        let (mut a, mut b) = (x.to_vec(), x.to_vec());
        a[j] += h;
        b[j] -= h;
        let (ga, gb) = (gradient(prog, &a), gradient(prog, &b));
        for i in 0..n {
            let fd = (ga[i] - gb[i]) / (2.0 * h);
            let got = hess[[0, i, j]];
            assert!(
                close(got, fd, 1e-4, 1e-5),
                "{what}: H[{i},{j}] {got} vs {fd}"
            );
            assert!(
                close(hvp[[0, j, i]], got, 1e-10, 1e-11),
                "{what}: hvp {} vs {got}",
                hvp[[0, j, i]]
            );
        }
    }
}

#[test]
fn every_unary_function() {
    for &func in UnaryFn::ALL {
        let (reference, points, derivative) = unary_reference(func);
        let ops = vec![Op::Input { index: 0, len: 1 }, Op::Unary { func, a: 0 }];
        let prog = Program::new(ops.clone(), &[1], &[], &[1]).unwrap();
        for &x in &points {
            let v = values(&prog, &[x])[0];
            let tol = if func == UnaryFn::Digamma {
                1e-8
            } else {
                1e-12
            };
            assert!(
                close(v, reference(x), tol, tol),
                "{func}({x}) = {v}, want {}",
                reference(x)
            );
            let d = jacobian(&prog, &[x])[[0, 0, 0]];
            let want = match derivative {
                Some(rule) => rule(x),
                None => {
                    let h = 1e-6;
                    (reference(x + h) - reference(x - h)) / (2.0 * h)
                }
            };
            let tol = if func == UnaryFn::Digamma { 1e-4 } else { 1e-6 };
            assert!(close(d, want, tol, tol), "{func}'({x}) = {d}, want {want}");
            if derivative.is_none() {
                check_scalar(&scalar_of(ops.clone(), 1), &[x], func.as_str());
            }
        }
    }
}

#[test]
fn every_binary_function() {
    for &func in BinaryFn::ALL {
        let reference = binary_reference(func);
        let ops = vec![
            Op::Input { index: 0, len: 2 },
            Op::Gather {
                a: 0,
                indices: vec![0],
            },
            Op::Gather {
                a: 0,
                indices: vec![1],
            },
            Op::Binary { func, a: 1, b: 2 },
        ];
        let prog = Program::new(ops.clone(), &[2], &[], &[3]).unwrap();
        for (a, b) in [(1.7, 0.6), (0.4, 2.3), (2.6, -1.1)] {
            if func == BinaryFn::Pow && a < 0.0 {
                continue;
            }
            let v = values(&prog, &[a, b])[0];
            assert!(close(v, reference(a, b), 1e-14, 1e-15), "{func}({a}, {b})");
            check_scalar(&scalar_of(ops.clone(), 2), &[a, b], func.as_str());
        }
        // at a tie, max and min split the derivative (JAX's convention)
        if matches!(func, BinaryFn::Max | BinaryFn::Min) {
            let jac = jacobian(&prog, &[1.5, 1.5]);
            assert_eq!(
                (jac[[0, 0, 0]], jac[[0, 0, 1]]),
                (0.5, 0.5),
                "{func} at a tie"
            );
        }
    }
}

#[test]
fn every_reduction() {
    let x = [0.7, -1.2, 2.0, 0.3, 2.0];
    for &func in ReduceFn::ALL {
        let ops = vec![
            Op::Input { index: 0, len: 5 },
            Op::Reduce {
                func,
                a: 0,
                offsets: vec![0, 3, 5],
                indices: vec![0, 1, 2, 3, 4],
            },
        ];
        let prog = Program::new(ops.clone(), &[5], &[], &[1]).unwrap();
        let v = values(&prog, &x);
        let groups: [&[f64]; 2] = [&x[..3], &x[3..]];
        for (g, group) in groups.iter().enumerate() {
            let want = match func {
                ReduceFn::Sum => group.iter().sum(),
                ReduceFn::Prod => group.iter().product(),
                ReduceFn::Max => group.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                ReduceFn::Min => group.iter().copied().fold(f64::INFINITY, f64::min),
                ReduceFn::ArgMax => [2.0, 1.0][g],
                ReduceFn::ArgMin => [1.0, 0.0][g],
            };
            assert!(
                close(v[g], want, 1e-15, 0.0),
                "{func} group {g}: {} vs {want}",
                v[g]
            );
        }
        check_scalar(&scalar_of(ops, 5), &x, func.as_str());
    }
    // ties: the maximal members share the derivative; products with a zero
    let ops = |func| {
        vec![
            Op::Input { index: 0, len: 4 },
            Op::Reduce {
                func,
                a: 0,
                offsets: vec![0, 4],
                indices: vec![0, 1, 2, 3],
            },
        ]
    };
    let tie = Program::new(ops(ReduceFn::Max), &[4], &[], &[1]).unwrap();
    let jac = jacobian(&tie, &[3.0, 1.0, 3.0, 3.0]);
    let third = 1.0 / 3.0;
    assert_eq!(jac.as_slice().unwrap(), &[third, 0.0, third, third]);
    let prod = Program::new(ops(ReduceFn::Prod), &[4], &[], &[1]).unwrap();
    let jac = jacobian(&prod, &[0.0, 2.0, 3.0, 0.5]);
    assert_eq!(jac.as_slice().unwrap(), &[3.0, 0.0, 0.0, 0.0]);
}

#[test]
fn sort_values_and_tangents_follow_the_permutation() {
    let ops = vec![
        Op::Input { index: 0, len: 6 },
        Op::Sort {
            keys: 0,
            a: 0,
            segment: 3,
        },
    ];
    let prog = Program::new(ops.clone(), &[6], &[], &[1]).unwrap();
    let x = [2.0, f64::NAN, -1.0, 0.5, 0.0, -0.0];
    let v = values(&prog, &x);
    assert_eq!(&v[..2], &[-1.0, 2.0]);
    assert!(v[2].is_nan());
    // stable: 0.0 before -0.0 as in the input
    assert_eq!(
        v[3..].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        [0.0f64, -0.0, 0.5].map(|v: f64| v.to_bits())
    );
    let jac = jacobian(&prog, &[3.0, 1.0, 2.0, 1.0, 1.0, 0.0]);
    let j = jac.index_axis(ndarray::Axis(0), 0);
    for (r, c) in [(0, 1), (1, 2), (2, 0), (3, 5), (4, 3), (5, 4)] {
        assert_eq!(j[[r, c]], 1.0, "row {r}");
        assert_eq!(j.row(r).sum(), 1.0);
    }
    check_scalar(
        &scalar_of(ops, 6),
        &[3.0, 1.0, 2.0, 1.5, -1.0, 0.25],
        "sort",
    );
}

/// A well-conditioned matrix argument for each function (and a right-hand side).
fn linalg_case(func: LinalgFn) -> (usize, usize, usize, Vec<f64>) {
    use LinalgFn::*;
    let a3 = [2.0, 0.5, 0.1, 0.3, 1.5, -0.2, 0.1, 0.4, 3.0];
    let spd = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
    let sym = [2.0, 0.3, -0.4, 0.3, 1.0, 0.6, -0.4, 0.6, -1.5];
    let rhs = [1.0, -2.0, 0.5, 0.3, 0.2, -0.7];
    match func {
        Solve | SolveLower | SolveUpper | SolveLowerUnit | SolveUpperUnit => {
            (3, 3, 2, [&a3[..], &rhs[..]].concat())
        }
        Inv | Det | Slogdet | Lu => (3, 3, 0, a3.to_vec()),
        Cholesky => (3, 3, 0, spd.to_vec()),
        Eigh => (3, 3, 0, sym.to_vec()),
        Svd => (3, 2, 0, vec![2.0, 0.5, 0.3, 1.5, 0.1, -0.4]),
    }
}

#[test]
fn every_linear_algebra_function() {
    for &func in LinalgFn::ALL {
        let (m, n, k, x) = linalg_case(func);
        let (arg_lens, _) = func.layout(m, n, k).unwrap();
        let mut ops = vec![Op::Input {
            index: 0,
            len: x.len(),
        }];
        let mut args = Vec::new();
        let mut at = 0;
        for len in &arg_lens {
            ops.push(Op::Gather {
                a: 0,
                indices: (at..at + len).map(|e| e as i64).collect(),
            });
            args.push(ops.len() - 1);
            at += len;
        }
        ops.push(Op::Linalg {
            func,
            args,
            batch: 1,
            m,
            n,
            k,
        });
        let out = ops.len() - 1;
        let prog = Program::new(ops.clone(), &[x.len()], &[], &[out]).unwrap();
        // forward Jacobian against differences, reverse against forward
        let jac = jacobian(&prog, &x);
        let h = 1e-6;
        for j in 0..x.len() {
            let (mut a, mut b) = (x.clone(), x.clone());
            a[j] += h;
            b[j] -= h;
            let (va, vb) = (values(&prog, &a), values(&prog, &b));
            for r in 0..prog.n_outputs() {
                let fd = (va[r] - vb[r]) / (2.0 * h);
                assert!(
                    close(jac[[0, r, j]], fd, 1e-5, 1e-6),
                    "{func}: J[{r},{j}] {} vs {fd}",
                    jac[[0, r, j]]
                );
            }
        }
        check_scalar(&scalar_of(ops, x.len()), &x, func.as_str());
    }
}

#[test]
fn sparsity_of_the_new_instructions() {
    // x (6): prod of x0..x2, argmax of x3..x5, sort of x0..x5 in two segments,
    // stop_gradient of x0, det of two 1x1 "matrices" x4 and x5
    let ops = vec![
        Op::Input { index: 0, len: 6 },
        Op::Reduce {
            func: ReduceFn::Prod,
            a: 0,
            offsets: vec![0, 3],
            indices: vec![0, 1, 2],
        },
        Op::Reduce {
            func: ReduceFn::ArgMax,
            a: 0,
            offsets: vec![0, 3],
            indices: vec![3, 4, 5],
        },
        Op::Sort {
            keys: 0,
            a: 0,
            segment: 3,
        },
        Op::Unary {
            func: UnaryFn::StopGradient,
            a: 0,
        },
        Op::Gather {
            a: 0,
            indices: vec![4, 5],
        },
        Op::Linalg {
            func: LinalgFn::Det,
            args: vec![5],
            batch: 2,
            m: 1,
            n: 1,
            k: 0,
        },
        Op::Concat(vec![1, 2, 3, 4, 6]),
    ];
    let prog = Program::new(ops, &[6], &[], &[7]).unwrap();
    let p = prog.jacobian_sparsity();
    let rows: Vec<Vec<usize>> = (0..prog.n_outputs()).map(|r| p.row(r).to_vec()).collect();
    assert_eq!(rows[0], vec![0, 1, 2]); // prod
    assert!(rows[1].is_empty()); // argmax: zero derivative
                                 // sorted: anywhere in the segment
    assert!(rows[2..5].iter().all(|r| r == &[0, 1, 2]));
    assert!(rows[5..8].iter().all(|r| r == &[3, 4, 5]));
    assert!(rows[8..14].iter().all(|r| r.is_empty())); // stop_gradient
    assert_eq!((rows[14].clone(), rows[15].clone()), (vec![4], vec![5])); // batch items apart
    let h = prog.hessian_sparsity().unwrap();
    // prod: every pair of distinct members, no diagonal; det of 1x1: the diagonal
    assert_eq!(h.row(0), &[1, 2]);
    assert_eq!(h.row(1), &[0, 2]);
    assert_eq!(h.row(4), &[4]);
    assert!(h.row(3).is_empty());
}

#[test]
fn overflow_gives_the_same_numbers_in_every_mode() {
    // exp(x0) * x1 at x0 = 1000, x1 = 0: exp overflows, the true 0 is lost; every
    // engine says NaN (as JAX), none 0; a NaN on the untaken side of a select stays out
    let ops = vec![
        Op::Input { index: 0, len: 2 },
        Op::Gather {
            a: 0,
            indices: vec![0],
        },
        Op::Gather {
            a: 0,
            indices: vec![1],
        },
        Op::Unary {
            func: UnaryFn::Exp,
            a: 1,
        },
        Op::Binary {
            func: BinaryFn::Mul,
            a: 3,
            b: 2,
        },
    ];
    let prog = Program::new(ops, &[2], &[], &[4]).unwrap();
    let x = [1000.0, 0.0];
    let jac = jacobian(&prog, &x);
    let grad = gradient(&prog, &x);
    let pts = Array2::from_shape_vec((1, 2), x.to_vec()).unwrap();
    let (mut v, mut g, mut h) = (
        Array1::zeros(1),
        Array2::zeros((1, 2)),
        Array3::zeros((1, 2, 2)),
    );
    prog.value_grad_hessian_points(pts.view(), &[], v.view_mut(), g.view_mut(), h.view_mut())
        .unwrap();
    assert!(jac[[0, 0, 0]].is_nan() && grad[0].is_nan() && g[[0, 0]].is_nan());
    assert_eq!(
        (jac[[0, 0, 1]], grad[1], g[[0, 1]]),
        (f64::INFINITY, f64::INFINITY, f64::INFINITY)
    );
    // where(x > 0, sqrt(x), 0) at x = -1 and 0
    let ops = vec![
        Op::Input { index: 0, len: 2 },
        Op::Const(vec![0.0, 0.0]),
        Op::Compare {
            func: anydiff::ir::CompareFn::Gt,
            a: 0,
            b: 1,
        },
        Op::Unary {
            func: UnaryFn::Sqrt,
            a: 0,
        },
        Op::Select { c: 2, t: 3, f: 1 },
        Op::Reduce {
            func: ReduceFn::Sum,
            a: 4,
            offsets: vec![0, 2],
            indices: vec![0, 1],
        },
    ];
    let prog = Program::new(ops, &[2], &[], &[5]).unwrap();
    let x = [-1.0, 0.0];
    assert_eq!(gradient(&prog, &x), vec![0.0, 0.0]);
    assert_eq!(jacobian(&prog, &x).as_slice().unwrap(), &[0.0, 0.0]);
}
