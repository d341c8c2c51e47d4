//! Sparse Jacobians entry by entry (`SparseJacobian`) against the dense
//! Jacobians of the forward engine, on the program's own pattern.

mod ir_support;

use std::sync::Arc;

use anydiff::ir::{BinaryFn, Op, Program, ReduceFn, SparseJacobian, UnaryFn};
use ir_support::*;
use ndarray::Array2;
use proptest::prelude::*;

/// Compiles `prog` on its own pattern and compares with the dense Jacobian,
/// twice (the second call reuses the buffers of the first).
fn check(prog: Program, x: &[f64], params: &[f64], tol: f64) -> SparseJacobian {
    let pattern = prog.jacobian_sparsity();
    let want = dense_jacobian(&prog, x, params);
    let sj = SparseJacobian::new(Arc::new(prog), &pattern).unwrap();
    for _ in 0..2 {
        let mut data = vec![f64::NAN; pattern.nnz()];
        sj.run(x, params, &mut data).unwrap();
        let mut got = Array2::<f64>::zeros(want.dim());
        for r in 0..pattern.nrows() {
            for (k, &c) in pattern.row(r).iter().enumerate() {
                got[[r, c]] = data[pattern.row_ptr()[r] + k];
            }
        }
        for ((r, c), &w) in want.indexed_iter() {
            let g = got[[r, c]];
            assert!(
                (g - w).abs() <= tol * (1.0 + w.abs()) || (g.is_nan() && w.is_nan()),
                "J[{r}, {c}]: entries {g}, dense {w}"
            );
        }
    }
    sj
}

#[test]
fn stencil_constant_rows_fold() {
    let n = 50;
    let x = uniform(n, 3, -1.0, 1.0);
    check(stencil(n), &x, &[], 1e-14);
    // a linear stencil (its Laplacian, negated): every entry is known while
    // compiling, so a call computes nothing
    let mut ops = laplacian_ops(n);
    ops.push(un(UnaryFn::Neg, 6));
    let linear = Program::new(ops, &[n], &[], &[7]).unwrap();
    let sj = check(linear, &x, &[], 0.0);
    assert_eq!(sj.n_steps(), 0, "{sj:?}");
}

#[test]
fn lotka_volterra_and_rosenbrock_gradient() {
    let z = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    check(lotka_volterra(), &z, &[], 1e-15);
    // every unary function and the other binary functions, through one input
    let mut ops = vec![Op::Input { index: 0, len: 3 }];
    for &func in UnaryFn::ALL {
        ops.push(un(func, 0));
    }
    for &func in BinaryFn::ALL {
        ops.push(bin(func, 0, 1 + ops.len() % 7));
    }
    let all: Vec<usize> = (1..ops.len()).collect();
    ops.push(Op::Concat(all));
    let last = ops.len() - 1;
    let prog = Program::new(ops, &[3], &[], &[last]).unwrap();
    check(prog, &[0.3, -0.7, 0.45], &[], 1e-13);
}

#[test]
fn params_selects_and_sums() {
    // y = select(x > p, x * p, sum(x) - x) with a parameter p
    let n = 5;
    let ops = vec![
        Op::Input { index: 0, len: n },
        Op::Param { index: 0, len: n },
        Op::Compare {
            func: anydiff::ir::CompareFn::Gt,
            a: 0,
            b: 1,
        },
        bin(BinaryFn::Mul, 0, 1),
        Op::Reduce {
            func: ReduceFn::Sum,
            a: 0,
            offsets: vec![0, n],
            indices: (0..n).collect(),
        },
        gather(4, vec![0; n]),
        bin(BinaryFn::Sub, 5, 0),
        Op::Select { c: 2, t: 3, f: 6 },
    ];
    let prog = Program::new(ops, &[n], &[n], &[7]).unwrap();
    let p = [0.0, 1.0, -1.0, 0.5, 2.0];
    check(prog, &[0.5, 0.5, 0.5, 0.5, 0.5], &p, 1e-15);
}

#[test]
fn unsupported_programs_and_bad_sizes_are_errors() {
    let prog = mlp(4, &[0.5; 16]);
    let pattern = prog.jacobian_sparsity();
    let err = SparseJacobian::new(Arc::new(prog), &pattern).unwrap_err();
    assert!(err.to_string().contains("matrix product"), "{err}");
    let prog = stencil(6);
    let pattern = prog.jacobian_sparsity();
    let sj = SparseJacobian::new(Arc::new(prog.clone()), &pattern).unwrap();
    let err = sj
        .run(&[0.0; 5], &[], &mut vec![0.0; pattern.nnz()])
        .unwrap_err();
    assert!(err.to_string().contains("x"), "{err}");
    // a pattern without the program's entries is refused
    let diag = {
        let (ptr, idx): (Vec<usize>, Vec<usize>) = ((0..=6).collect(), (0..6).collect());
        anydiff::sparse::Pattern::from_csr(6, 6, &ptr, &idx).unwrap()
    };
    let err = SparseJacobian::new(Arc::new(prog), &diag).unwrap_err();
    assert!(err.to_string().contains("pattern lacks entry"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_array_programs_match_dense(seed in any::<u64>(), n_ops in 2usize..30, n in 2usize..40) {
        let prog = random_array_program(seed, n_ops, n);
        let x = uniform(n, seed, -1.5, 1.5);
        check(prog, &x, &[], 1e-12);
    }
}
