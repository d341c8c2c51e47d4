//! Finite differences from batched primal evaluations.

use std::cell::Cell;
use std::convert::Infallible;

use anydiff::{
    jacobian_forward, jacobian_forward_into, oracle_fn, BatchPolicy, Error, FdJvp, FiniteDiff,
    Scheme,
};
use ndarray::{array, Array1, Array2, ArrayView2, ArrayViewMut2, Zip};

/// f(x) = [exp(x0) sin(x1), exp(x0 + x1), sin(x0 x1)]
fn f_point(x: &[f64]) -> [f64; 3] {
    [
        x[0].exp() * x[1].sin(),
        (x[0] + x[1]).exp(),
        (x[0] * x[1]).sin(),
    ]
}

fn exact_jacobian(x: &Array1<f64>) -> Array2<f64> {
    let (a, b) = (x[0], x[1]);
    array![
        [a.exp() * b.sin(), a.exp() * b.cos()],
        [(a + b).exp(), (a + b).exp()],
        [b * (a * b).cos(), a * (a * b).cos()],
    ]
}

fn max_rel_err(got: &Array2<f64>, exact: &Array2<f64>) -> f64 {
    let scale = exact.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(exact.iter())
        .fold(0.0f64, |m, (g, e)| m.max((g - e).abs()))
        / scale
}

/// Batched primal counting its calls and points.
struct Counted {
    calls: Cell<usize>,
    points: Cell<usize>,
}

impl Counted {
    fn new() -> Self {
        Counted {
            calls: Cell::new(0),
            points: Cell::new(0),
        }
    }

    fn primal(
        &self,
    ) -> impl FnMut(ArrayView2<f64>, ArrayViewMut2<f64>) -> Result<(), Infallible> + '_ {
        move |p, mut out| {
            self.calls.set(self.calls.get() + 1);
            self.points.set(self.points.get() + p.nrows());
            for (x, mut o) in p.rows().into_iter().zip(out.rows_mut()) {
                let v = f_point(&x.to_vec());
                for (slot, value) in o.iter_mut().zip(v) {
                    *slot = value;
                }
            }
            Ok(())
        }
    }
}

#[test]
fn jacobian_accuracy_per_scheme() {
    let x = array![0.3, 1.1];
    let exact = exact_jacobian(&x);
    for (scheme, tol) in [
        (Scheme::Forward, 1e-7),
        (Scheme::Central, 1e-10),
        (Scheme::Central5, 1e-12),
    ] {
        let c = Counted::new();
        let mut f = c.primal();
        let j = FiniteDiff::new(scheme)
            .jacobian(&mut f, x.view(), None, 3, &BatchPolicy::default())
            .unwrap();
        let err = max_rel_err(&j, &exact);
        assert!(err < tol, "{scheme}: relative error {err:e}");
        // one batch for the whole Jacobian (plus none for f(x): same batch)
        assert_eq!(c.calls.get(), 1, "{scheme}");
        let moving = scheme.offsets().iter().filter(|(o, _)| *o != 0.0).count();
        let extra = usize::from(scheme == Scheme::Forward);
        assert_eq!(c.points.get(), 2 * moving + extra, "{scheme}");
    }
}

#[test]
fn directional_jvp_accuracy_and_single_batch() {
    let x = array![-0.4, 0.9];
    let exact = exact_jacobian(&x);
    let tangents = array![[1.0, 0.0], [0.3, -2.0], [0.0, 0.0], [1e-3, 5e-4]];
    let expected = tangents.dot(&exact.t());
    for (scheme, tol) in [
        (Scheme::Forward, 1e-7),
        (Scheme::Central, 1e-10),
        (Scheme::Central5, 1e-12),
    ] {
        let c = Counted::new();
        let mut f = c.primal();
        let mut out = Array2::from_elem((4, 3), f64::NAN);
        FiniteDiff::new(scheme)
            .jvp(&mut f, x.view(), None, tangents.view(), out.view_mut())
            .unwrap();
        assert_eq!(c.calls.get(), 1);
        // zero tangent row: zero output, not evaluated
        assert_eq!(out.row(2), Array1::<f64>::zeros(3));
        let moving = scheme.offsets().iter().filter(|(o, _)| *o != 0.0).count();
        let extra = usize::from(scheme == Scheme::Forward);
        assert_eq!(c.points.get(), 3 * moving + extra);
        for i in [0, 1, 3] {
            let scale = expected.row(i).iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for j in 0..3 {
                let err = (out[[i, j]] - expected[[i, j]]).abs() / scale;
                assert!(err < tol, "{scheme} row {i}: {err:e}");
            }
        }
    }
}

