//! Forward mode in struct-of-arrays lanes: the engine behind
//! [`Program::eval_points`], [`Program::jvp_points`] and
//! [`Program::jacobian_points`].
//!
//! A chunk of `C` points carries the value and `L` tangent lanes of every
//! node as `W = L + 1` rows: row 0 holds the values, row `k` lane `k - 1`.
//! A node of `len` elements owns `W` consecutive rows of `len * C` numbers
//! (element-major, points innermost). Every instruction is then a few flat
//! loops over contiguous rows whatever `C` and `L` are, so `C` points of a
//! small per-point program and one point of a large array program
//! vectorise alike, and no lane is padded to a power of two.
//!
//! An alias (a contiguous gather) is a window of its root's rows: row `k`
//! of the alias starts `rel * C` numbers into row `k` of the root.
//!
//! Derivative rules still come from the dual numbers: a chunk of
//! `Dual<T, 1>` (unary) or `Dual<T, 2>` (binary) gives each instruction's
//! partial derivatives, and the lanes follow by the chain rule.

use super::buffers::{arg, split};
use super::gemm::{dot_lanes, Operand};
use super::layout::TILE;
use super::linalg::linalg;
use super::ops::{BinaryFn, Op, ReduceFn, UnaryFn};
use super::program::Program;
use super::rules::{arg_extremum, binary, compare, sort_permutation, unary, IrReal};
use super::runs::gather_runs;
use super::transpose::{points_to_rows, rows_to_points};
use crate::dual::{Dual, DualVec, Elementary};

/// Target size of one worker's rows in bytes (about half an L2 cache): long
/// rows spread each instruction's fixed cost over many points (Lotka–Volterra
/// ran 1.45x slower with rows sized for L1).
const TARGET_BYTES: usize = 1024 * 1024;
/// Largest number of points in a chunk.
const MAX_CHUNK: usize = 4096;
/// Most tangent lanes carried in one pass over a batch of points.
pub(crate) const MAX_PASS_LANES: usize = 32;
/// Most tangent lanes carried in one pass at a single point (an array program:
/// every pass recomputes the values, and a wide lane block makes the products
/// one large GEMM); the width of [`LaneMask`].
pub(crate) const MAX_POINT_LANES: usize = 128;
/// Which lanes of a node can be nonzero (bit `l`: lane `l`).
pub(crate) type LaneMask = u128;
/// Programs with more elements than this track live lanes node by node.
const LIVE_ELEMENTS_MAX: usize = 1 << 12;
/// Points per block of the partial-derivative kernels.
const BLOCK: usize = 64;

/// A worker's rows for `c` points and `w` rows per node, with scratch space.
pub(crate) struct Lanes<T> {
    pub(crate) buf: Vec<T>,
    c: usize,
    pub(crate) w: usize,
    /// Partial derivatives of the running instruction (two rows).
    pub(crate) partials: Vec<T>,
    /// Tile slots of a tiled program ([`super::tiles`]).
    pub(crate) tile: Vec<T>,
    /// The members of one reduction group at one point, their partial
    /// derivatives, and running products (`prod`).
    members: Vec<T>,
    weights: Vec<(usize, T)>,
    prods: Vec<T>,
    /// The permutation of one sorted segment.
    perm: Vec<usize>,
    /// The pass whose lanes the input rows hold (they survive between chunks).
    seeded: Option<usize>,
}

/// `d * x`, except that a zero tangent `x` stays zero even where `d` is
/// infinite or NaN: the dual numbers' rule ([`crate::dual`]), so that a
/// lane that does not depend on an argument never picks up its NaN.
#[inline]
fn term<T: IrReal>(d: T, x: T) -> T {
    if x.is_zero() {
        T::zero()
    } else {
        d * x
    }
}

/// `y = d * x`, elementwise (chain rule of one argument).
fn scale<T: IrReal>(y: &mut [T], d: &[T], x: &[T]) {
    for ((y, &d), &x) in y.iter_mut().zip(d).zip(x) {
        *y = term(d, x);
    }
}

/// `y = da * a + db * b`, elementwise (chain rule of two arguments).
fn combine<T: IrReal>(y: &mut [T], da: &[T], a: &[T], db: &[T], b: &[T]) {
    for ((((y, &da), &a), &db), &b) in y.iter_mut().zip(da).zip(a).zip(db).zip(b) {
        *y = term(da, a) + term(db, b);
    }
}

