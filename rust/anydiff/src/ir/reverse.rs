//! Reverse mode over a [`Program`]: vector-Jacobian products, gradients,
//! and Hessian-vector products by forward over reverse.
//!
//! A chunk of points is evaluated forward in a workspace where every node
//! keeps its own block (the forward engine reuses blocks of dead nodes; the
//! reverse sweep needs them all), then the adjoints are accumulated in a
//! second buffer of the same layout, node by node in reverse order, with
//! the vector-Jacobian rule of each instruction. Gathers of a contiguous
//! range are views in both buffers, so their adjoints land directly in
//! their argument's adjoint.
//!
//! The sweep is generic over the number type `D`: with `D = f64` it gives
//! plain VJPs; with `D = Dual<f64, N>` (forward pass seeded with `N`
//! directions) the adjoints carry `N` tangent lanes, which are Hessian-vector
//! products of a scalar program.
//!
//! Derivatives of the elementwise functions are not written again here:
//! each is the tangent of the forward rule evaluated on a dual number
//! seeded with 1 (two lanes for the binary functions).

use ndarray::{ArrayView2, ArrayViewMut1, ArrayViewMut2, ArrayViewMut3};
use num_traits::Zero;

use super::buffers::{
    check_dims, chunk_rows, chunk_rows_mut, for_each_with_state, lane_blocks, standard,
    with_contiguous,
};
use super::eval::Workspace;
use super::gemm::{gemm, gemm_real_left, has_gemm, Mat, MatMut};
use super::layout::roots;
use super::linalg::linalg_item_jacobian;
use super::ops::{BinaryFn, IrError, Op, ReduceFn, UnaryFn};
use super::program::Program;
use super::rules::{binary, reduce_partials, sort_permutation, unary, IrReal};
use crate::dual::{Dual, DualVec, Elementary};

/// A worker's state: the forward workspace and the adjoint buffer.
struct Sweep<D: Elementary> {
    ws: Workspace<D>,
    adj: Vec<D>,
    /// Which adjoints a path from a seeded output reached ([`Program::sweep`]).
    touched: Vec<bool>,
}

/// `f'(x)`: the tangent of `func` at `x` seeded with 1.
#[inline]
pub(super) fn unary_derivative<D: Elementary>(func: UnaryFn, x: &D) -> D {
    let arg = [Dual::<D, 1>::new(x.clone(), [D::one()])];
    let mut out = [Dual::<D, 1>::constant(D::zero())];
    unary(func, &arg, &mut out);
    let [d] = out[0].eps.clone();
    d
}

/// `(df/da, df/db)` at `(x, y)`; a partial that is not wanted is zero (and
/// its argument is treated as a constant, which selects the forward rule
/// for constant arguments, e.g. `x^c`).
#[inline]
pub(super) fn binary_partials<D: Elementary>(
    func: BinaryFn,
    x: &D,
    y: &D,
    da: bool,
    db: bool,
) -> (D, D) {
    match (da, db) {
        (true, true) => {
            let a = [Dual::<D, 2>::new(x.clone(), [D::one(), D::zero()])];
            let b = [Dual::<D, 2>::new(y.clone(), [D::zero(), D::one()])];
            let mut out = [Dual::<D, 2>::constant(D::zero())];
            binary(func, &a, &b, &mut out);
            let [p, q] = out[0].eps.clone();
            (p, q)
        }
        (true, false) => {
            let a = [Dual::<D, 1>::new(x.clone(), [D::one()])];
            let b = [Dual::<D, 1>::constant(y.clone())];
            let mut out = [Dual::<D, 1>::constant(D::zero())];
            binary(func, &a, &b, &mut out);
            let [p] = out[0].eps.clone();
            (p, D::zero())
        }
        (false, true) => {
            let a = [Dual::<D, 1>::constant(x.clone())];
            let b = [Dual::<D, 1>::new(y.clone(), [D::one()])];
            let mut out = [Dual::<D, 1>::constant(D::zero())];
            binary(func, &a, &b, &mut out);
            let [q] = out[0].eps.clone();
            (D::zero(), q)
        }
        (false, false) => (D::zero(), D::zero()),
    }
}

