//! Matrix products over whole blocks of numbers (values, tangent lanes,
//! adjoints) through `matrixmultiply`'s packed GEMM kernels, for the engines
//! that run on `f32` or `f64`, and on dual numbers of them (forward over
//! reverse HVPs, Hessians) as products of their parts.
//!
//! The tangent block of `A @ x` for `L` lanes is one product of `A` with the
//! `L` tangent rows (instead of `L` matrix-vector loops); the adjoint of `x`
//! in `y = A x` is one product of `A^T` with `ybar`. `matrixmultiply` (pure
//! Rust, runtime CPU detection, already under `ndarray`) was chosen over a
//! system BLAS so that the wheel links no shared library; on this engine's
//! sizes (lane blocks of at most 64 rows) its kernels run near peak.

use std::any::TypeId;

use super::lanes::LaneMask;
use super::rules::IrReal;
use crate::dual::{Dual, Elementary};

/// A read-only matrix: `data[r * rs + k * cs]` is entry `(r, k)`;
/// `constant` where its entries are known to have no tangent lanes (a node
/// that depends on no input), so a product of dual numbers need not look.
pub(crate) struct Mat<'a, T> {
    pub(crate) data: &'a [T],
    pub(crate) rs: usize,
    pub(crate) cs: usize,
    pub(crate) constant: bool,
}

impl<T> Clone for Mat<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Mat<'_, T> {}

impl<'a, T> Mat<'a, T> {
    pub(crate) fn new(data: &'a [T], rs: usize, cs: usize) -> Self {
        Mat {
            data,
            rs,
            cs,
            constant: false,
        }
    }

    /// The same matrix, marked constant where `constant` (no tangent lanes).
    pub(crate) fn constant(self, constant: bool) -> Self {
        Mat { constant, ..self }
    }

