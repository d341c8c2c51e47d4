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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use ndarray::{
    Array, Array2, ArrayView2, ArrayViewMut, ArrayViewMut1, ArrayViewMut2, ArrayViewMut3, CowArray,
    Dimension, Ix2,
};
use num_traits::{Float, Zero};
use rayon::prelude::*;

use super::lanes::{Lanes, MAX_PASS_LANES};
use super::program::{BinaryFn, CompareFn, IrError, Op, Program, ReduceFn, UnaryFn};
use crate::dual::{Dual, Elementary};
use crate::error::Error;
use crate::scalar::Scalar;
use crate::stop::StopFlag;

/// The real types the engine evaluates in: `f32` and `f64`.
pub trait IrReal: Scalar + Elementary<Real = Self> {}

impl<T: Scalar + Elementary<Real = T>> IrReal for T {}

/// Target size of one workspace in bytes (about an L2 cache).
const TARGET_BYTES: usize = 64 * 1024;
/// Smallest workspace (numbers, all lanes) worth splitting lanes over threads.
const BY_PASS_MIN_WORK: usize = 1 << 20;
/// Largest number of points in a chunk.
const MAX_CHUNK: usize = 64;
/// Widest block (per nesting level) of the second-order routines.
const MAX_LANES_2: usize = 8;

/// A worker's scratch space: every node's block for `c` points.
pub(crate) struct Workspace<D> {
    pub(crate) buf: Vec<D>,
    pub(crate) c: usize,
}

pub(crate) fn split<D>(buf: &mut [D], o: usize, l: usize) -> (&[D], &mut [D], &[D]) {
    let (lo, rest) = buf.split_at_mut(o);
    let (out, hi) = rest.split_at_mut(l);
    (lo, out, hi)
}

/// The block `start..start + len` of an argument, which lies wholly below
/// or wholly above the output block `o..o + l` (the layout guarantees it).
pub(crate) fn arg<'a, D>(
    lo: &'a [D],
    hi: &'a [D],
    o: usize,
    l: usize,
    start: usize,
    len: usize,
) -> &'a [D] {
    if len == 0 {
        &[]
    } else if start + len <= o {
        &lo[start..start + len]
    } else {
        &hi[start - (o + l)..start - (o + l) + len]
    }
}

#[inline]
fn zero_or_one<D: Elementary>(b: bool) -> D {
    if b {
        D::one()
    } else {
        D::zero()
    }
}

/// Rounds half to even, like numpy.
fn round_even<R: Scalar>(x: R) -> R {
    let r = x.round();
    let two = R::one() + R::one();
    if (x - x.trunc()).abs() == R::one() / two {
        two * (x / two).round()
    } else {
        r
    }
}

fn sign<D: Elementary>(x: &D) -> D {
    let v = x.re();
    if v.is_nan() || v.is_zero() {
        D::from_re(v)
    } else {
        D::from_re(v.signum())
    }
}

fn logistic<D: Elementary>(x: &D) -> D {
    if x.re() < <D::Real as Zero>::zero() {
        let e = x.exp();
        e.clone() / (D::one() + e)
    } else {
        D::one() / (D::one() + (-x.clone()).exp())
    }
}

/// `fmod(a, b)` with the tangents of `a - trunc(a / b) b` and the exact value.
fn rem<D: Elementary>(a: &D, b: &D) -> D {
    let (x, y) = (a.re(), b.re());
    let q = D::from_re((x / y).trunc());
    let r = a.clone() - q * b.clone();
    let exact = x % y;
    let fix = exact - r.re();
    if fix.is_zero() || !fix.is_finite() {
        r
    } else {
        r + D::from_re(fix)
    }
}

fn nan<D: Elementary>(x: &D) -> bool {
    x.re().is_nan()
}

/// Whether `x` replaces the running maximum `acc` (strictly larger, or the first NaN).
#[inline]
pub(crate) fn takes_max<D: Elementary>(acc: &D, x: &D) -> bool {
    (x.re() > acc.re()) || (nan(x) && !nan(acc))
}

