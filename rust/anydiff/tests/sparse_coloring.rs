//! Colorings: validity on random patterns, orderings, quality on references.

mod sparse_support;

use anydiff::sparse::{
    color_acyclic, color_columns, color_columns_best, color_rows, color_rows_best, color_star,
    improve, is_valid, order_columns, order_rows, order_symmetric, Coloring, ColoringKind,
    ImproveOptions, Order, Pattern,
};
use anydiff::{Error, StopFlag};
use proptest::prelude::*;
use sparse_support::{banded, brusselator, interleaved, julia, permuted, tridiagonal};

/// Random `m x n` pattern with roughly `density` percent nonzeros.
fn pattern(max: usize) -> impl Strategy<Value = Pattern> {
    (0..max, 0..max, 0u8..60).prop_flat_map(|(m, n, density)| {
        proptest::collection::vec(0u8..100, m * n).prop_map(move |v| {
            let mask: Vec<bool> = v.iter().map(|&x| x < density).collect();
            Pattern::from_dense(m, n, &mask).unwrap_or_else(|_| Pattern::empty(m, n))
        })
    })
}

/// Random symmetric `n x n` pattern (random diagonal).
fn symmetric(max: usize) -> impl Strategy<Value = Pattern> {
    (0..max, 0u8..50).prop_flat_map(|(n, density)| {
        proptest::collection::vec(0u8..100, n * n).prop_map(move |v| {
            let mut mask = vec![false; n * n];
            for i in 0..n {
                for j in 0..=i {
                    let on = v[i * n + j] < density;
                    mask[i * n + j] = on;
                    mask[j * n + i] = on;
                }
            }
            Pattern::from_dense(n, n, &mask).unwrap_or_else(|_| Pattern::empty(n, n))
        })
    })
}

fn all_orders() -> Vec<Order> {
    let mut v = Order::ALL.to_vec();
    v.push(Order::Random(12345));
    v
}

fn is_permutation(v: &[usize], n: usize) -> bool {
    let mut seen = vec![false; n];
    v.len() == n
        && v.iter()
            .all(|&x| x < n && !std::mem::replace(&mut seen[x], true))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn column_and_row_colorings_valid(p in pattern(40)) {
        for order in all_orders() {
            prop_assert!(is_permutation(&order_columns(&p, order), p.ncols()));
            prop_assert!(is_permutation(&order_rows(&p, order), p.nrows()));
            let c = color_columns(&p, order);
            prop_assert_eq!(c.kind, ColoringKind::Column);
            prop_assert!(is_valid(&p, &c), "column {:?}", order);
            let r = color_rows(&p, order);
            prop_assert!(is_valid(&p, &r), "row {:?}", order);
            // row coloring of p = column coloring of its transpose
            let rt = Coloring { kind: ColoringKind::Column, ..r.clone() };
            prop_assert!(is_valid(&p.transpose(), &rt));
        }
    }

    #[test]
    fn symmetric_colorings_valid(p in symmetric(30)) {
        for order in all_orders() {
            prop_assert!(is_permutation(&order_symmetric(&p, order), p.nrows()));
            let s = color_star(&p, order).unwrap();
            prop_assert!(is_valid(&p, &s), "star {:?} {:?}", order, s);
            let a = color_acyclic(&p, order).unwrap();
            prop_assert!(is_valid(&p, &a), "acyclic {:?} {:?}", order, a);
            // a star coloring is acyclic
            let sa = Coloring { kind: ColoringKind::Acyclic, ..s.clone() };
            prop_assert!(is_valid(&p, &sa));
            prop_assert!(a.ncolors <= p.nrows().max(1) || p.nrows() == 0);
        }
    }

    #[test]
    fn improvement_never_increases(p in pattern(30), seed in 0u64..1000) {
        let opts = ImproveOptions { work: 200_000, time_limit: None, seed };
        let stop = StopFlag::new();
        for order in [Order::Natural, Order::Random(seed)] {
            for c in [color_columns(&p, order), color_rows(&p, order)] {
                let better = improve(&p, &c, &opts, &stop).unwrap();
                prop_assert!(is_valid(&p, &better));
                prop_assert!(better.ncolors <= c.ncolors);
            }
        }
        let best = color_columns_best(&p, &[], &opts, &stop).unwrap();
        prop_assert!(is_valid(&p, &best));
        prop_assert!(best.ncolors <= color_columns(&p, Order::Natural).ncolors);
        let best = color_rows_best(&p, &[Order::SmallestLast], &opts, &stop).unwrap();
        prop_assert!(is_valid(&p, &best));
    }

    #[test]
    fn symmetric_improvement_never_increases(p in symmetric(20), seed in 0u64..1000) {
        let opts = ImproveOptions { work: 200_000, time_limit: None, seed };
        let stop = StopFlag::new();
        let s = color_star(&p, Order::Random(seed)).unwrap();
        let s2 = improve(&p, &s, &opts, &stop).unwrap();
        prop_assert!(is_valid(&p, &s2) && s2.ncolors <= s.ncolors);
        let a = color_acyclic(&p, Order::Random(seed)).unwrap();
        let a2 = improve(&p, &a, &opts, &stop).unwrap();
        prop_assert!(is_valid(&p, &a2) && a2.ncolors <= a.ncolors);
    }
}

