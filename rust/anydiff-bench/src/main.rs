//! The figures of the `anydiff` crate as a Rust user meets it:
//!
//! 1. Brusselator N=32 sparse Jacobian through `SparseJacobianPlan` from a
//!    generic Rust function, against the IR engine's compiled
//!    `SparseJacobian::run` on a hand-vectorised program (as the Python
//!    front ends build it), with the allocations per call counted;
//! 2. Rosenbrock n=10 run-time-size Hessian against num-dual 0.15;
//! 3. n=2 gradient with `powi(2)` against num-dual 0.15.
//!
//! Run with
//! `cargo run --release --manifest-path rust/anydiff-bench/Cargo.toml --target-dir target`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anydiff::dual::{gradient_n, hessian, DualNum, VectorFunction};
use anydiff::ir::{BinaryFn, Op, Program, SparseJacobian};
use anydiff::sparse::{Engine, SparseJacobianPlan};
use nalgebra::{DVector, SVector};

/// Counts every allocation, to show that a prepared call makes none.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Mean time per call of `a` and of `b`, in microseconds: `reps` calls
/// per round, rounds of `a` and `b` alternating (so both see the same load
/// on a shared machine), the fastest round of each kept.
fn time_pair(rounds: usize, reps: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let round = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..reps {
            f();
        }
        start.elapsed().as_secs_f64() * 1e6 / reps as f64
    };
    round(&mut a);
    round(&mut b);
    let (mut ta, mut tb) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..rounds {
        ta = ta.min(round(&mut a));
        tb = tb.min(round(&mut b));
    }
    (ta, tb)
}

const N: usize = 32;
const A: f64 = 3.4;
const B: f64 = 1.0;
const ALPHA: f64 = 10.0;

/// The Brusselator right-hand side (DESIGN.md) at t = 0, Julia layout,
/// written once for any number type.
struct Brusselator;

impl VectorFunction<f64> for Brusselator {
    fn n_inputs(&self) -> usize {
        2 * N * N
    }
    fn n_outputs(&self) -> usize {
        2 * N * N
    }
    fn eval<D: DualNum<f64> + Copy>(&self, y: &[D], dy: &mut [D]) {
        let dx = 1.0 / (N as f64 - 1.0);
        let a = ALPHA / (dx * dx);
        let id = |i: usize, j: usize, k: usize| i + N * j + N * N * k;
        for j in 0..N {
            for i in 0..N {
                let (ip, im) = ((i + 1) % N, (i + N - 1) % N);
                let (jp, jm) = ((j + 1) % N, (j + N - 1) % N);
                let (u, v) = (y[id(i, j, 0)], y[id(i, j, 1)]);
                let lap = |k: usize| {
                    y[id(ip, j, k)] + y[id(im, j, k)] + y[id(i, jp, k)] + y[id(i, jm, k)]
                        - y[id(i, j, k)] * 4.0
                };
                let uuv = u * u * v;
                dy[id(i, j, 0)] = lap(0) * a + B + uuv - u * (A + 1.0);
                dy[id(i, j, 1)] = lap(1) * a + u * A - uuv;
            }
        }
    }
}

/// The same function as an array program, the way the Python front ends
/// (numpy with `np.roll`) record it: one instruction per array operation.
fn brusselator_program() -> Program {
    let nn = N * N;
    let dx = 1.0 / (N as f64 - 1.0);
    let a = ALPHA / (dx * dx);
    let mut ops = vec![Op::Input {
        index: 0,
        len: 2 * nn,
    }];
    let mut push = |op: Op| {
        ops.push(op);
        ops.len() - 1
    };
    let gather = |from: usize, f: &dyn Fn(usize, usize) -> usize| Op::Gather {
        a: from,
        indices: (0..nn).map(|e| f(e % N, e / N) as i64).collect(),
    };
    let u = push(gather(0, &|i, j| i + N * j));
    let v = push(gather(0, &|i, j| i + N * j + nn));
    let konst = |c: f64| Op::Const(vec![c; nn]);
    let bin = |func: BinaryFn, a: usize, b: usize| Op::Binary { func, a, b };
    let lap = |w: usize, push: &mut dyn FnMut(Op) -> usize| {
        let ip = push(gather(w, &|i, j| (i + 1) % N + N * j));
        let im = push(gather(w, &|i, j| (i + N - 1) % N + N * j));
        let jp = push(gather(w, &|i, j| i + N * ((j + 1) % N)));
        let jm = push(gather(w, &|i, j| i + N * ((j + N - 1) % N)));
        let s1 = push(bin(BinaryFn::Add, ip, im));
        let s2 = push(bin(BinaryFn::Add, s1, jp));
        let s3 = push(bin(BinaryFn::Add, s2, jm));
        let four = push(konst(4.0));
        let w4 = push(bin(BinaryFn::Mul, w, four));
        let l = push(bin(BinaryFn::Sub, s3, w4));
        let ca = push(konst(a));
        push(bin(BinaryFn::Mul, l, ca))
    };
    let lu = lap(u, &mut push);
    let lv = lap(v, &mut push);
    let uu = push(bin(BinaryFn::Mul, u, u));
    let uuv = push(bin(BinaryFn::Mul, uu, v));
    let cb = push(konst(B));
    let ca1 = push(konst(A + 1.0));
    let ca = push(konst(A));
    let t1 = push(bin(BinaryFn::Add, lu, cb));
    let t2 = push(bin(BinaryFn::Add, t1, uuv));
    let t3 = push(bin(BinaryFn::Mul, u, ca1));
    let du = push(bin(BinaryFn::Sub, t2, t3));
    let t4 = push(bin(BinaryFn::Mul, u, ca));
    let t5 = push(bin(BinaryFn::Add, lv, t4));
    let dv = push(bin(BinaryFn::Sub, t5, uuv));
    let out = push(Op::Concat(vec![du, dv]));
    Program::new(ops, &[2 * nn], &[], &[out]).expect("a valid program")
}

