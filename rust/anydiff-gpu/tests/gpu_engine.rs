//! The GPU engine against the CPU engine and the Rust standard library, on
//! whatever Vulkan adapter is present (Mesa's lavapipe in CI). Without one,
//! every test says so and passes nothing off as checked: they return early
//! only when `ANYDIFF_REQUIRE_GPU` is unset.

use std::sync::{Arc, OnceLock};

use anydiff::ir::{BinaryFn, CompareFn, Op, Program, ReduceFn, UnaryFn};
use anydiff_gpu::{Gpu, GpuArrayProgram, GpuError, GpuProgram, Seeds};
use ndarray::{Array2, Array3};

fn gpu() -> Option<Arc<Gpu>> {
    static GPU: OnceLock<Option<Arc<Gpu>>> = OnceLock::new();
    GPU.get_or_init(|| match Gpu::new() {
        Ok(g) => Some(Arc::new(g)),
        Err(e) => {
            assert!(
                std::env::var("ANYDIFF_REQUIRE_GPU").is_err(),
                "ANYDIFF_REQUIRE_GPU is set but: {e}"
            );
            eprintln!("skipping GPU tests: {e}");
            None
        }
    })
    .clone()
}

fn un(func: UnaryFn, a: usize) -> Op {
    Op::Unary { func, a }
}

fn bin(func: BinaryFn, a: usize, b: usize) -> Op {
    Op::Binary { func, a, b }
}

fn gather(a: usize, indices: Vec<i64>) -> Op {
    Op::Gather { a, indices }
}

/// (x, y, a, b, c, d) -> (a x - b x y, c x y - d y)
fn lotka_volterra() -> Program {
    let mut ops = vec![Op::Input { index: 0, len: 6 }];
    ops.extend((0..6).map(|i| gather(0, vec![i])));
    ops.extend([
        bin(BinaryFn::Mul, 3, 1),   // 7: a x
        bin(BinaryFn::Mul, 4, 1),   // 8: b x
        bin(BinaryFn::Mul, 8, 2),   // 9: b x y
        bin(BinaryFn::Sub, 7, 9),   // 10
        bin(BinaryFn::Mul, 5, 1),   // 11: c x
        bin(BinaryFn::Mul, 11, 2),  // 12: c x y
        bin(BinaryFn::Mul, 6, 2),   // 13: d y
        bin(BinaryFn::Sub, 12, 13), // 14
        Op::Concat(vec![10, 14]),
    ]);
    Program::new(ops, &[6], &[], &[15]).unwrap()
}

/// Every other op on 3 inputs and a parameter: selects, comparisons, gathers
/// with -1, reductions, a batched dot, powi, min/max, hypot, atan2, rem.
fn mixed() -> Program {
    let ops = vec![
        Op::Input { index: 0, len: 3 },        // 0
        Op::Param { index: 0, len: 1 },        // 1
        gather(0, vec![2, -1, 0, 1]),          // 2
        Op::Const(vec![0.5, -1.5, 2.0, 0.25]), // 3
        bin(BinaryFn::Mul, 2, 3),              // 4
        un(UnaryFn::Sin, 4),                   // 5
        Op::Compare {
            func: CompareFn::Lt,
            a: 4,
            b: 5,
        }, // 6
        Op::Select { c: 6, t: 4, f: 5 },       // 7
        Op::Reduce {
            func: ReduceFn::Sum,
            a: 7,
            offsets: vec![0, 2, 4],
            indices: vec![0, 3, 1, 2],
        }, // 8 (2)
        Op::Reduce {
            func: ReduceFn::Max,
            a: 5,
            offsets: vec![0, 4],
            indices: vec![0, 1, 2, 3],
        }, // 9 (1)
        Op::Dot {
            a: 7,
            b: 3,
            batch: 2,
            m: 1,
            k: 2,
            n: 1,
        }, // 10 (2)
        Op::Powi { a: 10, n: 3 },              // 11
        gather(1, vec![0, 0]),                 // 12 (2)
        bin(BinaryFn::Hypot, 11, 12),          // 13
        bin(BinaryFn::Atan2, 8, 13),           // 14
        bin(BinaryFn::Min, 8, 11),             // 15
        bin(BinaryFn::Rem, 13, 12),            // 16
        un(UnaryFn::Tanh, 9),                  // 17
        bin(BinaryFn::Div, 15, 13),            // 18
        Op::Concat(vec![14, 16, 17, 18]),      // 19
    ];
    Program::new(ops, &[3], &[1], &[19]).unwrap()
}

