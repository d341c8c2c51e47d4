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
//! # Modules
//!
//! `ops` (the instruction set and its function tables) <- `layout` (workspace
//! layouts) <- `buffers` (chunk plumbing) <- `program` (validation) <- `rules`
//! and `linalg` (what each instruction computes, for any number type) <-
//! `lanes` (forward mode in struct-of-arrays lanes; `gemm` the products of
//! every engine, dual numbers' as products of their parts; `cost` the
//! forward/reverse cost model) <- `tiles` (tiled execution of array programs)
//! <- `eval` (drivers, nested duals) <- `reverse` (VJPs, HVPs) and
//! `reverse_lanes` (many cotangents at one point in one sweep of lane rows);
//! `sparsity` and `entries` read the program and the rules.
//!
//! # Conventions
//!
//! JAX's, where it defines a derivative: `max`/`min` at a tie split the
//! derivative evenly (a reduction among all its maximal members), `d/dy
//! pow(0, y) = 0`, `d/dx x^0 = 0`. A tangent that is exactly zero stays zero
//! through an infinite or NaN partial derivative (so an untaken `select` side
//! never leaks NaN), and the reverse sweep skips only adjoints that no path
//! from the output reaches, so `exp(x) * 0` that overflows is NaN in every mode.
//!
//! # Adding an elementwise function
//!
//! 1. If the number types lack it, add it to [`crate::dual::Elementary`]: the
//!    real value in `dual/functions.rs` (`impl_elementary_real`, special
//!    functions in `dual/special.rs`) and its rule (value and derivative
//!    factor) in the `rules` module there; nested duals then give every order.
//! 2. Add the variant to [`UnaryFn`] (or [`BinaryFn`]) in `ops.rs` with its
//!    Python name, and its [`Curvature`] in `UnaryFn::curvature` (the match is
//!    exhaustive, so the compiler asks for it).
//! 3. Map it in `rules::unary` (or `rules::binary`): every engine (lanes,
//!    nested duals, reverse sweeps, entry-by-entry Jacobians and the compiled
//!    kernels of `anydiff-jit`, which call [`unary_rule`]) uses that rule.
//! 4. GPU (`anydiff-gpu`): a WGSL expression for the value and derivative in
//!    `codegen::unary_rule` (helpers go in `src/wgsl/*.wgsl`), or a refusal
//!    there (`GpuError::Unsupported` naming the function).
//! 5. Python: nothing to list: `anydiff._core.UNARY_FUNCTIONS` (read by
//!    `anydiff.ir._graph`) comes from the enum; map the numpy ufunc or JAX
//!    primitive to the name in the front end, and add the reference to
//!    `anydiff.ir._reference` (the tests sweep the table and fail for a
//!    function without one).
//!
//! The tests sweep the tables: `tests/ir_table.rs` checks each function's
//! value, derivative (finite differences), forward against reverse and second
//! order; `anydiff-jit` compares compiled kernels with the interpreter bit for
//! bit and `anydiff-gpu` each function or its refusal.
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

mod buffers;
mod cost;
mod entries;
mod eval;
pub(crate) mod gemm;
mod lanes;
mod layout;
mod linalg;
mod ops;
mod program;
mod reverse;
mod reverse_lanes;
mod rules;
mod runs;
mod sparsity;
mod tiles;
mod trace;
mod transpose;

pub use entries::SparseJacobian;
pub use lanes::{reduce_rule, Tangent};
pub use ops::{BinaryFn, CompareFn, Curvature, IrError, LinalgFn, Op, ReduceFn, UnaryFn};
pub use program::Program;
pub use rules::{binary_rule, powi_rule, unary_rule, IrReal};
pub use trace::{trace, Tracer};