#[test]
fn invalid_colorings_detected() {
    let p = tridiagonal(4);
    let bad = [
        Coloring::new(vec![0, 1, 0, 1], ColoringKind::Column),
        Coloring::new(vec![0, 1, 2], ColoringKind::Column),
        Coloring {
            colors: vec![0, 1, 2, 5],
            ncolors: 3,
            kind: ColoringKind::Column,
        },
        Coloring::new(vec![0, 1, 0, 1], ColoringKind::Star), // path 0-1-2-3 two-colored
        Coloring::new(vec![0, 0, 1, 2], ColoringKind::Acyclic),
    ];
    for c in &bad {
        assert!(!is_valid(&p, c), "{c:?}");
        assert!(improve(&p, c, &ImproveOptions::default(), &StopFlag::new()).is_err());
    }
    // a path is a tree: 2 colors are acyclic but not star
    assert!(is_valid(
        &p,
        &Coloring::new(vec![0, 1, 0, 1], ColoringKind::Acyclic)
    ));
    assert!(is_valid(
        &p,
        &Coloring::new(vec![0, 1, 2, 0], ColoringKind::Star)
    ));
    // a 4-cycle with 2 colors is not acyclic
    let cyc =
        Pattern::from_coo(4, 4, &[0, 1, 1, 2, 2, 3, 3, 0], &[1, 0, 2, 1, 3, 2, 0, 3]).unwrap();
    assert!(!is_valid(
        &cyc,
        &Coloring::new(vec![0, 1, 0, 1], ColoringKind::Acyclic)
    ));
    // star/acyclic need a symmetric pattern
    let nonsym = Pattern::from_coo(2, 2, &[0], &[1]).unwrap();
    assert!(color_star(&nonsym, Order::Natural).is_err());
    assert!(color_acyclic(&nonsym, Order::Natural).is_err());
    assert!(!is_valid(
        &nonsym,
        &Coloring::new(vec![0, 1], ColoringKind::Star)
    ));
}

#[test]
fn order_parsing() {
    for (s, o) in [
        ("natural", Order::Natural),
        ("largest_first", Order::LargestFirst),
        ("Smallest_Last", Order::SmallestLast),
        ("incidence_degree", Order::IncidenceDegree),
        ("dynamic_largest_first", Order::DynamicLargestFirst),
        ("DSATUR", Order::Dsatur),
        ("random", Order::Random(0)),
        ("random:42", Order::Random(42)),
    ] {
        assert_eq!(s.parse::<Order>().unwrap(), o);
        assert_eq!(o.to_string().parse::<Order>().unwrap(), o);
    }
    for bad in ["", "best", "random:x", "largest-first"] {
        let msg = bad.parse::<Order>().unwrap_err().to_string();
        for name in [
            "natural",
            "largest_first",
            "smallest_last",
            "incidence_degree",
            "dynamic_largest_first",
            "dsatur",
            "random",
        ] {
            assert!(msg.contains(name), "{msg}");
        }
    }
}