impl Program {
    /// [`Program::tape_layout`] and its active nodes, made once per program.
    pub(crate) fn tape(&self) -> (&Program, &[bool]) {
        let tape = self.tape.get_or_init(|| Box::new(self.tape_layout()));
        (tape, &tape.active)
    }

    /// The same program with a layout that keeps every node's block alive
    /// (blocks in node order; contiguous gathers stay views of their
    /// argument, so every argument's block lies below its reader's).
    fn tape_layout(&self) -> Program {
        let nodes = self.ops.len();
        let mut offsets = vec![0usize; nodes];
        let mut alias = vec![false; nodes];
        let mut top = 0usize;
        for (i, op) in self.ops.iter().enumerate() {
            let view = match op {
                Op::Gather { a, indices } if self.alias[i] => indices
                    .first()
                    .and_then(|&s| usize::try_from(s).ok())
                    .map(|s| offsets[*a] + s),
                _ => None,
            };
            // a view without a readable start (never produced by the
            // forward layout) runs as an ordinary gather
            alias[i] = view.is_some();
            offsets[i] = view.unwrap_or_else(|| {
                top += self.lens[i];
                top - self.lens[i]
            });
        }
        let root = roots(&self.ops, &alias);
        self.with_layout(offsets, top, alias, root)
    }

    /// Runs `body` on every item, in parallel, with one forward workspace
    /// and one adjoint buffer per worker.
    fn drive_reverse<D: Elementary, I: Send>(
        &self,
        c: usize,
        params: &[D::Real],
        items: Vec<I>,
        body: impl Fn(&mut Sweep<D>, I) + Sync,
    ) {
        let fresh = || {
            let kept = self.scratch.take(|s: &Sweep<D>| s.ws.c == c);
            match kept {
                Some(mut s) => {
                    self.fill_leaves(&mut s.ws, params, false);
                    s
                }
                None => Sweep {
                    ws: self.workspace::<D>(c, params),
                    adj: vec![D::zero(); self.work_len * c],
                    touched: vec![false; self.work_len * c],
                },
            }
        };
        for_each_with_state(items, fresh, body, |s| self.scratch.give(s));
    }

    /// Zeroes (and marks untouched) the adjoint blocks of the active nodes: the
    /// sweep writes no other (a large constant's block is left alone).
    fn clear_adjoints<D: Elementary>(
        &self,
        active: &[bool],
        (adj, touched): (&mut [D], &mut [bool]),
        c: usize,
    ) {
        for (i, _) in active
            .iter()
            .enumerate()
            .filter(|(i, &a)| a && !self.alias[*i])
        {
            let (o, l) = (self.offsets[i] * c, self.lens[i] * c);
            adj[o..o + l].fill(D::zero());
            touched[o..o + l].fill(false);
        }
    }

    /// Adds `w(r)` to the adjoint of output `r` of the first `count` points
    /// (and marks it touched).
    fn seed_adjoint<D: Elementary>(
        &self,
        (adj, touched): (&mut [D], &mut [bool]),
        c: usize,
        count: usize,
        w: impl Fn(usize) -> D,
    ) {
        let mut r0 = 0;
        for &o in &self.outputs {
            let base = self.offsets[o] * c;
            for e in 0..self.lens[o] {
                let g = w(r0 + e);
                for s in &mut adj[base + e * c..base + e * c + count] {
                    *s += g.clone();
                }
                touched[base + e * c..base + e * c + count].fill(true);
            }
            r0 += self.lens[o];
        }
    }

