//! Assembly of dense Jacobians and Hessians from batched oracles.
//!
//! Conventions: every block is batch-leading and row-major (`k` seeds of
//! length `n` form a `k x n` view, row `i` = seed `i`); a Jacobian is `m x n`
//! (`m` outputs, `n` inputs).

mod batch;
mod hessian;
mod jacobian;
mod oracle;

pub use batch::{pick_mode, BatchPolicy, Mode, DEFAULT_MEMORY_CAP_BYTES};
pub use hessian::{hessian_from_hvp, hessian_from_hvp_into, symmetrize_in_place};
pub use jacobian::{
    jacobian_forward, jacobian_forward_into, jacobian_reverse, jacobian_reverse_into,
};
pub use oracle::{oracle_fn, seeds_block, Hvp, Jvp, Primal, Vjp, WithBasis};