fn points(np: usize, n: usize, seed: u64, lo: f64, hi: f64) -> Array2<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    Array2::from_shape_fn((np, n), |_| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
    })
}

/// The CPU engine's values and Jacobians (`P x m x n`).
fn cpu_jacobian(prog: &Program, pts: &Array2<f64>, params: &[f64]) -> (Array2<f64>, Array3<f64>) {
    let (np, m, n) = (pts.nrows(), prog.n_outputs(), prog.n_inputs());
    let mut v = Array2::zeros((np, m));
    let mut j = Array3::zeros((np, m, n));
    prog.value_and_jacobian_points(pts.view(), params, v.view_mut(), j.view_mut())
        .unwrap();
    (v, j)
}

fn rel_err(got: f64, want: f64) -> f64 {
    if got == want || (got.is_nan() && want.is_nan()) {
        0.0
    } else {
        (got - want).abs() / want.abs().max(1e-300)
    }
}

fn assert_close(got: &[f64], want: &[f64], rtol: f64, atol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = rel_err(g, w) <= rtol || (g - w).abs() <= atol;
        assert!(ok, "{what}[{i}]: GPU {g:e}, CPU {w:e}");
    }
}

fn gpu_jacobian<T: anydiff_gpu::GpuReal>(
    kernel: &GpuProgram,
    pts: &Array2<f64>,
    params: &[f64],
    cast: impl Fn(f64) -> T,
    back: impl Fn(T) -> f64,
) -> (Vec<f64>, Vec<f64>) {
    let np = pts.nrows();
    let m = kernel_outputs(kernel, pts.nrows());
    let x: Vec<T> = pts.iter().map(|&v| cast(v)).collect();
    let p: Vec<T> = params.iter().map(|&v| cast(v)).collect();
    let mut v = vec![T::default(); np * m];
    let mut j = vec![T::default(); np * m * kernel.lanes()];
    kernel.run(&x, &p, &[], &mut v, &mut j).unwrap();
    (
        v.into_iter().map(&back).collect(),
        j.into_iter().map(&back).collect(),
    )
}

fn kernel_outputs(kernel: &GpuProgram, _np: usize) -> usize {
    kernel.n_outputs()
}

#[test]
fn lotka_volterra_matches_the_cpu_engine_in_f64_and_f32() {
    let Some(gpu) = gpu() else { return };
    let prog = lotka_volterra();
    let pts = points(1000, 6, 1, 0.5, 1.5);
    let (v, j) = cpu_jacobian(&prog, &pts, &[]);
    let k64 = GpuProgram::compile::<f64>(gpu.clone(), &prog, Seeds::Identity).unwrap();
    let (gv, gj) = gpu_jacobian(&k64, &pts, &[], |x| x, |x| x);
    assert_close(&gv, v.as_slice().unwrap(), 1e-13, 0.0, "f64 values");
    assert_close(&gj, j.as_slice().unwrap(), 1e-13, 0.0, "f64 Jacobians");
    let k32 = GpuProgram::compile::<f32>(gpu, &prog, Seeds::Identity).unwrap();
    let (gv, gj) = gpu_jacobian(&k32, &pts, &[], |x| x as f32, f64::from);
    assert_close(&gv, v.as_slice().unwrap(), 1e-5, 1e-6, "f32 values");
    assert_close(&gj, j.as_slice().unwrap(), 1e-5, 1e-6, "f32 Jacobians");
}