#[test]
fn given_fx_is_used_by_forward() {
    let x = array![0.2, 0.5];
    let fx = Array1::from(f_point(&[0.2, 0.5]).to_vec());
    let c = Counted::new();
    let mut f = c.primal();
    let mut out = Array2::zeros((2, 3));
    FiniteDiff::new(Scheme::Forward)
        .jvp_basis(&mut f, x.view(), Some(fx.view()), 0, out.view_mut())
        .unwrap();
    assert_eq!((c.calls.get(), c.points.get()), (1, 2));
    let err = max_rel_err(&out.t().to_owned(), &exact_jacobian(&x));
    assert!(err < 1e-7, "{err:e}");
}

#[test]
fn all_zero_tangents_do_not_evaluate() {
    let c = Counted::new();
    let mut f = c.primal();
    let mut out = Array2::from_elem((2, 3), 7.0);
    FiniteDiff::new(Scheme::Forward)
        .jvp(
            &mut f,
            array![1.0, 2.0].view(),
            None,
            Array2::zeros((2, 2)).view(),
            out.view_mut(),
        )
        .unwrap();
    assert_eq!(c.calls.get(), 0);
    assert_eq!(out, Array2::<f64>::zeros((2, 3)));
}

#[test]
fn fd_adapter_with_assembly_and_blocking() {
    let x = array![0.3, 1.1];
    let exact = exact_jacobian(&x);
    let fd = FiniteDiff::new(Scheme::Central5);
    for max in [1, 2] {
        let c = Counted::new();
        let mut f = c.primal();
        let mut oracle = FdJvp::new(fd, &mut f, x.view(), None);
        let mut out = Array2::zeros((3, 2));
        jacobian_forward_into(
            &mut oracle,
            &BatchPolicy::with_max_batch(Some(max)),
            out.view_mut(),
        )
        .map_err(Error::flatten)
        .unwrap();
        assert!(max_rel_err(&out, &exact) < 1e-12);
        drop(oracle);
        assert_eq!(c.calls.get(), 2 / max);
    }
    // Forward: f(x) is evaluated once and cached across blocks
    let c = Counted::new();
    let mut f = c.primal();
    let mut oracle = FdJvp::new(FiniteDiff::new(Scheme::Forward), &mut f, x.view(), None);
    let j = jacobian_forward(&mut oracle, 2, 3, &BatchPolicy::with_max_batch(Some(1))).unwrap();
    assert!(oracle.fx().is_some());
    assert_eq!(oracle.x(), x);
    drop(oracle);
    assert!(max_rel_err(&j, &exact) < 1e-7);
    assert_eq!((c.calls.get(), c.points.get()), (2, 3));
    // FiniteDiff::jacobian with a tiny memory cap also blocks
    let c = Counted::new();
    let mut f = c.primal();
    let p = BatchPolicy {
        max_batch: None,
        memory_cap_bytes: 1,
    };
    let j = FiniteDiff::new(Scheme::Forward)
        .jacobian(&mut f, x.view(), None, 3, &p)
        .unwrap();
    assert!(max_rel_err(&j, &exact) < 1e-7);
    assert_eq!((c.calls.get(), c.points.get()), (2, 3));
}

#[test]
fn large_and_small_x_scale_steps() {
    // f(x) = exp(x / 1000) near x = 5000: relative step scales with |x|
    let mut f = oracle_fn(|p: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
        for (x, mut o) in p.rows().into_iter().zip(out.rows_mut()) {
            o[0] = (x[0] / 1000.0).exp();
        }
        Ok::<(), Infallible>(())
    });
    let x = array![5000.0];
    let exact = (5.0f64).exp() / 1000.0;
    let mut out = Array2::zeros((1, 1));
    FiniteDiff::new(Scheme::Central)
        .jvp_basis(&mut f, x.view(), None, 0, out.view_mut())
        .unwrap();
    assert!((out[[0, 0]] - exact).abs() / exact < 1e-9);
    FiniteDiff::new(Scheme::Central)
        .jvp(
            &mut f,
            x.view(),
            None,
            array![[1e-8]].view(),
            out.view_mut(),
        )
        .unwrap();
    assert!((out[[0, 0]] - exact * 1e-8).abs() / (exact * 1e-8) < 1e-9);
}

