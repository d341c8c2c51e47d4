//! Global sparsity patterns equal the structural patterns and never miss a
//! nonzero of a dense Jacobian or Hessian.

#![allow(clippy::needless_range_loop)]

mod ir_support;

use anydiff::ir::{BinaryFn, Op, Program, UnaryFn};
use anydiff::Pattern;
use ir_support::*;
use ndarray::Array2;

fn covers(p: &Pattern, dense: &Array2<f64>) {
    for ((i, j), v) in dense.indexed_iter() {
        if *v != 0.0 {
            assert!(p.contains(i, j), "pattern misses ({i}, {j})");
        }
    }
}

#[test]
fn lotka_volterra_pattern() {
    let prog = lotka_volterra();
    let p = prog.jacobian_sparsity();
    assert_eq!(p.row(0), &[0, 1, 2, 3]);
    assert_eq!(p.row(1), &[0, 1, 4, 5]);
    covers(&p, &dense_jacobian(&prog, &uniform(6, 1, 0.5, 1.5), &[]));
}

#[test]
fn stencil_patterns_are_tridiagonal() {
    let n = 30;
    let prog = stencil(n);
    let p = prog.jacobian_sparsity();
    let want: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i.saturating_sub(1)..(i + 2).min(n)).map(move |j| (i, j)))
        .collect();
    let (rows, cols): (Vec<usize>, Vec<usize>) = want.into_iter().unzip();
    assert_eq!(p, Pattern::from_coo(n, n, &rows, &cols).unwrap());
    for seed in 0..3 {
        covers(
            &p,
            &dense_jacobian(&prog, &uniform(n, seed, -1.0, 1.0), &[]),
        );
    }
    // sum of (x_{i-1} - 2 x_i + x_{i+1}) x_i^2: tridiagonal Hessian
    let h = prog.hessian_sparsity().unwrap();
    assert!(h.is_symmetric());
    assert_eq!(h, Pattern::from_coo(n, n, &rows, &cols).unwrap());
}

#[test]
fn rosenbrock_hessian_pattern_is_tridiagonal() {
    let n = 50;
    let prog = rosenbrock(n);
    let h = prog.hessian_sparsity().unwrap();
    assert_eq!(h.nnz(), 3 * n - 2);
    for i in 0..n {
        let want: Vec<usize> = (i.saturating_sub(1)..(i + 2).min(n)).collect();
        assert_eq!(h.row(i), want.as_slice());
    }
    let j = prog.jacobian_sparsity();
    assert_eq!((j.nrows(), j.ncols(), j.nnz()), (1, n, n));
}

#[test]
fn mlp_patterns_are_dense_where_they_should_be() {
    let n = 8;
    let w2 = uniform(n * n, 3, -1.0, 1.0);
    let prog = mlp(n, &w2);
    let p = prog.jacobian_sparsity();
    assert_eq!(p.nnz(), n * n);
    covers(
        &p,
        &dense_jacobian(
            &prog,
            &uniform(n, 4, -1.0, 1.0),
            &uniform(n * n, 5, -1.0, 1.0),
        ),
    );
    assert_eq!(prog.hessian_sparsity().unwrap().nnz(), n * n);
}

#[test]
fn piecewise_constant_and_linear_operations() {
    // y = [floor(x0) * x1, x0 < x1, abs(x2) + x2 * x3, max(x0, x1)]
    let ops = vec![
        Op::Input { index: 0, len: 4 },
        gather(0, vec![0]),
        gather(0, vec![1]),
        gather(0, vec![2]),
        gather(0, vec![3]),
        un(UnaryFn::Floor, 1),
        bin(BinaryFn::Mul, 5, 2),
        Op::Compare {
            func: anydiff::ir::CompareFn::Lt,
            a: 1,
            b: 2,
        },
        un(UnaryFn::Abs, 3),
        bin(BinaryFn::Mul, 3, 4),
        bin(BinaryFn::Add, 8, 9),
        bin(BinaryFn::Max, 1, 2),
        Op::Concat(vec![6, 7, 10, 11]),
    ];
    let prog = Program::new(ops, &[4], &[], &[12]).unwrap();
    let p = prog.jacobian_sparsity();
    assert_eq!(p.row(0), &[1]);
    assert!(p.row(1).is_empty());
    assert_eq!(p.row(2), &[2, 3]);
    assert_eq!(p.row(3), &[0, 1]);
    let h = prog.hessian_sparsity().unwrap();
    let (rows, cols) = h.to_coo();
    assert_eq!((rows, cols), (vec![2, 3], vec![3, 2]));
    covers(&p, &dense_jacobian(&prog, &[1.5, 0.3, -0.7, 2.0], &[]));
}

#[test]
fn division_and_pow_second_order_sets() {
    // x0 / x1 + x2^x3
    let ops = vec![
        Op::Input { index: 0, len: 4 },
        gather(0, vec![0]),
        gather(0, vec![1]),
        gather(0, vec![2]),
        gather(0, vec![3]),
        bin(BinaryFn::Div, 1, 2),
        bin(BinaryFn::Pow, 3, 4),
        bin(BinaryFn::Add, 5, 6),
    ];
    let prog = Program::new(ops, &[4], &[], &[7]).unwrap();
    let h = prog.hessian_sparsity().unwrap();
    assert_eq!(h.row(0), &[1]);
    assert_eq!(h.row(1), &[0, 1]);
    assert_eq!(h.row(2), &[2, 3]);
    assert_eq!(h.row(3), &[2, 3]);
}