#[inline]
pub(crate) fn takes_min<D: Elementary>(acc: &D, x: &D) -> bool {
    (x.re() < acc.re()) || (nan(x) && !nan(acc))
}

pub(crate) fn unary<D: Elementary>(func: UnaryFn, a: &[D], out: &mut [D]) {
    macro_rules! map {
        ($x:ident => $e:expr) => {
            for (o, $x) in out.iter_mut().zip(a) {
                *o = $e;
            }
        };
    }
    match func {
        UnaryFn::Neg => map!(x => -x.clone()),
        UnaryFn::Exp => map!(x => x.exp()),
        UnaryFn::Exp2 => map!(x => x.exp2()),
        UnaryFn::Expm1 => map!(x => x.exp_m1()),
        UnaryFn::Log => map!(x => x.ln()),
        UnaryFn::Log1p => map!(x => x.ln_1p()),
        UnaryFn::Log2 => map!(x => x.log2()),
        UnaryFn::Log10 => map!(x => x.log10()),
        UnaryFn::Sqrt => map!(x => x.sqrt()),
        UnaryFn::Cbrt => map!(x => x.cbrt()),
        UnaryFn::Sin => map!(x => x.sin()),
        UnaryFn::Cos => map!(x => x.cos()),
        UnaryFn::Tan => map!(x => x.tan()),
        UnaryFn::Asin => map!(x => x.asin()),
        UnaryFn::Acos => map!(x => x.acos()),
        UnaryFn::Atan => map!(x => x.atan()),
        UnaryFn::Sinh => map!(x => x.sinh()),
        UnaryFn::Cosh => map!(x => x.cosh()),
        UnaryFn::Tanh => map!(x => x.tanh()),
        UnaryFn::Asinh => map!(x => x.asinh()),
        UnaryFn::Acosh => map!(x => x.acosh()),
        UnaryFn::Atanh => map!(x => x.atanh()),
        UnaryFn::Abs => map!(x => x.abs()),
        UnaryFn::Sign => map!(x => sign(x)),
        UnaryFn::Floor => map!(x => x.floor()),
        UnaryFn::Ceil => map!(x => x.ceil()),
        UnaryFn::Round => map!(x => D::from_re(round_even(x.re()))),
        UnaryFn::Recip => map!(x => x.recip()),
        UnaryFn::Erf => map!(x => x.erf()),
        UnaryFn::Logistic => map!(x => logistic(x)),
        UnaryFn::Square => map!(x => x.clone() * x.clone()),
    }
}

pub(crate) fn binary<D: Elementary>(func: BinaryFn, a: &[D], b: &[D], out: &mut [D]) {
    macro_rules! map {
        ($x:ident, $y:ident => $e:expr) => {
            for ((o, $x), $y) in out.iter_mut().zip(a).zip(b) {
                *o = $e;
            }
        };
    }
    match func {
        BinaryFn::Add => map!(x, y => x.clone() + y.clone()),
        BinaryFn::Sub => map!(x, y => x.clone() - y.clone()),
        BinaryFn::Mul => map!(x, y => x.clone() * y.clone()),
        BinaryFn::Div => map!(x, y => x.clone() / y.clone()),
        BinaryFn::Pow => map!(x, y => x.pow(y)),
        BinaryFn::Atan2 => map!(x, y => x.atan2(y)),
        BinaryFn::Min => map!(x, y => if takes_min(x, y) { y.clone() } else { x.clone() }),
        BinaryFn::Max => map!(x, y => if takes_max(x, y) { y.clone() } else { x.clone() }),
        BinaryFn::Hypot => map!(x, y => x.hypot(y)),
        BinaryFn::Rem => map!(x, y => rem(x, y)),
    }
}

