//! Reverse mode in lanes: many cotangents at one point in one sweep.
//!
//! A dense Jacobian by reverse mode at one point (fewer outputs than
//! inputs) would otherwise run one scalar sweep per output. Here the values
//! are evaluated once on the tape and the adjoints carry up to
//! [`MAX_POINT_LANES`] cotangents at once: every node's adjoint block is
//! `len x L` numbers (element-major, lanes innermost). Each instruction's
//! partial derivatives are computed once per element and applied to a whole
//! lane row, and the adjoint of a product is one GEMM over the lane block
//! (`xbar += A^T ybar` with `ybar` an `m x L` matrix): the transpose of the
//! forward lane engine ([`super::lanes`]).
//!
//! Untouched adjoints keep the scalar sweep's meaning (`Program::sweep`): an
//! element that no path from an output reaches is never multiplied by its
//! partial derivatives. Every output is seeded in every lane (as the scalar
//! sweep marks every output touched whatever its cotangent), so which
//! elements a path reaches is the same in all lanes: one flag per element.

use super::buffers::{chunk_rows, chunk_rows_mut, for_each_with_state};
use super::eval::Workspace;
use super::gemm::{gemm, has_gemm, Mat, MatMut};
use super::lanes::MAX_POINT_LANES;
use super::linalg::linalg_item_jacobian;
use super::ops::{BinaryFn, Op, ReduceFn, UnaryFn};
use super::program::Program;
use super::reverse::{binary_partials, unary_derivative};
use super::rules::{reduce_partials, sort_permutation, IrReal};
use crate::dual::{Dual, DualVec, Elementary};

/// A worker's state: the values at one point and room for the adjoint rows
/// of up to `lanes` cotangents.
struct LaneSweep<T: IrReal> {
    ws: Workspace<T>,
    adj: Vec<T>,
    /// Which elements' adjoints a path from an output reached.
    reached: Vec<bool>,
    lanes: usize,
}

/// The adjoint rows below the running instruction (where its arguments' are),
/// `w` lanes per element.
struct Below<'a, T> {
    adj: &'a mut [T],
    reached: &'a mut [bool],
    w: usize,
}

impl<T: IrReal> Below<'_, T> {
    /// Adds the lane row `g` to the adjoint of element `at`.
    #[inline]
    fn add(&mut self, at: usize, g: &[T]) {
        for (y, &x) in self.adj[at * self.w..(at + 1) * self.w].iter_mut().zip(g) {
            *y += x;
        }
        self.reached[at] = true;
    }

    /// Adds `d` times the lane row `g` to the adjoint of element `at`.
    #[inline]
    fn axpy(&mut self, at: usize, d: T, g: &[T]) {
        for (y, &x) in self.adj[at * self.w..(at + 1) * self.w].iter_mut().zip(g) {
            *y += d * x;
        }
        self.reached[at] = true;
    }
}

