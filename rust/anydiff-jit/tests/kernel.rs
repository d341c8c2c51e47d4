//! Compiled kernels against the interpreter (`Program::value_and_jacobian_points`):
//! the same rules, so the same numbers, NaNs and signed zeros aside.

use anydiff::ir::{BinaryFn, CompareFn, Op, Program, ReduceFn, UnaryFn};
use anydiff_jit::{JitError, Kernel, Mode};
use ndarray::{Array2, Array3};
use proptest::prelude::*;

/// Values and Jacobians from the interpreter.
fn interpreted(prog: &Program, points: &Array2<f64>, params: &[f64]) -> (Array2<f64>, Array3<f64>) {
    let (np, n, m) = (points.nrows(), prog.n_inputs(), prog.n_outputs());
    let mut vals = Array2::zeros((np, m));
    let mut jac = Array3::zeros((np, m, n));
    prog.value_and_jacobian_points(points.view(), params, vals.view_mut(), jac.view_mut())
        .unwrap();
    (vals, jac)
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn assert_same(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(same(g, w), "{what}[{i}]: compiled {g:e}, interpreter {w:e}");
    }
}

/// Checks every mode of `prog` at `points` against the interpreter.
fn check(prog: &Program, points: &Array2<f64>, params: &[f64]) {
    let (vals, jac) = interpreted(prog, points, params);
    let np = points.nrows();
    let pts = points.as_standard_layout();
    let pts = pts.as_slice().unwrap();
    let (m, n) = (prog.n_outputs(), prog.n_inputs());
    for mode in [Mode::Values, Mode::Jacobian, Mode::ValuesAndJacobian] {
        let kernel = Kernel::compile(prog, mode).unwrap();
        let mut v = vec![-7.0; if mode == Mode::Jacobian { 0 } else { np * m }];
        let mut j = vec![-7.0; if mode == Mode::Values { 0 } else { np * m * n }];
        kernel.run(np, pts, params, &mut v, &mut j).unwrap();
        if mode != Mode::Jacobian {
            assert_same(&format!("{mode:?} values"), &v, vals.as_slice().unwrap());
        }
        if mode != Mode::Values {
            assert_same(&format!("{mode:?} jacobian"), &j, jac.as_slice().unwrap());
        }
    }
}

const SPECIAL: [f64; 16] = [
    -3.7,
    -1.0,
    -0.5,
    -0.0,
    0.0,
    0.25,
    0.5,
    0.999,
    1.0,
    1.5,
    2.0,
    30.0,
    1e300,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

/// Every pair of special values as points `(a, b)`.
fn pairs() -> Array2<f64> {
    let k = SPECIAL.len();
    Array2::from_shape_fn((k * k, 2), |(p, j)| {
        SPECIAL[if j == 0 { p / k } else { p % k }]
    })
}

/// `[f(x0, x1), x1 * f(...)]`: the second output makes the tangent lanes
/// pass through a product after the instruction under test.
fn two_inputs(op: Op) -> Program {
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
        op,
        Op::Binary {
            func: BinaryFn::Mul,
            a: 2,
            b: 3,
        },
        Op::Concat(vec![3, 4]),
    ];
    Program::new(ops, &[2], &[], &[5]).unwrap()
}

#[test]
fn lotka_volterra_at_many_points() {
    // (a x - b x y, c x y - d y) of (x, y, a, b, c, d)
    let g = |i: i64| Op::Gather {
        a: 0,
        indices: vec![i],
    };
    let mul = |a, b| Op::Binary {
        func: BinaryFn::Mul,
        a,
        b,
    };
    let ops = vec![
        Op::Input { index: 0, len: 6 },
        g(0),
        g(1),
        g(2),
        g(3),
        g(4),
        g(5),
        mul(3, 1),
        mul(4, 1),
        mul(8, 2),
        Op::Binary {
            func: BinaryFn::Sub,
            a: 7,
            b: 9,
        },
        mul(5, 1),
        mul(11, 2),
        mul(6, 2),
        Op::Binary {
            func: BinaryFn::Sub,
            a: 12,
            b: 13,
        },
        Op::Concat(vec![10, 14]),
    ];
    let prog = Program::new(ops, &[6], &[], &[15]).unwrap();
    let points = Array2::from_shape_fn((10_007, 6), |(p, j)| {
        0.5 + ((p * 7 + j * 13) % 17) as f64 / 9.0
    });
    check(&prog, &points, &[]);
    // the closed form at one point
    let kernel = Kernel::compile(&prog, Mode::Jacobian).unwrap();
    let (x, y, a, b, c, d) = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0);
    let mut jac = vec![0.0; 12];
    kernel
        .run(1, &[x, y, a, b, c, d], &[], &mut [], &mut jac)
        .unwrap();
    let want = [
        a - b * y,
        -b * x,
        x,
        -x * y,
        0.0,
        0.0,
        c * y,
        c * x - d,
        0.0,
        0.0,
        x * y,
        -y,
    ];
    assert_eq!(jac, want);
}