/// Values and derivatives of a unary rule `f` (applied to blocks of `Dual<T, 1>`).
fn unary_partials<T: IrReal>(
    x: &[T],
    value: &mut [T],
    d: &mut [T],
    f: impl Fn(&[Dual<T, 1>], &mut [Dual<T, 1>]),
) {
    let mut xs = [Dual::<T, 1>::constant(T::zero()); BLOCK];
    let mut ys = xs;
    for ((xc, vc), dc) in x
        .chunks(BLOCK)
        .zip(value.chunks_mut(BLOCK))
        .zip(d.chunks_mut(BLOCK))
    {
        let k = xc.len();
        for (s, &v) in xs.iter_mut().zip(xc) {
            *s = Dual::new(v, [T::one()]);
        }
        f(&xs[..k], &mut ys[..k]);
        for ((y, v), dd) in ys[..k].iter().zip(vc).zip(dc) {
            *v = y.re;
            *dd = y.eps[0];
        }
    }
}

/// Values and both partial derivatives of a binary rule.
fn binary_partials<T: IrReal>(
    func: BinaryFn,
    (a, b): (&[T], &[T]),
    value: &mut [T],
    (da, db): (&mut [T], &mut [T]),
) {
    let mut xs = [Dual::<T, 2>::constant(T::zero()); BLOCK];
    let mut ys = xs;
    let mut zs = xs;
    let (zero, one) = (T::zero(), T::one());
    let parts = a
        .chunks(BLOCK)
        .zip(b.chunks(BLOCK))
        .zip(value.chunks_mut(BLOCK))
        .zip(da.chunks_mut(BLOCK).zip(db.chunks_mut(BLOCK)));
    for (((ac, bc), vc), (dac, dbc)) in parts {
        let k = ac.len();
        for ((x, y), (&u, &v)) in xs.iter_mut().zip(ys.iter_mut()).zip(ac.iter().zip(bc)) {
            *x = Dual::new(u, [one, zero]);
            *y = Dual::new(v, [zero, one]);
        }
        binary(func, &xs[..k], &ys[..k], &mut zs[..k]);
        for (z, ((v, p), q)) in zs[..k].iter().zip(vc.iter_mut().zip(dac).zip(dbc)) {
            *v = z.re;
            *p = z.eps[0];
            *q = z.eps[1];
        }
    }
}

/// Where an instruction's arguments come from: `arg(node, k)` is row `k` of an
/// argument over the instruction's elements, `whole(node, k)` the whole row (the
/// source of a gather, whose index map starts at element `first`).
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a, T> {
    pub(crate) arg: &'a dyn Fn(usize, usize) -> &'a [T],
    pub(crate) whole: &'a dyn Fn(usize, usize) -> &'a [T],
    pub(crate) first: usize,
    pub(crate) c: usize,
}

/// Instructions that [`Program::elementwise`] runs.
pub(crate) fn is_elementwise(op: &Op) -> bool {
    matches!(
        op,
        Op::Unary { .. }
            | Op::Powi { .. }
            | Op::Binary { .. }
            | Op::Compare { .. }
            | Op::Select { .. }
            | Op::Gather { .. }
    )
}

/// How the tangents of a reduction follow from its members'.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tangent {
    /// `sum_j term(w_j, t_j)` over the weights, in order.
    Weighted,
    /// A NaN member: `term(NaN, sum_j t_j)` over the whole group.
    NaN,
}

/// The value of a reduction of the members `x` and the partial derivatives of
/// the members that contribute to its tangent, as `(position, weight)` in
/// `weights`: for max and min the members equal to the result, each weighted
/// `1 / count` (JAX's convention); for prod every member, weighted by the
/// product of the others (`prefix * suffix` products, so zeros are exact); for
/// sum every member with weight 1; none for argmax and argmin. The tangent is
/// `sum term(weight, t)` over `weights` in order, or [`Tangent::NaN`]. Compiled
/// code (`anydiff-jit`) calls this too, so both engines agree bit for bit.
pub fn reduce_rule<T: IrReal>(
    func: ReduceFn,
    x: &[T],
    weights: &mut Vec<(usize, T)>,
    prods: &mut Vec<T>,
) -> (T, Tangent) {
    weights.clear();
    match func {
        ReduceFn::Sum => {
            weights.extend((0..x.len()).map(|j| (j, T::one())));
            (
                x.iter().fold(T::zero(), |acc, &v| acc + v),
                Tangent::Weighted,
            )
        }
        ReduceFn::Max | ReduceFn::Min => {
            let max = func == ReduceFn::Max;
            let Some((&first, rest)) = x.split_first() else {
                return (T::zero(), Tangent::Weighted);
            };
            let mut best = first;
            for &v in rest {
                if v.is_nan() || best.is_nan() {
                    best = v + best;
                } else if (v > best) == max && v != best {
                    best = v;
                }
            }
            if best.is_nan() {
                return (best, Tangent::NaN);
            }
            weights.extend(
                (0..x.len())
                    .filter(|&j| x[j] == best)
                    .map(|j| (j, T::zero())),
            );
            let inv = T::one() / crate::scalar::cast::<T>(weights.len() as f64);
            for (_, wj) in weights.iter_mut() {
                *wj = inv;
            }
            (best, Tangent::Weighted)
        }
        ReduceFn::Prod => {
            // prefix[i] = x_0 ... x_(i-1); suffix products from the right
            prods.clear();
            prods.push(T::one());
            for &v in x {
                let last = prods[prods.len() - 1];
                prods.push(last * v);
            }
            let mut suffix = T::one();
            weights.resize(x.len(), (0, T::zero()));
            for j in (0..x.len()).rev() {
                weights[j] = (j, prods[j] * suffix);
                suffix = x[j] * suffix;
            }
            (prods[x.len()], Tangent::Weighted)
        }
        ReduceFn::ArgMax | ReduceFn::ArgMin => {
            let at = arg_extremum(func == ReduceFn::ArgMax, x.iter().copied());
            (crate::scalar::cast::<T>(at as f64), Tangent::Weighted)
        }
    }
}