    /// The same entries read as the transposed matrix.
    pub(crate) fn t(self) -> Self {
        Mat {
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    fn fits(&self, rows: usize, cols: usize) -> bool {
        fits(self.data.len(), rows, cols, self.rs, self.cs)
    }
}

/// A matrix written in place: `data[r * rs + k * cs]` is entry `(r, k)`.
pub(crate) struct MatMut<'a, T> {
    pub(crate) data: &'a mut [T],
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl<'a, T> MatMut<'a, T> {
    pub(crate) fn new(data: &'a mut [T], rs: usize, cs: usize) -> Self {
        MatMut { data, rs, cs }
    }
}

/// Whether every entry of a `rows x cols` matrix with strides `rs`, `cs` lies
/// in a slice of `len` numbers (and the strides fit an `isize`).
fn fits(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    if rows == 0 || cols == 0 {
        return true;
    }
    let last = (rows - 1)
        .checked_mul(rs)
        .zip((cols - 1).checked_mul(cs))
        .and_then(|(r, c)| r.checked_add(c));
    matches!(last, Some(l) if l < len) && isize::try_from(rs.max(cs)).is_ok()
}

/// Whether the three matrices of an `m x k` by `k x n` product lie within
/// their slices.
fn product_fits<A, B, C>(
    (m, k, n): (usize, usize, usize),
    a: &Mat<'_, A>,
    b: &Mat<'_, B>,
    c: &MatMut<'_, C>,
) -> bool {
    a.fits(m, k) && b.fits(k, n) && fits(c.data.len(), m, n, c.rs, c.cs)
}

/// Whether matrices of `T` multiply by GEMM kernels here (`f32`, `f64` and
/// dual numbers of them, [`gemm_dual`]).
pub(crate) fn has_gemm<T: Elementary>() -> bool {
    T::HAS_MATMUL
}

/// Whether `T` is `f32` or `f64`, the types of the kernels themselves.
fn is_real<T: 'static>() -> bool {
    let t = TypeId::of::<T>();
    t == TypeId::of::<f64>() || t == TypeId::of::<f32>()
}

/// `c = a b + beta c` for `a` (`m x k`), `b` (`k x n`), `c` (`m x n`), with
/// `beta` 0 (`c` is overwritten, NaN in it included) or 1 (accumulate).
/// Dual numbers go through [`Elementary::matmul_into`] ([`gemm_dual`]).
/// Returns false, doing nothing, when `T` has no kernel or a matrix does not
/// lie within its slice (the caller then loops itself).
pub(crate) fn gemm<T: Elementary>(
    (m, k, n): (usize, usize, usize),
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    accumulate: bool,
    c: MatMut<'_, T>,
) -> bool {
    if !is_real::<T>() {
        let (a, b) = (
            (a.data, a.rs, a.cs, a.constant),
            (b.data, b.rs, b.cs, b.constant),
        );
        return T::matmul_into((m, k, n), a, b, accumulate, (c.data, c.rs, c.cs));
    }
    if !product_fits((m, k, n), &a, &b, &c) {
        return false;
    }
    if m == 0 || n == 0 {
        return true;
    }
    // matrix-vector products: the packed kernels would pad the vector to a
    // whole register tile and pack the matrix, several times the arithmetic
    if n == 1 {
        gemv((m, k), a, b, accumulate, c);
        return true;
    }
    if m == 1 {
        // c^T = b^T a^T
        let ct = MatMut::new(c.data, c.cs, c.rs);
        gemv((n, k), b.t(), a.t(), accumulate, ct);
        return true;
    }
    if m * k * n < MIN_GEMM_WORK {
        // packing would cost more than the arithmetic
        for j in 0..n {
            let col = Mat::new(&b.data[j * b.cs..], b.rs, b.cs);
            let cj = MatMut::new(&mut c.data[j * c.cs..], c.rs, c.cs);
            gemv((m, k), a, col, accumulate, cj);
        }
        return true;
    }
    let s = |x: usize| x as isize; // fits() checked the strides
    let (ap, bp, cp) = (
        a.data.as_ptr().cast::<u8>(),
        b.data.as_ptr().cast::<u8>(),
        c.data.as_mut_ptr().cast::<u8>(),
    );
    // the one unsafe call of the crate: matrixmultiply's kernels take raw parts
    #[allow(unsafe_code)]
    // SAFETY: `T` is exactly f64 or f32 (TypeId above), so the casts keep the
    // element type; every entry addressed by the dimensions and strides lies
    // within its slice (fits() above); `c` is a unique borrow, so it overlaps
    // neither `a` nor `b`. With k == 0 the kernels only scale `c` by beta.
    unsafe {
        if TypeId::of::<T>() == TypeId::of::<f64>() {
            let beta = if accumulate { 1.0 } else { 0.0 };
            matrixmultiply::dgemm(
                m,
                k,
                n,
                1.0,
                ap.cast::<f64>(),
                s(a.rs),
                s(a.cs),
                bp.cast::<f64>(),
                s(b.rs),
                s(b.cs),
                beta,
                cp.cast::<f64>(),
                s(c.rs),
                s(c.cs),
            );
        } else {
            let beta = if accumulate { 1.0 } else { 0.0 };
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                ap.cast::<f32>(),
                s(a.rs),
                s(a.cs),
                bp.cast::<f32>(),
                s(b.rs),
                s(b.cs),
                beta,
                cp.cast::<f32>(),
                s(c.rs),
                s(c.cs),
            );
        }
    }
    true
}