#[test]
fn f32_finite_differences() {
    let mut f = oracle_fn(|p: ArrayView2<f32>, mut out: ArrayViewMut2<f32>| {
        for (x, mut o) in p.rows().into_iter().zip(out.rows_mut()) {
            o[0] = x[0].exp() * x[1].sin();
            o[1] = x[0] * x[1];
        }
        Ok::<(), Infallible>(())
    });
    let x = array![0.5f32, 1.2];
    let exact = array![
        [0.5f32.exp() * 1.2f32.sin(), 0.5f32.exp() * 1.2f32.cos()],
        [1.2, 0.5]
    ];
    for (scheme, tol) in [
        (Scheme::Forward, 2e-3f32),
        (Scheme::Central, 2e-4),
        (Scheme::Central5, 2e-4),
    ] {
        let j = FiniteDiff::new(scheme)
            .jacobian(&mut f, x.view(), None, 2, &BatchPolicy::default())
            .unwrap();
        let err = j
            .iter()
            .zip(exact.iter())
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(err < tol, "{scheme}: {err:e}");
    }
}

#[test]
fn step_override() {
    let mut f = oracle_fn(|p: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
        for (x, mut o) in p.rows().into_iter().zip(out.rows_mut()) {
            o[0] = x[0] * x[0];
        }
        Ok::<(), Infallible>(())
    });
    // forward difference of x^2 at 1 with step h = 0.5 (exact in binary): 2 + h
    let fd = FiniteDiff {
        scheme: Scheme::Forward,
        step: Some(0.5),
    };
    assert_eq!(fd.relative_step(), 0.5);
    let j = fd
        .jacobian(&mut f, array![1.0].view(), None, 1, &BatchPolicy::default())
        .unwrap();
    assert_eq!(j[[0, 0]], 2.5);
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let fd = FiniteDiff {
            scheme: Scheme::Central,
            step: Some(bad),
        };
        let err = fd.jacobian(&mut f, array![1.0].view(), None, 1, &BatchPolicy::default());
        assert!(matches!(err, Err(Error::InvalidArgument(_))), "{bad}");
    }
}

#[test]
fn fd_shape_errors_and_zero_sizes() {
    let mut never = oracle_fn(
        |_: ArrayView2<f64>, _: ArrayViewMut2<f64>| -> Result<(), Infallible> {
            panic!("must not evaluate")
        },
    );
    let fd = FiniteDiff::<f64>::new(Scheme::Central);
    let x = array![1.0, 2.0];
    let p = BatchPolicy::default();
    // zero sizes
    assert_eq!(
        fd.jacobian(&mut never, x.view(), None, 0, &p)
            .unwrap()
            .shape(),
        &[0, 2]
    );
    let empty = Array1::<f64>::zeros(0);
    assert_eq!(
        fd.jacobian(&mut never, empty.view(), None, 3, &p)
            .unwrap()
            .shape(),
        &[3, 0]
    );
    // wrong tangent width
    let mut out = Array2::zeros((1, 3));
    let err = fd.jvp(
        &mut never,
        x.view(),
        None,
        Array2::ones((1, 3)).view(),
        out.view_mut(),
    );
    assert!(matches!(err, Err(Error::Shape { .. })));
    // wrong out rows
    let err = fd.jvp(
        &mut never,
        x.view(),
        None,
        Array2::ones((2, 2)).view(),
        out.view_mut(),
    );
    assert!(matches!(err, Err(Error::Shape { .. })));
    // basis block past n
    let mut out = Array2::zeros((2, 3));
    let err = fd.jvp_basis(&mut never, x.view(), None, 1, out.view_mut());
    assert!(matches!(err, Err(Error::Shape { .. })));
    // fx of the wrong length
    let fx = array![1.0];
    let err = fd.jacobian(&mut never, x.view(), Some(fx.view()), 3, &p);
    assert!(matches!(err, Err(Error::Shape { .. })));
    let err = fd.jvp_basis(&mut never, x.view(), Some(fx.view()), 0, out.view_mut());
    assert!(matches!(err, Err(Error::Shape { .. })));
}