/// `out[b, i, j] += sum_k mul(a[b, i, k], b[b, k, j])` per point (`c` points innermost).
fn matmul_acc<T: IrReal>(
    out: &mut [T],
    (a, b): (&[T], &[T]),
    (batch, m, k, n): (usize, usize, usize, usize),
    c: usize,
    mul: impl Fn(T, T) -> T,
) {
    for bt in 0..batch {
        for i in 0..m {
            let row = &mut out[(bt * m + i) * n * c..(bt * m + i + 1) * n * c];
            for kk in 0..k {
                let aik = &a[((bt * m + i) * k + kk) * c..][..c];
                let brow = &b[(bt * k + kk) * n * c..(bt * k + kk + 1) * n * c];
                for (yj, bj) in row.chunks_exact_mut(c).zip(brow.chunks_exact(c)) {
                    for ((y, &x), &z) in yj.iter_mut().zip(aik).zip(bj) {
                        *y += mul(x, z);
                    }
                }
            }
        }
    }
}

impl Program {
    /// Start of row `k` (0: values, `k`: tangent lane `k - 1`) of node `i` in the
    /// forward engine's layout for one point and `w` rows per node, in numbers of
    /// a workspace of [`Program::workspace_len`]` * w` (an alias, a contiguous
    /// gather, is a window of its root's rows). Other engines (the GPU's) reuse it.
    pub fn lane_row_start(&self, i: usize, k: usize, w: usize) -> usize {
        self.row_start(i, k, 1, w)
    }

    /// Whether node `i` is a view of another node's block (a contiguous gather):
    /// nothing to compute.
    pub fn is_alias(&self, i: usize) -> bool {
        self.alias[i]
    }

    /// Start of row `k` of node `i` for `c` points and `w` rows per node.
    #[inline]
    pub(crate) fn row_start(&self, i: usize, k: usize, c: usize, w: usize) -> usize {
        let r = self.root[i];
        (self.offsets[r] * w + k * self.lens[r] + self.offsets[i] - self.offsets[r]) * c
    }

    /// Points per chunk with `w` rows per node of `elem_bytes`-byte numbers.
    pub(crate) fn lane_chunk(&self, npoints: usize, w: usize, elem_bytes: usize) -> usize {
        if self.tiles.is_some() {
            return 1; // tiles run on one point
        }
        let per_point = (self.work_len * w * elem_bytes).max(1);
        let by_cache = (TARGET_BYTES / per_point).clamp(1, MAX_CHUNK);
        let threads = rayon::current_num_threads().max(1);
        let balanced = npoints.div_ceil(threads * 4).max(1);
        let c = by_cache.min(balanced);
        // whole vectors where there is room for them
        if c > 8 {
            c / 8 * 8
        } else {
            c
        }
    }

    /// Rows for `c` points and `w` rows per node; constants and parameters
    /// are filled in (their lanes stay zero for good: leaf blocks are never reused).
    pub(crate) fn lanes<T: IrReal>(&self, c: usize, w: usize, params: &[T]) -> Lanes<T> {
        if let Some(mut ws) = self.scratch.take(|ws: &Lanes<T>| ws.c == c && ws.w == w) {
            // a kept workspace: its constants and its leaves' lane rows are unchanged
            self.fill_leaf_values(&mut ws.buf, c, w, params, false);
            ws.seeded = None;
            return ws;
        }
        let mut buf = vec![T::zero(); self.work_len * w * c];
        self.fill_leaf_values(&mut buf, c, w, params, true);
        let longest = self.lens.iter().copied().max().unwrap_or(0);
        Lanes {
            buf,
            c,
            w,
            partials: vec![T::zero(); 2 * longest * c],
            tile: vec![T::zero(); self.tiles.as_ref().map_or(0, |t| t.slots * w * TILE)],
            members: Vec::new(),
            weights: Vec::new(),
            prods: Vec::new(),
            perm: Vec::new(),
            seeded: None,
        }
    }