/// `c = a b (+ c)` for matrices of dual numbers by real products of their
/// parts, `(a + a' e)(b + b' e) = a b + (a b' + a' b) e`: `a b` and every
/// lane of `a b'` in one product (each entry of `b` laid out as its value and
/// its lanes side by side; its value alone where `b` is constant), and `a' b`
/// (every lane of `a'` stacked in rows) only where `a` has a nonzero lane
/// (never looked for where `a` is constant). Returns false, doing nothing,
/// when the parts have no kernel or a matrix does not lie within its slice.
pub(crate) fn gemm_dual<T: Elementary, const N: usize>(
    (m, k, n): (usize, usize, usize),
    a: Mat<'_, Dual<T, N>>,
    b: Mat<'_, Dual<T, N>>,
    accumulate: bool,
    c: MatMut<'_, Dual<T, N>>,
) -> bool {
    if !has_gemm::<T>() || !product_fits((m, k, n), &a, &b, &c) {
        return false;
    }
    if m == 0 || n == 0 {
        return true;
    }
    let add = |to: &mut Dual<T, N>, v: Dual<T, N>| {
        *to = if accumulate { to.clone() + v } else { v };
    };
    if n == 1 && N < 4 && (a.cs == 1 || a.rs == 1) {
        let mut y = vec![Dual::constant(T::zero()); m];
        dual_gemv((m, k), a, b, &mut y);
        for (r, v) in y.into_iter().enumerate() {
            add(&mut c.data[r * c.rs], v);
        }
        return true;
    }
    // b's parts per entry: its value, then its lanes unless b is constant
    let wb = if b.constant { 1 } else { N + 1 };
    let w = n * wb;
    let parts = dual_parts(b, (k, n), !b.constant);
    let (mut re, mut moving) = (Vec::with_capacity(m * k), false);
    for r in 0..m {
        for q in 0..k {
            let x = &a.data[r * a.rs + q * a.cs];
            re.push(x.re.clone());
            moving |= !a.constant && has_lanes(x);
        }
    }
    let mut prod = vec![T::zero(); m * w];
    let (re, parts_m) = (Mat::new(&re, k, 1), Mat::new(&parts, w, 1));
    if !gemm((m, k, w), re, parts_m, false, MatMut::new(&mut prod, w, 1)) {
        return false;
    }
    let mut cross = Vec::new();
    if moving {
        let mut lanes = Vec::with_capacity(N * m * k);
        for l in 0..N {
            for r in 0..m {
                lanes.extend((0..k).map(|q| a.data[r * a.rs + q * a.cs].eps[l].clone()));
            }
        }
        cross = vec![T::zero(); N * m * n];
        let b_re = Mat::new(&parts, w, wb);
        let ok = gemm(
            (N * m, k, n),
            Mat::new(&lanes, k, 1),
            b_re,
            false,
            MatMut::new(&mut cross, n, 1),
        );
        debug_assert!(ok, "the parts have a kernel and fit their buffers");
    }
    write_dual(c, (m, n), (&prod, wb), &cross, accumulate);
    true
}

/// `c = a b (+ c)` for a matrix of reals `a` (the values of a constant
/// operand, kept by the caller so that its dual numbers are not read) and
/// matrices of numbers `b`, `c`: [`Elementary::matmul_real_left`].
pub(crate) fn gemm_real_left<D: Elementary>(
    dims: (usize, usize, usize),
    a: Mat<'_, D::Real>,
    b: Mat<'_, D>,
    accumulate: bool,
    c: MatMut<'_, D>,
) -> bool {
    let (a, b) = ((a.data, a.rs, a.cs), (b.data, b.rs, b.cs));
    D::matmul_real_left(dims, a, b, accumulate, (c.data, c.rs, c.cs))
}

/// `c = a b (+ c)` for reals `a` and dual numbers `b`: `a` times `b`'s parts
/// (value and lanes side by side) in one product of the parts' type, or
/// column by column (matrix-vector kernels) where the parts are few.
pub(crate) fn gemm_dual_real_left<T: Elementary, const N: usize>(
    (m, k, n): (usize, usize, usize),
    a: Mat<'_, T::Real>,
    b: Mat<'_, Dual<T, N>>,
    accumulate: bool,
    c: MatMut<'_, Dual<T, N>>,
) -> bool {
    if !has_gemm::<T>() || !product_fits((m, k, n), &a, &b, &c) {
        return false;
    }
    if m == 0 || n == 0 {
        return true;
    }
    let w = n * (N + 1);
    let parts = dual_parts(b, (k, n), true);
    let mut prod = vec![T::zero(); m * w];
    if w <= 4 {
        let (mut col, mut y) = (vec![T::zero(); k], vec![T::zero(); m]);
        for t in 0..w {
            for (x, p) in col.iter_mut().zip(parts.iter().skip(t).step_by(w)) {
                *x = p.clone();
            }
            let (x, out) = (Mat::new(&col, 1, 1), MatMut::new(&mut y, 1, 1));
            if !gemm_real_left::<T>((m, k, 1), a, x, false, out) {
                return false;
            }
            for (p, v) in prod.iter_mut().skip(t).step_by(w).zip(&y) {
                *p = v.clone();
            }
        }
    } else {
        let (x, out) = (Mat::new(&parts, w, 1), MatMut::new(&mut prod, w, 1));
        if !gemm_real_left::<T>((m, k, w), a, x, false, out) {
            return false;
        }
    }
    write_dual(c, (m, n), (&prod, N + 1), &[], accumulate);
    true
}

