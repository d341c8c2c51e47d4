//! Evaluation of a [`Program`] over many points, generic over the number type.
//!
//! A chunk of `C` points is evaluated at once: node `i` occupies
//! `len_i * C` numbers of the workspace, element-major (`buf[e * C + p]`),
//! so elementwise instructions are one flat loop over `len_i * C` numbers
//! whatever `C` is (with one point the loop runs over the elements), and
//! data movement copies runs of `C` numbers. Chunks run in parallel
//! (rayon); each worker allocates one workspace per call, fills its
//! constants and parameters once, and reuses it for all its chunks and
//! tangent passes.

use std::borrow::Cow;

use ndarray::{Array2, ArrayView2, ArrayViewMut1, ArrayViewMut2, ArrayViewMut3};
use num_traits::Zero;
use rayon::prelude::*;

use super::buffers::{
    arg, check_dims, chunk_rows, chunk_rows_mut, for_each_with_state, opt_chunks, split, standard,
    with_contiguous, Scratch,
};
use super::gemm::{gemm, gemm_real_left, has_gemm, Mat, MatMut};
use super::lanes::{LaneMask, Lanes, MAX_PASS_LANES, MAX_POINT_LANES};
use super::linalg::linalg;
use super::ops::{IrError, Op, ReduceFn};
use super::program::Program;
use super::rules::{
    arg_extremum, binary, compare, extremum, product, sort_permutation, unary, IrReal,
};
use crate::dual::{Dual, Elementary};
use crate::error::Error;
use crate::stop::StopFlag;

/// Largest unit seed block (lanes times inputs) kept between calls.
const UNIT_SEEDS_KEEP: usize = 1 << 18;

/// The unit seeds of a Jacobian's passes (`dirs[b][l]`) and their live lanes.
struct UnitSeeds<T> {
    passes: usize,
    per_pass: usize,
    dirs: Vec<Vec<Vec<T>>>,
    live: Vec<Vec<LaneMask>>,
}

