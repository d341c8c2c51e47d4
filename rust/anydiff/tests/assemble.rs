//! Jacobian and Hessian assembly from closure oracles.

use std::cell::Cell;
use std::convert::Infallible;

use anydiff::{
    hessian_from_hvp, hessian_from_hvp_into, jacobian_forward, jacobian_forward_into,
    jacobian_reverse, jacobian_reverse_into, oracle_fn, symmetrize_in_place, BatchPolicy, Error,
    Hvp, Jvp, Vjp, WithBasis,
};
use ndarray::{array, s, Array1, Array2, ArrayView2, ArrayViewMut2};

/// f(x) = [x0 * x1, sin(x0), x1^3]
fn analytic_jacobian(x: &Array1<f64>) -> Array2<f64> {
    array![[x[1], x[0]], [x[0].cos(), 0.0], [0.0, 3.0 * x[1] * x[1]],]
}

fn jvp_of(
    x: Array1<f64>,
) -> impl FnMut(ArrayView2<f64>, ArrayViewMut2<f64>) -> Result<(), Infallible> {
    move |t, mut out| {
        for (v, mut o) in t.rows().into_iter().zip(out.rows_mut()) {
            o[0] = x[1] * v[0] + x[0] * v[1];
            o[1] = x[0].cos() * v[0];
            o[2] = 3.0 * x[1] * x[1] * v[1];
        }
        Ok(())
    }
}

fn vjp_of(
    x: Array1<f64>,
) -> impl FnMut(ArrayView2<f64>, ArrayViewMut2<f64>) -> Result<(), Infallible> {
    move |c, mut out| {
        for (w, mut o) in c.rows().into_iter().zip(out.rows_mut()) {
            o[0] = x[1] * w[0] + x[0].cos() * w[1];
            o[1] = x[0] * w[0] + 3.0 * x[1] * x[1] * w[2];
        }
        Ok(())
    }
}

fn close(a: &Array2<f64>, b: &Array2<f64>, tol: f64) -> bool {
    a.shape() == b.shape() && a.iter().zip(b.iter()).all(|(p, q)| (p - q).abs() <= tol)
}

#[test]
fn closure_jacobians_match_closed_form() {
    let x = array![0.7, -1.3];
    let exact = analytic_jacobian(&x);
    let policy = BatchPolicy::default();
    let jf = jacobian_forward(&mut jvp_of(x.clone()), 2, 3, &policy).unwrap();
    let jr = jacobian_reverse(&mut vjp_of(x.clone()), 2, 3, &policy).unwrap();
    assert!(close(&jf, &exact, 1e-15));
    assert!(close(&jr, &exact, 1e-15));
    assert_eq!(jf, jr);
}

#[test]
fn blocking_does_not_change_results() {
    // a wider map: f(x)_i = sum_j a_ij x_j with a 5 x 7 matrix
    let a = Array2::from_shape_fn((5, 7), |(i, j)| (i as f64 + 1.0) * 0.5 - j as f64 * 0.25);
    let mut jvp = oracle_fn(|t: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
        out.assign(&t.dot(&a.t()));
        Ok::<(), Infallible>(())
    });
    let reference = jacobian_forward(&mut jvp, 7, 5, &BatchPolicy::default()).unwrap();
    assert_eq!(reference, a);
    for max in [1, 2, 3, 4, 6, 7, 100] {
        let p = BatchPolicy::with_max_batch(Some(max));
        let calls = Cell::new(0usize);
        let mut counted = oracle_fn(|t: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
            calls.set(calls.get() + 1);
            assert!(t.nrows() <= max);
            out.assign(&t.dot(&a.t()));
            Ok::<(), Infallible>(())
        });
        assert_eq!(jacobian_forward(&mut counted, 7, 5, &p).unwrap(), reference);
        assert_eq!(calls.get(), p.blocks(7, 7, 5, 8).len());
        let mut vjp = oracle_fn(|c: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
            assert!(c.nrows() <= max);
            out.assign(&c.dot(&a));
            Ok::<(), Infallible>(())
        });
        assert_eq!(jacobian_reverse(&mut vjp, 7, 5, &p).unwrap(), reference);
    }
    // cap-driven blocking: 2 seeds per block
    let p = BatchPolicy {
        max_batch: None,
        memory_cap_bytes: 2 * (7 + 5) * 8,
    };
    assert_eq!(jacobian_forward(&mut jvp, 7, 5, &p).unwrap(), reference);
}