#[test]
fn every_unary_function_and_power() {
    for &func in UnaryFn::ALL {
        check(&two_inputs(Op::Unary { func, a: 1 }), &pairs(), &[]);
    }
    for n in [-3, -2, -1, 0, 1, 2, 3, 4, 7] {
        check(&two_inputs(Op::Powi { a: 1, n }), &pairs(), &[]);
    }
}

#[test]
fn every_binary_function_and_comparison() {
    for &func in BinaryFn::ALL {
        check(&two_inputs(Op::Binary { func, a: 1, b: 2 }), &pairs(), &[]);
        // both arguments the same element: the two partials add up
        check(&two_inputs(Op::Binary { func, a: 1, b: 1 }), &pairs(), &[]);
    }
    for &func in CompareFn::ALL {
        check(&two_inputs(Op::Compare { func, a: 1, b: 2 }), &pairs(), &[]);
    }
}

#[test]
fn select_gather_reductions_products_params_and_constants() {
    // x (4), p (3): select, gathers with -1, reductions with ties and NaNs,
    // a 2x2 @ 2x1 product, parameters and constants
    let ops = vec![
        Op::Input { index: 0, len: 4 },
        Op::Param { index: 0, len: 3 },
        Op::Const(vec![0.0, 1.0, -2.0, f64::NAN]),
        Op::Compare {
            func: CompareFn::Gt,
            a: 0,
            b: 2,
        },
        Op::Select { c: 3, t: 0, f: 2 },
        Op::Gather {
            a: 4,
            indices: vec![3, -1, 0, 0, 2],
        },
        Op::Reduce {
            func: ReduceFn::Max,
            a: 0,
            offsets: vec![0, 4, 5, 7],
            indices: vec![0, 1, 2, 3, 2, 3, 1],
        },
        Op::Reduce {
            func: ReduceFn::Min,
            a: 0,
            offsets: vec![0, 3, 5],
            indices: vec![2, 1, 0, 3, 0],
        },
        Op::Reduce {
            func: ReduceFn::Sum,
            a: 0,
            offsets: vec![0, 4, 4],
            indices: vec![0, 1, 2, 3],
        },
        Op::Gather {
            a: 1,
            indices: vec![0, 1],
        },
        Op::Binary {
            func: BinaryFn::Mul,
            a: 9,
            b: 9,
        },
        Op::Gather {
            a: 0,
            indices: vec![0, 1, 2, 3],
        },
        Op::Gather {
            a: 10,
            indices: vec![0, 1],
        },
        Op::Dot {
            a: 11,
            b: 12,
            batch: 1,
            m: 2,
            k: 2,
            n: 1,
        },
        Op::Select { c: 0, t: 2, f: 0 },
        Op::Concat(vec![5, 6, 7, 8, 13, 14]),
    ];
    let prog = Program::new(ops, &[4], &[3], &[15]).unwrap();
    let k = SPECIAL.len();
    let points = Array2::from_shape_fn((k * k * 4, 4), |(p, j)| {
        SPECIAL[(p / k.pow(j.min(2) as u32) + j * 5) % k]
    });
    check(&prog, &points, &[0.5, -1.5, 2.0]);
}

#[test]
fn every_reduction_with_ties_zeros_and_nans() {
    // groups of x (4) with repeated members, so ties, zeros and NaNs meet
    for &func in ReduceFn::ALL {
        let ops = vec![
            Op::Input { index: 0, len: 4 },
            Op::Reduce {
                func,
                a: 0,
                offsets: vec![0, 4, 5, 7, 10],
                indices: vec![0, 1, 2, 3, 2, 3, 1, 0, 0, 1],
            },
            Op::Binary {
                func: BinaryFn::Mul,
                a: 1,
                b: 1,
            },
        ];
        let prog = Program::new(ops, &[4], &[], &[2]).unwrap();
        let k = SPECIAL.len();
        let points = Array2::from_shape_fn((k * k * 4, 4), |(p, j)| {
            SPECIAL[(p / k.pow(j.min(2) as u32) + j * 3) % k]
        });
        check(&prog, &points, &[]);
    }
}