/// Unit seeds in use, given back to the program's scratch when dropped
/// (when small enough to keep).
struct KeptUnitSeeds<'a, T: Send + 'static>(&'a Scratch, Option<UnitSeeds<T>>, bool);

impl<T: Send + 'static> Drop for KeptUnitSeeds<'_, T> {
    fn drop(&mut self) {
        if let (Some(u), true) = (self.1.take(), self.2) {
            self.0.give(u);
        }
    }
}

/// Target size of one workspace in bytes (about an L2 cache).
const TARGET_BYTES: usize = 64 * 1024;
/// Smallest workspace (numbers, all lanes) worth splitting lanes over threads.
const BY_PASS_MIN_WORK: usize = 1 << 20;
/// Largest number of points in a chunk.
const MAX_CHUNK: usize = 64;
/// Widest block (per nesting level) of the second-order routines.
const MAX_LANES_2: usize = 8;

/// A worker's scratch space: every node's block for `c` points.
pub(crate) struct Workspace<D: Elementary> {
    pub(crate) buf: Vec<D>,
    pub(crate) c: usize,
    /// At one point on dual numbers, the real values of the constant operands
    /// of matrix products (per node, made on first use; cleared with the
    /// leaves): the products then read reals, not dual numbers whose lanes
    /// are all zero, in every pass of a call.
    pub(crate) reals: Vec<Option<Vec<D::Real>>>,
}

/// Whether products of `D` at one point take their constant operands as reals
/// ([`super::gemm::gemm_real_left`]): dual numbers with GEMM kernels.
pub(crate) fn reals_for_constants<D: Elementary>() -> bool {
    has_gemm::<D>() && std::any::TypeId::of::<D>() != std::any::TypeId::of::<D::Real>()
}

impl Program {
    /// A workspace for `c` points with constants and parameters filled in.
    pub(crate) fn workspace<D: Elementary>(&self, c: usize, params: &[D::Real]) -> Workspace<D> {
        let mut ws = Workspace {
            buf: vec![D::zero(); self.work_len * c],
            c,
            reals: vec![None; self.ops.len()],
        };
        self.fill_leaves(&mut ws, params, true);
        ws
    }

    /// Writes the parameters, and with `consts` the constants, into their slots
    /// (a kept workspace holds its constants still: leaf blocks are never reused).
    pub(crate) fn fill_leaves<D: Elementary>(
        &self,
        ws: &mut Workspace<D>,
        params: &[D::Real],
        consts: bool,
    ) {
        ws.reals.iter_mut().for_each(|r| *r = None);
        let (buf, c) = (&mut ws.buf, ws.c);
        for (i, op) in self.ops.iter().enumerate() {
            let base = self.offsets[i] * c;
            match op {
                Op::Const(values) if consts => {
                    for (e, &v) in values.iter().enumerate() {
                        let d = D::from_f64(v);
                        buf[base + e * c..base + (e + 1) * c].fill(d);
                    }
                }
                Op::Param { index, len } => {
                    let start = self.param_offsets[*index];
                    for (e, v) in params[start..start + len].iter().enumerate() {
                        let d = D::from_re(*v);
                        buf[base + e * c..base + (e + 1) * c].fill(d);
                    }
                }
                _ => {}
            }
        }
    }

    /// Writes `seed(p, j)` into the input slots (point `p < count`, input element `j`).
    pub(crate) fn seed<D: Elementary>(
        &self,
        ws: &mut Workspace<D>,
        count: usize,
        mut seed: impl FnMut(usize, usize) -> D,
    ) {
        let c = ws.c;
        for (i, op) in self.ops.iter().enumerate() {
            if let Op::Input { index, len } = op {
                let base = self.offsets[i] * c;
                let x0 = self.input_offsets[*index];
                for e in 0..*len {
                    let slot = &mut ws.buf[base + e * c..base + e * c + count];
                    for (p, s) in slot.iter_mut().enumerate() {
                        *s = seed(p, x0 + e);
                    }
                }
            }
        }
    }

    /// Calls `take(p, r, value)` for every output `r` of every point `p < count`.
    pub(crate) fn extract<D: Elementary>(
        &self,
        ws: &Workspace<D>,
        count: usize,
        mut take: impl FnMut(usize, usize, &D),
    ) {
        let c = ws.c;
        let mut r0 = 0;
        for &o in &self.outputs {
            let base = self.offsets[o] * c;
            for e in 0..self.lens[o] {
                let slot = &ws.buf[base + e * c..base + e * c + count];
                for (p, v) in slot.iter().enumerate() {
                    take(p, r0 + e, v);
                }
            }
            r0 += self.lens[o];
        }
    }

    /// Runs every non-leaf instruction on the whole chunk.
    pub(crate) fn execute<D: Elementary>(&self, ws: &mut Workspace<D>) {
        let c = ws.c;
        for (i, op) in self.ops.iter().enumerate() {
            if self.alias[i] {
                continue;
            }
            let (o, l) = (self.offsets[i] * c, self.lens[i] * c);
            let (lo, out, hi) = split(&mut ws.buf, o, l);
            let get = |node: usize| arg(lo, hi, o, l, self.offsets[node] * c, self.lens[node] * c);
            match op {
                Op::Input { .. } | Op::Param { .. } | Op::Const(_) => {}
                Op::Unary { func, a } => unary(*func, get(*a), out),
                Op::Binary { func, a, b } => binary(*func, get(*a), get(*b), out),
                Op::Powi { a, n } => {
                    for (y, x) in out.iter_mut().zip(get(*a)) {
                        *y = x.powi(*n);
                    }
                }
                Op::Compare { func, a, b } => compare(*func, get(*a), get(*b), out),
                Op::Select { c: cond, t, f } => {
                    let zero = <D::Real as Zero>::zero();
                    for (((y, s), x), z) in out.iter_mut().zip(get(*cond)).zip(get(*t)).zip(get(*f))
                    {
                        *y = if s.re() != zero { x.clone() } else { z.clone() };
                    }
                }
                Op::Gather { a, indices } => {
                    let src = get(*a);
                    for (dst, &ix) in out.chunks_exact_mut(c).zip(indices) {
                        if ix < 0 {
                            dst.fill(D::zero());
                        } else {
                            let s = ix as usize * c;
                            dst.clone_from_slice(&src[s..s + c]);
                        }
                    }
                }
                Op::Concat(parts) => {
                    let mut at = 0;
                    for &part in parts {
                        let src = get(part);
                        out[at..at + src.len()].clone_from_slice(src);
                        at += src.len();
                    }
                }
                Op::Reduce {
                    func,
                    a,
                    offsets,
                    indices,
                } => {
                    let src = get(*a);
                    for (dst, w) in out.chunks_exact_mut(c).zip(offsets.windows(2)) {
                        let group = &indices[w[0]..w[1]];
                        match func {
                            ReduceFn::Sum => {
                                dst.fill(D::zero());
                                for &j in group {
                                    for (y, x) in dst.iter_mut().zip(&src[j * c..j * c + c]) {
                                        *y += x.clone();
                                    }
                                }
                            }
                            ReduceFn::Max | ReduceFn::Min | ReduceFn::Prod => {
                                for (p, y) in dst.iter_mut().enumerate() {
                                    let members: Vec<&D> =
                                        group.iter().map(|&j| &src[j * c + p]).collect();
                                    *y = match func {
                                        ReduceFn::Prod => product(&members),
                                        _ => extremum(*func == ReduceFn::Max, &members),
                                    };
                                }
                            }
                            ReduceFn::ArgMax | ReduceFn::ArgMin => {
                                for (p, y) in dst.iter_mut().enumerate() {
                                    let values = group.iter().map(|&j| src[j * c + p].re());
                                    let at = arg_extremum(*func == ReduceFn::ArgMax, values);
                                    *y = D::from_f64(at as f64);
                                }
                            }
                        }
                    }
                }
                Op::Sort { keys, a, segment } => {
                    let (ks, src) = (get(*keys), get(*a));
                    let mut perm = Vec::new();
                    for s0 in (0..self.lens[i]).step_by((*segment).max(1)) {
                        for p in 0..c {
                            let seg = (s0..s0 + segment).map(|e| ks[e * c + p].re());
                            sort_permutation(seg, &mut perm);
                            for (e, &j) in perm.iter().enumerate() {
                                out[(s0 + e) * c + p] = src[(s0 + j) * c + p].clone();
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
                    let dims = (*m, *n, *k);
                    let arg_lens = func.layout(*m, *n, *k).map(|l| l.0).unwrap_or_default();
                    let out_len = self.lens[i] / (*batch).max(1);
                    let srcs: Vec<&[D]> = args.iter().map(|&a| get(a)).collect();
                    let mut items: Vec<Vec<D>> =
                        arg_lens.iter().map(|&l| vec![D::zero(); l]).collect();
                    let mut res = vec![D::zero(); out_len];
                    for b in 0..*batch {
                        for p in 0..c {
                            for ((item, src), &l) in items.iter_mut().zip(&srcs).zip(&arg_lens) {
                                for (e, x) in item.iter_mut().enumerate() {
                                    *x = src[(b * l + e) * c + p].clone();
                                }
                            }
                            let views: Vec<&[D]> = items.iter().map(|v| v.as_slice()).collect();
                            linalg(*func, dims, &views, &mut res);
                            for (e, y) in res.iter().enumerate() {
                                out[(b * out_len + e) * c + p] = y.clone();
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
                    let (m, k, n) = (*m, *k, *n);
                    let (ca, cb) = (!self.active[*a], !self.active[*b]);
                    if c == 1 && ca != cb && reals_for_constants::<D>() {
                        // one constant operand: its reals times the other's dual numbers
                        let (konst, other) = if ca { (*a, *b) } else { (*b, *a) };
                        let values = &ws.buf[self.offsets[konst]..][..self.lens[konst]];
                        let reals = ws.reals[konst]
                            .get_or_insert_with(|| values.iter().map(|x| x.re()).collect());
                        let (lo, out, hi) = split(&mut ws.buf, o, l);
                        let x = arg(lo, hi, o, l, self.offsets[other], self.lens[other]);
                        let ok = (0..*batch).all(|bt| {
                            if ca {
                                let (r, z) = (&reals[bt * m * k..], &x[bt * k * n..]);
                                let y = MatMut::new(&mut out[bt * m * n..], n, 1);
                                gemm_real_left(
                                    (m, k, n),
                                    Mat::new(r, k, 1),
                                    Mat::new(z, n, 1),
                                    false,
                                    y,
                                )
                            } else {
                                // y^T = b^T a^T
                                let (r, z) = (&reals[bt * k * n..], &x[bt * m * k..]);
                                let y = MatMut::new(&mut out[bt * m * n..], 1, n);
                                let (r, z) = (Mat::new(r, n, 1).t(), Mat::new(z, k, 1).t());
                                gemm_real_left((n, k, m), r, z, false, y)
                            }
                        });
                        debug_assert!(ok, "the blocks of a product fit their buffers");
                        continue;
                    }
                    let (lo, out, hi) = split(&mut ws.buf, o, l);
                    let get = |node: usize| {
                        arg(lo, hi, o, l, self.offsets[node] * c, self.lens[node] * c)
                    };
                    let (sa, sb) = (get(*a), get(*b));
                    let by_gemm = c == 1
                        && has_gemm::<D>()
                        && (0..*batch).all(|bt| {
                            let (x, z) = (&sa[bt * m * k..], &sb[bt * k * n..]);
                            let y = MatMut::new(&mut out[bt * m * n..], n, 1);
                            let x = Mat::new(x, k, 1).constant(ca);
                            let z = Mat::new(z, n, 1).constant(cb);
                            gemm((m, k, n), x, z, false, y)
                        });
                    if by_gemm {
                        continue;
                    }
                    out.fill(D::zero());
                    for bt in 0..*batch {
                        for i in 0..m {
                            let row = &mut out[(bt * m + i) * n * c..(bt * m + i + 1) * n * c];
                            for kk in 0..k {
                                let aik = &sa[((bt * m + i) * k + kk) * c..][..c];
                                let brow = &sb[(bt * k + kk) * n * c..(bt * k + kk + 1) * n * c];
                                for (yj, bj) in row.chunks_exact_mut(c).zip(brow.chunks_exact(c)) {
                                    for ((y, x), z) in yj.iter_mut().zip(aik).zip(bj) {
                                        *y += x.clone() * z.clone();
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Points per chunk for numbers of `elem_bytes` bytes.
    pub(crate) fn chunk_size(&self, npoints: usize, elem_bytes: usize) -> usize {
        let per_point = self.work_len.max(1) * elem_bytes.max(1);
        let by_cache = (TARGET_BYTES / per_point).clamp(1, MAX_CHUNK);
        let threads = rayon::current_num_threads().max(1);
        let balanced = npoints.div_ceil(threads * 4).max(1);
        by_cache.min(balanced)
    }

    /// Runs `body` on every item, in parallel, with one workspace per worker.
    fn drive<D: Elementary, I: Send>(
        &self,
        c: usize,
        params: &[D::Real],
        items: Vec<I>,
        body: impl Fn(&mut Workspace<D>, I) + Sync,
    ) {
        let fresh = || match self.scratch.take(|ws: &Workspace<D>| ws.c == c) {
            Some(mut ws) => {
                self.fill_leaves(&mut ws, params, false);
                ws
            }
            None => self.workspace::<D>(c, params),
        };
        for_each_with_state(items, fresh, body, |ws| self.scratch.give(ws));
    }

    pub(crate) fn check_points<T>(
        &self,
        points: &ArrayView2<T>,
        params: &[T],
    ) -> Result<usize, IrError> {
        if points.ncols() != self.n {
            return Err(Error::shape(
                "points",
                format!("(P, {}) (n = {} inputs)", self.n, self.n),
                format!("{:?}", points.shape()),
            ));
        }
        if params.len() != self.n_params {
            return Err(Error::shape(
                "params",
                format!(
                    "{} numbers in all (lengths {:?})",
                    self.n_params, self.param_lens
                ),
                format!("{}", params.len()),
            ));
        }
        Ok(points.nrows())
    }

    /// The outputs of one point with any number type (`DualVec`, nested
    /// duals, ...): `x` has the `n` inputs, the result the `m` outputs.
    pub fn eval_one<D: Elementary>(&self, x: &[D], params: &[D::Real]) -> Result<Vec<D>, IrError> {
        if x.len() != self.n {
            return Err(Error::shape(
                "x",
                format!("length {}", self.n),
                format!("length {}", x.len()),
            ));
        }
        if params.len() != self.n_params {
            return Err(Error::shape(
                "params",
                format!("length {}", self.n_params),
                format!("length {}", params.len()),
            ));
        }
        let mut ws = self.workspace::<D>(1, params);
        self.seed(&mut ws, 1, |_, j| x[j].clone());
        self.execute(&mut ws);
        let mut out = vec![D::zero(); self.m];
        self.extract(&ws, 1, |_, r, v| out[r] = v.clone());
        Ok(out)
    }

    /// The outputs at `P` points: `points` is `P x n`, `out` is `P x m`.
    /// `params` holds the parameters concatenated (shared by all points).
    pub fn eval_points<T: IrReal>(
        &self,
        points: ArrayView2<T>,
        params: &[T],
        out: ArrayViewMut2<T>,
    ) -> Result<(), IrError> {
        let np = self.check_points(&points, params)?;
        check_dims("out", out.shape(), &[np, self.m])?;
        let pts = points.as_standard_layout();
        let pts = standard(&pts)?;
        with_contiguous(out, |out| {
            self.forward((np, pts), params, (0, None), Some(out), &mut [], false)
        });
        Ok(())
    }

    /// Values and `L` directional derivatives at `P` points: `seeds` is
    /// `L x n` (the same tangents at every point), `values_out` `P x m`,
    /// `tangents_out` `P x L x m`.
    pub fn jvp_points<T: IrReal>(
        &self,
        points: ArrayView2<T>,
        params: &[T],
        seeds: ArrayView2<T>,
        values_out: ArrayViewMut2<T>,
        tangents_out: ArrayViewMut3<T>,
    ) -> Result<(), IrError> {
        let np = self.check_points(&points, params)?;
        let lanes = seeds.nrows();
        check_dims("seeds", seeds.shape(), &[lanes, self.n])?;
        check_dims("values_out", values_out.shape(), &[np, self.m])?;
        check_dims("tangents_out", tangents_out.shape(), &[np, lanes, self.m])?;
        let pts = points.as_standard_layout();
        let pts = standard(&pts)?;
        with_contiguous(values_out, |vals| {
            with_contiguous(tangents_out, |tan| {
                self.forward(
                    (np, pts),
                    params,
                    (lanes, Some(seeds)),
                    Some(vals),
                    tan,
                    false,
                )
            })
        });
        Ok(())
    }

    /// The Jacobians at `P` points into `out` (`P x m x n`).
    pub fn jacobian_points<T: IrReal>(
        &self,
        points: ArrayView2<T>,
        params: &[T],
        out: ArrayViewMut3<T>,
    ) -> Result<(), IrError> {
        let np = self.check_points(&points, params)?;
        check_dims("out", out.shape(), &[np, self.m, self.n])?;
        let pts = points.as_standard_layout();
        let pts = standard(&pts)?;
        with_contiguous(out, |out| {
            self.forward((np, pts), params, (self.n, None), None, out, true)
        });
        Ok(())
    }

    /// Values (`P x m`) and Jacobians (`P x m x n`) at `P` points.
    pub fn value_and_jacobian_points<T: IrReal>(
        &self,
        points: ArrayView2<T>,
        params: &[T],
        values_out: ArrayViewMut2<T>,
        out: ArrayViewMut3<T>,
    ) -> Result<(), IrError> {
        let np = self.check_points(&points, params)?;
        check_dims("values_out", values_out.shape(), &[np, self.m])?;
        check_dims("out", out.shape(), &[np, self.m, self.n])?;
        let pts = points.as_standard_layout();
        let pts = standard(&pts)?;
        with_contiguous(values_out, |vals| {
            with_contiguous(out, |out| {
                self.forward((np, pts), params, (self.n, None), Some(vals), out, true)
            })
        });
        Ok(())
    }

    /// Forward mode with `lanes` tangents (the rows of `seeds`, `L x n`; the
    /// unit vectors without) in struct-of-arrays lanes ([`super::lanes`]), up to
    /// [`MAX_PASS_LANES`] lanes per pass ([`MAX_POINT_LANES`] at a single point,
    /// where a pass costs a whole evaluation); with no lanes, values only.
    /// `transposed`: `tangents` is `P x m x L` instead of `P x L x m`.
    ///
    /// Chunks of points run in parallel; with fewer points than threads (one
    /// point of an array program) the lanes are split into one pass per thread
    /// instead, each writing its part of the output (one point) or its own buffer.
    fn forward<T: IrReal>(
        &self,
        (np, points): (usize, &[T]),
        params: &[T],
        (lanes, seeds): (usize, Option<ArrayView2<T>>),
        mut values: Option<&mut [T]>,
        tangents: &mut [T],
        transposed: bool,
    ) {
        let (n, m) = (self.n, self.m);
        let threads = rayon::current_num_threads().max(1);
        let work: usize = self.lens.iter().sum();
        let by_pass = np < threads && lanes > 1 && work * lanes >= BY_PASS_MIN_WORK;
        let widest = if np == 1 {
            MAX_POINT_LANES
        } else {
            MAX_PASS_LANES
        };
        let mut passes = lanes.div_ceil(widest).max(1);
        if by_pass {
            passes = passes.max(threads.min(lanes));
        }
        let per_pass = lanes.div_ceil(passes);
        let w = per_pass + 1;
        let c = self.lane_chunk(np, w, std::mem::size_of::<T>());
        if let (1, None, Some(tiled)) = (c, &self.tiles, self.tiled()) {
            let (points, seeds) = ((np, points), (lanes, seeds));
            return tiled.forward(points, params, seeds, values, tangents, transposed);
        }
        // the unit seeds of a Jacobian and their live lanes, kept between calls
        let unit = seeds.is_none().then(|| {
            let kept = self
                .scratch
                .take(|u: &UnitSeeds<T>| u.passes == passes && u.per_pass == per_pass);
            KeptUnitSeeds(
                &self.scratch,
                Some(kept.unwrap_or_else(|| self.unit_seeds(lanes, passes, per_pass))),
                lanes * n <= UNIT_SEEDS_KEEP,
            )
        });
        // rows of the seeds are borrowed where they are contiguous
        let seeds = seeds.as_ref().map(|s| s.as_standard_layout());
        let dirs: Vec<Vec<Cow<[T]>>> = match (&seeds, unit.as_ref().and_then(|u| u.1.as_ref())) {
            (_, Some(u)) => (u.dirs.iter())
                .map(|d| d.iter().map(|v| Cow::Borrowed(v.as_slice())).collect())
                .collect(),
            (Some(s), None) => (0..passes)
                .map(|b| {
                    (b * per_pass..((b + 1) * per_pass).min(lanes))
                        .map(|l| {
                            let row = s.row(l);
                            row.to_slice()
                                .map_or_else(|| Cow::Owned(row.to_vec()), Cow::Borrowed)
                        })
                        .collect()
                })
                .collect(),
            (None, None) => Vec::new(),
        };
        let live: Cow<[Vec<LaneMask>]> = match unit.as_ref().and_then(|u| u.1.as_ref()) {
            Some(u) => Cow::Borrowed(&u.live),
            None => Cow::Owned(dirs.iter().map(|d| self.live_lanes(d)).collect()),
        };
        // runs pass `b` on a seeded chunk and copies its outputs (tangent lane `l`
        // of the pass goes to lane `first + l` of `total`)
        let pass = |ws: &mut Lanes<T>,
                    b: usize,
                    count: usize,
                    vals: Option<&mut [T]>,
                    tan: &mut [T],
                    (total, first): (usize, usize)| {
            self.seed_lanes(ws, b, &dirs[b]);
            self.run_lanes(ws, &live[b]);
            let ws = (&*ws, live[b].as_slice());
            if let Some(v) = vals {
                self.copy_outputs(ws, count, (0, 1), v, (0, m, 1));
            }
            let width = dirs[b].len();
            if transposed {
                self.copy_outputs(ws, count, (1, width), tan, (first, m * total, total));
            } else {
                for l in 0..width {
                    let at = ((first + l) * m, total * m, 1);
                    self.copy_outputs(ws, count, (l + 1, 1), tan, at);
                }
            }
        };
        if !by_pass {
            let items: Vec<_> = chunk_rows(points, np, n, c)
                .into_iter()
                .zip(opt_chunks(values, np, m, c))
                .zip(chunk_rows_mut(tangents, np, lanes * m, c))
                .collect();
            for_each_with_state(
                items,
                || self.lanes::<T>(c, w, params),
                |ws, (((count, pts), mut vals), (_, tan))| {
                    self.seed_values(ws, count, pts);
                    for b in 0..passes {
                        let v = if b == 0 { vals.as_deref_mut() } else { None };
                        pass(ws, b, count, v, tan, (lanes, b * per_pass));
                    }
                },
                |ws| self.keep_lanes(ws),
            );
            return;
        }
        // one pass per thread over all points (fewer points than threads)
        let stop = StopFlag::current();
        let run_pass = |b: usize, vals: Option<&mut [T]>, tan: &mut [T], total: usize| {
            let mut ws = self.lanes::<T>(c, w, params);
            let chunks = chunk_rows(points, np, n, c)
                .into_iter()
                .zip(opt_chunks(vals, np, m, c))
                .zip(chunk_rows_mut(tan, np, total * m, c));
            for (((count, pts), v), (_, t)) in chunks {
                if stop.as_ref().is_some_and(StopFlag::is_raised) {
                    break;
                }
                self.seed_values(&mut ws, count, pts);
                pass(&mut ws, b, count, v, t, (total, 0));
            }
            self.keep_lanes(ws);
        };
        if np == 1 && !transposed && m > 0 {
            // the lanes of one pass are one contiguous part of the output
            let work: Vec<_> = tangents
                .chunks_mut(per_pass * m)
                .enumerate()
                .map(|(b, tan)| (b, if b == 0 { values.take() } else { None }, tan))
                .collect();
            work.into_par_iter()
                .for_each(|(b, vals, tan)| run_pass(b, vals, tan, dirs[b].len()));
            return;
        }
        let want_values = values.is_some();
        let parts: Vec<(Vec<T>, Vec<T>)> = (0..passes)
            .into_par_iter()
            .map(|b| {
                let width = dirs[b].len();
                let mut vals = vec![T::zero(); if b == 0 && want_values { np * m } else { 0 }];
                let mut tan = vec![T::zero(); np * width * m];
                let v = (b == 0 && want_values).then_some(&mut vals[..]);
                run_pass(b, v, &mut tan, width);
                (vals, tan)
            })
            .collect();
        for (b, (vals, tan)) in parts.iter().enumerate() {
            if let (0, Some(v)) = (b, values.as_deref_mut()) {
                v.copy_from_slice(vals);
            }
            let width = dirs[b].len();
            for p in 0..np {
                for l in 0..width {
                    for r in 0..m {
                        let g = b * per_pass + l;
                        let (to, from) = if transposed {
                            ((p * m + r) * lanes + g, (p * m + r) * width + l)
                        } else {
                            ((p * lanes + g) * m + r, (p * width + l) * m + r)
                        };
                        tangents[to] = tan[from];
                    }
                }
            }
        }
    }

    /// The unit seeds of `lanes` lanes in `passes` passes of `per_pass`, and
    /// the live lanes they give.
    fn unit_seeds<T: IrReal>(&self, lanes: usize, passes: usize, per_pass: usize) -> UnitSeeds<T> {
        let dirs: Vec<Vec<Vec<T>>> = (0..passes)
            .map(|b| {
                (b * per_pass..((b + 1) * per_pass).min(lanes))
                    .map(|l| (0..self.n).map(|j| identity(j, l)).collect())
                    .collect()
            })
            .collect();
        let live = dirs.iter().map(|d| self.live_lanes(d)).collect();
        UnitSeeds {
            passes,
            per_pass,
            dirs,
            live,
        }
    }

    pub(crate) fn check_scalar(&self, what: &str) -> Result<(), IrError> {
        if self.m != 1 {
            return Err(Error::invalid(format!(
                "{what} needs a program with one scalar output; this one has m = {} outputs",
                self.m
            )));
        }
        Ok(())
    }

    /// Hessians (`P x n x n`) of a scalar program (`m == 1`) at `P` points.
    pub fn hessian_points<T: IrReal>(
        &self,
        points: ArrayView2<T>,
        params: &[T],
        out: ArrayViewMut3<T>,
    ) -> Result<(), IrError> {
        self.check_scalar("hessian_points")?;
        let np = self.check_points(&points, params)?;
        check_dims("out", out.shape(), &[np, self.n, self.n])?;
        let pts = points.as_standard_layout();
        let pts = standard(&pts)?;
        with_contiguous(out, |h| self.second_order((np, pts), params, None, None, h));
        Ok(())
    }

    /// Values (`P`), gradients (`P x n`) and Hessians (`P x n x n`) of a
    /// scalar program at `P` points.
    pub fn value_grad_hessian_points<T: IrReal>(
        &self,
        points: ArrayView2<T>,
        params: &[T],
        values_out: ArrayViewMut1<T>,
        grad_out: ArrayViewMut2<T>,
        hess_out: ArrayViewMut3<T>,
    ) -> Result<(), IrError> {
        self.check_scalar("value_grad_hessian_points")?;
        let np = self.check_points(&points, params)?;
        check_dims("values_out", values_out.shape(), &[np])?;
        check_dims("grad_out", grad_out.shape(), &[np, self.n])?;
        check_dims("hess_out", hess_out.shape(), &[np, self.n, self.n])?;
        let pts = points.as_standard_layout();
        let pts = standard(&pts)?;
        with_contiguous(values_out, |v| {
            with_contiguous(grad_out, |g| {
                with_contiguous(hess_out, |h| {
                    self.second_order((np, pts), params, Some(v), Some(g), h)
                })
            })
        });
        Ok(())
    }

    fn second_order<T: IrReal>(
        &self,
        (np, points): (usize, &[T]),
        params: &[T],
        values: Option<&mut [T]>,
        grad: Option<&mut [T]>,
        hess: &mut [T],
    ) {
        let args = (np, points, params, values, grad, hess);
        match self.n.next_power_of_two() {
            0 | 1 => self.hessian_n::<T, 1>(args),
            2 => self.hessian_n::<T, 2>(args),
            4 => self.hessian_n::<T, 4>(args),
            _ => self.hessian_n::<T, MAX_LANES_2>(args),
        }
    }

    #[allow(clippy::type_complexity)]
    fn hessian_n<T: IrReal, const N: usize>(
        &self,
        (np, points, params, values, grad, hess): (
            usize,
            &[T],
            &[T],
            Option<&mut [T]>,
            Option<&mut [T]>,
            &mut [T],
        ),
    ) {
        let n = self.n;
        let nb = n.div_ceil(N).max(1);
        // block pairs (outer bi <= inner bj); the Hessian is symmetric
        let pairs: Vec<(usize, usize)> = (0..nb)
            .flat_map(|bi| (bi..nb).map(move |bj| (bi, bj)))
            .collect();
        let unit = |b: usize, j: usize| -> [T; N] {
            std::array::from_fn(|l| if b * N + l == j { T::one() } else { T::zero() })
        };
        type D2<T, const N: usize> = Dual<Dual<T, N>, N>;
        let c = self.chunk_size(np, std::mem::size_of::<D2<T, N>>());
        let value_chunks = opt_chunks(values, np, 1, c);
        let grad_chunks = opt_chunks(grad, np, n, c);
        let items: Vec<_> = chunk_rows(points, np, n, c)
            .into_iter()
            .zip(value_chunks)
            .zip(grad_chunks)
            .zip(chunk_rows_mut(hess, np, n * n, c))
            .collect();
        self.drive::<D2<T, N>, _>(
            c,
            params,
            items,
            |ws, ((((count, pts), mut vals), mut grd), (_, h))| {
                for &(bi, bj) in &pairs {
                    self.seed(ws, count, |p, j| {
                        let outer = unit(bi, j);
                        Dual::new(
                            Dual::new(pts[p * n + j], unit(bj, j)),
                            std::array::from_fn(|k| Dual::constant(outer[k])),
                        )
                    });
                    self.execute(ws);
                    let wi = N.min(n - bi * N);
                    let wj = N.min(n - bj * N);
                    self.extract(ws, count, |p, _, d| {
                        if bi == 0 {
                            if let (0, Some(v)) = (bj, vals.as_mut()) {
                                v[p] = d.re.re;
                            }
                            if let Some(g) = grd.as_mut() {
                                let at = p * n + bj * N;
                                g[at..at + wj].copy_from_slice(&d.re.eps[..wj]);
                            }
                        }
                        for k in 0..wi {
                            for l in 0..wj {
                                let v = d.eps[k].eps[l];
                                let (r, s) = (bi * N + k, bj * N + l);
                                h[(p * n + r) * n + s] = v;
                                h[(p * n + s) * n + r] = v;
                            }
                        }
                    });
                }
            },
        );
    }

    /// Hessian-vector products of a scalar program: `v` is `L x n`, `out`
    /// `P x L x n` (`out[p, l] = H(x_p) v_l`). Forward over reverse
    /// ([`Program::hvp_reverse_points`], which also gives the gradient), so a
    /// block of up to 16 directions costs one pass whatever `n` is.
    pub fn hvp_points<T: IrReal>(
        &self,
        points: ArrayView2<T>,
        params: &[T],
        v: ArrayView2<T>,
        out: ArrayViewMut3<T>,
    ) -> Result<(), IrError> {
        let mut grad = Array2::<T>::zeros((points.nrows(), self.n));
        self.hvp_reverse_points(points, params, v, grad.view_mut(), out)
    }
}

fn identity<T: IrReal>(j: usize, l: usize) -> T {
    if j == l {
        T::one()
    } else {
        T::zero()
    }
}
