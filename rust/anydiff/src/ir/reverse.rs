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
use super::layout::roots;
use super::ops::{BinaryFn, IrError, Op, ReduceFn, UnaryFn};
use super::program::Program;
use super::rules::{binary, takes_max, takes_min, unary, IrReal};
use crate::dual::{Dual, Elementary};

/// A worker's state: the forward workspace and the adjoint buffer.
struct Sweep<D> {
    ws: Workspace<D>,
    adj: Vec<D>,
}

/// `f'(x)`: the tangent of `func` at `x` seeded with 1.
#[inline]
fn unary_derivative<D: Elementary>(func: UnaryFn, x: &D) -> D {
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
fn binary_partials<D: Elementary>(func: BinaryFn, x: &D, y: &D, da: bool, db: bool) -> (D, D) {
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

/// `dst += src` elementwise.
#[inline]
fn add_into<D: Elementary>(dst: &mut [D], src: &[D]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s.clone();
    }
}

/// `dst += 2 x ybar` (the adjoint of `x^2`, the most common power).
#[inline]
fn square_adjoint<D: Elementary>(dst: &mut [D], ybar: &[D], x: &[D]) {
    for ((d, g), xv) in dst.iter_mut().zip(ybar).zip(x) {
        let gx = g.clone() * xv.clone();
        *d += gx.clone() + gx;
    }
}

impl Program {
    /// [`Program::tape_layout`] and its active nodes, made once per program.
    pub(crate) fn tape(&self) -> (&Program, &[bool]) {
        let cached = self.tape.get_or_init(|| {
            let tape = self.tape_layout();
            let active = tape.active_nodes();
            Box::new((tape, active))
        });
        (&cached.0, &cached.1)
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

    /// Which nodes depend on an input through a path of nonzero derivative
    /// (comparisons cut the path; a select's condition does too).
    fn active_nodes(&self) -> Vec<bool> {
        let mut active = vec![false; self.ops.len()];
        for (i, op) in self.ops.iter().enumerate() {
            active[i] = match op {
                Op::Input { .. } => true,
                Op::Param { .. } | Op::Const(_) | Op::Compare { .. } => false,
                Op::Select { t, f, .. } => active[*t] || active[*f],
                other => other.args().iter().any(|&a| active[a]),
            };
        }
        active
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
                    self.fill_leaves(&mut s.ws, params);
                    s
                }
                None => Sweep {
                    ws: self.workspace::<D>(c, params),
                    adj: vec![D::zero(); self.work_len * c],
                },
            }
        };
        for_each_with_state(items, fresh, body, |s| self.scratch.give(s));
    }

    /// Adds `w(r)` to the adjoint of output `r` of the first `count` points.
    fn seed_adjoint<D: Elementary>(
        &self,
        adj: &mut [D],
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
    /// node's forward values, `adj` the seeded output adjoints; afterwards
    /// the input blocks of `adj` hold the input adjoints. `self` must have
    /// the layout of [`Program::tape_layout`].
    fn sweep<D: Elementary>(&self, active: &[bool], vals: &[D], adj: &mut [D], c: usize) {
        for (j, op) in self.ops.iter().enumerate().rev() {
            if self.alias[j] || !active[j] {
                continue;
            }
            let (o, l) = (self.offsets[j] * c, self.lens[j] * c);
            // every argument's block lies below the node's own block
            let (lo, rest) = adj.split_at_mut(o);
            let ybar = &rest[..l];
            let val = |node: usize| &vals[self.offsets[node] * c..][..self.lens[node] * c];
            let at = |node: usize| self.offsets[node] * c;
            match op {
                Op::Input { .. } | Op::Param { .. } | Op::Const(_) | Op::Compare { .. } => {}
                Op::Unary { func, a } => {
                    let (x, base) = (val(*a), at(*a));
                    if *func == UnaryFn::Neg {
                        for (d, g) in lo[base..base + l].iter_mut().zip(ybar) {
                            *d -= g.clone();
                        }
                        continue;
                    }
                    if *func == UnaryFn::Square {
                        square_adjoint(&mut lo[base..base + l], ybar, x);
                        continue;
                    }
                    for (k, (g, xv)) in ybar.iter().zip(x).enumerate() {
                        if g.is_exact_zero() {
                            continue;
                        }
                        lo[base + k] += g.clone() * unary_derivative(*func, xv);
                    }
                }
                Op::Binary { func, a, b } => {
                    let (da, db) = (active[*a], active[*b]);
                    let (x, y) = (val(*a), val(*b));
                    let (ba, bb) = (at(*a), at(*b));
                    match func {
                        BinaryFn::Add | BinaryFn::Sub => {
                            if da {
                                add_into(&mut lo[ba..ba + l], ybar);
                            }
                            if db {
                                let dst = &mut lo[bb..bb + l];
                                if *func == BinaryFn::Add {
                                    add_into(dst, ybar);
                                } else {
                                    for (d, g) in dst.iter_mut().zip(ybar) {
                                        *d -= g.clone();
                                    }
                                }
                            }
                        }
                        BinaryFn::Mul => {
                            for (k, g) in ybar.iter().enumerate() {
                                if da {
                                    lo[ba + k] += g.clone() * y[k].clone();
                                }
                                if db {
                                    lo[bb + k] += x[k].clone() * g.clone();
                                }
                            }
                        }
                        _ => {
                            for (k, g) in ybar.iter().enumerate() {
                                if g.is_exact_zero() {
                                    continue;
                                }
                                let (p, q) = binary_partials(*func, &x[k], &y[k], da, db);
                                if da {
                                    lo[ba + k] += g.clone() * p;
                                }
                                if db {
                                    lo[bb + k] += g.clone() * q;
                                }
                            }
                        }
                    }
                }
                Op::Powi { a, n } => {
                    let (x, base) = (val(*a), at(*a));
                    if *n == 2 {
                        square_adjoint(&mut lo[base..base + l], ybar, x);
                        continue;
                    }
                    for (k, (g, xv)) in ybar.iter().zip(x).enumerate() {
                        if g.is_exact_zero() {
                            continue;
                        }
                        let arg = Dual::<D, 1>::new(xv.clone(), [D::one()]);
                        let [d] = arg.powi(*n).eps;
                        lo[base + k] += g.clone() * d;
                    }
                }
                Op::Select { c: cond, t, f } => {
                    let zero = <D::Real as Zero>::zero();
                    let (bt, bf) = (at(*t), at(*f));
                    let (dt, df) = (active[*t], active[*f]);
                    for (k, (g, s)) in ybar.iter().zip(val(*cond)).enumerate() {
                        if s.re() != zero {
                            if dt {
                                lo[bt + k] += g.clone();
                            }
                        } else if df {
                            lo[bf + k] += g.clone();
                        }
                    }
                }
                Op::Gather { a, indices } => {
                    if !active[*a] {
                        continue;
                    }
                    let base = at(*a);
                    for (src, &ix) in ybar.chunks_exact(c).zip(indices) {
                        if let Ok(ix) = usize::try_from(ix) {
                            add_into(&mut lo[base + ix * c..base + ix * c + c], src);
                        }
                    }
                }
                Op::Concat(parts) => {
                    let mut from = 0;
                    for &part in parts {
                        let len = self.lens[part] * c;
                        if active[part] {
                            let base = at(part);
                            add_into(&mut lo[base..base + len], &ybar[from..from + len]);
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
                    for (src, w) in ybar.chunks_exact(c).zip(offsets.windows(2)) {
                        let group = &indices[w[0]..w[1]];
                        match func {
                            ReduceFn::Sum => {
                                for &e in group {
                                    add_into(&mut lo[base + e * c..base + e * c + c], src);
                                }
                            }
                            ReduceFn::Max | ReduceFn::Min => {
                                let Some((&first, rest)) = group.split_first() else {
                                    continue;
                                };
                                let max = *func == ReduceFn::Max;
                                for (p, g) in src.iter().enumerate() {
                                    let mut best = first;
                                    for &e in rest {
                                        let (acc, cand) = (&x[best * c + p], &x[e * c + p]);
                                        let take = if max {
                                            takes_max(acc, cand)
                                        } else {
                                            takes_min(acc, cand)
                                        };
                                        if take {
                                            best = e;
                                        }
                                    }
                                    lo[base + best * c + p] += g.clone();
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
                    for bt in 0..*batch {
                        for i in 0..m {
                            for kk in 0..k {
                                let ai = ((bt * m + i) * k + kk) * c;
                                for jj in 0..n {
                                    let yi = ((bt * m + i) * n + jj) * c;
                                    let bi = ((bt * k + kk) * n + jj) * c;
                                    for p in 0..c {
                                        let g = &ybar[yi + p];
                                        if da {
                                            lo[ba + ai + p] += g.clone() * sb[bi + p].clone();
                                        }
                                        if db {
                                            lo[bb + bi + p] += sa[ai + p].clone() * g.clone();
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
                st.adj.fill(T::zero());
                tape.seed_adjoint(&mut st.adj, c, count, |r| cot[l * m + r]);
                tape.sweep(active, &st.ws.buf, &mut st.adj, c);
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
                    st.adj.fill(Dual::zero());
                    tape.seed_adjoint(&mut st.adj, c, count, |_| Dual::constant(T::one()));
                    tape.sweep(active, &st.ws.buf, &mut st.adj, c);
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