#[test]
fn every_op_matches_the_cpu_engine() {
    let Some(gpu) = gpu() else { return };
    let prog = mixed();
    let pts = points(300, 3, 2, -2.0, 2.0);
    let params = [0.7];
    let (v, j) = cpu_jacobian(&prog, &pts, &params);
    let k = GpuProgram::compile::<f64>(gpu.clone(), &prog, Seeds::Identity).unwrap();
    let (gv, gj) = gpu_jacobian(&k, &pts, &params, |x| x, |x| x);
    // fmod of a hypot near 100 keeps its absolute error (1 ulp of 100, 1.4e-14)
    assert_close(&gv, v.as_slice().unwrap(), 1e-13, 1e-13, "values");
    assert_close(&gj, j.as_slice().unwrap(), 1e-12, 1e-14, "Jacobians");
    // given directions: the JVPs are the Jacobians times the seeds
    let seeds = [0.3, -1.0, 0.0, 0.0, 2.0, 0.5];
    let kg = GpuProgram::compile::<f64>(gpu, &prog, Seeds::Given(2)).unwrap();
    let (np, m) = (pts.nrows(), prog.n_outputs());
    let mut gv = vec![0.0; np * m];
    let mut gt = vec![0.0; np * m * 2];
    kg.run(pts.as_slice().unwrap(), &params, &seeds, &mut gv, &mut gt)
        .unwrap();
    for p in 0..np {
        for r in 0..m {
            for l in 0..2 {
                let want: f64 = (0..3).map(|c| j[[p, r, c]] * seeds[l * 3 + c]).sum();
                let got = gt[(p * m + r) * 2 + l];
                assert!(
                    rel_err(got, want) < 1e-12 || (got - want).abs() < 1e-13,
                    "jvp {p} {r} {l}"
                );
            }
        }
    }
}

const UNARIES: [UnaryFn; 30] = [
    UnaryFn::Neg,
    UnaryFn::Exp,
    UnaryFn::Exp2,
    UnaryFn::Expm1,
    UnaryFn::Log,
    UnaryFn::Log1p,
    UnaryFn::Log2,
    UnaryFn::Log10,
    UnaryFn::Sqrt,
    UnaryFn::Cbrt,
    UnaryFn::Sin,
    UnaryFn::Cos,
    UnaryFn::Tan,
    UnaryFn::Asin,
    UnaryFn::Acos,
    UnaryFn::Atan,
    UnaryFn::Sinh,
    UnaryFn::Cosh,
    UnaryFn::Tanh,
    UnaryFn::Asinh,
    UnaryFn::Acosh,
    UnaryFn::Atanh,
    UnaryFn::Abs,
    UnaryFn::Sign,
    UnaryFn::Floor,
    UnaryFn::Ceil,
    UnaryFn::Round,
    UnaryFn::Recip,
    UnaryFn::Logistic,
    UnaryFn::Square,
];

fn elementwise(func: UnaryFn) -> Program {
    Program::new(
        vec![Op::Input { index: 0, len: 1 }, un(func, 0)],
        &[1],
        &[],
        &[1],
    )
    .unwrap()
}

/// Distance in units in the last place (0 for equal values, NaNs or infinities alike).
fn ulps(a: f64, b: f64) -> f64 {
    if a == b || (a.is_nan() && b.is_nan()) {
        return 0.0;
    }
    if !a.is_finite() || !b.is_finite() {
        return f64::INFINITY;
    }
    let key = |x: f64| {
        let i = x.to_bits() as i64;
        i128::from(if i < 0 { i64::MIN - i } else { i })
    };
    (key(a) - key(b)).unsigned_abs() as f64
}

fn grid(lo: f64, hi: f64, k: usize) -> Vec<f64> {
    (0..k)
        .map(|i| lo + (hi - lo) * i as f64 / (k - 1) as f64)
        .collect()
}

