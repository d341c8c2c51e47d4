//! Sparse Jacobians and Hessians: sparsity patterns, colorings, orderings
//! and decompression.
//!
//! A [`Pattern`] holds the structural nonzeros. A [`Coloring`] groups
//! columns (or rows, or vertices of a symmetric pattern) so that one
//! product per color recovers every nonzero: [`color_columns`] for JVPs
//! (`B = J S`), [`color_rows`] for VJPs (`C = S^T J`), [`color_star`] and
//! [`color_acyclic`] for Hessians (`B = H S`). [`seed_matrix`] gives `S`;
//! the `decompress_*` functions give the nonzeros in CSR order.
//!
//! [`SparseJacobianPlan`] does all of this once for a
//! [`VectorFunction`](crate::dual::VectorFunction) (or compiles the
//! Jacobian of its trace) and then computes the nonzeros at any point
//! without allocating; the functions below are the pieces, for Jacobians
//! and Hessians whose products come from elsewhere.
//!
//! ```
//! use anydiff::sparse::{color_columns, decompress_columns, is_valid, seed_matrix, Order, Pattern};
//! use ndarray::Array2;
//! // a 6 x 6 tridiagonal Jacobian with entries 1 + i + j
//! let mut j = Array2::<f64>::zeros((6, 6));
//! let (mut rows, mut cols) = (vec![], vec![]);
//! for i in 0..6usize {
//!     for k in i.saturating_sub(1)..(i + 2).min(6) {
//!         j[[i, k]] = (1 + i + k) as f64;
//!         rows.push(i);
//!         cols.push(k);
//!     }
//! }
//! let p = Pattern::from_coo(6, 6, &rows, &cols).unwrap();
//! let c = color_columns(&p, Order::Natural);
//! assert_eq!(c.ncolors, 3);
//! assert!(is_valid(&p, &c));
//! let b = j.dot(&seed_matrix::<f64>(&c)); // three JVPs instead of six
//! let values = decompress_columns(&p, &c, b.view()).unwrap();
//! assert_eq!(p.to_dense(&values).unwrap(), j);
//! ```

// Index loops over CSR ranges read more clearly than zipped iterators here.
#![allow(clippy::needless_range_loop)]

mod coloring;
mod decompress;
mod graph;
mod order;
mod pattern;
mod plan;

pub use coloring::{
    bicolor, color_acyclic, color_columns, color_columns_best, color_hessian, color_rows,
    color_rows_best, color_star, color_symmetric_best, improve, is_valid, Bicoloring, Coloring,
    ColoringKind, ImproveOptions, BEST_ORDERS, DEFAULT_WORK,
};
pub use decompress::{
    decompress_acyclic, decompress_columns, decompress_rows, decompress_star,
    decompression_gather_indices, seed_matrix, AcyclicSubstitution,
};
pub use order::{order_columns, order_rows, order_symmetric, Order};
pub use pattern::Pattern;
pub use plan::{Engine, PlanReal, SparseJacobianPlan, DUAL_LANES};