#[test]
fn rosenbrock_hessian_star_three_colors() {
    let p = tridiagonal(1000);
    for order in [Order::Natural, Order::LargestFirst, Order::SmallestLast] {
        let s = color_star(&p, order).unwrap();
        assert!(is_valid(&p, &s));
        assert_eq!(s.ncolors, 3, "{order}");
    }
    let a = color_acyclic(&p, Order::Natural).unwrap();
    assert!(is_valid(&p, &a));
    assert_eq!(a.ncolors, 2);
    assert_eq!(color_columns(&p, Order::Natural).ncolors, 3);
    assert_eq!(color_columns(&banded(100, 5), Order::Natural).ncolors, 11);
}

#[test]
fn brusselator_greedy_all_layouts() {
    let n = 32;
    let pats = [
        brusselator(n, julia(n)),
        brusselator(n, interleaved(n)),
        brusselator(n, permuted(n, 7)),
    ];
    for p in &pats {
        assert_eq!(p.nnz(), 6 * 2 * n * n);
        assert!(p.row_ptr().windows(2).all(|w| w[1] - w[0] == 6));
        assert!(p.col_ptr().windows(2).all(|w| w[1] - w[0] == 6));
        for order in all_orders() {
            let c = color_columns(p, order);
            assert!(is_valid(p, &c));
            assert!((7..=16).contains(&c.ncolors), "{order}: {}", c.ncolors);
        }
    }
}

#[test]
fn brusselator_best_is_deterministic_and_few_colors() {
    let n = 32;
    let stop = StopFlag::new();
    // the optimum is 7 colors, greedy orderings give 10 to 13
    for (p, most) in [
        (brusselator(n, julia(n)), 9),
        (brusselator(n, interleaved(n)), 8),
        (brusselator(n, permuted(n, 1)), 8),
    ] {
        let c = color_columns_best(&p, &[], &ImproveOptions::default(), &stop).unwrap();
        assert!(is_valid(&p, &c));
        assert!(c.ncolors <= most, "{} colors", c.ncolors);
        // a work budget, not the clock: the same coloring every time
        let again = color_columns_best(&p, &[], &ImproveOptions::default(), &stop).unwrap();
        assert_eq!(c, again);
    }
}

#[test]
fn raised_stop_flag_interrupts_best() {
    let p = brusselator(16, julia(16));
    let stop = StopFlag::new();
    stop.raise();
    let opts = ImproveOptions::default();
    assert!(matches!(
        color_columns_best(&p, &[], &opts, &stop),
        Err(Error::Interrupted)
    ));
    assert!(matches!(
        improve(&p, &color_columns(&p, Order::Natural), &opts, &stop),
        Err(Error::Interrupted)
    ));
}

/// The 7-point stencil on a 16^3 grid: its column coloring is a distance-2
/// coloring of the grid, whose optimum 7 is the clique bound (a row's
/// columns); greedy orderings and local search stop at 10 or more, the
/// bounded exact search reaches 7 within the default budget.
#[test]
fn seven_point_stencil_reaches_the_clique_bound() {
    let n = 16usize;
    let id = |i: usize, j: usize, k: usize| (i * n + j) * n + k;
    let (mut rows, mut cols) = (Vec::new(), Vec::new());
    for i in 0..n {
        for j in 0..n {
            for k in 0..n {
                let mut link = |a: usize, b: usize, c: usize| {
                    rows.push(id(i, j, k));
                    cols.push(id(a, b, c));
                };
                link(i, j, k);
                if i > 0 {
                    link(i - 1, j, k);
                }
                if i + 1 < n {
                    link(i + 1, j, k);
                }
                if j > 0 {
                    link(i, j - 1, k);
                }
                if j + 1 < n {
                    link(i, j + 1, k);
                }
                if k > 0 {
                    link(i, j, k - 1);
                }
                if k + 1 < n {
                    link(i, j, k + 1);
                }
            }
        }
    }
    let p = Pattern::from_coo(n * n * n, n * n * n, &rows, &cols).unwrap();
    let opts = ImproveOptions::default();
    let c = color_columns_best(&p, &[], &opts, &StopFlag::new()).unwrap();
    assert!(is_valid(&p, &c));
    assert_eq!(c.ncolors, 7);
}