#[derive(Debug, PartialEq)]
struct Boom(u8);

#[test]
fn primal_errors_pass_through() {
    let mut f = oracle_fn(|_: ArrayView2<f64>, _: ArrayViewMut2<f64>| Err(Boom(9)));
    let fd = FiniteDiff::new(Scheme::Central);
    let r = fd.jacobian(&mut f, array![1.0].view(), None, 1, &BatchPolicy::default());
    assert_eq!(r, Err(Error::Oracle(Boom(9))));
    let mut oracle = FdJvp::new(fd, &mut f, array![1.0].view(), None);
    let r = jacobian_forward(&mut oracle, 1, 1, &BatchPolicy::default()).map_err(Error::flatten);
    assert_eq!(r, Err(Error::Oracle(Boom(9))));
}

#[test]
fn scheme_parsing_and_steps() {
    assert_eq!("forward".parse::<Scheme>(), Ok(Scheme::Forward));
    assert_eq!("Central".parse::<Scheme>(), Ok(Scheme::Central));
    assert_eq!("central5".parse::<Scheme>(), Ok(Scheme::Central5));
    let err = "backward".parse::<Scheme>().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    let msg = err.to_string();
    for name in ["forward", "central", "central5", "backward"] {
        assert!(msg.contains(name), "{msg}");
    }
    assert_eq!(
        [Scheme::Forward, Scheme::Central, Scheme::Central5].map(|s| s.order()),
        [1, 2, 4]
    );
    let eps = f64::EPSILON;
    assert_eq!(Scheme::Forward.default_relative_step::<f64>(), eps.sqrt());
    assert!((Scheme::Central.default_relative_step::<f64>() - eps.cbrt()).abs() < 1e-18);
    assert!((Scheme::Central5.default_relative_step::<f64>() - eps.powf(0.2)).abs() < 1e-15);
    assert_eq!(Scheme::default(), Scheme::Central);
    for s in [Scheme::Forward, Scheme::Central, Scheme::Central5] {
        // consistency: weights sum to zero, first moment is one
        let w: f64 = s.offsets().iter().map(|(_, w)| w).sum();
        let m1: f64 = s.offsets().iter().map(|(c, w)| c * w).sum();
        assert!(w.abs() < 1e-15 && (m1 - 1.0).abs() < 1e-15, "{s}");
        assert_eq!(s.to_string().parse::<Scheme>(), Ok(s));
    }
}

#[test]
fn pairs_expand_to_the_offsets() {
    for scheme in [Scheme::Forward, Scheme::Central, Scheme::Central5] {
        let mut expanded: Vec<(f64, f64)> = Vec::new();
        for &(a, b, w) in scheme.pairs() {
            for (c, wc) in [(a, w), (b, -w)] {
                match expanded.iter_mut().find(|(o, _)| *o == c) {
                    Some(entry) => entry.1 += wc,
                    None => expanded.push((c, wc)),
                }
            }
        }
        for &(c, w) in scheme.offsets() {
            let got = expanded.iter().find(|(o, _)| *o == c).map(|e| e.1);
            assert_eq!(got, Some(w), "{scheme:?} offset {c}");
        }
        assert_eq!(expanded.len(), scheme.offsets().len(), "{scheme:?}");
    }
}

#[test]
fn untouched_outputs_give_exact_zeros() {
    // f_i depends on x_i only: every off-diagonal entry must be exactly zero, whatever
    // the rounding of the stencil's weights.
    let x = ndarray::array![0.1, 1.7, -3.2, 12.5];
    for scheme in [Scheme::Forward, Scheme::Central, Scheme::Central5] {
        let mut primal = |p: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
            Zip::from(&mut out)
                .and(&p)
                .for_each(|o, &v| *o = (v * 1.3).sin() * 7.0 + v * v);
            Ok::<(), Infallible>(())
        };
        let fd = FiniteDiff::<f64>::new(scheme);
        let jac = fd
            .jacobian(&mut primal, x.view(), None, 4, &BatchPolicy::default())
            .unwrap();
        for i in 0..4 {
            for j in 0..4 {
                if i != j {
                    assert_eq!(jac[[i, j]], 0.0, "{scheme:?} ({i}, {j})");
                }
            }
        }
    }
}