    /// Keeps a finished workspace for the next call.
    pub(crate) fn keep_lanes<T: IrReal>(&self, ws: Lanes<T>) {
        self.scratch.give(ws);
    }

    /// Writes the values of the parameters, and with `consts` of the constants.
    fn fill_leaf_values<T: IrReal>(
        &self,
        buf: &mut [T],
        c: usize,
        w: usize,
        params: &[T],
        consts: bool,
    ) {
        for (i, op) in self.ops.iter().enumerate() {
            let base = self.row_start(i, 0, c, w);
            let mut fill = |e: usize, v: T| buf[base + e * c..base + (e + 1) * c].fill(v);
            match op {
                Op::Const(values) if consts => {
                    for (e, &v) in values.iter().enumerate() {
                        fill(e, T::from_f64(v));
                    }
                }
                Op::Param { index, len } => {
                    let start = self.param_offsets[*index];
                    for (e, &v) in params[start..start + len].iter().enumerate() {
                        fill(e, v);
                    }
                }
                _ => {}
            }
        }
    }

    /// Writes the input values of `count` points (`points` is `count x n`).
    pub(crate) fn seed_values<T: IrReal>(&self, ws: &mut Lanes<T>, count: usize, points: &[T]) {
        let (c, w, n) = (ws.c, ws.w, self.n);
        for (i, op) in self.ops.iter().enumerate() {
            if let Op::Input { index, len } = op {
                let base = self.row_start(i, 0, c, w);
                let src = &points[self.input_offsets[*index]..];
                points_to_rows(src, n, (*len, count), &mut ws.buf[base..], c);
            }
        }
    }