/// Every unary function at edge values and on a grid of its domain: f64
/// values against the standard library in ulps (bounded), derivatives and
/// f32 results against the CPU engine.
#[test]
fn elementary_functions_against_std_in_ulps() {
    let Some(gpu) = gpu() else { return };
    let edges = [
        0.0,
        -0.0,
        1e-310,
        -1e-310,
        1e-20,
        0.5,
        1.0,
        -1.0,
        700.0,
        -740.0,
        1e300,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    let mut report = Vec::new();
    for func in UNARIES {
        let prog = elementwise(func);
        let (lo, hi) = match func {
            UnaryFn::Log | UnaryFn::Log2 | UnaryFn::Log10 | UnaryFn::Sqrt => (1e-3, 1e3),
            UnaryFn::Asin | UnaryFn::Acos => (-0.999, 0.999),
            UnaryFn::Atanh => (-0.99, 0.99),
            UnaryFn::Acosh => (1.0, 100.0),
            UnaryFn::Log1p => (-0.9, 10.0),
            UnaryFn::Exp | UnaryFn::Exp2 | UnaryFn::Expm1 | UnaryFn::Sinh | UnaryFn::Cosh => {
                (-30.0, 30.0)
            }
            UnaryFn::Sin | UnaryFn::Cos | UnaryFn::Tan => (-100.0, 100.0),
            _ => (-20.0, 20.0),
        };
        let mut xs = grid(lo, hi, 4001);
        xs.extend(grid(-1e-3, 1e-3, 101));
        let body = xs.len();
        xs.extend(edges);
        let pts = Array2::from_shape_vec((xs.len(), 1), xs.clone()).unwrap();
        let (v, j) = cpu_jacobian(&prog, &pts, &[]);
        let k = GpuProgram::compile::<f64>(gpu.clone(), &prog, Seeds::Identity).unwrap();
        let (gv, gj) = gpu_jacobian(&k, &pts, &[], |x| x, |x| x);
        let (worst, at) = (0..body)
            .map(|i| (ulps(gv[i], v[[i, 0]]), i))
            .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
        report.push(format!("{}: {worst} ulp", func.as_str()));
        let bound = match func {
            UnaryFn::Tan => 8.0,    // sin / cos
            UnaryFn::Atanh => 16.0, // a difference of two logarithms
            UnaryFn::Log10 | UnaryFn::Acos | UnaryFn::Asin => 6.0,
            _ => 4.0,
        };
        assert!(
            worst <= bound,
            "{}: {worst} ulp on [{lo}, {hi}], at {}: GPU {:e}, std {:e}",
            func.as_str(),
            xs[at],
            gv[at],
            v[[at, 0]]
        );
        for i in body..xs.len() {
            let (g, w) = (gv[i], v[[i, 0]]);
            let huge_arg =
                matches!(func, UnaryFn::Sin | UnaryFn::Cos | UnaryFn::Tan) && xs[i].abs() > 1e6;
            if huge_arg {
                assert!(
                    g.is_nan() == w.is_nan() && (g.is_nan() || g.abs() <= 1.0),
                    "{} at {}: {g}",
                    func.as_str(),
                    xs[i]
                );
                continue;
            }
            // devices may flush subnormal inputs to zero: then f(0) is right too
            let subnormal = xs[i] != 0.0 && xs[i].abs() < f64::MIN_POSITIVE;
            let flushed = subnormal && (g == gv[body] || (g.is_nan() && gv[body].is_nan()));
            let close = ulps(g, w) <= bound || rel_err(g, w) < 1e-15;
            assert!(
                close || flushed,
                "{} at edge {:e}: GPU {g:e}, std {w:e}",
                func.as_str(),
                xs[i]
            );
        }
        let finite: Vec<usize> = (0..body).filter(|&i| j[[i, 0, 0]].is_finite()).collect();
        for &i in &finite {
            let (g, w) = (gj[i], j[[i, 0, 0]]);
            assert!(
                rel_err(g, w) < 1e-12 || (g - w).abs() < 1e-14,
                "d{} at {}: GPU {g:e}, CPU {w:e}",
                func.as_str(),
                xs[i]
            );
        }
        // f32 against the CPU engine in f32 at the same (rounded) points; WGSL's f32
        // builtins are approximations (lavapipe's atan, sin, ... are good to about
        // 2e-5), so the bound is 1e-4 here, against 1e-5 for arithmetic
        // (lotka_volterra_matches_the_cpu_engine_in_f64_and_f32)
        let k32 = GpuProgram::compile::<f32>(gpu.clone(), &prog, Seeds::Identity).unwrap();
        let (fv, _) = gpu_jacobian(&k32, &pts, &[], |x| x as f32, f64::from);
        let pts32 = pts.mapv(|x| x as f32);
        let mut v32 = Array2::<f32>::zeros((xs.len(), 1));
        prog.eval_points(pts32.view(), &[], v32.view_mut()).unwrap();
        for i in 0..body {
            let w = f64::from(v32[[i, 0]]);
            if w.is_finite() && w.abs() < 1e30 {
                let ok = rel_err(fv[i], w) < 1e-4 || (fv[i] - w).abs() < 1e-5;
                assert!(ok, "f32 {} at {}: {} vs {w}", func.as_str(), xs[i], fv[i]);
            }
        }
    }
    eprintln!("f64 max error against std: {}", report.join(", "));
}

#[test]
fn chunked_and_resident_runs_agree_with_one_run() {
    let Some(gpu) = gpu() else { return };
    let prog = lotka_volterra();
    let pts = points(1000, 6, 3, 0.5, 1.5);
    let k = Arc::new(GpuProgram::compile::<f64>(gpu.clone(), &prog, Seeds::Identity).unwrap());
    let (v, j) = gpu_jacobian(&k, &pts, &[], |x| x, |x| x);
    let mut small = GpuProgram::compile::<f64>(gpu, &prog, Seeds::Identity).unwrap();
    small.set_max_chunk(97);
    assert_eq!(small.max_chunk(), 97);
    let (cv, cj) = gpu_jacobian(&small, &pts, &[], |x| x, |x| x);
    assert_eq!((cv, cj), (v.clone(), j.clone()));
    let resident = k.resident(pts.as_slice().unwrap(), &[], &[]).unwrap();
    resident.run().unwrap();
    let (mut rv, mut rj) = (vec![0.0; v.len()], vec![0.0; j.len()]);
    resident.read(&mut rv, &mut rj).unwrap();
    assert_eq!((rv, rj), (v, j));
    let too_many = points(98, 6, 4, 0.5, 1.5);
    let small = Arc::new(small);
    assert!(matches!(
        small.resident(too_many.as_slice().unwrap(), &[], &[]),
        Err(GpuError::TooLarge(_))
    ));
}

#[test]
fn float64_without_shader_f64_is_refused() {
    let Some(_) = gpu() else { return };
    // the same adapter opened without shader-f64, as an adapter that lacks it
    let f32_only = Arc::new(Gpu::open(None, false).unwrap());
    assert!(!f32_only.info().f64);
    let lv = lotka_volterra();
    let err = GpuProgram::compile::<f64>(f32_only.clone(), &lv, Seeds::Identity).err();
    assert!(
        matches!(err, Some(GpuError::NoF64(ref name)) if *name == f32_only.info().name),
        "{err:?}"
    );
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("shader-f64") && message.contains("use float32"),
        "{message}"
    );
    let err = GpuArrayProgram::compile::<f64>(f32_only.clone(), &lv, 6).err();
    assert!(matches!(err, Some(GpuError::NoF64(_))), "{err:?}");
    // float32 still runs, and matches the CPU engine
    let k = GpuProgram::compile::<f32>(f32_only, &lv, Seeds::Identity).unwrap();
    let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let (mut v, mut j) = (vec![0.0f32; 2], vec![0.0f32; 12]);
    k.run(&x, &[], &[], &mut v, &mut j).unwrap();
    assert_eq!(v, [3.0 - 8.0, 10.0 - 12.0]);
    assert_eq!(j[..4], [3.0 - 4.0 * 2.0, -4.0, 1.0, -2.0]);
}