fn initial_state() -> Vec<f64> {
    let grid = |i: usize| i as f64 / (N as f64 - 1.0);
    let mut y0 = vec![0.0; 2 * N * N];
    for j in 0..N {
        for i in 0..N {
            let (x, y) = (grid(i), grid(j));
            y0[i + N * j] = 22.0 * (y * (1.0 - y)).powf(1.5);
            y0[i + N * j + N * N] = 27.0 * (x * (1.0 - x)).powf(1.5);
        }
    }
    y0
}

fn brusselator_figures() {
    let x = initial_state();
    let t0 = Instant::now();
    let mut plan = SparseJacobianPlan::new(Brusselator, None, Engine::Auto).expect("a plan");
    let prepare_ms = t0.elapsed().as_secs_f64() * 1e3;
    let pattern = plan.pattern().clone();
    let nnz = pattern.nnz();
    let mut values = vec![0.0; nnz];

    let traced =
        anydiff::ir::trace(2 * N * N, 2 * N * N, |x, y| Brusselator.eval(x, y)).expect("traces");
    let traced_jac = SparseJacobian::new(Arc::new(traced.clone()), &pattern).expect("compiles");
    let prog = Arc::new(brusselator_program());
    println!(
        "  traced program: {} nodes, {} runtime steps; hand-built: {} nodes, {} runtime steps",
        traced.n_nodes(),
        traced_jac.n_steps(),
        prog.n_nodes(),
        SparseJacobian::new(prog.clone(), &pattern)
            .map(|j| j.n_steps())
            .unwrap_or(0)
    );
    let ir_pattern = prog.jacobian_sparsity();
    assert_eq!(
        ir_pattern, pattern,
        "the traced and the hand-built patterns agree"
    );
    let compiled = SparseJacobian::new(prog, &ir_pattern).expect("compiles");
    let mut ir_values = vec![0.0; nnz];

    // correctness: plan (compiled), hand-built program and the dual engine agree
    plan.compute_into(&x, &mut values).expect("computes");
    compiled.run(&x, &[], &mut ir_values).expect("runs");
    let mut dual_plan =
        SparseJacobianPlan::new(Brusselator, Some(pattern.clone()), Engine::Dual).expect("a plan");
    let dual_values = dual_plan.compute(&x).expect("computes");
    let scale = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()))
    };
    let (d_ir, d_dual) = (diff(&values, &ir_values), diff(&values, &dual_values));
    assert!(d_ir <= 1e-12 * scale && d_dual <= 1e-12 * scale);

    // allocations during prepared calls
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..100 {
        plan.compute_into(black_box(&x), &mut values)
            .expect("computes");
    }
    let plan_allocs = ALLOCATIONS.load(Ordering::Relaxed) - before;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..100 {
        dual_plan
            .compute_into(black_box(&x), &mut values)
            .expect("computes");
    }
    let dual_allocs = ALLOCATIONS.load(Ordering::Relaxed) - before;

    let (t_plan, t_ir) = time_pair(
        41,
        200,
        || {
            plan.compute_into(black_box(&x), &mut values)
                .expect("computes")
        },
        || {
            compiled
                .run(black_box(&x), &[], &mut ir_values)
                .expect("runs")
        },
    );
    let (t_dual, _) = time_pair(
        15,
        20,
        || {
            dual_plan
                .compute_into(black_box(&x), &mut values)
                .expect("computes")
        },
        || {},
    );
    println!(
        "Brusselator N={N} ({0} x {0}, nnz {nnz}), plan prepared in {prepare_ms:.1} ms (trace, pattern, compile)",
        2 * N * N
    );
    println!(
        "  plan, generic fn (engine {:?}): {t_plan:.2} us/call, {} allocations in 100 calls",
        plan.engine(),
        plan_allocs
    );
    println!(
        "  IR SparseJacobian::run, hand-vectorised program: {t_ir:.2} us/call  (ratio {:.2})",
        t_plan / t_ir
    );
    println!(
        "  plan, generic fn (engine Dual, {} colors, Dual<f64, 8>): {t_dual:.1} us/call, {} allocations in 100 calls",
        dual_plan.coloring().map_or(0, |c| c.ncolors),
        dual_allocs
    );
    println!(
        "  max |plan - IR| = {d_ir:.1e}, max |plan - dual| = {d_dual:.1e} (max |J| = {scale:.1e})"
    );
}