    /// Writes the tangent lanes of the inputs, the same at every point:
    /// `dirs[l][j]` is component `j` of lane `l` of pass `pass`; lanes past
    /// `dirs.len()` are zero. Nothing to do when the rows hold that pass already.
    pub(crate) fn seed_lanes<T: IrReal, D: AsRef<[T]>>(
        &self,
        ws: &mut Lanes<T>,
        pass: usize,
        dirs: &[D],
    ) {
        if ws.seeded == Some(pass) {
            return;
        }
        ws.seeded = Some(pass);
        let (c, w) = (ws.c, ws.w);
        for (i, op) in self.ops.iter().enumerate() {
            if let Op::Input { index, len } = op {
                let x0 = self.input_offsets[*index];
                for l in 0..w - 1 {
                    let base = self.row_start(i, l + 1, c, w);
                    let rows = &mut ws.buf[base..base + len * c];
                    match dirs.get(l).map(|dir| &dir.as_ref()[x0..x0 + len]) {
                        None => rows.fill(T::zero()),
                        Some(dir) if c == 1 => rows.copy_from_slice(dir),
                        Some(dir) => {
                            for (row, &v) in rows.chunks_exact_mut(c).zip(dir) {
                                row.fill(v);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Copies rows `k0..k0 + width` of every output element `r` at the first
    /// `count` points to `out[offset + p * p_stride + r * r_stride + k]` (`k < width`);
    /// the rows of lanes that `live` marks dead are zeros.
    pub(crate) fn copy_outputs<T: IrReal>(
        &self,
        (ws, live): (&Lanes<T>, &[LaneMask]),
        count: usize,
        (k0, width): (usize, usize),
        out: &mut [T],
        (offset, p_stride, r_stride): (usize, usize, usize),
    ) {
        let (c, w) = (ws.c, ws.w);
        // row k of element e of a node (None where the lane is dead)
        let row = |node: usize, e: usize, k: usize| {
            let dead = k > 0 && (live[node] >> (k - 1)) & 1 == 0;
            (!dead).then(|| self.row_start(node, k, c, w) + e * c)
        };
        let out = &mut out[offset..];
        if c > 1 {
            let rows: Vec<_> = (self.sources.iter().enumerate())
                .flat_map(|(r, &(node, e))| {
                    (k0..k0 + width).map(move |k| (row(node, e, k), r * r_stride + k - k0))
                })
                .collect();
            rows_to_points(&ws.buf, &rows, count, out, p_stride);
            return;
        }
        // one point: the elements of a lane are contiguous, so every run of
        // output elements that are consecutive elements of one node goes at once
        let mut r = 0;
        for &(node, e, run) in &self.source_runs {
            let rows: Vec<_> = (k0..k0 + width)
                .map(|k| (row(node, e, k), k - k0))
                .collect();
            rows_to_points(&ws.buf, &rows, run, &mut out[r * r_stride..], r_stride);
            r += run;
        }
    }

    /// Which lanes of each node can be nonzero (bit `l`: lane `l`) when the inputs
    /// carry the lanes `dirs` (`dirs[l][j]`): a lane is dead where no seeded input
    /// reaches it, and dead rows are neither computed nor read. Small programs
    /// (per-point ones) are tracked element by element, so `x = z[0]` of an input
    /// vector `z` keeps only the lanes of `z[0]`; larger ones node by node.
    pub(crate) fn live_lanes<T: IrReal, D: AsRef<[T]>>(&self, dirs: &[D]) -> Vec<LaneMask> {
        // the lanes of every input component
        let mut seeded: Vec<LaneMask> = vec![0; self.n];
        for (l, dir) in dirs.iter().enumerate() {
            for (mask, x) in seeded.iter_mut().zip(dir.as_ref()) {
                *mask |= LaneMask::from(!x.is_zero()) << l;
            }
        }
        let input_lanes = |index: usize, e: usize| seeded[self.input_offsets[index] + e];
        let or = |acc: LaneMask, x: &LaneMask| acc | x;
        if self.lens.iter().sum::<usize>() > LIVE_ELEMENTS_MAX {
            let mut live: Vec<LaneMask> = vec![0; self.ops.len()];
            for (i, op) in self.ops.iter().enumerate() {
                live[i] = match op {
                    Op::Input { index, len } => (0..*len)
                        .map(|e| input_lanes(*index, e))
                        .fold(0, |a, x| a | x),
                    Op::Param { .. } | Op::Const(_) | Op::Compare { .. } => 0,
                    op if op.has_zero_derivative() => 0,
                    Op::Select { t, f, .. } => live[*t] | live[*f],
                    Op::Sort { a, .. } => live[*a],
                    _ => op.args().iter().map(|&a| live[a]).fold(0, |a, x| a | x),
                };
            }
            return live;
        }
        // element lanes of every node, one flat vector (node i at start[i]..start[i + 1])
        let mut start = Vec::with_capacity(self.ops.len() + 1);
        start.push(0);
        for len in &self.lens {
            start.push(start[start.len() - 1] + len);
        }
        let mut elems: Vec<LaneMask> = vec![0; start[self.ops.len()]];
        let mut live: Vec<LaneMask> = vec![0; self.ops.len()];
        for (i, op) in self.ops.iter().enumerate() {
            let (lo, hi) = elems.split_at_mut(start[i]);
            let out = &mut hi[..self.lens[i]];
            let at = |node: usize, e: usize| {
                let (s, len) = (start[node], self.lens[node]);
                if e < len {
                    lo[s + e]
                } else {
                    0
                }
            };
            match op {
                Op::Input { index, .. } => {
                    for (e, y) in out.iter_mut().enumerate() {
                        *y = input_lanes(*index, e);
                    }
                }
                Op::Param { .. } | Op::Const(_) | Op::Compare { .. } => {}
                op if op.has_zero_derivative() => {}
                Op::Unary { a, .. } | Op::Powi { a, .. } => {
                    for (e, y) in out.iter_mut().enumerate() {
                        *y = at(*a, e);
                    }
                }
                Op::Binary { a, b, .. } | Op::Select { t: a, f: b, .. } => {
                    for (e, y) in out.iter_mut().enumerate() {
                        *y = at(*a, e) | at(*b, e);
                    }
                }
                Op::Gather { a, indices } => {
                    for (y, &ix) in out.iter_mut().zip(indices) {
                        *y = usize::try_from(ix).map_or(0, |ix| at(*a, ix));
                    }
                }
                Op::Concat(parts) => {
                    let mut e = 0;
                    for &p in parts {
                        for q in 0..self.lens[p] {
                            out[e] = at(p, q);
                            e += 1;
                        }
                    }
                }
                Op::Reduce {
                    a,
                    offsets,
                    indices,
                    ..
                } => {
                    for (y, w) in out.iter_mut().zip(offsets.windows(2)) {
                        *y = indices[w[0]..w[1]]
                            .iter()
                            .fold(0, |acc, &j| acc | at(*a, j));
                    }
                }
                Op::Dot { a, b, m, k, n, .. } => {
                    let (m, k, n) = (*m, *k, *n);
                    for (o, y) in out.iter_mut().enumerate() {
                        let (bt, i, j) = (o / (m * n), o / n % m, o % n);
                        *y = (0..k).fold(0, |acc, kk| {
                            acc | at(*a, (bt * m + i) * k + kk) | at(*b, (bt * k + kk) * n + j)
                        });
                    }
                }
                Op::Sort { a, segment, .. } => {
                    for (seg, ys) in out.chunks_mut((*segment).max(1)).enumerate() {
                        let s0 = seg * segment;
                        let lanes = (s0..s0 + ys.len()).fold(0, |acc, e| acc | at(*a, e));
                        ys.fill(lanes);
                    }
                }
                Op::Linalg { args, batch, .. } => {
                    let per = self.lens[i] / (*batch).max(1);
                    for (b, ys) in out.chunks_mut(per.max(1)).enumerate() {
                        let lanes = args.iter().fold(0, |acc, &a| {
                            let l = self.lens[a] / batch;
                            (b * l..(b + 1) * l).fold(acc, |acc, e| acc | at(a, e))
                        });
                        ys.fill(lanes);
                    }
                }
            }
            live[i] = out.iter().fold(0, or);
        }
        live
    }

    /// Runs instruction `i` on the whole chunk.
    pub(crate) fn run_op<T: IrReal>(&self, i: usize, ws: &mut Lanes<T>, live: &[LaneMask]) {
        let Lanes {
            buf,
            c,
            w,
            partials,
            members,
            weights,
            prods,
            perm,
            ..
        } = ws;
        let (c, w) = (*c, *w);
        let op = &self.ops[i];
        let n = self.lens[i] * c;
        if n == 0 {
            return;
        }
        let is_live = |node: usize, k: usize| (live[node] >> k) & 1 == 1;
        let (o, l) = (self.offsets[i] * w * c, n * w);
        let (lo, out, hi) = split(buf, o, l);
        let row = |node: usize, k: usize| {
            arg(
                lo,
                hi,
                o,
                l,
                self.row_start(node, k, c, w),
                self.lens[node] * c,
            )
        };
        // (lane, row) of the output's live lanes; row(node, k + 1) is lane k
        let (value, lanes) = out.split_at_mut(n);
        if is_elementwise(op) {
            let rows = Rows {
                arg: &row,
                whole: &row,
                first: 0,
                c,
            };
            self.elementwise(i, &rows, (value, lanes), (live, live[i]), partials);
            return;
        }
        if let Op::Dot {
            a,
            b,
            batch,
            m,
            k,
            n: cols,
        } = op
        {
            if c == 1 && w > 1 {
                // the lane rows of an argument as one block (they lie in its root's block)
                let operand = |node: usize| {
                    let stride = self.lens[self.root[node]];
                    let start = self.row_start(node, 1, 1, w);
                    let len = (w - 2) * stride + self.lens[node];
                    Operand {
                        value: row(node, 0),
                        lanes: Some((arg(lo, hi, o, l, start, len), stride)),
                        live: live[node],
                    }
                };
                let dims = (*batch, *m, *k, *cols);
                let args = (&operand(*a), &operand(*b));
                if dot_lanes(dims, args, value, (lanes, live[i])) {
                    return;
                }
            }
        }
        let live_rows = lanes
            .chunks_exact_mut(n)
            .enumerate()
            .filter(|(k, _)| is_live(i, *k));
        match op {
            Op::Input { .. } | Op::Param { .. } | Op::Const(_) => {}
            Op::Concat(parts) => {
                let rows = std::iter::once((usize::MAX, value)).chain(live_rows);
                for (k, y) in rows {
                    let mut at = 0;
                    for &part in parts {
                        let len = self.lens[part] * c;
                        let dst = &mut y[at..at + len];
                        match k {
                            usize::MAX => dst.copy_from_slice(row(part, 0)),
                            _ if is_live(part, k) => dst.copy_from_slice(row(part, k + 1)),
                            _ => dst.fill(T::zero()),
                        }
                        at += len;
                    }
                }
            }
            Op::Reduce {
                func: ReduceFn::Sum,
                a,
                offsets,
                indices,
            } => {
                let rows = std::iter::once((0, value)).chain(live_rows.map(|(k, y)| (k + 1, y)));
                for (k, y) in rows {
                    let src = row(*a, k);
                    if c == 1 {
                        for (y, wd) in y.iter_mut().zip(offsets.windows(2)) {
                            *y = indices[wd[0]..wd[1]]
                                .iter()
                                .fold(T::zero(), |acc, &j| acc + src[j]);
                        }
                        continue;
                    }
                    for (dst, wd) in y.chunks_exact_mut(c).zip(offsets.windows(2)) {
                        dst.fill(T::zero());
                        for &j in &indices[wd[0]..wd[1]] {
                            for (y, &x) in dst.iter_mut().zip(&src[j * c..j * c + c]) {
                                *y += x;
                            }
                        }
                    }
                }
            }
            Op::Reduce {
                func,
                a,
                offsets,
                indices,
            } => {
                let src0 = row(*a, 0);
                let mut rows: Vec<(usize, &mut [T])> = live_rows.collect();
                for (g, wd) in offsets.windows(2).enumerate() {
                    let group = &indices[wd[0]..wd[1]];
                    for p in 0..c {
                        members.clear();
                        members.extend(group.iter().map(|&j| src0[j * c + p]));
                        let (v, how) = reduce_rule(*func, members, weights, prods);
                        value[g * c + p] = v;
                        for (k, y) in rows.iter_mut() {
                            let t = row(*a, *k + 1);
                            y[g * c + p] = match how {
                                Tangent::Weighted => {
                                    weights.iter().fold(T::zero(), |acc, &(q, wq)| {
                                        acc + term(wq, t[group[q] * c + p])
                                    })
                                }
                                Tangent::NaN => term(
                                    T::nan(),
                                    group.iter().fold(T::zero(), |acc, &j| acc + t[j * c + p]),
                                ),
                            };
                        }
                    }
                }
            }
            Op::Sort { keys, a, segment } => {
                let ks = row(*keys, 0);
                let seg = *segment;
                let mut rows: Vec<(usize, &mut [T])> = std::iter::once((0, value))
                    .chain(live_rows.map(|(k, y)| (k + 1, y)))
                    .collect();
                for s0 in (0..self.lens[i]).step_by(seg.max(1)) {
                    for p in 0..c {
                        sort_permutation((s0..s0 + seg).map(|e| ks[e * c + p]), perm);
                        for (k, y) in rows.iter_mut() {
                            let src = row(*a, *k);
                            for (e, &j) in perm.iter().enumerate() {
                                y[(s0 + e) * c + p] = src[(s0 + j) * c + p];
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
                n: cols,
                k,
            } => {
                let dims = (*m, *cols, *k);
                let lanes_of: Vec<usize> = (0..w - 1).filter(|&k| is_live(i, k)).collect();
                let arg_lens: Vec<usize> = args.iter().map(|&a| self.lens[a] / batch).collect();
                let per = self.lens[i] / batch;
                let mut rows: Vec<&mut [T]> = std::iter::once(value)
                    .chain(live_rows.map(|(_, y)| y))
                    .collect();
                let mut res = vec![DualVec::constant(T::zero()); per];
                for b in 0..*batch {
                    for p in 0..c {
                        let items: Vec<Vec<DualVec<T>>> = args
                            .iter()
                            .zip(&arg_lens)
                            .map(|(&a, &la)| {
                                (b * la..(b + 1) * la)
                                    .map(|e| {
                                        let eps = lanes_of
                                            .iter()
                                            .map(|&k| {
                                                if is_live(a, k) {
                                                    row(a, k + 1)[e * c + p]
                                                } else {
                                                    T::zero()
                                                }
                                            })
                                            .collect();
                                        DualVec::new(row(a, 0)[e * c + p], eps)
                                    })
                                    .collect()
                            })
                            .collect();
                        let views: Vec<&[DualVec<T>]> =
                            items.iter().map(|v| v.as_slice()).collect();
                        linalg(*func, dims, &views, &mut res);
                        for (e, y) in res.iter().enumerate() {
                            let at = (b * per + e) * c + p;
                            rows[0][at] = y.re;
                            for (l, row) in rows[1..].iter_mut().enumerate() {
                                row[at] = y.lane(l);
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
                n: cols,
            } => {
                let dims = (*batch, *m, *k, *cols);
                let (a0, b0) = (row(*a, 0), row(*b, 0));
                value.fill(T::zero());
                matmul_acc(value, (a0, b0), dims, c, |x, z| x * z);
                for (l, y) in live_rows {
                    y.fill(T::zero());
                    if is_live(*b, l) {
                        matmul_acc(y, (a0, row(*b, l + 1)), dims, c, |x, dz| term(x, dz));
                    }
                    if is_live(*a, l) {
                        matmul_acc(y, (row(*a, l + 1), b0), dims, c, |dx, z| term(z, dx));
                    }
                }
            }
            _ => unreachable!("{} runs in Program::elementwise", op.name()),
        }
    }

    /// Runs an instruction that reads its arguments element by element (or
    /// gathers them from whole rows): values and live lanes of `n` elements
    /// (times the chunk's points), `out` being the value row and then one row
    /// per lane. `live_i` are the instruction's live lanes.
    pub(crate) fn elementwise<T: IrReal>(
        &self,
        i: usize,
        rows: &Rows<'_, T>,
        (value, lanes): (&mut [T], &mut [T]),
        (live, live_i): (&[LaneMask], LaneMask),
        partials: &mut [T],
    ) {
        let Rows {
            arg: row,
            whole,
            first,
            c,
        } = *rows;
        let op = &self.ops[i];
        let n = value.len();
        let is_live = |node: usize, k: usize| (live[node] >> k) & 1 == 1;
        let live_rows = lanes
            .chunks_exact_mut(n)
            .enumerate()
            .filter(|(k, _)| (live_i >> k) & 1 == 1);
        match op {
            Op::Unary { func, a } => {
                let x = row(*a, 0);
                if live_i == 0 {
                    unary(*func, x, value);
                    return;
                }
                let d = &mut partials[..n];
                unary_partials(x, value, d, |xs, ys| unary(*func, xs, ys));
                for (k, y) in live_rows {
                    scale(y, d, row(*a, k + 1));
                }
            }
            Op::Powi { a, n: e } => {
                let d = &mut partials[..n];
                unary_partials(row(*a, 0), value, d, |xs, ys| {
                    for (y, x) in ys.iter_mut().zip(xs) {
                        *y = x.powi(*e);
                    }
                });
                for (k, y) in live_rows {
                    scale(y, d, row(*a, k + 1));
                }
            }
            Op::Binary { func, a, b } => {
                let (x, z) = (row(*a, 0), row(*b, 0));
                let linear = matches!(func, BinaryFn::Add | BinaryFn::Sub | BinaryFn::Mul);
                if linear || live_i == 0 {
                    binary(*func, x, z, value);
                }
                let (da, db): (&[T], &[T]) = match func {
                    _ if live_i == 0 => return,
                    BinaryFn::Mul => (z, x),
                    BinaryFn::Add | BinaryFn::Sub => (&[], &[]),
                    _ => {
                        let (da, db) = partials[..2 * n].split_at_mut(n);
                        binary_partials(*func, (x, z), value, (&mut *da, &mut *db));
                        (da, db)
                    }
                };
                for (k, y) in live_rows {
                    let (xa, xb) = (row(*a, k + 1), row(*b, k + 1));
                    match (func, is_live(*a, k), is_live(*b, k)) {
                        (BinaryFn::Add | BinaryFn::Sub, true, true) => binary(*func, xa, xb, y),
                        (BinaryFn::Add | BinaryFn::Sub, true, false) => y.copy_from_slice(xa),
                        (BinaryFn::Add, false, _) => y.copy_from_slice(xb),
                        (BinaryFn::Sub, false, _) => unary(UnaryFn::Neg, xb, y),
                        (_, true, true) => combine(y, da, xa, db, xb),
                        (_, true, false) => scale(y, da, xa),
                        (_, false, _) => scale(y, db, xb),
                    }
                }
            }
            Op::Compare { func, a, b } => compare(*func, row(*a, 0), row(*b, 0), value),
            Op::Select { c: cond, t, f } => {
                let s = row(*cond, 0);
                let rows = std::iter::once((usize::MAX, value)).chain(live_rows);
                for (k, y) in rows {
                    let side = |node: usize| match k {
                        usize::MAX => Some(row(node, 0)),
                        _ if is_live(node, k) => Some(row(node, k + 1)),
                        _ => None,
                    };
                    let (x, z) = (side(*t), side(*f));
                    for (p, (y, s)) in y.iter_mut().zip(s).enumerate() {
                        let pick = if !s.is_zero() { x } else { z };
                        *y = pick.map_or(T::zero(), |r| r[p]);
                    }
                }
            }
            Op::Gather { a, indices } => {
                let indices = &indices[first..first + n / c];
                let rows = std::iter::once((0, value)).chain(live_rows.map(|(k, y)| (k + 1, y)));
                for (k, y) in rows {
                    let src = whole(*a, k);
                    if let (1, Some(runs)) = (c, &self.gather_runs[i]) {
                        gather_runs(runs, src, first, y);
                        continue;
                    }
                    if c == 1 {
                        for (y, &ix) in y.iter_mut().zip(indices) {
                            *y = if ix < 0 { T::zero() } else { src[ix as usize] };
                        }
                        continue;
                    }
                    for (dst, &ix) in y.chunks_exact_mut(c).zip(indices) {
                        if ix < 0 {
                            dst.fill(T::zero());
                        } else {
                            let s = ix as usize * c;
                            dst.copy_from_slice(&src[s..s + c]);
                        }
                    }
                }
            }
            _ => unreachable!("not an elementwise instruction: {}", op.name()),
        }
    }
}