/// The parts of a `k x n` matrix of dual numbers as a `k x n w` matrix:
/// each entry's value, then (`lanes`) its lanes.
fn dual_parts<T: Elementary, const N: usize>(
    b: Mat<'_, Dual<T, N>>,
    (k, n): (usize, usize),
    lanes: bool,
) -> Vec<T> {
    let w = if lanes { N + 1 } else { 1 };
    let mut parts = Vec::with_capacity(k * n * w);
    for q in 0..k {
        for j in 0..n {
            let x = &b.data[q * b.rs + j * b.cs];
            parts.push(x.re.clone());
            if lanes {
                parts.extend(x.eps.iter().cloned());
            }
        }
    }
    parts
}

/// Writes (or adds, with `accumulate`) the `m x n` dual numbers whose parts
/// `prod` holds (`wb` per entry: the value, then the lanes if `wb > 1`),
/// plus the lanes `cross` (`N x m x n`, lane-major) where given.
fn write_dual<T: Elementary, const N: usize>(
    c: MatMut<'_, Dual<T, N>>,
    (m, n): (usize, usize),
    (prod, wb): (&[T], usize),
    cross: &[T],
    accumulate: bool,
) {
    for r in 0..m {
        for j in 0..n {
            let p = &prod[(r * n + j) * wb..][..wb];
            let eps = std::array::from_fn(|l| {
                let own = p.get(1 + l).cloned().unwrap_or_else(T::zero);
                match cross.get((l * m + r) * n + j) {
                    Some(x) => own + x.clone(),
                    None => own,
                }
            });
            let (to, v) = (
                &mut c.data[r * c.rs + j * c.cs],
                Dual::new(p[0].clone(), eps),
            );
            *to = if accumulate { to.clone() + v } else { v };
        }
    }
}

/// Whether a dual number has a nonzero lane.
fn has_lanes<T: Elementary, const N: usize>(x: &Dual<T, N>) -> bool {
    x.eps.iter().any(|e| !e.is_zero())
}

/// `acc += s x` for a real `s` and a dual `x`.
#[inline]
fn add_scaled<T: Elementary, const N: usize>(acc: &mut Dual<T, N>, s: &T, x: &Dual<T, N>) {
    acc.re += s.clone() * x.re.clone();
    for (e, v) in acc.eps.iter_mut().zip(&x.eps) {
        *e += s.clone() * v.clone();
    }
}

/// `y = a x` for a column `x` of dual numbers with few lanes (one packed
/// GEMM pays where they are many) and `a` with contiguous rows
/// or columns, in one pass over `a` (no copy of its values): rows as dot
/// products in four interleaved dual sums, columns as `axpy` updates; the
/// lanes of `a` (a constant matrix has none) in a second pass where any is
/// nonzero.
fn dual_gemv<T: Elementary, const N: usize>(
    (m, k): (usize, usize),
    a: Mat<'_, Dual<T, N>>,
    x: Mat<'_, Dual<T, N>>,
    y: &mut [Dual<T, N>],
) {
    let xs = |q: usize| &x.data[q * x.rs];
    let mut moving = false;
    if a.cs == 1 {
        for (r, yr) in y.iter_mut().enumerate() {
            let row = &a.data[r * a.rs..][..k];
            let zero = || Dual::constant(T::zero());
            let (mut s0, mut s1, mut s2, mut s3) = (zero(), zero(), zero(), zero());
            let quads = row.chunks_exact(4);
            let body = k - quads.remainder().len();
            for (j, c) in row[body..].iter().enumerate() {
                moving |= !a.constant && has_lanes(c);
                add_scaled(&mut s0, &c.re, xs(body + j));
            }
            for (j, c) in quads.enumerate() {
                let q = 4 * j;
                moving |= !a.constant
                    && (has_lanes(&c[0]) | has_lanes(&c[1]) | has_lanes(&c[2]) | has_lanes(&c[3]));
                add_scaled(&mut s0, &c[0].re, xs(q));
                add_scaled(&mut s1, &c[1].re, xs(q + 1));
                add_scaled(&mut s2, &c[2].re, xs(q + 2));
                add_scaled(&mut s3, &c[3].re, xs(q + 3));
            }
            *yr = (s0 + s2) + (s1 + s3);
        }
    } else {
        // four columns per sweep over y: a quarter of its loads and stores
        let col = |q: usize| (&a.data[q * a.cs..][..m], xs(q));
        let mut q = 0;
        while q + 4 <= k {
            let ((c0, x0), (c1, x1), (c2, x2), (c3, x3)) =
                (col(q), col(q + 1), col(q + 2), col(q + 3));
            for (r, yr) in y.iter_mut().enumerate() {
                let (a0, a1, a2, a3) = (&c0[r], &c1[r], &c2[r], &c3[r]);
                moving |=
                    !a.constant && (has_lanes(a0) | has_lanes(a1) | has_lanes(a2) | has_lanes(a3));
                add_scaled(yr, &a0.re, x0);
                add_scaled(yr, &a1.re, x1);
                add_scaled(yr, &a2.re, x2);
                add_scaled(yr, &a3.re, x3);
            }
            q += 4;
        }
        for q in q..k {
            let (cq, xq) = col(q);
            for (yr, ar) in y.iter_mut().zip(cq) {
                moving |= !a.constant && has_lanes(ar);
                add_scaled(yr, &ar.re, xq);
            }
        }
    }
    if moving {
        for (r, yr) in y.iter_mut().enumerate() {
            for q in 0..k {
                let (ar, xr) = (&a.data[r * a.rs + q * a.cs], &xs(q).re);
                for (e, d) in yr.eps.iter_mut().zip(&ar.eps) {
                    *e += d.clone() * xr.clone();
                }
            }
        }
    }
}