#[test]
fn into_variants_write_strided_outputs() {
    let x = array![0.3, 2.0];
    let exact = analytic_jacobian(&x);
    // write into a column-major (Fortran-order) buffer and a strided slice
    let mut fortran = Array2::<f64>::zeros((3, 2).f());
    let p = BatchPolicy::with_max_batch(Some(1));
    jacobian_forward_into(&mut jvp_of(x.clone()), &p, fortran.view_mut()).unwrap();
    assert_eq!(fortran, exact);
    let mut big = Array2::<f64>::from_elem((6, 4), -1.0);
    jacobian_reverse_into(&mut vjp_of(x.clone()), &p, big.slice_mut(s![..;2, 1..;2])).unwrap();
    assert_eq!(big.slice(s![..;2, 1..;2]), exact);
    assert_eq!(big[[1, 1]], -1.0);
}

use ndarray::ShapeBuilder;

#[test]
fn zero_sizes_never_call_the_oracle() {
    let mut never = oracle_fn(
        |_: ArrayView2<f64>, _: ArrayViewMut2<f64>| -> Result<(), Infallible> {
            panic!("oracle must not be called")
        },
    );
    let p = BatchPolicy::default();
    assert_eq!(
        jacobian_forward(&mut never, 0, 3, &p).unwrap().shape(),
        &[3, 0]
    );
    assert_eq!(
        jacobian_forward(&mut never, 4, 0, &p).unwrap().shape(),
        &[0, 4]
    );
    assert_eq!(
        jacobian_reverse(&mut never, 0, 3, &p).unwrap().shape(),
        &[3, 0]
    );
    assert_eq!(
        jacobian_reverse(&mut never, 4, 0, &p).unwrap().shape(),
        &[0, 4]
    );
    assert_eq!(
        hessian_from_hvp(&mut never, 0, &p).unwrap().shape(),
        &[0, 0]
    );
}

#[derive(Debug, Clone, PartialEq)]
struct MyError {
    code: i32,
    note: &'static str,
}

#[test]
fn oracle_errors_pass_through_unchanged() {
    let err = MyError {
        code: 42,
        note: "from the oracle",
    };
    let mut failing = oracle_fn(|_: ArrayView2<f64>, _: ArrayViewMut2<f64>| Err(err.clone()));
    let p = BatchPolicy::default();
    assert_eq!(
        jacobian_forward(&mut failing, 2, 2, &p),
        Err(Error::Oracle(err.clone()))
    );
    assert_eq!(
        jacobian_reverse(&mut failing, 2, 2, &p),
        Err(Error::Oracle(err.clone()))
    );
    assert_eq!(
        hessian_from_hvp(&mut failing, 2, &p),
        Err(Error::Oracle(err.clone()))
    );

    // the second block fails: the error of that call is returned
    let calls = Cell::new(0);
    let mut late = oracle_fn(|_: ArrayView2<f64>, _: ArrayViewMut2<f64>| {
        calls.set(calls.get() + 1);
        if calls.get() == 2 {
            Err(MyError {
                code: 2,
                note: "late",
            })
        } else {
            Ok(())
        }
    });
    let r = jacobian_forward(&mut late, 4, 1, &BatchPolicy::with_max_batch(Some(1)));
    assert_eq!(
        r,
        Err(Error::Oracle(MyError {
            code: 2,
            note: "late"
        }))
    );
    assert_eq!(calls.get(), 2);
}

#[test]
fn shape_errors() {
    let mut hvp = oracle_fn(|_: ArrayView2<f64>, _: ArrayViewMut2<f64>| Ok::<(), Infallible>(()));
    let mut out = Array2::zeros((2, 3));
    let err = hessian_from_hvp_into(&mut hvp, &BatchPolicy::default(), out.view_mut()).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }));
    assert!(err.to_string().contains("(2, 3)"), "{err}");
    let err = symmetrize_in_place(out.view_mut()).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }));
}

/// f(x) = exp(x0) * x1^2 + x0 * x2 (Hessian is analytic)
fn analytic_hessian(x: &Array1<f64>) -> Array2<f64> {
    let e = x[0].exp();
    array![
        [e * x[1] * x[1], 2.0 * e * x[1], 1.0],
        [2.0 * e * x[1], 2.0 * e, 0.0],
        [1.0, 0.0, 0.0],
    ]
}

