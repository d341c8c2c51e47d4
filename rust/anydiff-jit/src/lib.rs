//! Machine code for small per-point programs of the anydiff IR.
//!
//! [`Kernel::compile`] lowers a [`anydiff::ir::Program`] with Cranelift into one
//! loop over points that loads a point's inputs, computes its outputs and
//! their Jacobian with every number in registers, and stores them straight
//! into the caller's point-major arrays. The interpreter
//! ([`anydiff::ir::Program::jacobian_points`]) runs each instruction over a
//! chunk of points instead, which pays for its flexibility with a pass over
//! memory per instruction and transposes in and out; for programs such as
//! Lotka–Volterra at 10^5 points the compiled loop is several times faster.
//! Both use the same derivative rules ([`anydiff::ir::unary_rule`] and
//! friends), so they agree bit for bit.
//!
//! ```
//! use anydiff::ir::{BinaryFn, Op, Program};
//! use anydiff_jit::{Kernel, Mode};
//!
//! // f(x) = x0 * x1 at two points
//! let ops = vec![
//!     Op::Input { index: 0, len: 2 },
//!     Op::Gather { a: 0, indices: vec![0] },
//!     Op::Gather { a: 0, indices: vec![1] },
//!     Op::Binary { func: BinaryFn::Mul, a: 1, b: 2 },
//! ];
//! let prog = Program::new(ops, &[2], &[], &[3]).unwrap();
//! let kernel = Kernel::compile(&prog, Mode::ValuesAndJacobian).unwrap();
//! let (mut values, mut jac) = (vec![0.0; 2], vec![0.0; 4]);
//! kernel.run(2, &[2.0, 3.0, 4.0, 5.0], &[], &mut values, &mut jac).unwrap();
//! assert_eq!(values, [6.0, 20.0]);
//! assert_eq!(jac, [3.0, 2.0, 5.0, 4.0]);
//! ```

mod kernel;
mod lower;
mod rules;

pub use kernel::{Kernel, MAX_ELEMENTS, MAX_INPUTS, MAX_INSTRUCTIONS};
pub use lower::Mode;

/// Why a program was not compiled or a kernel could not run.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// The program is beyond the compiler's limits; use the interpreter.
    #[error("program too large to compile: {0}")]
    TooLarge(String),
    /// The program uses an instruction the compiler does not translate (sort,
    /// linear algebra); use the interpreter.
    #[error("not compiled: {0} (the interpreter runs it)")]
    Declined(String),
    /// Cranelift does not support this host.
    #[error("cannot compile for {0}")]
    Unsupported(String),
    /// Cranelift rejected the generated code (a bug in this crate).
    #[error("code generation failed: {0}")]
    Codegen(String),
    /// Arrays of the wrong size were passed to [`Kernel::run`].
    #[error("{0}")]
    Shape(String),
}