#[test]
fn sort_and_linear_algebra_are_declined() {
    let sort = vec![
        Op::Input { index: 0, len: 4 },
        Op::Sort {
            keys: 0,
            a: 0,
            segment: 4,
        },
    ];
    let inv = vec![
        Op::Input { index: 0, len: 4 },
        Op::Linalg {
            func: anydiff::ir::LinalgFn::Inv,
            args: vec![0],
            batch: 1,
            m: 2,
            n: 2,
            k: 0,
        },
    ];
    for ops in [sort, inv] {
        let prog = Program::new(ops, &[4], &[], &[1]).unwrap();
        let err = Kernel::compile(&prog, Mode::Jacobian).unwrap_err();
        assert!(matches!(err, JitError::Declined(_)), "{err}");
        assert!(err.to_string().contains("interpreter"), "{err}");
    }
}

#[test]
fn no_points_and_parallel_chunks() {
    let prog = two_inputs(Op::Unary {
        func: UnaryFn::Sin,
        a: 1,
    });
    check(&prog, &Array2::zeros((0, 2)), &[]);
    let many = Array2::from_shape_fn((9001, 2), |(p, j)| (p as f64).sqrt() - j as f64);
    check(&prog, &many, &[]);
}

#[test]
fn limits_and_sizes_are_errors() {
    let wide = Program::new(vec![Op::Input { index: 0, len: 65 }], &[65], &[], &[0]).unwrap();
    assert!(matches!(
        Kernel::compile(&wide, Mode::Jacobian),
        Err(JitError::TooLarge(_))
    ));
    // values alone do not need lanes
    assert!(Kernel::compile(&wide, Mode::Values).is_ok());
    let prog = two_inputs(Op::Unary {
        func: UnaryFn::Exp,
        a: 1,
    });
    let kernel = Kernel::compile(&prog, Mode::ValuesAndJacobian).unwrap();
    let err = kernel
        .run(2, &[1.0, 2.0, 3.0], &[], &mut [0.0; 4], &mut [0.0; 8])
        .unwrap_err();
    assert!(err
        .to_string()
        .contains("points: expected 4 numbers for 2 points, got 3"));
    let err = kernel
        .run(2, &[1.0; 4], &[1.0], &mut [0.0; 4], &mut [0.0; 8])
        .unwrap_err();
    assert!(err.to_string().contains("params"));
    let err = kernel
        .run(2, &[1.0; 4], &[], &mut [0.0; 4], &mut [0.0; 7])
        .unwrap_err();
    assert!(err.to_string().contains("jacobian"));
}

/// A random program of 1 to 4 inputs: a chain of elementwise instructions on
/// one- and three-element nodes, gathers mixing them, and a reduction.
fn random_program(seed: u64) -> Program {
    let mut s = seed | 1;
    let mut below = |k: usize| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % k as u64) as usize
    };
    let n = 1 + below(4);
    let mut ops = vec![Op::Input { index: 0, len: n }];
    let mut lens = vec![n];
    for _ in 0..12 {
        let i = ops.len();
        let pick = |below: &mut dyn FnMut(usize) -> usize, len: usize| {
            let same: Vec<usize> = (0..i).filter(|&j| lens[j] == len).collect();
            same[below(same.len())]
        };
        let len = if below(2) == 0 { 1 } else { 3 };
        if !lens.contains(&len) || below(4) == 0 {
            let src = below(i);
            let indices = (0..len).map(|_| below(lens[src] + 1) as i64 - 1).collect();
            ops.push(Op::Gather { a: src, indices });
        } else {
            let a = pick(&mut below, len);
            let b = pick(&mut below, len);
            ops.push(match below(6) {
                0 => Op::Unary {
                    func: UnaryFn::ALL[below(UnaryFn::ALL.len())],
                    a,
                },
                1 => Op::Powi {
                    a,
                    n: below(5) as i32 - 1,
                },
                2 => Op::Select {
                    c: a,
                    t: b,
                    f: pick(&mut below, len),
                },
                3 => Op::Compare {
                    func: CompareFn::ALL[below(6)],
                    a,
                    b,
                },
                _ => Op::Binary {
                    func: BinaryFn::ALL[below(BinaryFn::ALL.len())],
                    a,
                    b,
                },
            });
        }
        lens.push(len);
    }
    let last = ops.len() - 1;
    ops.push(Op::Reduce {
        func: ReduceFn::ALL[below(3)],
        a: last,
        offsets: vec![0, lens[last]],
        indices: (0..lens[last]).collect(),
    });
    ops.push(Op::Concat(vec![last, last + 1]));
    Program::new(ops, &[n], &[], &[last + 2]).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_programs_match_the_interpreter(seed in any::<u64>(), scale in 0.1f64..3.0) {
        let prog = random_program(seed);
        let n = prog.n_inputs();
        let points = Array2::from_shape_fn((37, n), |(p, j)| {
            scale * (((p * 31 + j * 17) % 23) as f64 - 11.0) / 7.0
        });
        check(&prog, &points, &[]);
    }
}
