//! The cost model that picks forward or reverse mode for a dense Jacobian at
//! one point: what one reverse lane costs in forward tangent lanes, counting
//! each matrix product's multiply-adds (`batch * m * k * n`).
//!
//! Both modes carry lane rows at one point ([`super::lanes`] forward,
//! [`super::reverse_lanes`] reverse): a lane pays every active instruction's
//! row once. A product's forward lane is a whole product (`m * k * n`) unless
//! its traced operand carries unit lanes (an elementwise chain of one input
//! under unit seeds: each lane row has one nonzero, [`super::gemm`] takes a
//! column of the constant), where it is `m * n`; its reverse lane is a whole
//! product per traced operand. Each block of up to [`MAX_POINT_LANES`] lanes
//! also evaluates the values (and, in reverse, every partial derivative once).

use super::lanes::MAX_POINT_LANES;
use super::ops::Op;
use super::program::Program;

/// A reverse lane's row against a forward lane's: the partial derivatives
/// computed per element, the reached flags, and the adjoints cleared before
/// each block. Fitted with [`PRODUCT_WEIGHT`] on eleven shapes of the issue's
/// function (`benches/bench_dense.py` and held-out ones: 10 -> 10 ...
/// 300 -> 40) and the MLP, so that every pick is the faster mode.
const REVERSE_OVER_FORWARD: f64 = 1.5;
/// One multiply-add of a product kernel (packed, vectorised, over a whole
/// block of lanes) against one element of an elementwise lane instruction.
const PRODUCT_WEIGHT: f64 = 0.02;

impl Program {
    /// What one VJP (a reverse lane) costs in JVP lanes of this program at one
    /// point: `pick_mode(n, m, vjp_cost)` goes forward when `n <= m * vjp_cost`.
    pub fn vjp_cost(&self) -> f64 {
        let active = &self.active;
        let unit = self.unit_lanes(active);
        let (mut values, mut forward, mut reverse) = (0.0f64, 0.0f64, 0.0f64);
        for (i, op) in self.ops.iter().enumerate() {
            if op.args().is_empty() || self.alias[i] {
                continue;
            }
            let len = self.lens[i] as f64;
            let (v, f, r) = match op {
                Op::Dot {
                    a,
                    b,
                    batch,
                    m,
                    k,
                    n,
                } => {
                    let full = PRODUCT_WEIGHT * (batch * m * k * n) as f64;
                    let outer = (batch * m * n) as f64;
                    let fwd = |x: usize| match (active[x], unit[x]) {
                        (false, _) => 0.0,
                        (true, true) => outer,
                        (true, false) => full,
                    };
                    let rev = |x: usize| if active[x] { full } else { 0.0 };
                    (full, fwd(*a) + fwd(*b), rev(*a) + rev(*b))
                }
                Op::Reduce { indices, .. } => {
                    let l = if active[i] { indices.len() as f64 } else { 0.0 };
                    (indices.len() as f64, l, l)
                }
                _ => {
                    let l = if active[i] { len } else { 0.0 };
                    (len, l, l)
                }
            };
            values += v;
            forward += f;
            reverse += r;
        }
        let per_lane = values / MAX_POINT_LANES as f64;
        let (forward, reverse) = (forward + per_lane, reverse + 2.0 * per_lane);
        if forward <= 0.0 {
            return 1.0;
        }
        (REVERSE_OVER_FORWARD * reverse / forward).max(f64::MIN_POSITIVE)
    }

    /// Nodes whose lanes are unit rows under unit seeds: an input, or an
    /// elementwise chain of one such node with inactive (constant) operands.
    fn unit_lanes(&self, active: &[bool]) -> Vec<bool> {
        let mut unit = vec![false; self.ops.len()];
        for (i, op) in self.ops.iter().enumerate() {
            unit[i] = match op {
                Op::Input { .. } => true,
                Op::Unary { a, .. } | Op::Powi { a, .. } => unit[*a],
                Op::Binary { a, b, .. } => {
                    let same = self.lens[*a] == self.lens[*b];
                    same && ((unit[*a] && (!active[*b] || a == b)) || (unit[*b] && !active[*a]))
                }
                _ => false,
            };
        }
        unit
    }
}