/// `c = a x + beta c` for `a` (`m x k`) and the column `x` (`k x 1`, entries
/// `x.rs` apart) into the column `c`: dot products of contiguous rows in eight
/// interleaved partial sums (vector registers), or, where the columns of `a`
/// are contiguous (a transposed row-major matrix), `axpy` updates column by
/// column.
fn gemv<T: Elementary>(
    (m, k): (usize, usize),
    a: Mat<'_, T>,
    x: Mat<'_, T>,
    accumulate: bool,
    c: MatMut<'_, T>,
) {
    let (cd, crs) = (c.data, c.rs);
    let start = |y: &T| if accumulate { y.clone() } else { T::zero() };
    if a.rs == 1 && a.cs != 1 && crs == 1 {
        let y = &mut cd[..m];
        if !accumulate {
            y.fill(T::zero());
        }
        // four columns per sweep over y: a quarter of the loads and stores of y
        let col = |q: usize| (&a.data[q * a.cs..][..m], x.data[q * x.rs].clone());
        let mut q = 0;
        while q + 4 <= k {
            let ((c0, v0), (c1, v1), (c2, v2), (c3, v3)) =
                (col(q), col(q + 1), col(q + 2), col(q + 3));
            for i in 0..m {
                let s = (c0[i].clone() * v0.clone() + c1[i].clone() * v1.clone())
                    + (c2[i].clone() * v2.clone() + c3[i].clone() * v3.clone());
                y[i] = y[i].clone() + s;
            }
            q += 4;
        }
        for q in q..k {
            let (cq, v) = col(q);
            for (y, aq) in y.iter_mut().zip(cq) {
                *y = y.clone() + aq.clone() * v.clone();
            }
        }
        return;
    }
    if a.cs == 1 && x.rs == 1 {
        let xs = &x.data[..k];
        let row = |i: usize| &a.data[i * a.rs..][..k];
        let mut i = 0;
        // four rows per sweep over x
        while i + 4 <= m {
            let sums = dot4([row(i), row(i + 1), row(i + 2), row(i + 3)], xs);
            for (r, s) in sums.into_iter().enumerate() {
                let y = &mut cd[(i + r) * crs];
                *y = start(y) + s;
            }
            i += 4;
        }
        for i in i..m {
            let y = &mut cd[i * crs];
            *y = start(y) + dot(row(i), xs);
        }
        return;
    }
    for i in 0..m {
        let row = &a.data[i * a.rs..];
        let y = &mut cd[i * crs];
        let mut sum = start(y);
        for q in 0..k {
            sum += row[q * a.cs].clone() * x.data[q * x.rs].clone();
        }
        *y = sum;
    }
}

