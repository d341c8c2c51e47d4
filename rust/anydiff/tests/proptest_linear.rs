//! Property tests: random linear maps assemble exactly, whatever the blocking.

use std::convert::Infallible;

use anydiff::{
    hessian_from_hvp, jacobian_forward, jacobian_reverse, oracle_fn, BatchPolicy, FiniteDiff,
    Scheme,
};
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2};
use proptest::prelude::*;

fn matrix(max_rows: usize, max_cols: usize) -> impl Strategy<Value = Array2<f64>> {
    (0..=max_rows, 0..=max_cols).prop_flat_map(|(m, n)| {
        proptest::collection::vec(-10.0f64..10.0, m * n).prop_map(move |v| {
            Array2::from_shape_vec((m, n), v).unwrap_or_else(|_| Array2::zeros((m, n)))
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn forward_equals_reverse_equals_matrix(a in matrix(7, 7), max in 1usize..9, cap in 0usize..2000) {
        let (m, n) = a.dim();
        let mut jvp = oracle_fn(|t: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
            out.assign(&t.dot(&a.t()));
            Ok::<(), Infallible>(())
        });
        let mut vjp = oracle_fn(|c: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
            out.assign(&c.dot(&a));
            Ok::<(), Infallible>(())
        });
        let policy = BatchPolicy { max_batch: Some(max), memory_cap_bytes: cap };
        let jf = jacobian_forward(&mut jvp, n, m, &policy).unwrap();
        let jr = jacobian_reverse(&mut vjp, n, m, &policy).unwrap();
        prop_assert_eq!(&jf, &a);
        prop_assert_eq!(&jr, &a);
    }

    #[test]
    fn hessian_of_quadratic(b in matrix(6, 6), max in 1usize..8) {
        // H = B^T B is symmetric; hvp(v) = H v
        let h = b.t().dot(&b);
        let n = h.nrows();
        let mut hvp = oracle_fn(|t: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
            out.assign(&t.dot(&h));
            Ok::<(), Infallible>(())
        });
        let got = hessian_from_hvp(&mut hvp, n, &BatchPolicy::with_max_batch(Some(max))).unwrap();
        for (g, e) in got.iter().zip(h.iter()) {
            prop_assert!((g - e).abs() <= 1e-12 * (1.0 + e.abs()));
        }
        prop_assert_eq!(&got, &got.t());
    }

    #[test]
    fn central_fd_of_linear_map(a in matrix(5, 5), x in proptest::collection::vec(-3.0f64..3.0, 5), max in 1usize..6) {
        let (m, n) = a.dim();
        let x = Array1::from(x[..n].to_vec());
        let mut f = oracle_fn(|p: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
            out.assign(&p.dot(&a.t()));
            Ok::<(), Infallible>(())
        });
        let j = FiniteDiff::new(Scheme::Central)
            .jacobian(&mut f, x.view(), None, m, &BatchPolicy::with_max_batch(Some(max)))
            .unwrap();
        for (g, e) in j.iter().zip(a.iter()) {
            prop_assert!((g - e).abs() <= 1e-8 * 30.0, "{} vs {}", g, e);
        }
    }
}
