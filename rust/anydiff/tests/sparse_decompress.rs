//! Decompression: exact recovery, gather indices, and errors (never panics).

mod sparse_support;

use anydiff::sparse::{
    color_acyclic, color_columns, color_rows, color_star, decompress_acyclic, decompress_columns,
    decompress_rows, decompress_star, decompression_gather_indices, is_valid, seed_matrix,
    AcyclicSubstitution, Coloring, ColoringKind, Order, Pattern,
};
use ndarray::{Array2, ArrayView2};
use proptest::prelude::*;
use sparse_support::{brusselator, julia, tridiagonal};

/// A random integer-valued matrix and its pattern (values in 1..=9, so sums
/// and differences are exact).
fn matrix(max: usize) -> impl Strategy<Value = (Pattern, Array2<f64>)> {
    (0..max, 0..max, 0u8..60).prop_flat_map(|(m, n, density)| {
        proptest::collection::vec((0u8..100, 1u8..10), m * n).prop_map(move |v| {
            let a = Array2::from_shape_fn((m, n), |(i, j)| {
                let (keep, val) = v[i * n + j];
                if keep < density {
                    f64::from(val)
                } else {
                    0.0
                }
            });
            (pattern_of(&a), a)
        })
    })
}

/// A random symmetric integer-valued matrix and its pattern.
fn symmetric(max: usize) -> impl Strategy<Value = (Pattern, Array2<f64>)> {
    (0..max, 0u8..50).prop_flat_map(|(n, density)| {
        proptest::collection::vec((0u8..100, 1u8..10), n * n).prop_map(move |v| {
            let a = Array2::from_shape_fn((n, n), |(i, j)| {
                let (keep, val) = v[i.max(j) * n + i.min(j)];
                if keep < density {
                    f64::from(val)
                } else {
                    0.0
                }
            });
            (pattern_of(&a), a)
        })
    })
}

fn pattern_of(a: &Array2<f64>) -> Pattern {
    let (m, n) = a.dim();
    let mask: Vec<bool> = a.iter().map(|&x| x != 0.0).collect();
    Pattern::from_dense(m, n, &mask).unwrap_or_else(|_| Pattern::empty(m, n))
}

fn gather(b: ArrayView2<f64>, idx: &[usize]) -> Vec<f64> {
    let flat: Vec<f64> = b.iter().copied().collect(); // logical row-major order
    idx.iter().map(|&k| flat[k]).collect()
}