pub(crate) fn compare<D: Elementary>(func: CompareFn, a: &[D], b: &[D], out: &mut [D]) {
    macro_rules! map {
        ($op:tt) => {
            for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
                *o = zero_or_one(x.re() $op y.re());
            }
        };
    }
    match func {
        CompareFn::Lt => map!(<),
        CompareFn::Le => map!(<=),
        CompareFn::Gt => map!(>),
        CompareFn::Ge => map!(>=),
        CompareFn::Eq => map!(==),
        CompareFn::Ne => map!(!=),
    }
}

impl Program {
    /// A workspace for `c` points with constants and parameters filled in.
    pub(crate) fn workspace<D: Elementary>(&self, c: usize, params: &[D::Real]) -> Workspace<D> {
        let mut ws = Workspace {
            buf: vec![D::zero(); self.work_len * c],
            c,
        };
        self.fill_leaves(&mut ws, params);
        ws
    }

    /// Writes the constants and parameters into their slots.
    pub(crate) fn fill_leaves<D: Elementary>(&self, ws: &mut Workspace<D>, params: &[D::Real]) {
        let (buf, c) = (&mut ws.buf, ws.c);
        for (i, op) in self.ops.iter().enumerate() {
            let base = self.offsets[i] * c;
            match op {
                Op::Const(values) => {
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
                            ReduceFn::Max | ReduceFn::Min => {
                                let Some((&first, rest)) = group.split_first() else {
                                    continue;
                                };
                                dst.clone_from_slice(&src[first * c..first * c + c]);
                                let max = *func == ReduceFn::Max;
                                for &j in rest {
                                    for (y, x) in dst.iter_mut().zip(&src[j * c..j * c + c]) {
                                        let take = if max {
                                            takes_max(y, x)
                                        } else {
                                            takes_min(y, x)
                                        };
                                        if take {
                                            *y = x.clone();
                                        }
                                    }
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
                    let (sa, sb) = (get(*a), get(*b));
                    let (m, k, n) = (*m, *k, *n);
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
                self.fill_leaves(&mut ws, params);
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
    /// [`MAX_PASS_LANES`] lanes per pass; with no lanes, values only.
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
        let mut passes = lanes.div_ceil(MAX_PASS_LANES).max(1);
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
        // rows of the seeds are borrowed where they are contiguous
        let seeds = seeds.as_ref().map(|s| s.as_standard_layout());
        let dirs: Vec<Vec<Cow<[T]>>> = (0..passes)
            .map(|b| {
                (b * per_pass..((b + 1) * per_pass).min(lanes))
                    .map(|l| match &seeds {
                        Some(s) => s
                            .row(l)
                            .to_slice()
                            .map_or_else(|| Cow::Owned(s.row(l).to_vec()), Cow::Borrowed),
                        None => Cow::Owned((0..n).map(|j| identity(j, l)).collect()),
                    })
                    .collect()
            })
            .collect();
        let live: Vec<Vec<u64>> = dirs.iter().map(|d| self.live_lanes(d)).collect();
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

pub(crate) fn check_dims(what: &str, got: &[usize], want: &[usize]) -> Result<(), IrError> {
    if got != want {
        let fmt = |d: &[usize]| {
            let parts: Vec<String> = d.iter().map(|x| x.to_string()).collect();
            if parts.len() == 1 {
                format!("({},)", parts[0])
            } else {
                format!("({})", parts.join(", "))
            }
        };
        return Err(Error::shape(what, fmt(want), fmt(got)));
    }
    Ok(())
}

/// The data of a standard-layout array.
pub(crate) fn standard<'a, T>(a: &'a CowArray<'_, T, Ix2>) -> Result<&'a [T], IrError> {
    a.as_slice()
        .ok_or_else(|| Error::invalid("internal error: points are not contiguous"))
}

/// Runs `f` on the contiguous data of `out` (through a temporary copy when
/// `out` is not in standard layout).
pub(crate) fn with_contiguous<T: Clone + Zero, D: Dimension>(
    mut out: ArrayViewMut<'_, T, D>,
    f: impl FnOnce(&mut [T]),
) {
    if let Some(s) = out.as_slice_mut() {
        f(s);
        return;
    }
    let mut tmp = Array::<T, D>::zeros(out.raw_dim());
    if let Some(s) = tmp.as_slice_mut() {
        f(s);
    }
    out.assign(&tmp);
}

/// Splits `rows` rows of `width` numbers into chunks of `c` rows:
/// `(rows in the chunk, data)`.
pub(crate) fn chunk_rows<T>(data: &[T], rows: usize, width: usize, c: usize) -> Vec<(usize, &[T])> {
    let mut out = Vec::with_capacity(rows.div_ceil(c));
    let mut rest = data;
    let mut left = rows;
    while left > 0 {
        let k = c.min(left);
        let (head, tail) = rest.split_at((k * width).min(rest.len()));
        out.push((k, head));
        rest = tail;
        left -= k;
    }
    out
}

pub(crate) fn opt_chunks<T>(
    v: Option<&mut [T]>,
    rows: usize,
    width: usize,
    c: usize,
) -> Vec<Option<&mut [T]>> {
    match v {
        Some(v) => chunk_rows_mut(v, rows, width, c)
            .into_iter()
            .map(|(_, s)| Some(s))
            .collect(),
        None => (0..rows.div_ceil(c)).map(|_| None).collect(),
    }
}

pub(crate) fn chunk_rows_mut<T>(
    data: &mut [T],
    rows: usize,
    width: usize,
    c: usize,
) -> Vec<(usize, &mut [T])> {
    let mut out = Vec::with_capacity(rows.div_ceil(c));
    let mut rest = data;
    let mut left = rows;
    while left > 0 {
        let k = c.min(left);
        let at = (k * width).min(rest.len());
        let (head, tail) = rest.split_at_mut(at);
        out.push((k, head));
        rest = tail;
        left -= k;
    }
    out
}

/// Runs `body` on every item, in parallel over rayon's threads, each worker making its
/// state (a workspace) once with `make` and pulling items from a shared counter.
/// Items left when the thread's current [`StopFlag`] is raised are skipped.
pub(crate) fn for_each_with_state<S, I: Send>(
    items: Vec<I>,
    make: impl Fn() -> S + Sync,
    body: impl Fn(&mut S, I) + Sync,
    finish: impl Fn(S) + Sync,
) {
    let stop = StopFlag::current();
    let stopped = || stop.as_ref().is_some_and(StopFlag::is_raised);
    let workers = rayon::current_num_threads().min(items.len());
    if workers <= 1 {
        let mut state = make();
        for item in items {
            if stopped() {
                break;
            }
            body(&mut state, item);
        }
        finish(state);
        return;
    }
    let slots: Vec<Mutex<Option<I>>> = items.into_iter().map(|i| Mutex::new(Some(i))).collect();
    let next = AtomicUsize::new(0);
    (0..workers).into_par_iter().for_each(|_| {
        let mut state: Option<S> = None;
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = slots.get(k) else { break };
            if stopped() {
                break;
            }
            let item = match slot.lock() {
                Ok(mut g) => g.take(),
                Err(poisoned) => poisoned.into_inner().take(),
            };
            if let Some(item) = item {
                body(state.get_or_insert_with(&make), item);
            }
        }
        if let Some(state) = state {
            finish(state);
        }
    });
}

/// Seed lanes in blocks of `N`: `blocks[b][j][l]` is `lane(j, b * N + l)`, the tangent of
/// input `j` in direction `b * N + l`, and zero past the last of the `lanes` directions.
pub(crate) fn lane_blocks<T: IrReal, const N: usize>(
    n: usize,
    lanes: usize,
    lane: &(dyn Fn(usize, usize) -> T + Sync),
) -> Vec<Vec<[T; N]>> {
    (0..lanes.div_ceil(N).max(1))
        .map(|b| {
            (0..n)
                .map(|j| {
                    std::array::from_fn(|l| {
                        let g = b * N + l;
                        if g < lanes {
                            lane(j, g)
                        } else {
                            T::zero()
                        }
                    })
                })
                .collect()
        })
        .collect()
}
