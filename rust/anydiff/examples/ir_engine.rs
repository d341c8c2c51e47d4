//! The IR engine on two reference problems: Jacobians of Lotka–Volterra over
//! 100,000 points, and global sparsity detection of the 2-D Brusselator.
//!
//! Run with `cargo run --release --example ir_engine`.

use std::time::Instant;

use anydiff::ir::{BinaryFn, Op, Program};
use ndarray::{Array2, Array3};

/// Lotka–Volterra: inputs (x, y, a, b, c, d), outputs (a x - b x y, c x y - d y).
fn lotka_volterra() -> Result<Program, anydiff::ir::IrError> {
    let g = |j: i64| Op::Gather {
        a: 0,
        indices: vec![j],
    };
    let bin = |func, a, b| Op::Binary { func, a, b };
    let ops = vec![
        Op::Input { index: 0, len: 6 },
        g(0),
        g(1),
        g(2),
        g(3),
        g(4),
        g(5),
        bin(BinaryFn::Mul, 3, 1),
        bin(BinaryFn::Mul, 4, 1),
        bin(BinaryFn::Mul, 8, 2),
        bin(BinaryFn::Sub, 7, 9),
        bin(BinaryFn::Mul, 5, 1),
        bin(BinaryFn::Mul, 11, 2),
        bin(BinaryFn::Mul, 6, 2),
        bin(BinaryFn::Sub, 12, 13),
        Op::Concat(vec![10, 14]),
    ];
    Program::new(ops, &[6], &[], &[15])
}

/// The Brusselator right-hand side at t = 0 on an N x N periodic grid
/// (state `u` then `v`, index `i + N j`).
fn brusselator(n: usize) -> Result<Program, anydiff::ir::IrError> {
    let nn = n * n;
    let alpha = 10.0 * ((n - 1) * (n - 1)) as f64;
    let idx = |i: usize, j: usize| (i % n + n * (j % n)) as i64;
    let shift = |di: usize, dj: usize, base: i64| -> Vec<i64> {
        (0..nn)
            .map(|q| base + idx(q % n + di, q / n + dj))
            .collect()
    };
    let mut ops = vec![Op::Input {
        index: 0,
        len: 2 * nn,
    }];
    let mut push = |op: Op| {
        ops.push(op);
        ops.len() - 1
    };
    let lap = |push: &mut dyn FnMut(Op) -> usize, base: i64| {
        let c = push(Op::Gather {
            a: 0,
            indices: shift(0, 0, base),
        });
        let mut acc = push(Op::Gather {
            a: 0,
            indices: shift(1, 0, base),
        });
        for (di, dj) in [(n - 1, 0), (0, 1), (0, n - 1)] {
            let s = push(Op::Gather {
                a: 0,
                indices: shift(di, dj, base),
            });
            acc = push(Op::Binary {
                func: BinaryFn::Add,
                a: acc,
                b: s,
            });
        }
        let four = push(Op::Const(vec![4.0; nn]));
        let c4 = push(Op::Binary {
            func: BinaryFn::Mul,
            a: four,
            b: c,
        });
        let l = push(Op::Binary {
            func: BinaryFn::Sub,
            a: acc,
            b: c4,
        });
        (c, l)
    };
    let (u, lu) = lap(&mut push, 0);
    let (v, lv) = lap(&mut push, nn as i64);
    let bin = |func, a, b| Op::Binary { func, a, b };
    let k_alpha = push(Op::Const(vec![alpha; nn]));
    let k_b = push(Op::Const(vec![1.0; nn]));
    let k_a1 = push(Op::Const(vec![4.4; nn]));
    let k_a = push(Op::Const(vec![3.4; nn]));
    let uu = push(bin(BinaryFn::Mul, u, u));
    let uuv = push(bin(BinaryFn::Mul, uu, v));
    let alu = push(bin(BinaryFn::Mul, k_alpha, lu));
    let t1 = push(bin(BinaryFn::Add, alu, k_b));
    let t2 = push(bin(BinaryFn::Add, t1, uuv));
    let a1u = push(bin(BinaryFn::Mul, k_a1, u));
    let du = push(bin(BinaryFn::Sub, t2, a1u));
    let alv = push(bin(BinaryFn::Mul, k_alpha, lv));
    let au = push(bin(BinaryFn::Mul, k_a, u));
    let t3 = push(bin(BinaryFn::Add, alv, au));
    let dv = push(bin(BinaryFn::Sub, t3, uuv));
    let out = push(Op::Concat(vec![du, dv]));
    Program::new(ops, &[2 * nn], &[], &[out])
}

fn main() -> Result<(), anydiff::ir::IrError> {
    let lv = lotka_volterra()?;
    let points = 100_000;
    let mut x = Array2::<f64>::zeros((points, 6));
    for (p, mut row) in x.rows_mut().into_iter().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = 0.5 + ((p * 7 + j * 13) % 97) as f64 / 97.0;
        }
    }
    let mut jac = Array3::<f64>::zeros((points, 2, 6));
    lv.jacobian_points(x.view(), &[], jac.view_mut())?; // warm-up
    let reps = 20;
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        lv.jacobian_points(x.view(), &[], jac.view_mut())?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "Lotka-Volterra jacobian_points, {points} points: {:.3} ms ({:.1} ns/point, best of {reps})",
        best * 1e3,
        best * 1e9 / points as f64
    );
    let mut vals = Array2::<f64>::zeros((points, 2));
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        lv.eval_points(x.view(), &[], vals.view_mut())?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "Lotka-Volterra eval_points: {:.1} ns/point",
        best * 1e9 / points as f64
    );

    for n in [128, 512] {
        let prog = brusselator(n)?;
        let t = Instant::now();
        let pattern = prog.jacobian_sparsity();
        let dt = t.elapsed().as_secs_f64();
        println!(
            "Brusselator N={n}: Jacobian pattern {} x {} with {} nonzeros in {:.2} ms",
            pattern.nrows(),
            pattern.ncols(),
            pattern.nnz(),
            dt * 1e3
        );
        let t = Instant::now();
        let h = prog.hessian_sparsity()?;
        println!(
            "Brusselator N={n}: Hessian pattern ({} nonzeros) in {:.2} ms",
            h.nnz(),
            t.elapsed().as_secs_f64() * 1e3
        );
        let x = Array2::<f64>::from_elem((1, 2 * n * n), 1.5);
        let mut out = Array2::<f64>::zeros((1, 2 * n * n));
        let t = Instant::now();
        prog.eval_points(x.view(), &[], out.view_mut())?;
        println!(
            "Brusselator N={n}: one evaluation in {:.3} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        let seeds = Array2::<f64>::from_elem((7, 2 * n * n), 1.0);
        let mut tan = Array3::<f64>::zeros((1, 7, 2 * n * n));
        let t = Instant::now();
        prog.jvp_points(x.view(), &[], seeds.view(), out.view_mut(), tan.view_mut())?;
        println!(
            "Brusselator N={n}: 7 JVPs in {:.3} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(())
}