#[test]
fn bad_input_is_an_error() {
    let Some(gpu) = gpu() else { return };
    match Gpu::with_adapter(Some("no-such-adapter-anywhere")) {
        Err(GpuError::NoAdapter(msg)) => assert!(msg.contains("no-such-adapter"), "{msg}"),
        other => panic!("expected NoAdapter, got {:?}", other.err()),
    }
    let erf = elementwise(UnaryFn::Erf);
    let err = GpuProgram::compile::<f64>(gpu.clone(), &erf, Seeds::Identity).err();
    assert!(
        matches!(err, Some(GpuError::Unsupported(ref m)) if m.contains("erf")),
        "{err:?}"
    );
    assert!(GpuProgram::compile::<f32>(gpu.clone(), &erf, Seeds::Identity).is_ok());
    let err = GpuProgram::compile::<f32>(gpu.clone(), &lotka_volterra(), Seeds::Given(65)).err();
    assert!(matches!(err, Some(GpuError::TooLarge(_))), "{err:?}");
    let k = GpuProgram::compile::<f32>(gpu, &lotka_volterra(), Seeds::Identity).unwrap();
    let mut v = vec![0.0f32; 4];
    let mut j = vec![0.0f32; 24];
    let err = k.run(&[1.0f32; 11], &[], &[], &mut v, &mut j).err();
    assert!(
        matches!(err, Some(GpuError::Shape { what: "points", .. })),
        "{err:?}"
    );
    let err = k.run(&[1.0f32; 12], &[], &[], &mut v, &mut j[..20]).err();
    assert!(
        matches!(
            err,
            Some(GpuError::Shape {
                what: "tangents",
                ..
            })
        ),
        "{err:?}"
    );
}

