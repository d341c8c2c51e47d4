//! The cost model that picks forward or reverse mode for a dense Jacobian at
//! one point: what one reverse sweep costs in forward tangent lanes, counting
//! each matrix product's multiply-adds (`batch * m * k * n`).
//!
//! A forward lane pays every instruction's tangent row; a product's lane is a
//! whole product (`m * k * n`) unless its traced operand carries unit lanes
//! (an elementwise chain of one input under unit seeds: each lane row has one
//! nonzero, [`super::gemm`] takes a column of the constant), where it is
//! `m * n`. Each pass of up to [`MAX_POINT_LANES`] lanes also recomputes the
//! values. A reverse sweep pays every instruction's adjoint, a product's the
//! whole product, and the sweeps share one evaluation of the values.

use super::lanes::MAX_POINT_LANES;
use super::ops::Op;
use super::program::Program;

/// A reverse sweep's instructions against the forward evaluation's (the
/// touched flags and per-element bookkeeping of the sweep).
const SWEEP_OVER_VALUES: f64 = 1.5;
/// One multiply-add of a product kernel (vectorised, blocked) against one
/// element of an elementwise instruction: fitted so that the picks on the
/// issue's dense table (10 -> 10 ... 200 -> 20) are the faster modes.
const PRODUCT_WEIGHT: f64 = 0.25;

impl Program {
    /// What one VJP (a reverse sweep) costs in JVP lanes of this program at one
    /// point: `pick_mode(n, m, vjp_cost)` goes forward when `n <= m * vjp_cost`.
    pub fn vjp_cost(&self) -> f64 {
        let (_, active) = self.tape();
        let unit = self.unit_lanes(active);
        let (mut values, mut lane) = (0.0f64, 0.0f64);
        for (i, op) in self.ops.iter().enumerate() {
            if op.args().is_empty() || self.alias[i] {
                continue;
            }
            let len = self.lens[i] as f64;
            let (v, t) = match op {
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
                    let side = |x: usize| match (active[x], unit[x]) {
                        (false, _) => 0.0,
                        (true, true) => outer,
                        (true, false) => full,
                    };
                    (full, side(*a) + side(*b))
                }
                Op::Reduce { indices, .. } => (indices.len() as f64, indices.len() as f64),
                _ => (len, if active[i] { len } else { 0.0 }),
            };
            values += v;
            lane += t;
        }
        let lane = lane + values / MAX_POINT_LANES as f64;
        if lane <= 0.0 {
            return 1.0;
        }
        (SWEEP_OVER_VALUES * values / lane).max(f64::MIN_POSITIVE)
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