const ORDERS: [Order; 4] = [
    Order::Natural,
    Order::LargestFirst,
    Order::SmallestLast,
    Order::Random(3),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn columns_and_rows_exact((p, a) in matrix(40)) {
        for order in ORDERS {
            let c = color_columns(&p, order);
            let b = a.dot(&seed_matrix::<f64>(&c));
            let vals = decompress_columns(&p, &c, b.view()).unwrap();
            prop_assert_eq!(&p.to_dense(&vals).unwrap(), &a);
            let idx = decompression_gather_indices(&p, &c).unwrap();
            prop_assert_eq!(gather(b.view(), &idx), vals);
            // a batch-leading block (ncolors x m) transposed works as well
            let bt = seed_matrix::<f64>(&c).t().dot(&a.t());
            prop_assert_eq!(&decompress_columns(&p, &c, bt.t()).unwrap(), &decompress_columns(&p, &c, b.view()).unwrap());

            let r = color_rows(&p, order);
            let cm = seed_matrix::<f64>(&r).t().dot(&a);
            let vals = decompress_rows(&p, &r, cm.view()).unwrap();
            prop_assert_eq!(&p.to_dense(&vals).unwrap(), &a);
            let idx = decompression_gather_indices(&p, &r).unwrap();
            prop_assert_eq!(gather(cm.view(), &idx), vals);
        }
    }

    #[test]
    fn star_and_acyclic_exact((p, h) in symmetric(30)) {
        for order in ORDERS {
            let s = color_star(&p, order).unwrap();
            let b = h.dot(&seed_matrix::<f64>(&s));
            let vals = decompress_star(&p, &s, b.view()).unwrap();
            prop_assert_eq!(&p.to_dense(&vals).unwrap(), &h);
            let idx = decompression_gather_indices(&p, &s).unwrap();
            prop_assert_eq!(gather(b.view(), &idx), vals);

            let a = color_acyclic(&p, order).unwrap();
            // greedy acyclic and star colorings along one order make different choices:
            // neither count bounds the other (a seed found acyclic above star)
            prop_assert!(is_valid(&p, &a));
            let b = h.dot(&seed_matrix::<f64>(&a));
            let vals = decompress_acyclic(&p, &a, b.view()).unwrap();
            prop_assert_eq!(&p.to_dense(&vals).unwrap(), &h);
            // the substitution order is the pattern's: one order recovers other values too
            let order_once = AcyclicSubstitution::new(&p, &a).unwrap();
            let h2 = h.mapv(|v| if v == 0.0 { 0.0 } else { 3.0 - 2.0 * v });
            let b2 = h2.dot(&seed_matrix::<f64>(&a));
            prop_assert_eq!(&p.to_dense(&order_once.apply(b2.view()).unwrap()).unwrap(), &h2);
            prop_assert_eq!(order_once.apply(b.view()).unwrap(), vals);
            // a star coloring is acyclic: substitution works with it too
            let sa = Coloring { kind: ColoringKind::Acyclic, ..s.clone() };
            let b = h.dot(&seed_matrix::<f64>(&sa));
            prop_assert_eq!(&p.to_dense(&decompress_acyclic(&p, &sa, b.view()).unwrap()).unwrap(), &h);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary tiny patterns, arbitrary (mostly invalid) colorings and
    /// arbitrary shapes of B: results or errors, never a panic; an `Ok`
    /// only for a valid coloring and a matching shape.
    #[test]
    fn fuzz_no_panic(
        m in 0usize..6,
        n in 0usize..6,
        mask in proptest::collection::vec(any::<bool>(), 36),
        colors in proptest::collection::vec(0usize..5, 0..7),
        ncolors in 0usize..6,
        rows in 0usize..7,
        cols in 0usize..7,
        kind in 0usize..4,
    ) {
        let p = Pattern::from_dense(m, n, &mask[..m * n]).unwrap();
        let kind = [ColoringKind::Column, ColoringKind::Row, ColoringKind::Star, ColoringKind::Acyclic][kind];
        let c = Coloring { colors, ncolors, kind };
        let b = Array2::<f64>::ones((rows, cols));
        let valid = is_valid(&p, &c);
        let results = [
            decompress_columns(&p, &c, b.view()).is_ok(),
            decompress_rows(&p, &c, b.view()).is_ok(),
            decompress_star(&p, &c, b.view()).is_ok(),
            decompress_acyclic(&p, &c, b.view()).is_ok(),
        ];
        let _ = decompression_gather_indices(&p, &c);
        let _ = seed_matrix::<f32>(&c);
        for (k, ok) in results.iter().enumerate() {
            if *ok {
                prop_assert!(valid && k == kind as usize);
            }
        }
        // the colorings themselves on the same tiny patterns
        prop_assert!(is_valid(&p, &color_columns(&p, Order::SmallestLast)));
        prop_assert!(is_valid(&p, &color_rows(&p, Order::IncidenceDegree)));
        if p.is_symmetric() {
            prop_assert!(is_valid(&p, &color_star(&p, Order::DynamicLargestFirst).unwrap()));
            prop_assert!(is_valid(&p, &color_acyclic(&p, Order::Random(1)).unwrap()));
        } else {
            prop_assert!(color_star(&p, Order::Natural).is_err());
            prop_assert!(color_acyclic(&p, Order::Natural).is_err());
        }
    }
}

#[test]
fn errors_on_bad_input() {
    let p = tridiagonal(4);
    let c = color_columns(&p, Order::Natural);
    let ok = Array2::<f64>::zeros((4, c.ncolors));
    assert!(decompress_columns(&p, &c, ok.view()).is_ok());
    // wrong shape of B
    let e = decompress_columns(&p, &c, Array2::<f64>::zeros((3, c.ncolors)).view()).unwrap_err();
    assert!(e.to_string().contains("(4, 3)"), "{e}");
    // wrong kind
    assert!(decompress_rows(&p, &c, ok.view()).is_err());
    assert!(decompress_star(&p, &c, ok.view()).is_err());
    // invalid coloring
    let bad = Coloring::new(vec![0, 1, 0, 1], ColoringKind::Column);
    assert!(decompress_columns(&p, &bad, Array2::<f64>::zeros((4, 2)).view()).is_err());
    assert!(decompression_gather_indices(&p, &bad).is_err());
    let bad_star = Coloring::new(vec![0, 1, 0, 1], ColoringKind::Star);
    assert!(decompress_star(&p, &bad_star, Array2::<f64>::zeros((4, 2)).view()).is_err());
    // acyclic has no gather
    let a = color_acyclic(&p, Order::Natural).unwrap();
    assert!(decompression_gather_indices(&p, &a).is_err());
    // non-square / non-symmetric for star and acyclic
    let rect = Pattern::from_dense(2, 3, &[true; 6]).unwrap();
    let c3 = Coloring::new(vec![0, 1, 2], ColoringKind::Star);
    assert!(decompress_star(&rect, &c3, Array2::<f64>::zeros((2, 3)).view()).is_err());
    let nonsym = Pattern::from_coo(2, 2, &[0, 0, 1], &[0, 1, 1]).unwrap();
    let c2 = Coloring::new(vec![0, 1], ColoringKind::Acyclic);
    assert!(decompress_acyclic(&nonsym, &c2, Array2::<f64>::zeros((2, 2)).view()).is_err());
}

#[test]
fn brusselator_decompression_f32() {
    let n = 8;
    let p = brusselator(n, julia(n));
    let c = color_columns(&p, Order::Natural);
    let (rows, cols) = p.to_coo();
    let mut j = Array2::<f32>::zeros((p.nrows(), p.ncols()));
    for (k, (&r, &q)) in rows.iter().zip(&cols).enumerate() {
        j[[r, q]] = (k % 13) as f32 + 1.0;
    }
    let b = j.dot(&seed_matrix::<f32>(&c));
    let vals = decompress_columns(&p, &c, b.view()).unwrap();
    assert_eq!(p.to_dense(&vals).unwrap(), j);
}
