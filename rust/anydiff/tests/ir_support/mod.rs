//! Hand-built programs shared by the IR tests.
#![allow(dead_code)]

use anydiff::ir::{BinaryFn, CompareFn, Op, Program, ReduceFn, UnaryFn};

pub fn bin(func: BinaryFn, a: usize, b: usize) -> Op {
    Op::Binary { func, a, b }
}

pub fn un(func: UnaryFn, a: usize) -> Op {
    Op::Unary { func, a }
}

pub fn gather(a: usize, indices: Vec<i64>) -> Op {
    Op::Gather { a, indices }
}

/// Inputs (x, y, a, b, c, d); outputs (a x - b x y, c x y - d y).
pub fn lotka_volterra() -> Program {
    let ops = vec![
        Op::Input { index: 0, len: 6 },
        gather(0, vec![0]),
        gather(0, vec![1]),
        gather(0, vec![2]),
        gather(0, vec![3]),
        gather(0, vec![4]),
        gather(0, vec![5]),
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
    Program::new(ops, &[6], &[], &[15]).unwrap()
}

pub fn lv_values(z: &[f64]) -> [f64; 2] {
    let (x, y, a, b, c, d) = (z[0], z[1], z[2], z[3], z[4], z[5]);
    [a * x - b * x * y, c * x * y - d * y]
}

pub fn lv_jacobian(z: &[f64]) -> [[f64; 6]; 2] {
    let (x, y, a, b, c, d) = (z[0], z[1], z[2], z[3], z[4], z[5]);
    [
        [a - b * y, -b * x, x, -x * y, 0.0, 0.0],
        [c * y, c * x - d, 0.0, 0.0, x * y, -y],
    ]
}

/// Extended Rosenbrock: sum 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2.
pub fn rosenbrock(n: usize) -> Program {
    let k = n - 1;
    let ops = vec![
        Op::Input { index: 0, len: n },
        gather(0, (0..k as i64).collect()),
        gather(0, (1..n as i64).collect()),
        un(UnaryFn::Square, 1),
        bin(BinaryFn::Sub, 2, 3),
        Op::Powi { a: 4, n: 2 },
        Op::Const(vec![100.0; k]),
        bin(BinaryFn::Mul, 6, 5),
        Op::Const(vec![1.0; k]),
        bin(BinaryFn::Sub, 8, 1),
        un(UnaryFn::Square, 9),
        bin(BinaryFn::Add, 7, 10),
        Op::Reduce {
            func: ReduceFn::Sum,
            a: 11,
            offsets: vec![0, k],
            indices: (0..k).collect(),
        },
    ];
    Program::new(ops, &[n], &[], &[12]).unwrap()
}

pub fn rosenbrock_value(x: &[f64]) -> f64 {
    x.windows(2)
        .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
        .sum()
}

pub fn rosenbrock_grad(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut g = vec![0.0; n];
    for i in 0..n - 1 {
        let t = x[i + 1] - x[i] * x[i];
        g[i] += -400.0 * x[i] * t - 2.0 * (1.0 - x[i]);
        g[i + 1] += 200.0 * t;
    }
    g
}

pub fn rosenbrock_hessian(x: &[f64]) -> Vec<Vec<f64>> {
    let n = x.len();
    let mut h = vec![vec![0.0; n]; n];
    for i in 0..n - 1 {
        h[i][i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0;
        h[i][i + 1] += -400.0 * x[i];
        h[i + 1][i] += -400.0 * x[i];
        h[i + 1][i + 1] += 200.0;
    }
    h
}

/// f(x) = W2 tanh(W1 x) + sin(x); W1 a parameter (n x n), W2 a constant.
pub fn mlp(n: usize, w2: &[f64]) -> Program {
    let ops = vec![
        Op::Input { index: 0, len: n },
        Op::Param {
            index: 0,
            len: n * n,
        },
        Op::Dot {
            a: 1,
            b: 0,
            batch: 1,
            m: n,
            k: n,
            n: 1,
        },
        un(UnaryFn::Tanh, 2),
        Op::Const(w2.to_vec()),
        Op::Dot {
            a: 4,
            b: 3,
            batch: 1,
            m: n,
            k: n,
            n: 1,
        },
        un(UnaryFn::Sin, 0),
        bin(BinaryFn::Add, 5, 6),
    ];
    Program::new(ops, &[n], &[n * n], &[7]).unwrap()
}

/// Instructions of x_{i-1} - 2 x_i + x_{i+1} with zero boundary values (node 6).
pub fn laplacian_ops(n: usize) -> Vec<Op> {
    let left: Vec<i64> = (0..n as i64).map(|i| i - 1).collect();
    let right: Vec<i64> = (0..n as i64)
        .map(|i| if i + 1 < n as i64 { i + 1 } else { -1 })
        .collect();
    vec![
        Op::Input { index: 0, len: n },
        gather(0, left),
        gather(0, right),
        bin(BinaryFn::Add, 1, 2),
        Op::Const(vec![2.0; n]),
        bin(BinaryFn::Mul, 4, 0),
        bin(BinaryFn::Sub, 3, 5),
    ]
}

/// y_i = (x_{i-1} - 2 x_i + x_{i+1}) * x_i^2 with zero boundary values.
pub fn stencil(n: usize) -> Program {
    let mut ops = laplacian_ops(n);
    ops.extend([Op::Powi { a: 0, n: 2 }, bin(BinaryFn::Mul, 6, 7)]);
    Program::new(ops, &[n], &[], &[8]).unwrap()
}

/// The dense Jacobian of `prog` at `x` from the forward engine.
pub fn dense_jacobian(prog: &Program, x: &[f64], params: &[f64]) -> ndarray::Array2<f64> {
    let (m, n) = (prog.n_outputs(), prog.n_inputs());
    let pts = ndarray::Array2::from_shape_vec((1, n), x.to_vec()).unwrap();
    let mut jac = ndarray::Array3::zeros((1, m, n));
    prog.jacobian_points(pts.view(), params, jac.view_mut())
        .unwrap();
    jac.index_axis_move(ndarray::Axis(0), 0)
}

/// Deterministic pseudo-random numbers in [lo, hi).
pub fn uniform(len: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

/// A xorshift generator: `next(k)` is a pseudo-random number below `k`.
pub fn below(seed: u64) -> impl FnMut(usize) -> usize {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    move |k: usize| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % k.max(1) as u64) as usize
    }
}

/// A random array program whose nodes are mostly `n` long (the shape of a
/// discretised PDE): elementwise functions, rolls and permutations of earlier
/// nodes, and now and then a reduction broadcast back, a concatenation read
/// back through a view, or a select. At one point its long elementwise runs
/// execute tile by tile.
pub fn random_array_program(seed: u64, n_ops: usize, n: usize) -> Program {
    let mut next = below(seed);
    let unaries = [UnaryFn::Sin, UnaryFn::Tanh, UnaryFn::Square, UnaryFn::Neg];
    let binaries = [BinaryFn::Add, BinaryFn::Sub, BinaryFn::Mul, BinaryFn::Max];
    let mut ops = vec![Op::Input { index: 0, len: n }];
    let mut full = vec![0]; // nodes of length n
    for _ in 0..n_ops {
        let i = ops.len();
        let a = full[next(full.len())];
        let b = full[next(full.len())];
        let op = match next(12) {
            0..=2 => un(unaries[next(unaries.len())], a),
            3..=6 => bin(binaries[next(binaries.len())], a, b),
            7 => {
                let shift = 1 + next(n - 1);
                gather(a, (0..n).map(|e| ((e + shift) % n) as i64).collect())
            }
            8 => {
                let stride = [3, 7, 11][next(3)];
                gather(a, (0..n).map(|e| ((e * stride) % n) as i64).collect())
            }
            9 => {
                // a sum over the node, broadcast back
                ops.push(Op::Reduce {
                    func: ReduceFn::Sum,
                    a,
                    offsets: vec![0, n],
                    indices: (0..n).collect(),
                });
                gather(i, vec![0; n])
            }
            10 => {
                // the second half of a concatenation: a view of a member
                ops.push(Op::Concat(vec![b, a]));
                gather(i, (n as i64..2 * n as i64).collect())
            }
            _ => {
                ops.push(Op::Compare {
                    func: CompareFn::Lt,
                    a,
                    b,
                });
                Op::Select { c: i, t: a, f: b }
            }
        };
        ops.push(op);
        full.push(ops.len() - 1);
    }
    let last = ops.len() - 1;
    let outputs = vec![last, full[next(full.len())]];
    Program::new(ops, &[n], &[], &outputs).unwrap()
}