/// `(left - 2 x + right) x^2` with zero boundaries, then a softplus-like tail
/// and a windowed max: gathers with -1, reductions, a concatenation.
fn stencil(n: usize) -> Program {
    let left: Vec<i64> = (0..n as i64).map(|i| i - 1).collect();
    let right: Vec<i64> = (0..n as i64)
        .map(|i| if i + 1 < n as i64 { i + 1 } else { -1 })
        .collect();
    let groups = n / 4;
    let ops = vec![
        Op::Input { index: 0, len: n }, // 0
        gather(0, left),                // 1
        gather(0, right),               // 2
        bin(BinaryFn::Add, 1, 2),       // 3
        Op::Const(vec![2.0; n]),        // 4
        bin(BinaryFn::Mul, 4, 0),       // 5
        bin(BinaryFn::Sub, 3, 5),       // 6
        Op::Powi { a: 0, n: 2 },        // 7
        bin(BinaryFn::Mul, 6, 7),       // 8
        un(UnaryFn::Logistic, 8),       // 9
        Op::Reduce {
            func: ReduceFn::Max,
            a: 9,
            offsets: (0..=groups).map(|g| 4 * g).collect(),
            indices: (0..4 * groups).collect(),
        }, // 10
        gather(8, (0..n as i64 / 2).collect()), // 11: contiguous, an alias
        Op::Concat(vec![11, 10]),       // 12
    ];
    Program::new(ops, &[n], &[], &[12]).unwrap()
}

#[test]
fn array_programs_match_the_cpu_engine() {
    let Some(gpu) = gpu() else { return };
    for (prog, n, params) in [(stencil(4000), 4000, vec![]), (mixed(), 3, vec![0.7])] {
        let x = points(1, n, 9, -1.0, 1.0);
        let lanes = 5;
        let seeds = points(lanes, n, 10, -1.0, 1.0);
        let m = prog.n_outputs();
        let mut v = Array2::zeros((1, m));
        let mut t = Array3::zeros((1, lanes, m));
        prog.jvp_points(x.view(), &params, seeds.view(), v.view_mut(), t.view_mut())
            .unwrap();
        let k = GpuArrayProgram::compile::<f64>(gpu.clone(), &prog, lanes).unwrap();
        let (mut gv, mut gt) = (vec![0.0; m], vec![0.0; m * lanes]);
        k.run(
            x.as_slice().unwrap(),
            &params,
            seeds.as_slice().unwrap(),
            &mut gv,
            &mut gt,
        )
        .unwrap();
        assert_close(&gv, v.as_slice().unwrap(), 1e-13, 1e-13, "array values");
        let want: Vec<f64> = (0..m)
            .flat_map(|r| (0..lanes).map(move |l| (r, l)))
            .map(|(r, l)| t[[0, l, r]])
            .collect();
        assert_close(&gt, &want, 1e-12, 1e-12, "array tangents");
    }
}

/// `y = sin(x) x_{i-1} + exp(-x^2)`, then `y * sum(y)`: every output depends
/// on every input, so a Jacobian's lanes are all live.
fn dense_coupled(n: usize) -> Program {
    let last = n as i64 - 1;
    let roll: Vec<i64> = (0..n as i64)
        .map(|i| if i == 0 { last } else { i - 1 })
        .collect();
    let ops = vec![
        Op::Input { index: 0, len: n }, // 0
        un(UnaryFn::Sin, 0),            // 1
        gather(0, roll),                // 2
        bin(BinaryFn::Mul, 1, 2),       // 3
        un(UnaryFn::Square, 0),         // 4
        un(UnaryFn::Neg, 4),            // 5
        un(UnaryFn::Exp, 5),            // 6
        bin(BinaryFn::Add, 3, 6),       // 7
        Op::Reduce {
            func: ReduceFn::Sum,
            a: 7,
            offsets: vec![0, n],
            indices: (0..n).collect(),
        }, // 8
        gather(8, vec![0; n]),          // 9
        bin(BinaryFn::Mul, 7, 9),       // 10
    ];
    Program::new(ops, &[n], &[], &[10]).unwrap()
}

