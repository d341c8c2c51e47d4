//! The expression graph ("IR") engine: validated programs of a small op set,
//! evaluated in Rust over many points with any number type (values, dual
//! numbers for Jacobians, nested duals for Hessians), and global sparsity
//! detection by index-set propagation.
//!
//! The instruction set mirrors `anydiff.ir._graph` (the Python front ends
//! trace numpy or JAX functions into it): every node is a flat array of a
//! static length; data movement is a `Gather` with a static index map.
//! From Rust, [`trace`] records a generic function into a program; the
//! [`Op`]s can also be written by hand, as below.
//!
//! ```
//! use anydiff::ir::{BinaryFn, Op, Program, UnaryFn};
//! use ndarray::{array, Array3};
//!
//! // f(x) = [x0 * x1, sin(x0)]
//! let ops = vec![
//!     Op::Input { index: 0, len: 2 },
//!     Op::Gather { a: 0, indices: vec![0] },
//!     Op::Gather { a: 0, indices: vec![1] },
//!     Op::Binary { func: BinaryFn::Mul, a: 1, b: 2 },
//!     Op::Unary { func: UnaryFn::Sin, a: 1 },
//!     Op::Concat(vec![3, 4]),
//! ];
//! let prog = Program::new(ops, &[2], &[], &[5]).unwrap();
//! let points = array![[1.0, 2.0], [0.5, 3.0]];
//! let mut jac = Array3::<f64>::zeros((2, 2, 2));
//! prog.jacobian_points(points.view(), &[], jac.view_mut()).unwrap();
//! assert_eq!(jac[[0, 0, 0]], 2.0);
//! assert_eq!(jac[[1, 1, 0]], 0.5f64.cos());
//! assert_eq!(prog.jacobian_sparsity().row(1), &[0]);
//! ```

mod entries;
mod eval;
mod lanes;
mod program;
mod reverse;
mod rules;
mod runs;
mod sparsity;
mod tiles;
mod trace;
mod transpose;

pub use entries::SparseJacobian;
pub use eval::IrReal;
pub use program::{BinaryFn, CompareFn, IrError, Op, Program, ReduceFn, UnaryFn};
pub use rules::{binary_rule, powi_rule, unary_rule};
pub use trace::{trace, Tracer};
