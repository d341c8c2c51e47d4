//! Malformed programs are errors naming the instruction, never panics.

#![allow(clippy::needless_range_loop)]

use anydiff::ir::{BinaryFn, CompareFn, Op, Program, ReduceFn, UnaryFn};
use ndarray::{Array2, Array3};
use proptest::prelude::*;

fn err(ops: Vec<Op>, inputs: &[usize], outputs: &[usize]) -> String {
    Program::new(ops, inputs, &[], outputs)
        .unwrap_err()
        .to_string()
}

#[test]
fn malformed_programs_name_the_instruction() {
    let input = Op::Input { index: 0, len: 3 };
    let msg = err(
        vec![
            input.clone(),
            Op::Unary {
                func: UnaryFn::Sin,
                a: 1,
            },
        ],
        &[3],
        &[1],
    );
    assert!(msg.starts_with("instruction 1 (unary)"), "{msg}");
    let msg = err(vec![Op::Input { index: 1, len: 3 }], &[3], &[0]);
    assert!(
        msg.contains("instruction 0 (input)") && msg.contains("out of range"),
        "{msg}"
    );
    let msg = err(vec![Op::Input { index: 0, len: 2 }], &[3], &[0]);
    assert!(msg.contains("length 3"), "{msg}");
    let msg = err(vec![input.clone(), input.clone()], &[3], &[0]);
    assert!(msg.contains("twice"), "{msg}");
    let msg = err(
        vec![
            input.clone(),
            Op::Const(vec![1.0]),
            Op::Binary {
                func: BinaryFn::Add,
                a: 0,
                b: 1,
            },
        ],
        &[3],
        &[2],
    );
    assert!(
        msg.contains("instruction 2 (binary)") && msg.contains("different lengths"),
        "{msg}"
    );
    let msg = err(
        vec![
            input.clone(),
            Op::Gather {
                a: 0,
                indices: vec![0, -2],
            },
        ],
        &[3],
        &[1],
    );
    assert!(msg.contains("index -2"), "{msg}");
    let msg = err(
        vec![
            input.clone(),
            Op::Reduce {
                func: ReduceFn::Max,
                a: 0,
                offsets: vec![0, 0, 3],
                indices: vec![0, 1, 2],
            },
        ],
        &[3],
        &[1],
    );
    assert!(msg.contains("group 0 is empty"), "{msg}");
    let msg = err(
        vec![
            input.clone(),
            Op::Reduce {
                func: ReduceFn::Sum,
                a: 0,
                offsets: vec![0, 2],
                indices: vec![0, 1, 2],
            },
        ],
        &[3],
        &[1],
    );
    assert!(msg.contains("offsets"), "{msg}");
    let msg = err(
        vec![
            input.clone(),
            Op::Dot {
                a: 0,
                b: 0,
                batch: 1,
                m: 2,
                k: 2,
                n: 1,
            },
        ],
        &[3],
        &[1],
    );
    assert!(msg.contains("instruction 1 (dot)"), "{msg}");
    let msg = err(vec![input.clone(), Op::Concat(vec![])], &[3], &[1]);
    assert!(msg.contains("no arguments"), "{msg}");
    let msg = err(vec![input], &[3], &[4]);
    assert!(msg.contains("output 0"), "{msg}");
    assert!("nope".parse::<UnaryFn>().is_err());
    assert_eq!("atan2".parse::<BinaryFn>().unwrap(), BinaryFn::Atan2);
    assert_eq!(CompareFn::Ne.to_string(), "ne");
}

#[test]
fn dead_nodes_are_pruned() {
    let ops = vec![
        Op::Input { index: 0, len: 2 },
        Op::Unary {
            func: UnaryFn::Exp,
            a: 0,
        },
        Op::Unary {
            func: UnaryFn::Sin,
            a: 0,
        },
    ];
    let prog = Program::new(ops, &[2], &[], &[2]).unwrap();
    assert_eq!(prog.n_nodes(), 2);
    assert_eq!(prog.outputs(), &[1]);
}