/// `sum_q u_r[q] v[q]` for four rows `u_r`, each in four interleaved partial sums.
fn dot4<T: Elementary>(u: [&[T]; 4], v: &[T]) -> [T; 4] {
    let mut acc: [[T; 4]; 4] = std::array::from_fn(|_| std::array::from_fn(|_| T::zero()));
    let k = v.len();
    let body = k / 4 * 4;
    for q in (0..body).step_by(4) {
        let vq = &v[q..q + 4];
        for (acc, u) in acc.iter_mut().zip(&u) {
            let uq = &u[q..q + 4];
            for ((s, x), y) in acc.iter_mut().zip(uq).zip(vq) {
                *s = s.clone() + x.clone() * y.clone();
            }
        }
    }
    std::array::from_fn(|r| {
        let [a0, a1, a2, a3] = acc[r].clone();
        let mut tail = T::zero();
        for q in body..k {
            tail += u[r][q].clone() * v[q].clone();
        }
        (a0 + a2) + (a1 + a3) + tail
    })
}

/// `sum_q u[q] v[q]` in eight interleaved partial sums.
fn dot<T: Elementary>(u: &[T], v: &[T]) -> T {
    let mut acc: [T; 8] = std::array::from_fn(|_| T::zero());
    let (uc, vc) = (u.chunks_exact(8), v.chunks_exact(8));
    let (ur, vr) = (uc.remainder(), vc.remainder());
    for (p, q) in uc.zip(vc) {
        for ((s, x), y) in acc.iter_mut().zip(p).zip(q) {
            *s = s.clone() + x.clone() * y.clone();
        }
    }
    let mut tail = T::zero();
    for (x, y) in ur.iter().zip(vr) {
        tail += x.clone() * y.clone();
    }
    let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
    ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7)) + tail
}

/// Where the one nonzero entry of each of `len` lane rows (row `l` at
/// `l * stride`, `k` numbers) lies, `None` for a row of zeros; `None` overall
/// when some row has two or more (a dense block, for the GEMM). Seeded unit
/// vectors keep this shape through elementwise chains, so `A @ f(x)` takes
/// columns of `A` instead of a product.
fn one_hot_rows<T: IrReal>(
    rows: &[T],
    stride: usize,
    (len, k): (usize, usize),
) -> Option<Vec<Option<usize>>> {
    if len == 0 || !fits(rows.len(), len, k, stride, 1) {
        return None;
    }
    let mut at = Vec::with_capacity(len);
    for l in 0..len {
        let row = &rows[l * stride..][..k];
        let mut nz = row
            .iter()
            .enumerate()
            .filter(|(_, x)| !x.is_zero())
            .map(|(q, _)| q);
        let first = nz.next();
        if nz.next().is_some() {
            return None;
        }
        at.push(first);
    }
    Some(at)
}

/// Runs of consecutive set bits of `mask`: `(first bit, length)`.
pub(crate) fn bit_runs(mut mask: LaneMask) -> impl Iterator<Item = (usize, usize)> {
    let mut shift = 0usize;
    std::iter::from_fn(move || {
        if mask == 0 {
            return None;
        }
        let skip = mask.trailing_zeros() as usize;
        mask >>= skip;
        let len = mask.trailing_ones() as usize;
        mask = mask.checked_shr(len as u32).unwrap_or(0);
        let first = shift + skip;
        shift = first + len;
        Some((first, len))
    })
}

/// Smallest product (multiply-adds) that goes to the packed kernels; smaller
/// ones loop in place, where packing would cost more than the arithmetic.
const MIN_GEMM_WORK: usize = 2048;

/// An argument of a product as the lane engine holds it at one point:
/// its value row and, where it has live lanes, the block of its lane rows
/// (lane `l` at `l * stride`) and their mask.
pub(crate) struct Operand<'a, T> {
    pub(crate) value: &'a [T],
    pub(crate) lanes: Option<(&'a [T], usize)>,
    pub(crate) live: LaneMask,
}