impl Program {
    /// VJPs of `lanes` cotangents (`cot`, `lanes x m`, row-major, the same at
    /// every point) at each of `np` points, one forward evaluation and one
    /// sweep per block of up to [`MAX_POINT_LANES`] cotangents: values into
    /// `values` (`np x m`), `J(x_p)^T w_l` into `out` (`np x lanes x n`).
    /// `self` has the tape layout (`Program::tape`), `active` its active nodes.
    pub(crate) fn reverse_lanes<T: IrReal>(
        &self,
        active: &[bool],
        (np, points): (usize, &[T]),
        params: &[T],
        (lanes, cot): (usize, &[T]),
        values: &mut [T],
        out: &mut [T],
    ) {
        let (n, m) = (self.n, self.m);
        let cap = lanes.clamp(1, MAX_POINT_LANES);
        let items: Vec<_> = chunk_rows(points, np, n, 1)
            .into_iter()
            .zip(chunk_rows_mut(values, np, m, 1))
            .zip(chunk_rows_mut(out, np, lanes * n, 1))
            .collect();
        let fresh = || match self.scratch.take(|s: &LaneSweep<T>| s.lanes == cap) {
            Some(mut s) => {
                self.fill_leaves(&mut s.ws, params, false);
                s
            }
            None => LaneSweep {
                ws: self.workspace(1, params),
                adj: vec![T::zero(); self.work_len * cap],
                reached: vec![false; self.work_len],
                lanes: cap,
            },
        };
        type Item<'a, T> = (
            ((usize, &'a [T]), (usize, &'a mut [T])),
            (usize, &'a mut [T]),
        );
        let body = |st: &mut LaneSweep<T>, (((_, x), (_, v)), (_, o)): Item<'_, T>| {
            self.seed(&mut st.ws, 1, |_, j| x[j]);
            self.execute(&mut st.ws);
            self.extract(&st.ws, 1, |_, r, y| v[r] = *y);
            for l0 in (0..lanes).step_by(cap) {
                let w = cap.min(lanes - l0);
                self.seed_lane_adjoints(active, st, w, |l, r| cot[(l0 + l) * m + r]);
                self.sweep_lanes(active, &st.ws.buf, (&mut st.adj, &mut st.reached), w);
                for (i, op) in self.ops.iter().enumerate() {
                    if let Op::Input { index, len } = op {
                        let x0 = self.input_offsets[*index];
                        let rows = &st.adj[self.offsets[i] * w..][..len * w];
                        for (e, row) in rows.chunks_exact(w).enumerate() {
                            for (l, g) in row.iter().enumerate() {
                                o[(l0 + l) * n + x0 + e] = *g;
                            }
                        }
                    }
                }
            }
        };
        for_each_with_state(items, fresh, body, |s| self.scratch.give(s));
    }

    /// Clears the adjoint rows of the active nodes for `w` lanes and seeds the
    /// outputs: lane `l` of output `r` gets `cot(l, r)`.
    fn seed_lane_adjoints<T: IrReal>(
        &self,
        active: &[bool],
        st: &mut LaneSweep<T>,
        w: usize,
        cot: impl Fn(usize, usize) -> T,
    ) {
        for (i, _) in active
            .iter()
            .enumerate()
            .filter(|(i, &a)| a && !self.alias[*i])
        {
            let (o, l) = (self.offsets[i], self.lens[i]);
            st.adj[o * w..(o + l) * w].fill(T::zero());
            st.reached[o..o + l].fill(false);
        }
        let mut r0 = 0;
        for &o in &self.outputs {
            if active[o] {
                for e in 0..self.lens[o] {
                    let at = self.offsets[o] + e;
                    for (l, s) in st.adj[at * w..(at + 1) * w].iter_mut().enumerate() {
                        *s += cot(l, r0 + e);
                    }
                    st.reached[at] = true;
                }
            }
            r0 += self.lens[o];
        }
    }

    /// The reverse sweep of `w` lanes at one point: `vals` holds every node's
    /// value, `adj` the seeded output adjoint rows and `reached` their lanes;
    /// afterwards the input rows of `adj` hold the input adjoints.
    fn sweep_lanes<T: IrReal>(
        &self,
        active: &[bool],
        vals: &[T],
        (adj, reached): (&mut [T], &mut [bool]),
        w: usize,
    ) {
        let mut perm = Vec::new();
        for (j, op) in self.ops.iter().enumerate().rev() {
            if self.alias[j] || !active[j] {
                continue;
            }
            let (o, len) = (self.offsets[j], self.lens[j]);
            // every argument's block lies below the node's own block
            let (lo, rest) = adj.split_at_mut(o * w);
            let (lr, rrest) = reached.split_at_mut(o);
            let (ybar, yr) = (&rest[..len * w], &rrest[..len]);
            if !yr.iter().any(|&r| r) {
                continue;
            }
            let mut below = Below {
                adj: lo,
                reached: lr,
                w,
            };
            let val = |node: usize| &vals[self.offsets[node]..][..self.lens[node]];
            let row = |e: usize| &ybar[e * w..(e + 1) * w];
            let reached_rows = || (0..len).filter(|&e| yr[e]);
            match op {
                Op::Input { .. } | Op::Param { .. } | Op::Const(_) | Op::Compare { .. } => {}
                Op::Unary { func, a } => {
                    let (x, base) = (val(*a), self.offsets[*a]);
                    for e in reached_rows() {
                        let d = match func {
                            UnaryFn::Neg => -T::one(),
                            UnaryFn::Square => x[e] + x[e],
                            _ => unary_derivative(*func, &x[e]),
                        };
                        below.axpy(base + e, d, row(e));
                    }
                }
                Op::Powi { a, n } => {
                    let (x, base) = (val(*a), self.offsets[*a]);
                    for e in reached_rows() {
                        let d = if *n == 2 {
                            x[e] + x[e]
                        } else {
                            let [d] = Dual::<T, 1>::new(x[e], [T::one()]).powi(*n).eps;
                            d
                        };
                        below.axpy(base + e, d, row(e));
                    }
                }
                Op::Binary { func, a, b } => {
                    let (da, db) = (active[*a], active[*b]);
                    let (x, y) = (val(*a), val(*b));
                    let (ba, bb) = (self.offsets[*a], self.offsets[*b]);
                    for e in reached_rows() {
                        let (p, q) = match func {
                            BinaryFn::Add => (T::one(), T::one()),
                            BinaryFn::Sub => (T::one(), -T::one()),
                            BinaryFn::Mul => (y[e], x[e]),
                            _ => binary_partials(*func, &x[e], &y[e], da, db),
                        };
                        if da {
                            below.axpy(ba + e, p, row(e));
                        }
                        if db {
                            below.axpy(bb + e, q, row(e));
                        }
                    }
                }
                Op::Select { c, t, f } => {
                    let cond = val(*c);
                    for e in reached_rows() {
                        let side = if cond[e] != T::zero() { *t } else { *f };
                        if active[side] {
                            below.add(self.offsets[side] + e, row(e));
                        }
                    }
                }
                Op::Gather { a, indices } => {
                    if active[*a] {
                        for e in reached_rows() {
                            if let Some(Ok(ix)) = indices.get(e).map(|&ix| usize::try_from(ix)) {
                                below.add(self.offsets[*a] + ix, row(e));
                            }
                        }
                    }
                }
                Op::Concat(parts) => {
                    let mut from = 0;
                    for &part in parts {
                        if active[part] {
                            for e in (0..self.lens[part]).filter(|&e| yr[from + e]) {
                                below.add(self.offsets[part] + e, row(from + e));
                            }
                        }
                        from += self.lens[part];
                    }
                }
                Op::Reduce {
                    func,
                    a,
                    offsets,
                    indices,
                } => {
                    if !active[*a] {
                        continue;
                    }
                    let (x, base) = (val(*a), self.offsets[*a]);
                    for g in reached_rows() {
                        let group = &indices[offsets[g]..offsets[g + 1]];
                        match func {
                            ReduceFn::Sum => {
                                for &e in group {
                                    below.add(base + e, row(g));
                                }
                            }
                            ReduceFn::ArgMax | ReduceFn::ArgMin => {}
                            ReduceFn::Max | ReduceFn::Min | ReduceFn::Prod => {
                                let members: Vec<&T> = group.iter().map(|&e| &x[e]).collect();
                                for (q, d) in reduce_partials(*func, &members) {
                                    below.axpy(base + group[q], d, row(g));
                                }
                            }
                        }
                    }
                }
                Op::Sort { keys, a, segment } => {
                    if !active[*a] {
                        continue;
                    }
                    let ks = val(*keys);
                    for s0 in (0..len).step_by((*segment).max(1)) {
                        sort_permutation((s0..s0 + segment).map(|e| ks[e]), &mut perm);
                        for (e, &q) in perm.iter().enumerate() {
                            if yr[s0 + e] {
                                below.add(self.offsets[*a] + s0 + q, row(s0 + e));
                            }
                        }
                    }
                }
                Op::Linalg {
                    func,
                    args,
                    batch,
                    m,
                    n,
                    k,
                } => {
                    let arg_lens: Vec<usize> = args.iter().map(|&a| self.lens[a] / batch).collect();
                    let per = len / batch;
                    let mut res = vec![DualVec::constant(T::zero()); per];
                    for b in 0..*batch {
                        if !yr[b * per..(b + 1) * per].iter().any(|&r| r) {
                            continue;
                        }
                        let x = |i: usize, e: usize| val(args[i])[b * arg_lens[i] + e];
                        linalg_item_jacobian(*func, (*m, *n, *k), &arg_lens, x, &mut res);
                        for (e, y) in res.iter().enumerate() {
                            let at_y = b * per + e;
                            if !yr[at_y] {
                                continue;
                            }
                            let mut q = 0;
                            for (&a, &la) in args.iter().zip(&arg_lens) {
                                for ea in b * la..(b + 1) * la {
                                    if active[a] {
                                        below.axpy(self.offsets[a] + ea, y.lane(q), row(at_y));
                                    }
                                    q += 1;
                                }
                            }
                        }
                    }
                }
                Op::Dot {
                    a,
                    b,
                    batch,
                    m,
                    k,
                    n,
                } => {
                    let dims = (*m, *k, *n);
                    let (sa, sb) = (val(*a), val(*b));
                    for bt in 0..*batch {
                        let (ya, yb) = (bt * m * n, (bt + 1) * m * n);
                        let y = (&ybar[ya * w..yb * w], &yr[ya..yb]);
                        let av = (
                            &sa[bt * m * k..(bt + 1) * m * k],
                            self.offsets[*a] + bt * m * k,
                        );
                        let bv = (
                            &sb[bt * k * n..(bt + 1) * k * n],
                            self.offsets[*b] + bt * k * n,
                        );
                        product_adjoints(&mut below, dims, y, (av, active[*a]), (bv, active[*b]));
                    }
                }
            }
        }
    }
}