fn arb_op(i: usize) -> impl Strategy<Value = Op> {
    let node = 0..(i + 2);
    let unary = prop::sample::select(UnaryFn::ALL.to_vec());
    let binary = prop::sample::select(BinaryFn::ALL.to_vec());
    let cmp = prop::sample::select(CompareFn::ALL.to_vec());
    let red = prop::sample::select(ReduceFn::ALL.to_vec());
    prop_oneof![
        (0usize..3, 0usize..5).prop_map(|(index, len)| Op::Input { index, len }),
        (0usize..2, 0usize..5).prop_map(|(index, len)| Op::Param { index, len }),
        prop::collection::vec(-2.0f64..2.0, 0..5).prop_map(Op::Const),
        (unary, node.clone()).prop_map(|(func, a)| Op::Unary { func, a }),
        (binary, node.clone(), node.clone()).prop_map(|(func, a, b)| Op::Binary { func, a, b }),
        (node.clone(), -3i32..4).prop_map(|(a, n)| Op::Powi { a, n }),
        (cmp, node.clone(), node.clone()).prop_map(|(func, a, b)| Op::Compare { func, a, b }),
        (node.clone(), node.clone(), node.clone()).prop_map(|(c, t, f)| Op::Select { c, t, f }),
        (node.clone(), prop::collection::vec(-2i64..5, 0..6))
            .prop_map(|(a, indices)| Op::Gather { a, indices }),
        prop::collection::vec(node.clone(), 0..4).prop_map(Op::Concat),
        (
            red,
            node.clone(),
            prop::collection::vec(0usize..5, 0..4),
            prop::collection::vec(0usize..5, 0..5)
        )
            .prop_map(|(func, a, offsets, indices)| Op::Reduce {
                func,
                a,
                offsets,
                indices
            }),
        (
            node.clone(),
            node,
            0usize..3,
            0usize..3,
            0usize..3,
            0usize..3
        )
            .prop_map(|(a, b, batch, m, k, n)| Op::Dot {
                a,
                b,
                batch,
                m,
                k,
                n
            }),
    ]
}

fn arb_program() -> impl Strategy<Value = (Vec<Op>, Vec<usize>, Vec<usize>, Vec<usize>)> {
    (1usize..12).prop_flat_map(|len| {
        (
            (0..len).map(arb_op).collect::<Vec<_>>(),
            prop::collection::vec(0usize..5, 0..3),
            prop::collection::vec(0usize..5, 0..2),
            prop::collection::vec(0usize..(len + 1), 0..3),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_programs_never_panic((ops, inputs, params, outputs) in arb_program()) {
        if let Ok(prog) = Program::new(ops, &inputs, &params, &outputs) {
            let (n, m) = (prog.n_inputs(), prog.n_outputs());
            let par = vec![0.5; prog.n_params()];
            let pts = Array2::from_shape_fn((3, n), |(p, j)| 0.3 + p as f64 - 0.7 * j as f64);
            let mut out = Array2::zeros((3, m));
            prop_assert!(prog.eval_points(pts.view(), &par, out.view_mut()).is_ok());
            let mut jac = Array3::zeros((3, m, n));
            prop_assert!(prog.jacobian_points(pts.view(), &par, jac.view_mut()).is_ok());
            let pattern = prog.jacobian_sparsity();
            for p in 0..3 {
                for i in 0..m {
                    for j in 0..n {
                        let v: f64 = jac[[p, i, j]];
                        if v != 0.0 && v.is_finite() {
                            prop_assert!(pattern.contains(i, j), "pattern misses ({}, {})", i, j);
                        }
                    }
                }
            }
            let h = prog.hessian_sparsity();
            prop_assert!(h.is_ok());
            if m == 1 {
                let mut hess = Array3::zeros((3, n, n));
                prop_assert!(prog.hessian_points(pts.view(), &par, hess.view_mut()).is_ok());
            }
            let mut wrong = Array2::zeros((3, m + 1));
            prop_assert!(prog.eval_points(pts.view(), &par, wrong.view_mut()).is_err());
        }
    }
}