/// Extended Rosenbrock for anydiff's dual numbers.
fn rosenbrock<D: DualNum<f64>>(x: &[D]) -> D {
    let mut acc = D::from_f64(0.0);
    for w in x.windows(2) {
        let t = w[1].clone() - w[0].powi(2);
        let u = -w[0].clone() + 1.0;
        acc = acc + t.powi(2) * 100.0 + u.powi(2);
    }
    acc
}

/// Extended Rosenbrock for num-dual's numbers.
fn rosenbrock_nd<D: num_dual::DualNum<Primitive = f64>>(x: &[D]) -> D {
    let mut acc = D::zero();
    for w in x.windows(2) {
        let t = w[1].clone() - w[0].powi(2);
        let u = -w[0].clone() + 1.0;
        acc = acc + t.powi(2) * 100.0 + u.powi(2);
    }
    acc
}

fn rosenbrock_figures() {
    let n = 10;
    let x: Vec<f64> = (0..n).map(|i| -1.2 + 0.3 * i as f64).collect();
    let xd = DVector::from_vec(x.clone());
    let (f, g, h) = hessian(rosenbrock, &x);
    let (fd, gd, hd) = num_dual::hessian(|v: DVector<_>| rosenbrock_nd(v.as_slice()), &xd);
    let dh = (0..n * n).fold(0.0f64, |m, k| {
        m.max((h[(k / n, k % n)] - hd[(k / n, k % n)]).abs())
    });
    let dg = (0..n).fold(0.0f64, |m, i| m.max((g[i] - gd[i]).abs()));
    assert!((f - fd).abs() < 1e-12 && dg < 1e-10 && dh < 1e-10);
    let (ours, theirs) = time_pair(
        41,
        2000,
        || {
            black_box(hessian(rosenbrock, black_box(&x)));
        },
        || {
            black_box(num_dual::hessian(
                |v: DVector<_>| rosenbrock_nd(v.as_slice()),
                black_box(&xd),
            ));
        },
    );
    println!(
        "Rosenbrock n={n} Hessian, run-time size: anydiff hessian (Dual2Vec) {ours:.2} us, num-dual hessian (DVector) {theirs:.2} us  (ratio {:.2}; max |dH| {dh:.0e})",
        ours / theirs
    );
}

fn gradient_figures() {
    fn f<D: DualNum<f64>>(v: &[D]) -> D {
        let (x, y) = (v[0].clone(), v[1].clone());
        (-x.clone() + 1.0).powi(2) + (y - x.powi(2)).powi(2) * 100.0
    }
    /// The same with products instead of `powi(2)`.
    fn f_mul<D: DualNum<f64>>(v: &[D]) -> D {
        let (x, y) = (v[0].clone(), v[1].clone());
        let a = -x.clone() + 1.0;
        let b = y - x.clone() * x;
        a.clone() * a + b.clone() * b * 100.0
    }
    fn f_nd<D: num_dual::DualNum<Primitive = f64>>(v: &[D]) -> D {
        let (x, y) = (v[0].clone(), v[1].clone());
        (-x.clone() + 1.0).powi(2) + (y - x.powi(2)).powi(2) * 100.0
    }
    let x = [-1.2f64, 1.0];
    let xs = SVector::from(x);
    let (v, g) = gradient_n(f, x);
    let (vn, gn) = num_dual::gradient(|p: SVector<_, 2>| f_nd(p.as_slice()), &xs);
    assert!((v - vn).abs() < 1e-12 && (g[0] - gn[0]).abs() < 1e-10 && (g[1] - gn[1]).abs() < 1e-10);
    let (ours, theirs) = time_pair(
        41,
        100_000,
        || {
            black_box(gradient_n(f, black_box(x)));
        },
        || {
            black_box(num_dual::gradient(
                |p: SVector<_, 2>| f_nd(p.as_slice()),
                black_box(&xs),
            ));
        },
    );
    let (_, products) = time_pair(
        41,
        100_000,
        || {},
        || {
            black_box(gradient_n(f_mul, black_box(x)));
        },
    );
    println!(
        "Rosenbrock n=2 gradient with powi(2), const size: anydiff gradient_n {:.1} ns, num-dual gradient (SVector) {:.1} ns  (ratio {:.2}); anydiff with x*x instead of powi(2): {:.1} ns",
        ours * 1e3,
        theirs * 1e3,
        ours / theirs,
        products * 1e3
    );
}

fn main() {
    brusselator_figures();
    rosenbrock_figures();
    gradient_figures();
}
