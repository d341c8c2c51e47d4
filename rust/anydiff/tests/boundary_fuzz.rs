//! Property tests over the core's entry points that take sizes, indices, colors
//! and steps from callers (the Python bindings pass them through unchanged):
//! whatever comes, an `Ok` or an `Err`, never a panic or an abort.
//!
//! Sizes are drawn small (real work) or absurd (2^40 and up: the allocation
//! must fail cleanly); sizes in between would really allocate gigabytes.

use std::convert::Infallible;

use anydiff::memory::{checked_len, try_zeros};
use anydiff::sparse::{
    decompress_acyclic, decompress_columns, decompress_rows, decompress_star,
    decompression_gather_indices, is_valid, Coloring, ColoringKind, Pattern,
};
use anydiff::{oracle_fn, BatchPolicy, Error, FiniteDiff, Scheme};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use proptest::prelude::*;

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..12,
        Just(1usize << 40),
        Just(1usize << 62),
        Just(usize::MAX - 1),
        Just(usize::MAX),
    ]
}

fn index() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..16, Just(1usize << 40), Just(usize::MAX)]
}

fn kind() -> impl Strategy<Value = ColoringKind> {
    prop_oneof![
        Just(ColoringKind::Column),
        Just(ColoringKind::Row),
        Just(ColoringKind::Star),
        Just(ColoringKind::Acyclic),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn patterns_from_any_coordinates(
        m in size(),
        n in size(),
        coords in proptest::collection::vec((index(), index()), 0..20),
    ) {
        let (rows, cols): (Vec<usize>, Vec<usize>) = coords.into_iter().unzip();
        match Pattern::from_coo(m, n, &rows, &cols) {
            Ok(p) => {
                prop_assert_eq!((p.nrows(), p.ncols()), (m, n));
                prop_assert!(p.nnz() <= rows.len());
                let t = p.transpose();
                prop_assert_eq!(t.nnz(), p.nnz());
            }
            Err(Error::InvalidArgument(_) | Error::OutOfMemory { .. } | Error::Shape { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn patterns_from_any_csr(
        m in size(),
        n in size(),
        indptr in proptest::collection::vec(index(), 0..14),
        indices in proptest::collection::vec(index(), 0..14),
    ) {
        let _ = Pattern::from_csr(m, n, &indptr, &indices);
    }

    #[test]
    fn colorings_and_decompression_with_any_colors(
        m in 0usize..8,
        n in 0usize..8,
        coords in proptest::collection::vec((0usize..8, 0usize..8), 0..20),
        colors in proptest::collection::vec(index(), 0..10),
        kind in kind(),
    ) {
        let coords: Vec<_> = coords.into_iter().filter(|&(i, j)| i < m && j < n).collect();
        let (rows, cols): (Vec<usize>, Vec<usize>) = coords.into_iter().unzip();
        let p = Pattern::from_coo(m, n, &rows, &cols).unwrap();
        let c = Coloring::new(colors, kind);
        let valid = is_valid(&p, &c);
        let _ = decompression_gather_indices(&p, &c);
        // a block of the size the coloring asks for, where that size is small
        if c.ncolors <= 16 {
            let b = Array2::<f64>::ones((m.max(n), c.ncolors));
            let decompressed = match kind {
                ColoringKind::Column => decompress_columns(&p, &c, b.view()),
                ColoringKind::Row => decompress_rows(&p, &c, b.t()),
                ColoringKind::Star => decompress_star(&p, &c, b.view()),
                ColoringKind::Acyclic => decompress_acyclic(&p, &c, b.view()),
                _ => return Ok(()),
            };
            if decompressed.is_ok() {
                prop_assert!(valid);
            }
        }
    }

    #[test]
    fn sizes_and_blocks(
        dims in proptest::collection::vec(size(), 0..4),
        elem in prop_oneof![Just(1usize), Just(8usize), Just(usize::MAX)],
        seeds in size(),
        length in size(),
        max_batch in proptest::option::of(size()),
        cap in size(),
    ) {
        let _ = checked_len::<Infallible>("x", &dims, elem);
        if dims.len() == 2 && dims.iter().all(|&d| !(12..1 << 40).contains(&d)) {
            let _ = try_zeros::<f64, _, Infallible>("x", (dims[0], dims[1]));
        }
        let policy = BatchPolicy { max_batch, memory_cap_bytes: cap };
        let k = policy.block_size(seeds, length, length, 8);
        prop_assert!(k <= seeds.max(1));
    }

    #[test]
    fn finite_difference_steps(
        step in prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(1e300),
            Just(1e-300),
            Just(0.0),
        ],
        x in proptest::collection::vec(
            prop_oneof![-1e6f64..1e6, Just(f64::INFINITY), Just(f64::NAN), Just(0.0)],
            1..4,
        ),
    ) {
        let n = x.len();
        let mut f = oracle_fn(|p: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
            for (xi, mut o) in p.rows().into_iter().zip(out.rows_mut()) {
                o[0] = xi.iter().map(|v| v.sin()).sum();
            }
            Ok::<(), Infallible>(())
        });
        let fd = FiniteDiff { scheme: Scheme::Central, step: Some(step) };
        let x = ndarray::Array1::from(x);
        let got = fd.jacobian(&mut f, x.view(), None, 1, &BatchPolicy::default());
        let in_range = (f64::EPSILON..=1.0).contains(&step);
        prop_assert_eq!(got.is_ok(), in_range, "step {:e}", step);
        if let Ok(j) = got {
            prop_assert_eq!(j.dim(), (1, n));
        }
    }
}

#[test]
fn programs_whose_nodes_cannot_be_held_are_errors() {
    use anydiff::ir::{Op, Program};
    let n = 1usize << 20;
    // a 2^20 x 1 by 1 x 2^20 product: 2^40 numbers in one node
    let ops = vec![
        Op::Input { index: 0, len: n },
        Op::Dot {
            a: 0,
            b: 0,
            batch: 1,
            m: n,
            k: 1,
            n,
        },
    ];
    let err = Program::new(ops, &[n], &[], &[1]).unwrap_err();
    assert!(err.to_string().contains("hold more than"), "{err}");
    // declared input lengths whose sum overflows
    let ops = vec![Op::Input { index: 0, len: 1 }];
    let err = Program::new(ops, &[1, usize::MAX], &[], &[0]).unwrap_err();
    assert!(err.to_string().contains("inputs hold more than"), "{err}");
}