    /// Calls `take(p, j, adjoint)` for every input element `j` of every point `p < count`.
    fn extract_adjoint<D: Elementary>(
        &self,
        adj: &[D],
        c: usize,
        count: usize,
        mut take: impl FnMut(usize, usize, &D),
    ) {
        for (i, op) in self.ops.iter().enumerate() {
            if let Op::Input { index, len } = op {
                let base = self.offsets[i] * c;
                let x0 = self.input_offsets[*index];
                for e in 0..*len {
                    for (p, g) in adj[base + e * c..base + e * c + count].iter().enumerate() {
                        take(p, x0 + e, g);
                    }
                }
            }
        }
    }

    /// The reverse sweep over a chunk of `c` points: `vals` holds every
    /// node's forward values, `adj` the seeded output adjoints and `touched`
    /// which of them were seeded; afterwards the input blocks of `adj` hold the
    /// input adjoints. `self` must have the layout of [`Program::tape_layout`].
    ///
    /// An adjoint that no path from a seeded output reaches (the untaken side of
    /// a select, members a gather skips or a max loses) is *untouched*: it is
    /// never multiplied by its partial derivatives, so an infinite or NaN
    /// partial there stays out of the result, as a zero tangent does in forward
    /// mode. A touched adjoint is multiplied even when it is zero, so `0 * inf`
    /// is NaN in both modes (an overflowed `exp(x) * 0`).
    fn sweep<D: Elementary>(
        &self,
        active: &[bool],
        ws: &Workspace<D>,
        (adj, touched): (&mut [D], &mut [bool]),
        c: usize,
    ) {
        let vals = &ws.buf[..];
        let mut scratch: Vec<D> = Vec::new();
        for (j, op) in self.ops.iter().enumerate().rev() {
            if self.alias[j] || !active[j] {
                continue;
            }
            let (o, l) = (self.offsets[j] * c, self.lens[j] * c);
            // every argument's block lies below the node's own block
            let (lo, rest) = adj.split_at_mut(o);
            let (lt, trest) = touched.split_at_mut(o);
            let ybar = &rest[..l];
            let yt = &trest[..l];
            if !yt.iter().any(|&t| t) {
                continue;
            }
            let val = |node: usize| &vals[self.offsets[node] * c..][..self.lens[node] * c];
            let at = |node: usize| self.offsets[node] * c;
            // adds `g` to the adjoint at `k` and marks it touched
            let add = |lo: &mut [D], lt: &mut [bool], k: usize, g: D| {
                lo[k] += g;
                lt[k] = true;
            };
            match op {
                Op::Input { .. } | Op::Param { .. } | Op::Const(_) | Op::Compare { .. } => {}
                Op::Unary { func, a } => {
                    let (x, base) = (val(*a), at(*a));
                    for (k, (g, xv)) in ybar.iter().zip(x).enumerate() {
                        if !yt[k] {
                            continue;
                        }
                        let d = match func {
                            UnaryFn::Neg => -g.clone(),
                            UnaryFn::Square => {
                                let gx = g.clone() * xv.clone();
                                gx.clone() + gx
                            }
                            _ => g.clone() * unary_derivative(*func, xv),
                        };
                        add(lo, lt, base + k, d);
                    }
                }
                Op::Binary { func, a, b } => {
                    let (da, db) = (active[*a], active[*b]);
                    let (x, y) = (val(*a), val(*b));
                    let (ba, bb) = (at(*a), at(*b));
                    for (k, g) in ybar.iter().enumerate() {
                        if !yt[k] {
                            continue;
                        }
                        let (p, q) = match func {
                            BinaryFn::Add => (g.clone(), g.clone()),
                            BinaryFn::Sub => (g.clone(), -g.clone()),
                            BinaryFn::Mul => (g.clone() * y[k].clone(), x[k].clone() * g.clone()),
                            _ => {
                                let (p, q) = binary_partials(*func, &x[k], &y[k], da, db);
                                (g.clone() * p, g.clone() * q)
                            }
                        };
                        if da {
                            add(lo, lt, ba + k, p);
                        }
                        if db {
                            add(lo, lt, bb + k, q);
                        }
                    }
                }
                Op::Powi { a, n } => {
                    let (x, base) = (val(*a), at(*a));
                    for (k, (g, xv)) in ybar.iter().zip(x).enumerate() {
                        if !yt[k] {
                            continue;
                        }
                        let d = if *n == 2 {
                            let gx = g.clone() * xv.clone();
                            gx.clone() + gx
                        } else {
                            let arg = Dual::<D, 1>::new(xv.clone(), [D::one()]);
                            let [d] = arg.powi(*n).eps;
                            g.clone() * d
                        };
                        add(lo, lt, base + k, d);
                    }
                }
                Op::Select { c: cond, t, f } => {
                    let zero = <D::Real as Zero>::zero();
                    let (bt, bf) = (at(*t), at(*f));
                    let (dt, df) = (active[*t], active[*f]);
                    for (k, (g, s)) in ybar.iter().zip(val(*cond)).enumerate() {
                        if !yt[k] {
                            continue;
                        }
                        if s.re() != zero {
                            if dt {
                                add(lo, lt, bt + k, g.clone());
                            }
                        } else if df {
                            add(lo, lt, bf + k, g.clone());
                        }
                    }
                }
                Op::Gather { a, indices } => {
                    if !active[*a] {
                        continue;
                    }
                    let base = at(*a);
                    for (e, &ix) in indices.iter().enumerate() {
                        if let Ok(ix) = usize::try_from(ix) {
                            for p in 0..c {
                                if yt[e * c + p] {
                                    add(lo, lt, base + ix * c + p, ybar[e * c + p].clone());
                                }
                            }
                        }
                    }
                }
                Op::Concat(parts) => {
                    let mut from = 0;
                    for &part in parts {
                        let len = self.lens[part] * c;
                        if active[part] {
                            let base = at(part);
                            for k in (0..len).filter(|&k| yt[from + k]) {
                                add(lo, lt, base + k, ybar[from + k].clone());
                            }
                        }
                        from += len;
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
                    let (x, base) = (val(*a), at(*a));
                    for (g, w) in offsets.windows(2).enumerate() {
                        let group = &indices[w[0]..w[1]];
                        for p in 0..c {
                            if !yt[g * c + p] {
                                continue;
                            }
                            let gbar = &ybar[g * c + p];
                            match func {
                                ReduceFn::Sum => {
                                    for &e in group {
                                        add(lo, lt, base + e * c + p, gbar.clone());
                                    }
                                }
                                ReduceFn::ArgMax | ReduceFn::ArgMin => {}
                                ReduceFn::Max | ReduceFn::Min | ReduceFn::Prod => {
                                    let members: Vec<&D> =
                                        group.iter().map(|&e| &x[e * c + p]).collect();
                                    for (q, d) in reduce_partials(*func, &members) {
                                        add(lo, lt, base + group[q] * c + p, gbar.clone() * d);
                                    }
                                }
                            }
                        }
                    }
                }
                Op::Sort { keys, a, segment } => {
                    if !active[*a] {
                        continue;
                    }
                    let (ks, base) = (val(*keys), at(*a));
                    let mut perm = Vec::new();
                    for s0 in (0..self.lens[j]).step_by((*segment).max(1)) {
                        for p in 0..c {
                            sort_permutation(
                                (s0..s0 + segment).map(|e| ks[e * c + p].re()),
                                &mut perm,
                            );
                            for (e, &q) in perm.iter().enumerate() {
                                if yt[(s0 + e) * c + p] {
                                    let g = ybar[(s0 + e) * c + p].clone();
                                    add(lo, lt, base + (s0 + q) * c + p, g);
                                }
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
                    let total: usize = arg_lens.iter().sum();
                    let per = self.lens[j] / batch;
                    let mut res = vec![DualVec::constant(D::zero()); per];
                    for b in 0..*batch {
                        for p in 0..c {
                            if !(0..per).any(|e| yt[(b * per + e) * c + p]) {
                                continue;
                            }
                            let x = |i: usize, e: usize| {
                                val(args[i])[(b * arg_lens[i] + e) * c + p].clone()
                            };
                            linalg_item_jacobian(*func, (*m, *n, *k), &arg_lens, x, &mut res);
                            scratch.clear();
                            scratch.resize(total, D::zero());
                            for (e, y) in res.iter().enumerate() {
                                let at_y = (b * per + e) * c + p;
                                if !yt[at_y] {
                                    continue;
                                }
                                for (q, s) in scratch.iter_mut().enumerate() {
                                    *s += ybar[at_y].clone() * y.lane(q);
                                }
                            }
                            let mut q = 0;
                            for (&a, &la) in args.iter().zip(&arg_lens) {
                                let base = at(a);
                                for e in b * la..(b + 1) * la {
                                    if active[a] {
                                        add(lo, lt, base + e * c + p, scratch[q].clone());
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
                    let (da, db) = (active[*a], active[*b]);
                    let (sa, sb) = (val(*a), val(*b));
                    let (ba, bb) = (at(*a), at(*b));
                    let (m, k, n) = (*m, *k, *n);
                    if c == 1 && has_gemm::<D>() && yt.iter().all(|&t| t) {
                        // every output adjoint touched: abar += ybar b^T, bbar += a^T ybar
                        // a constant operand's reals, where the forward pass kept them
                        let (ra, rb) = (ws.reals[*a].as_deref(), ws.reals[*b].as_deref());
                        for bt in 0..*batch {
                            let g = Mat::new(&ybar[bt * m * n..], n, 1);
                            if da {
                                let (to, len) = (ba + bt * m * k, m * k);
                                let ok = match rb.filter(|_| !db) {
                                    // abar^T += b g^T
                                    Some(r) => {
                                        let (r, out) = (&r[bt * k * n..], &mut lo[to..]);
                                        let out = MatMut::new(out, 1, k);
                                        gemm_real_left(
                                            (k, n, m),
                                            Mat::new(r, n, 1),
                                            g.t(),
                                            true,
                                            out,
                                        )
                                    }
                                    None => {
                                        let b_t =
                                            Mat::new(&sb[bt * k * n..], n, 1).t().constant(!db);
                                        let out = MatMut::new(&mut lo[to..], k, 1);
                                        gemm((m, n, k), g, b_t, true, out)
                                    }
                                };
                                debug_assert!(ok, "the blocks of a product fit their buffers");
                                lt[to..to + len].fill(true);
                            }
                            if db {
                                let (to, len) = (bb + bt * k * n, k * n);
                                let out = MatMut::new(&mut lo[to..], n, 1);
                                let ok = match ra.filter(|_| !da) {
                                    Some(r) => {
                                        let a_t = Mat::new(&r[bt * m * k..], k, 1).t();
                                        gemm_real_left((k, m, n), a_t, g, true, out)
                                    }
                                    None => {
                                        let a_t =
                                            Mat::new(&sa[bt * m * k..], k, 1).t().constant(!da);
                                        gemm((k, m, n), a_t, g, true, out)
                                    }
                                };
                                debug_assert!(ok, "the blocks of a product fit their buffers");
                                lt[to..to + len].fill(true);
                            }
                        }
                        continue;
                    }
                    for bt in 0..*batch {
                        for i in 0..m {
                            for kk in 0..k {
                                let ai = ((bt * m + i) * k + kk) * c;
                                for jj in 0..n {
                                    let yi = ((bt * m + i) * n + jj) * c;
                                    let bi = ((bt * k + kk) * n + jj) * c;
                                    for p in 0..c {
                                        if !yt[yi + p] {
                                            continue;
                                        }
                                        let g = &ybar[yi + p];
                                        if da {
                                            add(
                                                lo,
                                                lt,
                                                ba + ai + p,
                                                g.clone() * sb[bi + p].clone(),
                                            );
                                        }
                                        if db {
                                            add(
                                                lo,
                                                lt,
                                                bb + bi + p,
                                                sa[ai + p].clone() * g.clone(),
                                            );
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Vector-Jacobian products at `P` points: `cotangents` is `L x m` (the
    /// same at every point), `values_out` `P x m`, `out` `P x L x n`
    /// (`out[p, l] = J(x_p)^T w_l`). One forward pass per chunk of points
    /// and one reverse sweep per cotangent.
    pub fn vjp_points<T: IrReal>(
        &self,
        points: ArrayView2<T>,
        params: &[T],
        cotangents: ArrayView2<T>,
        values_out: ArrayViewMut2<T>,
        out: ArrayViewMut3<T>,
    ) -> Result<(), IrError> {
        let np = self.check_points(&points, params)?;
        let lanes = cotangents.nrows();
        check_dims("cotangents", cotangents.shape(), &[lanes, self.m])?;
        check_dims("values_out", values_out.shape(), &[np, self.m])?;
        check_dims("out", out.shape(), &[np, lanes, self.n])?;
        let pts = points.as_standard_layout();
        let pts = standard(&pts)?;
        let cot: Vec<T> = cotangents.iter().copied().collect();
        with_contiguous(values_out, |vals| {
            with_contiguous(out, |out| {
                self.reverse_real((np, pts), params, lanes, &cot, vals, out)
            })
        });
        Ok(())
    }

    /// Values (`P`) and gradients (`P x n`) of a scalar program (`m == 1`)
    /// at `P` points, by one reverse sweep per point.
    pub fn gradient_points<T: IrReal>(
        &self,
        points: ArrayView2<T>,
        params: &[T],
        values_out: ArrayViewMut1<T>,
        grad_out: ArrayViewMut2<T>,
    ) -> Result<(), IrError> {
        self.check_scalar("gradient_points")?;
        let np = self.check_points(&points, params)?;
        check_dims("values_out", values_out.shape(), &[np])?;
        check_dims("grad_out", grad_out.shape(), &[np, self.n])?;
        let pts = points.as_standard_layout();
        let pts = standard(&pts)?;
        with_contiguous(values_out, |vals| {
            with_contiguous(grad_out, |g| {
                self.reverse_real((np, pts), params, 1, &[T::one()], vals, g)
            })
        });
        Ok(())
    }

    /// `lanes` cotangents `cot` (`lanes x m`, row-major) in `T`.
    fn reverse_real<T: IrReal>(
        &self,
        (np, points): (usize, &[T]),
        params: &[T],
        lanes: usize,
        cot: &[T],
        values: &mut [T],
        out: &mut [T],
    ) {
        let (n, m) = (self.n, self.m);
        let (tape, active) = self.tape();
        let c = tape.chunk_size(np, 2 * std::mem::size_of::<T>());
        if c == 1 && lanes > 1 {
            // a point at a time: all cotangents in one sweep of lane rows
            let cot = (lanes, cot);
            return tape.reverse_lanes(active, (np, points), params, cot, values, out);
        }
        let items: Vec<_> = chunk_rows(points, np, n, c)
            .into_iter()
            .zip(chunk_rows_mut(values, np, m, c))
            .zip(chunk_rows_mut(out, np, lanes * n, c))
            .collect();
        tape.drive_reverse::<T, _>(c, params, items, |st, (((count, pts), (_, v)), (_, o))| {
            tape.seed(&mut st.ws, count, |p, j| pts[p * n + j]);
            tape.execute(&mut st.ws);
            tape.extract(&st.ws, count, |p, r, d| v[p * m + r] = *d);
            for l in 0..lanes {
                tape.clear_adjoints(active, (&mut st.adj, &mut st.touched), c);
                tape.seed_adjoint((&mut st.adj, &mut st.touched), c, count, |r| cot[l * m + r]);
                tape.sweep(active, &st.ws, (&mut st.adj, &mut st.touched), c);
                tape.extract_adjoint(&st.adj, c, count, |p, j, g| {
                    o[(p * lanes + l) * n + j] = *g;
                });
            }
        });
    }

    /// Gradients (`P x n`) and Hessian-vector products (`P x L x n`,
    /// `out[p, l] = H(x_p) v_l`) of a scalar program for `v` (`L x n`), by
    /// forward over reverse: the forward pass runs on `Dual<T, L>` seeded
    /// with the directions, the reverse sweep on the same numbers from
    /// `ybar = 1`; the adjoints' real parts are the gradient and their lanes
    /// `H v`. Lanes go in blocks of up to 16 (one pass per block), so the
    /// cost is a few function evaluations per block whatever `n` is.
    pub fn hvp_reverse_points<T: IrReal>(
        &self,
        points: ArrayView2<T>,
        params: &[T],
        v: ArrayView2<T>,
        grad_out: ArrayViewMut2<T>,
        out: ArrayViewMut3<T>,
    ) -> Result<(), IrError> {
        self.check_scalar("hvp_reverse_points")?;
        let np = self.check_points(&points, params)?;
        let lanes = v.nrows();
        check_dims("v", v.shape(), &[lanes, self.n])?;
        check_dims("grad_out", grad_out.shape(), &[np, self.n])?;
        check_dims("out", out.shape(), &[np, lanes, self.n])?;
        let pts = points.as_standard_layout();
        let pts = standard(&pts)?;
        with_contiguous(grad_out, |g| {
            with_contiguous(out, |o| {
                let args = (np, pts, params, v, g, o);
                match lanes.next_power_of_two() {
                    0 | 1 => self.hvp_reverse_n::<T, 1>(args),
                    2 => self.hvp_reverse_n::<T, 2>(args),
                    4 => self.hvp_reverse_n::<T, 4>(args),
                    8 => self.hvp_reverse_n::<T, 8>(args),
                    _ => self.hvp_reverse_n::<T, 16>(args),
                }
            })
        });
        Ok(())
    }

    #[allow(clippy::type_complexity)]
    fn hvp_reverse_n<T: IrReal, const N: usize>(
        &self,
        (np, points, params, v, grad, out): (usize, &[T], &[T], ArrayView2<T>, &mut [T], &mut [T]),
    ) {
        let n = self.n;
        let lanes = v.nrows();
        let seeds = lane_blocks::<T, N>(n, lanes, &|j, g| v[[g, j]]);
        let (tape, active) = self.tape();
        let c = tape.chunk_size(np, 2 * std::mem::size_of::<Dual<T, N>>());
        let items: Vec<_> = chunk_rows(points, np, n, c)
            .into_iter()
            .zip(chunk_rows_mut(grad, np, n, c))
            .zip(chunk_rows_mut(out, np, lanes * n, c))
            .collect();
        tape.drive_reverse::<Dual<T, N>, _>(
            c,
            params,
            items,
            |st, (((count, pts), (_, g)), (_, o))| {
                for (b, block) in seeds.iter().enumerate() {
                    tape.seed(&mut st.ws, count, |p, j| {
                        Dual::new(pts[p * n + j], block[j])
                    });
                    tape.execute(&mut st.ws);
                    tape.clear_adjoints(active, (&mut st.adj, &mut st.touched), c);
                    let seed = |_| Dual::constant(T::one());
                    tape.seed_adjoint((&mut st.adj, &mut st.touched), c, count, seed);
                    tape.sweep(active, &st.ws, (&mut st.adj, &mut st.touched), c);
                    let width = N.min(lanes.saturating_sub(b * N));
                    tape.extract_adjoint(&st.adj, c, count, |p, j, d| {
                        if b == 0 {
                            g[p * n + j] = d.re;
                        }
                        for (l, e) in d.eps[..width].iter().enumerate() {
                            o[(p * lanes + b * N + l) * n + j] = *e;
                        }
                    });
                }
            },
        );
    }
}