#[test]
fn hessian_from_analytic_hvp() {
    let x = array![0.4, -0.9, 2.5];
    let h = analytic_hessian(&x);
    let mut hvp = oracle_fn(|t: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
        out.assign(&t.dot(&h));
        Ok::<(), Infallible>(())
    });
    for max in [1, 2, 3] {
        let got = hessian_from_hvp(&mut hvp, 3, &BatchPolicy::with_max_batch(Some(max))).unwrap();
        assert!(close(&got, &h, 1e-14));
        assert_eq!(got, got.t());
    }
}

#[test]
fn hessian_is_symmetrized() {
    // a slightly asymmetric "HVP" (as from noisy finite differences)
    let a = array![[1.0, 2.0, 0.0], [2.2, 3.0, 1.0], [0.0, 0.8, 5.0]];
    let mut hvp = oracle_fn(|t: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
        out.assign(&t.dot(&a.t()));
        Ok::<(), Infallible>(())
    });
    let h = hessian_from_hvp(&mut hvp, 3, &BatchPolicy::default()).unwrap();
    let expected = (&a + &a.t()) / 2.0;
    assert!(close(&h, &expected, 1e-15));
}

#[test]
fn symmetrize_strided_view() {
    let mut m = Array2::from_shape_fn((6, 6), |(i, j)| (i * 10 + j) as f64);
    symmetrize_in_place(m.slice_mut(s![1..;2, 1..;2])).unwrap();
    let v = m.slice(s![1..;2, 1..;2]);
    assert_eq!(v, v.t());
    assert_eq!(v[[0, 1]], (13.0 + 31.0) / 2.0);
    assert_eq!(m[[0, 0]], 0.0);
    let mut empty = Array2::<f32>::zeros((0, 0));
    symmetrize_in_place(empty.view_mut()).unwrap();
}

#[test]
fn basis_aware_oracles_are_used() {
    let x = array![1.1, 0.2];
    let exact = analytic_jacobian(&x);
    let dense_calls = Cell::new(0);
    let mut o = WithBasis::new(
        |_t: ArrayView2<f64>, _out: ArrayViewMut2<f64>| {
            dense_calls.set(dense_calls.get() + 1);
            Ok::<(), Infallible>(())
        },
        |start: usize, mut out: ArrayViewMut2<f64>| {
            // columns start.. of J
            for (i, mut row) in out.rows_mut().into_iter().enumerate() {
                row.assign(&exact.column(start + i));
            }
            Ok(())
        },
    );
    let j = jacobian_forward(&mut o, 2, 3, &BatchPolicy::with_max_batch(Some(1))).unwrap();
    assert_eq!(j, exact);
    assert_eq!(dense_calls.get(), 0);
    // the same struct serves reverse mode and Hessians through the trait methods
    Vjp::vjp(
        &mut o,
        Array2::zeros((1, 3)).view(),
        Array2::zeros((1, 2)).view_mut(),
    )
    .unwrap();
    Hvp::hvp(
        &mut o,
        Array2::zeros((1, 2)).view(),
        Array2::zeros((1, 2)).view_mut(),
    )
    .unwrap();
    Jvp::jvp(
        &mut o,
        Array2::zeros((1, 2)).view(),
        Array2::zeros((1, 3)).view_mut(),
    )
    .unwrap();
    assert_eq!(dense_calls.get(), 3);
}

#[test]
fn works_with_f32() {
    let a = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
    let mut jvp = oracle_fn(|t: ArrayView2<f32>, mut out: ArrayViewMut2<f32>| {
        out.assign(&t.dot(&a.t()));
        Ok::<(), Infallible>(())
    });
    let mut vjp = oracle_fn(|c: ArrayView2<f32>, mut out: ArrayViewMut2<f32>| {
        out.assign(&c.dot(&a));
        Ok::<(), Infallible>(())
    });
    let p = BatchPolicy::with_max_batch(Some(1));
    assert_eq!(jacobian_forward(&mut jvp, 2, 3, &p).unwrap(), a);
    assert_eq!(jacobian_reverse(&mut vjp, 2, 3, &p).unwrap(), a);
}
