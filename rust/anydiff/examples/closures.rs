//! Jacobian and Hessian of small functions from closures and finite differences.
//!
//! Run with `cargo run -p anydiff --example closures`.

use std::convert::Infallible;

use anydiff::{
    hessian_from_hvp, jacobian_forward, jacobian_reverse, oracle_fn, pick_mode,
    symmetrize_in_place, BatchPolicy, Error, FiniteDiff, Mode, Scheme,
};
use ndarray::{array, Array1, Array2, ArrayView2, ArrayViewMut2};

fn max_abs_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    a.iter()
        .zip(b.iter())
        .fold(0.0, |m, (p, q)| m.max((p - q).abs()))
}

fn check(name: &str, got: &Array2<f64>, exact: &Array2<f64>, tol: f64) -> Result<(), String> {
    let err = max_abs_diff(got, exact);
    println!("{name}:\n{got:.10}\n  max |error| = {err:.2e}\n");
    if err <= tol {
        Ok(())
    } else {
        Err(format!("{name}: error {err:e} above {tol:e}"))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // f(x) = [x0 * x1, sin(x0), x1^3] at x = (0.5, 1.5)
    let x: Array1<f64> = array![0.5, 1.5];
    let exact_j = array![[x[1], x[0]], [x[0].cos(), 0.0], [0.0, 3.0 * x[1] * x[1]]];
    let policy = BatchPolicy::with_max_batch(Some(1));
    let (n, m) = (2, 3);

    // JVP and VJP oracles written as closures over the analytic Jacobian.
    let mut jvp = oracle_fn(|t: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
        out.assign(&t.dot(&exact_j.t()));
        Ok::<(), Infallible>(())
    });
    let mut vjp = oracle_fn(|c: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
        out.assign(&c.dot(&exact_j));
        Ok::<(), Infallible>(())
    });
    let mode = pick_mode(n, m);
    let j = match mode {
        Mode::Reverse => jacobian_reverse(&mut vjp, n, m, &policy)?,
        _ => jacobian_forward(&mut jvp, n, m, &policy)?,
    };
    check(
        &format!("Jacobian ({mode} mode, closures)"),
        &j,
        &exact_j,
        0.0,
    )?;

    // The same Jacobian by finite differences of a batched primal.
    let mut f = oracle_fn(|p: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
        for (x, mut o) in p.rows().into_iter().zip(out.rows_mut()) {
            o[0] = x[0] * x[1];
            o[1] = x[0].sin();
            o[2] = x[1].powi(3);
        }
        Ok::<(), Infallible>(())
    });
    for (scheme, tol) in [
        (Scheme::Forward, 1e-6),
        (Scheme::Central, 1e-9),
        (Scheme::Central5, 1e-11),
    ] {
        let j_fd =
            FiniteDiff::new(scheme).jacobian(&mut f, x.view(), None, m, &BatchPolicy::default())?;
        check(
            &format!("Jacobian ({scheme} differences)"),
            &j_fd,
            &exact_j,
            tol,
        )?;
    }

    // g(x) = exp(x0) * x1^2 + x0 * x2: Hessian from an analytic HVP closure ...
    let y: Array1<f64> = array![0.2, -1.0, 3.0];
    let e = y[0].exp();
    let exact_h = array![
        [e * y[1] * y[1], 2.0 * e * y[1], 1.0],
        [2.0 * e * y[1], 2.0 * e, 0.0],
        [1.0, 0.0, 0.0],
    ];
    let mut hvp = oracle_fn(|t: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
        for (v, mut o) in t.rows().into_iter().zip(out.rows_mut()) {
            o[0] = e * y[1] * y[1] * v[0] + 2.0 * e * y[1] * v[1] + v[2];
            o[1] = 2.0 * e * y[1] * v[0] + 2.0 * e * v[1];
            o[2] = v[0];
        }
        Ok::<(), Infallible>(())
    });
    let h = hessian_from_hvp(&mut hvp, 3, &BatchPolicy::with_max_batch(Some(2)))?;
    check("Hessian (HVP closure)", &h, &exact_h, 1e-15)?;

    // ... and by central differences of the analytic gradient, symmetrised.
    let mut grad = oracle_fn(|p: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
        for (x, mut o) in p.rows().into_iter().zip(out.rows_mut()) {
            o[0] = x[0].exp() * x[1] * x[1] + x[2];
            o[1] = 2.0 * x[0].exp() * x[1];
            o[2] = x[0];
        }
        Ok::<(), Infallible>(())
    });
    let mut h_fd = FiniteDiff::new(Scheme::Central).jacobian(
        &mut grad,
        y.view(),
        None,
        3,
        &BatchPolicy::default(),
    )?;
    symmetrize_in_place(h_fd.view_mut()).map_err(Error::widen::<Infallible>)?;
    check(
        "Hessian (central differences of the gradient)",
        &h_fd,
        &exact_h,
        1e-9,
    )?;

    let fx: Array1<f64> = array![x[0] * x[1], x[0].sin(), x[1].powi(3)];
    let j_fwd =
        FiniteDiff::new(Scheme::Forward).jacobian(&mut f, x.view(), Some(fx.view()), m, &policy)?;
    check(
        "Jacobian (forward differences, f(x) given)",
        &j_fwd,
        &exact_j,
        1e-6,
    )?;
    println!("all checks passed");
    Ok(())
}
