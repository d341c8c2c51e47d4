//! Dual numbers from Rust: gradient and Hessian of the extended Rosenbrock
//! function, and the Lotka-Volterra Jacobian at a million points.
//!
//! Run with `cargo run -p anydiff --release --example dual_numbers`.

use std::time::Instant;

use anydiff::dual::{gradient, hessian, hessian_n, Dual, DualNum};
use ndarray::Array2;

/// Extended Rosenbrock: sum 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2.
fn rosenbrock<D: DualNum<f64>>(x: &[D]) -> D {
    x.windows(2).fold(D::from_f64(0.0), |acc, w| {
        let t = w[1].clone() - w[0].powi(2);
        let u = -w[0].clone() + 1.0;
        acc + t.powi(2) * 100.0 + u.powi(2)
    })
}

fn rosenbrock_exact(x: &[f64]) -> (Vec<f64>, Array2<f64>) {
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut h = Array2::zeros((n, n));
    for i in 0..n - 1 {
        let t = x[i + 1] - x[i] * x[i];
        g[i] += -400.0 * x[i] * t - 2.0 * (1.0 - x[i]);
        g[i + 1] += 200.0 * t;
        h[(i, i)] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0;
        h[(i + 1, i + 1)] += 200.0;
        h[(i, i + 1)] = -400.0 * x[i];
        h[(i + 1, i)] = -400.0 * x[i];
    }
    (g, h)
}

/// Lotka-Volterra right-hand side: inputs (x, y, a, b, c, d).
fn lotka_volterra<D: DualNum<f64> + Copy>(p: &[D; 6]) -> [D; 2] {
    let [x, y, a, b, c, d] = *p;
    let xy = x * y;
    [a * x - b * xy, c * xy - d * y]
}

fn lv_exact(p: &[f64; 6]) -> [[f64; 6]; 2] {
    let [x, y, a, b, c, d] = *p;
    [
        [a - b * y, -b * x, x, -x * y, 0.0, 0.0],
        [c * y, c * x - d, 0.0, 0.0, x * y, -y],
    ]
}

fn max_abs(a: impl Iterator<Item = f64>) -> f64 {
    a.fold(0.0, |m, v| m.max(v.abs()))
}

fn main() -> Result<(), String> {
    // --- extended Rosenbrock, n = 10 ---
    let x: Vec<f64> = (0..10).map(|i| -1.2 + 0.25 * i as f64).collect();
    let (g_exact, h_exact) = rosenbrock_exact(&x);
    let (f, g) = gradient(rosenbrock, &x);
    let (_, _, h) = hessian(rosenbrock, &x);
    let xa: [f64; 10] = std::array::from_fn(|i| x[i]);
    let (_, _, h_n) = hessian_n(rosenbrock, xa);
    let g_err = max_abs(g.iter().zip(&g_exact).map(|(a, b)| a - b));
    let h_err = max_abs(h.iter().zip(&h_exact).map(|(a, b)| a - b));
    let hn_err = max_abs((0..100).map(|k| h_n[k / 10][k % 10] - h_exact[(k / 10, k % 10)]));
    println!("extended Rosenbrock (n = 10) at x = {x:?}");
    println!("  f = {f:.6}");
    println!("  gradient = {g:.4?}");
    println!("  Hessian diagonal = {:.4?}", h.diag().to_vec());
    println!("  max |error|: gradient {g_err:.1e}, Hessian (DualVec) {h_err:.1e}, Hessian (Dual<Dual<f64, 10>, 10>) {hn_err:.1e}");
    if g_err > 1e-10 || h_err > 1e-9 || hn_err > 1e-9 {
        return Err("Rosenbrock derivatives disagree with the closed form".into());
    }

    // --- Lotka-Volterra Jacobian at 10^6 points, Dual<f64, 6> ---
    const POINTS: usize = 1_000_000;
    let points: Vec<[f64; 6]> = (0..POINTS)
        .map(|k| {
            let t = k as f64 * 1e-6;
            [
                1.0 + t,
                0.5 + 0.3 * (7.0 * t).sin(),
                1.1,
                0.4 + 0.1 * t,
                0.1,
                0.4 - 0.2 * t,
            ]
        })
        .collect();
    let mut jacs = vec![[[1.0f64; 6]; 2]; POINTS]; // touched before timing
    let start = Instant::now();
    for (p, jac) in points.iter().zip(jacs.iter_mut()) {
        let p = std::hint::black_box(p);
        let duals: [Dual<f64, 6>; 6] = Dual::variables(*p);
        let out = lotka_volterra(&duals);
        *jac = [out[0].eps, out[1].eps];
    }
    let elapsed = start.elapsed();
    std::hint::black_box(&jacs);
    let err = max_abs(points.iter().zip(&jacs).flat_map(|(p, j)| {
        let e = lv_exact(p);
        (0..12).map(move |k| j[k / 6][k % 6] - e[k / 6][k % 6])
    }));
    println!(
        "Lotka-Volterra Jacobian (2 x 6) at {POINTS} points with Dual<f64, 6>: {:.1} ms, {:.2} ns per point, max |error| {err:.1e}",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e9 / POINTS as f64
    );
    if err > 1e-14 {
        return Err("Lotka-Volterra Jacobian disagrees with the closed form".into());
    }
    Ok(())
}