#[test]
fn wide_jacobians_loop_over_lane_blocks_and_compile_quickly() {
    let Some(gpu) = gpu() else { return };
    for n in [8, 32, 64] {
        let prog = dense_coupled(n);
        let pts = points(50, n, 3, -1.0, 1.0);
        let (v, j) = cpu_jacobian(&prog, &pts, &[]);
        let start = std::time::Instant::now();
        let k = GpuProgram::compile::<f32>(gpu.clone(), &prog, Seeds::Identity).unwrap();
        let (gv, gj) = gpu_jacobian(&k, &pts, &[], |x| x as f32, f64::from);
        eprintln!(
            "{n} inputs: {} bytes of WGSL, looped: {}, compile + first run {:.2} s",
            k.source().len(),
            k.source().contains("for (var base"),
            start.elapsed().as_secs_f64()
        );
        assert_close(&gv, v.as_slice().unwrap(), 1e-4, 1e-4, "values");
        assert_close(&gj, j.as_slice().unwrap(), 1e-4, 1e-4, "Jacobians");
    }
}

#[test]
fn given_seeds_past_the_unrolled_size_loop_and_match_the_cpu_engine() {
    let Some(gpu) = gpu() else { return };
    // 65 inputs: the Python backend splits the directions into 64 + 1
    let (n, lanes) = (65, 64);
    let prog = dense_coupled(n);
    let pts = points(20, n, 5, -1.0, 1.0);
    let seeds = points(lanes, n, 6, -1.0, 1.0);
    let k = GpuProgram::compile::<f32>(gpu, &prog, Seeds::Given(lanes)).unwrap();
    assert!(k.source().contains("for (var base"));
    let x: Vec<f32> = pts.iter().map(|&v| v as f32).collect();
    let s: Vec<f32> = seeds.iter().map(|&v| v as f32).collect();
    let mut v = vec![0f32; 20 * n];
    let mut t = vec![0f32; 20 * n * lanes];
    k.run(&x, &[], &s, &mut v, &mut t).unwrap();
    let mut cv = Array2::zeros((20, n));
    let mut ct = Array3::zeros((20, lanes, n));
    prog.jvp_points(pts.view(), &[], seeds.view(), cv.view_mut(), ct.view_mut())
        .unwrap();
    // the GPU's tangents are P x m x L, the CPU's P x L x m
    let ct = ct.permuted_axes([0, 2, 1]);
    let ct: Vec<f64> = ct.iter().copied().collect();
    let t: Vec<f64> = t.into_iter().map(f64::from).collect();
    assert_close(&t, &ct, 1e-3, 1e-3, "JVPs");
}

#[test]
fn kernels_past_the_statement_limit_are_refused_and_powers_stay_short() {
    let Some(gpu) = gpu() else { return };
    // a 20 x 40 by 40 x 20 product: 1200 elements, 16000 products
    let ops = vec![
        Op::Input { index: 0, len: 800 },
        Op::Dot {
            a: 0,
            b: 0,
            batch: 1,
            m: 20,
            k: 40,
            n: 20,
        },
    ];
    let big = Program::new(ops, &[800], &[], &[1]).unwrap();
    let err = GpuProgram::compile::<f32>(gpu.clone(), &big, Seeds::Given(2)).err();
    assert!(
        matches!(err, Some(GpuError::TooLarge(ref m)) if m.contains("statements")),
        "{err:?}"
    );
    // x^(2^31 - 1) by squaring: a few dozen statements, not two billion
    let ops = vec![
        Op::Input { index: 0, len: 1 },
        Op::Powi { a: 0, n: i32::MAX },
    ];
    let prog = Program::new(ops, &[1], &[], &[1]).unwrap();
    let k = GpuProgram::compile::<f64>(gpu, &prog, Seeds::Identity).unwrap();
    assert!(k.source().matches("let ").count() < 200);
    let pts = Array2::from_shape_vec((3, 1), vec![1.0, -1.0, 0.5]).unwrap();
    let (v, j) = cpu_jacobian(&prog, &pts, &[]);
    let (gv, gj) = gpu_jacobian(&k, &pts, &[], |x| x, |x| x);
    assert_close(&gv, v.as_slice().unwrap(), 1e-12, 0.0, "values");
    assert_close(&gj, j.as_slice().unwrap(), 1e-12, 0.0, "derivatives");
}