/// Forward mode of the batched product `y[bt] = a[bt] b[bt]` (`a`: `m x k`,
/// `b`: `k x n` per batch item) at one point, every live lane at once:
/// `dy = a db + da b`, each term one GEMM over the lane block where the
/// constant side is a vector (`A @ x`: the `L x k` tangent rows times `A^T`),
/// one per lane otherwise. `lanes` holds the output's lane rows (`stride` = its
/// length) and `live` marks the rows to write.
///
/// Returns false, having written nothing that the caller's own loop would not
/// overwrite, where a GEMM cannot keep the engine's convention (a zero tangent
/// stays zero through an infinite or NaN partial: the partial side must be
/// finite) or `T` has no kernel.
pub(crate) fn dot_lanes<T: IrReal>(
    (batch, m, k, n): (usize, usize, usize, usize),
    (a, b): (&Operand<'_, T>, &Operand<'_, T>),
    value: &mut [T],
    (lanes, live): (&mut [T], LaneMask),
) -> bool {
    let (sa, sb, sy) = (m * k, k * n, m * n);
    let stride = batch * sy;
    let (live_a, live_b) = (live & a.live, live & b.live);
    // (a branch-free scan: it vectorises)
    let finite = |v: &[T]| v.iter().fold(true, |ok, x| ok & x.is_finite());
    if !has_gemm::<T>() || (live_b != 0 && !finite(a.value)) || (live_a != 0 && !finite(b.value)) {
        return false;
    }
    for bt in 0..batch {
        let done = gemm(
            (m, k, n),
            Mat::new(&a.value[bt * sa..], k, 1),
            Mat::new(&b.value[bt * sb..], n, 1),
            false,
            MatMut::new(&mut value[bt * sy..], n, 1),
        );
        if !done {
            return false;
        }
    }
    for (l, y) in lanes.chunks_exact_mut(stride.max(1)).enumerate() {
        if (live >> l) & 1 == 1 {
            y.fill(T::zero());
        }
    }
    // a db: lanes of b times a
    if let (Some((db, sdb)), true) = (b.lanes, live_b != 0) {
        for (l0, len) in bit_runs(live_b) {
            for bt in 0..batch {
                let rows = &db[l0 * sdb + bt * k..];
                let hot = if n == 1 {
                    one_hot_rows(rows, sdb, (len, k))
                } else {
                    None
                };
                let ok = if let Some(hot) = hot {
                    // lane l is t e_p: its product is t times column p of a
                    let av = &a.value[bt * sa..][..sa];
                    for (l, p) in (l0..).zip(hot) {
                        let Some(p) = p else { continue };
                        let t = rows[(l - l0) * sdb + p];
                        let y = &mut lanes[l * stride + bt * m..][..m];
                        for (y, arow) in y.iter_mut().zip(av.chunks_exact(k)) {
                            *y += arow[p] * t;
                        }
                    }
                    true
                } else if n == 1 {
                    // (len x k) tangent rows times a^T (k x m)
                    gemm(
                        (len, k, m),
                        Mat::new(&db[l0 * sdb + bt * k..], sdb, 1),
                        Mat::new(&a.value[bt * sa..], k, 1).t(),
                        true,
                        MatMut::new(&mut lanes[l0 * stride + bt * m..], stride, 1),
                    )
                } else {
                    (l0..l0 + len).all(|l| {
                        gemm(
                            (m, k, n),
                            Mat::new(&a.value[bt * sa..], k, 1),
                            Mat::new(&db[l * sdb + bt * sb..], n, 1),
                            true,
                            MatMut::new(&mut lanes[l * stride + bt * sy..], n, 1),
                        )
                    })
                };
                if !ok {
                    return false;
                }
            }
        }
    }
    // da b: lanes of a times b
    if let (Some((da, sda)), true) = (a.lanes, live_a != 0) {
        for (l0, len) in bit_runs(live_a) {
            for bt in 0..batch {
                let rows = &da[l0 * sda + bt * k..];
                let hot = if m == 1 {
                    one_hot_rows(rows, sda, (len, k))
                } else {
                    None
                };
                let ok = if let Some(hot) = hot {
                    // lane l is t e_p: its product is t times row p of b
                    let bv = &b.value[bt * sb..][..sb];
                    for (l, p) in (l0..).zip(hot) {
                        let Some(p) = p else { continue };
                        let t = rows[(l - l0) * sda + p];
                        let y = &mut lanes[l * stride + bt * n..][..n];
                        for (y, &bq) in y.iter_mut().zip(&bv[p * n..(p + 1) * n]) {
                            *y += t * bq;
                        }
                    }
                    true
                } else if m == 1 {
                    // (len x k) tangent rows times b (k x n)
                    gemm(
                        (len, k, n),
                        Mat::new(&da[l0 * sda + bt * k..], sda, 1),
                        Mat::new(&b.value[bt * sb..], n, 1),
                        true,
                        MatMut::new(&mut lanes[l0 * stride + bt * n..], stride, 1),
                    )
                } else {
                    (l0..l0 + len).all(|l| {
                        gemm(
                            (m, k, n),
                            Mat::new(&da[l * sda + bt * sa..], k, 1),
                            Mat::new(&b.value[bt * sb..], n, 1),
                            true,
                            MatMut::new(&mut lanes[l * stride + bt * sy..], n, 1),
                        )
                    })
                };
                if !ok {
                    return false;
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, k: usize, n: usize, a: &[f64], b: &[f64]) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|q| a[i * k + q] * b[q * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn products_with_strides_and_transposes() {
        let (m, k, n) = (3, 5, 4);
        let a: Vec<f64> = (0..m * k).map(|v| v as f64 * 0.5 - 2.0).collect();
        let b: Vec<f64> = (0..k * n).map(|v| (v as f64).sin()).collect();
        let want = naive(m, k, n, &a, &b);
        let mut c = vec![f64::NAN; m * n];
        let ok = gemm(
            (m, k, n),
            Mat::new(&a, k, 1),
            Mat::new(&b, n, 1),
            false,
            MatMut::new(&mut c, n, 1),
        );
        assert!(ok);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - y).abs() < 1e-12);
        }
        // c^T = b^T a^T, accumulated onto itself: 2 c^T
        let mut ct: Vec<f64> = (0..n * m).map(|e| want[(e % m) * n + e / m]).collect();
        let ok = gemm(
            (n, k, m),
            Mat::new(&b, n, 1).t(),
            Mat::new(&a, k, 1).t(),
            true,
            MatMut::new(&mut ct, m, 1),
        );
        assert!(ok);
        for j in 0..n {
            for i in 0..m {
                assert!((ct[j * m + i] - 2.0 * want[i * n + j]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn runs_of_bits() {
        let runs: Vec<_> = bit_runs(0b1110_0110_0001).collect();
        assert_eq!(runs, vec![(0, 1), (5, 2), (9, 3)]);
        assert_eq!(bit_runs(LaneMask::MAX).collect::<Vec<_>>(), vec![(0, 128)]);
        assert_eq!(bit_runs(0).count(), 0);
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        let a = [1.0f64; 4];
        let mut c = [0.0f64; 4];
        // a 3 x 2 matrix does not lie in 4 numbers
        let bad = gemm(
            (3, 2, 2),
            Mat::new(&a, 2, 1),
            Mat::new(&a, 2, 1),
            false,
            MatMut::new(&mut c, 2, 1),
        );
        assert!(!bad);
        // dual numbers multiply by the kernels of their parts: (1 + e)(1 + e) summed twice
        let ones = [crate::dual::Dual::<f64, 1>::new(1.0, [1.0]); 4];
        let mut c1 = [crate::dual::Dual::<f64, 1>::constant(0.0); 4];
        let (m1, m2) = (Mat::new(&ones, 2, 1), Mat::new(&ones, 2, 1));
        assert!(gemm((2, 2, 2), m1, m2, false, MatMut::new(&mut c1, 2, 1)));
        assert!(c1.iter().all(|y| y.re == 2.0 && y.eps == [4.0]));
        // dynamic dual numbers have none (the engines loop for them)
        let dynamic = vec![crate::dual::DualVec::<f64>::constant(1.0); 4];
        let mut cd = dynamic.clone();
        let no_kernel = gemm(
            (2, 2, 2),
            Mat::new(&dynamic, 2, 1),
            Mat::new(&dynamic, 2, 1),
            false,
            MatMut::new(&mut cd, 2, 1),
        );
        assert!(!no_kernel);
        let a32 = [1.0f32, 2.0, 3.0, 4.0];
        let mut c32 = [0.0f32; 4];
        assert!(gemm(
            (2, 2, 2),
            Mat::new(&a32, 2, 1),
            Mat::new(&a32, 2, 1),
            false,
            MatMut::new(&mut c32, 2, 1),
        ));
        assert_eq!(c32, [7.0, 10.0, 15.0, 22.0]);
    }
}