/// Adds the adjoints of one product `y = a b` (`a`: `m x k`, `b`: `k x n`, values
/// and the element where each one's adjoint rows start) for the adjoint rows
/// `ybar` of `y` and which of them a path reached: `bbar += a^T ybar` as one GEMM
/// over every lane (`ybar` read as `m x (n L)`), `abar_i += b ybar_i` one GEMM per
/// row `i` of `a`. The GEMMs run where an unreached (zero) row cannot meet an
/// infinite or NaN partial (every row reached, or the other operand finite),
/// the loop over reached rows otherwise.
#[allow(clippy::type_complexity)]
fn product_adjoints<T: IrReal>(
    below: &mut Below<'_, T>,
    (m, k, n): (usize, usize, usize),
    (ybar, yr): (&[T], &[bool]),
    ((av, at_a), da): ((&[T], usize), bool),
    ((bv, at_b), db): ((&[T], usize), bool),
) {
    let w = below.w;
    let every = yr.iter().all(|&r| r);
    let finite = |v: &[T]| v.iter().all(|x| x.is_finite());
    // the blocks are sliced to their exact sizes, so a kernel never declines
    let by_gemm_b = db && has_gemm::<T>() && (every || finite(av));
    if by_gemm_b {
        let ok = gemm(
            (k, m, n * w),
            Mat::new(av, k, 1).t(),
            Mat::new(ybar, n * w, 1),
            true,
            MatMut::new(&mut below.adj[at_b * w..(at_b + k * n) * w], n * w, 1),
        );
        debug_assert!(ok, "the blocks of a product fit their buffers");
        for j in 0..n {
            if (0..m).any(|i| yr[i * n + j]) {
                for kk in 0..k {
                    below.reached[at_b + kk * n + j] = true;
                }
            }
        }
    }
    let by_gemm_a = da && has_gemm::<T>() && (every || finite(bv));
    if by_gemm_a {
        for i in 0..m {
            let ok = gemm(
                (k, n, w),
                Mat::new(bv, n, 1),
                Mat::new(&ybar[i * n * w..(i + 1) * n * w], w, 1),
                true,
                MatMut::new(
                    &mut below.adj[(at_a + i * k) * w..(at_a + (i + 1) * k) * w],
                    w,
                    1,
                ),
            );
            debug_assert!(ok, "the blocks of a product fit their buffers");
            if yr[i * n..(i + 1) * n].iter().any(|&r| r) {
                below.reached[at_a + i * k..at_a + (i + 1) * k].fill(true);
            }
        }
    }
    let (loop_a, loop_b) = (da && !by_gemm_a, db && !by_gemm_b);
    if !(loop_a || loop_b) {
        return;
    }
    for i in 0..m {
        for kk in 0..k {
            for j in 0..n {
                let e = i * n + j;
                if !yr[e] {
                    continue;
                }
                let g = &ybar[e * w..(e + 1) * w];
                if loop_a {
                    below.axpy(at_a + i * k + kk, bv[kk * n + j], g);
                }
                if loop_b {
                    below.axpy(at_b + kk * n + j, av[i * k + kk], g);
                }
            }
        }
    }
}
