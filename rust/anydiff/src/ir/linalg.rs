//! What `Op::Linalg` computes ([`LinalgFn`]), for one matrix of a batch and
//! any number type: the algorithms run on the numbers themselves, so dual
//! numbers (nested or not) carry exact derivatives through the finite
//! algorithms (LU with partial pivoting, substitutions, Cholesky).
//!
//! `eigh` and `svd` first decompose the real parts (cyclic Jacobi in `f64`,
//! one-sided for the SVD), normalise the signs (largest-magnitude component of
//! each eigenvector, or of each left singular vector, positive) and then run
//! Jacobi sweeps on the numbers themselves, started from that basis: the real
//! parts are already diagonal, so the sweeps only rotate by the tangents, and
//! each sweep squares the off-diagonal part, so three sweeps leave derivatives
//! of the first three orders exact. Coinciding eigenvalues (singular values)
//! give `atan2(0, 0)` rotations, hence NaN derivatives, where JAX's rule divides
//! by their zero difference.

use super::ops::LinalgFn;
use crate::dual::{DualVec, Elementary};

/// Jacobi sweeps on the numbers after the real decomposition.
const REFINE_SWEEPS: usize = 3;
/// Most sweeps of the real Jacobi iterations.
const MAX_SWEEPS: usize = 100;

fn re64<D: Elementary>(x: &D) -> f64 {
    num_traits::ToPrimitive::to_f64(&x.re()).unwrap_or(f64::NAN)
}

fn konst<D: Elementary>(x: f64) -> D {
    D::from_f64(x)
}

/// One item of a linear-algebra instruction by forward mode over all its
/// inputs (numbered in argument order): `res[e].lane(q)` is the derivative of
/// output `e` by input `q`. `x(i, e)` is element `e` of argument `i`'s item
/// (`arg_lens[i]` elements). The reverse sweeps apply these Jacobians.
pub(crate) fn linalg_item_jacobian<D: Elementary>(
    func: LinalgFn,
    dims: (usize, usize, usize),
    arg_lens: &[usize],
    x: impl Fn(usize, usize) -> D,
    res: &mut [DualVec<D>],
) {
    let total: usize = arg_lens.iter().sum();
    let mut lane = 0;
    let items: Vec<Vec<DualVec<D>>> = arg_lens
        .iter()
        .enumerate()
        .map(|(i, &la)| {
            (0..la)
                .map(|e| {
                    lane += 1;
                    DualVec::seeded(x(i, e), lane - 1, total)
                })
                .collect()
        })
        .collect();
    let views: Vec<&[DualVec<D>]> = items.iter().map(|v| v.as_slice()).collect();
    linalg(func, dims, &views, res);
}

/// Evaluates `func` on one batch item: `args` holds the item's arguments (their
/// lengths given by [`LinalgFn::layout`]), `out` its result.
pub(crate) fn linalg<D: Elementary>(
    func: LinalgFn,
    (m, n, k): (usize, usize, usize),
    args: &[&[D]],
    out: &mut [D],
) {
    use LinalgFn::*;
    match func {
        Solve => {
            let f = lu(args[0], n, n);
            let x = lu_solve(&f, n, args[1], k);
            out.clone_from_slice(&x);
        }
        Inv => {
            let f = lu(args[0], n, n);
            let eye: Vec<D> = (0..n * n)
                .map(|i| if i / n == i % n { D::one() } else { D::zero() })
                .collect();
            out.clone_from_slice(&lu_solve(&f, n, &eye, n));
        }
        Det => {
            let f = lu(args[0], n, n);
            let mut det = if f.swaps % 2 == 1 {
                -D::one()
            } else {
                D::one()
            };
            for i in 0..n {
                det *= f.a[i * n + i].clone();
            }
            out[0] = det;
        }
        Slogdet => {
            let f = lu(args[0], n, n);
            let mut sign = if f.swaps % 2 == 1 { -1.0 } else { 1.0 };
            let mut logdet = D::zero();
            for i in 0..n {
                let u = &f.a[i * n + i];
                let v = re64(u);
                sign *= if v > 0.0 {
                    1.0
                } else if v < 0.0 {
                    -1.0
                } else if v == 0.0 {
                    0.0
                } else {
                    f64::NAN
                };
                logdet += u.abs().ln();
            }
            out[0] = konst(sign);
            out[1] = logdet;
        }
        Cholesky => out.clone_from_slice(&cholesky(args[0], n)),
        SolveLower | SolveUpper | SolveLowerUnit | SolveUpperUnit => {
            let lower = matches!(func, SolveLower | SolveLowerUnit);
            let unit = matches!(func, SolveLowerUnit | SolveUpperUnit);
            let mut x = args[1].to_vec();
            triangular_solve(args[0], n, &mut x, k, lower, unit);
            out.clone_from_slice(&x);
        }
        Lu => {
            let f = lu(args[0], m, n);
            let p = m.min(n);
            out[..m * n].clone_from_slice(&f.a);
            for (o, &piv) in out[m * n..m * n + p].iter_mut().zip(&f.pivots) {
                *o = konst(piv as f64);
            }
            for (o, &r) in out[m * n + p..].iter_mut().zip(&f.perm) {
                *o = konst(r as f64);
            }
        }
        Eigh => eigh(args[0], n, out),
        Svd => svd(args[0], m, n, out),
    }
}

/// An LU factorisation with partial pivoting (LAPACK's `getrf`): `a` holds the
/// unit lower and the upper factor, `pivots[j]` the row swapped with row `j`,
/// `perm` the rows of the input in the order of the factors.
struct Lu<D> {
    a: Vec<D>,
    pivots: Vec<usize>,
    perm: Vec<usize>,
    swaps: usize,
}

fn lu<D: Elementary>(a: &[D], m: usize, n: usize) -> Lu<D> {
    let mut a = a.to_vec();
    let p = m.min(n);
    let mut pivots = Vec::with_capacity(p);
    let mut perm: Vec<usize> = (0..m).collect();
    let mut swaps = 0;
    for j in 0..p {
        // the first row of largest magnitude (a NaN wins, as LAPACK's idamax)
        let mut piv = j;
        let mut best = re64(&a[j * n + j]).abs();
        for i in j + 1..m {
            let v = re64(&a[i * n + j]).abs();
            if v > best || (v.is_nan() && !best.is_nan()) {
                piv = i;
                best = v;
            }
        }
        pivots.push(piv);
        if piv != j {
            swaps += 1;
            perm.swap(piv, j);
            for c in 0..n {
                a.swap(j * n + c, piv * n + c);
            }
        }
        let d = a[j * n + j].clone();
        if re64(&d) != 0.0 {
            for i in j + 1..m {
                let l = a[i * n + j].clone() / d.clone();
                for c in j + 1..n {
                    let t = l.clone() * a[j * n + c].clone();
                    a[i * n + c] -= t;
                }
                a[i * n + j] = l;
            }
        }
    }
    Lu {
        a,
        pivots,
        perm,
        swaps,
    }
}

/// `x` with `a x = b` from the factors of a square `a` (`b` is `n x k`).
fn lu_solve<D: Elementary>(f: &Lu<D>, n: usize, b: &[D], k: usize) -> Vec<D> {
    let mut x: Vec<D> = Vec::with_capacity(n * k);
    for &r in &f.perm {
        x.extend_from_slice(&b[r * k..(r + 1) * k]);
    }
    triangular_solve(&f.a, n, &mut x, k, true, true);
    triangular_solve(&f.a, n, &mut x, k, false, false);
    x
}

/// Solves `a x = b` in place (`x` holds `b`, `n x k`) for the lower or upper
/// triangle of `a`, with a unit diagonal (not read) if `unit`.
fn triangular_solve<D: Elementary>(
    a: &[D],
    n: usize,
    x: &mut [D],
    k: usize,
    lower: bool,
    unit: bool,
) {
    let rows: Vec<usize> = if lower {
        (0..n).collect()
    } else {
        (0..n).rev().collect()
    };
    for (at, &i) in rows.iter().enumerate() {
        for &j in &rows[..at] {
            let aij = a[i * n + j].clone();
            for c in 0..k {
                let t = aij.clone() * x[j * k + c].clone();
                x[i * k + c] -= t;
            }
        }
        if !unit {
            let d = a[i * n + i].clone();
            for c in 0..k {
                x[i * k + c] /= d.clone();
            }
        }
    }
}

/// The lower Cholesky factor from the lower triangle of `a` (NaN where `a` is
/// not positive definite).
fn cholesky<D: Elementary>(a: &[D], n: usize) -> Vec<D> {
    let mut l = vec![D::zero(); n * n];
    for j in 0..n {
        let mut d = a[j * n + j].clone();
        for c in 0..j {
            d -= l[j * n + c].clone() * l[j * n + c].clone();
        }
        let d = if re64(&d) > 0.0 {
            d.sqrt()
        } else {
            D::from_f64(f64::NAN)
        };
        for i in j + 1..n {
            let mut s = a[i * n + j].clone();
            for c in 0..j {
                s -= l[i * n + c].clone() * l[j * n + c].clone();
            }
            l[i * n + j] = s / d.clone();
        }
        l[j * n + j] = d;
    }
    l
}

/// Eigenvalues (ascending) and eigenvectors (columns, row-major `v[i * n + j]`)
/// of a real symmetric matrix by cyclic Jacobi rotations.
fn jacobi_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v: Vec<f64> = (0..n * n)
        .map(|i| if i / n == i % n { 1.0 } else { 0.0 })
        .collect();
    for _ in 0..MAX_SWEEPS {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        let scale: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum::<f64>() + off;
        if off <= scale * 1e-34 || !off.is_finite() {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = 0.5 * (2.0 * apq).atan2(a[q * n + q] - a[p * n + p]);
                rotate(&mut a, &mut v, n, p, q, theta.cos(), theta.sin());
            }
        }
    }
    let w: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    (w, v)
}

/// Applies the rotation `G` (`c`, `s` in rows and columns `p`, `q`) as
/// `a <- G^T a G`, `v <- v G`, for any number type.
fn rotate<T>(a: &mut [T], v: &mut [T], n: usize, p: usize, q: usize, c: T, s: T)
where
    T: Clone + std::ops::Mul<Output = T> + std::ops::Add<Output = T> + std::ops::Sub<Output = T>,
{
    for r in 0..n {
        let (x, y) = (a[r * n + p].clone(), a[r * n + q].clone());
        a[r * n + p] = c.clone() * x.clone() - s.clone() * y.clone();
        a[r * n + q] = s.clone() * x + c.clone() * y;
    }
    for r in 0..n {
        let (x, y) = (a[p * n + r].clone(), a[q * n + r].clone());
        a[p * n + r] = c.clone() * x.clone() - s.clone() * y.clone();
        a[q * n + r] = s.clone() * x + c.clone() * y;
    }
    for r in 0..n {
        let (x, y) = (v[r * n + p].clone(), v[r * n + q].clone());
        v[r * n + p] = c.clone() * x.clone() - s.clone() * y.clone();
        v[r * n + q] = s.clone() * x + c.clone() * y;
    }
}

/// Sorts eigenpairs by ascending eigenvalue and makes each eigenvector's
/// largest-magnitude component (the first of equal ones) positive.
fn order_and_sign(w: &mut Vec<f64>, v: &mut Vec<f64>, n: usize) {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&i, &j| w[i].partial_cmp(&w[j]).unwrap_or(std::cmp::Ordering::Equal));
    let w2: Vec<f64> = idx.iter().map(|&i| w[i]).collect();
    let mut v2 = vec![0.0; n * n];
    for (c, &i) in idx.iter().enumerate() {
        let col: Vec<f64> = (0..n).map(|r| v[r * n + i]).collect();
        let sign = sign_of_largest(&col);
        for r in 0..n {
            v2[r * n + c] = sign * col[r];
        }
    }
    *w = w2;
    *v = v2;
}

/// `1.0` or `-1.0`: the sign of the first component of largest magnitude.
fn sign_of_largest(col: &[f64]) -> f64 {
    let mut best = 0.0f64;
    let mut sign = 1.0;
    for &x in col {
        if x.abs() > best {
            best = x.abs();
            sign = if x < 0.0 { -1.0 } else { 1.0 };
        }
    }
    sign
}

/// Jacobi sweeps on `b` (symmetric, its real part diagonal with ascending
/// entries) accumulating the rotations into `v`.
fn refine<D: Elementary>(b: &mut [D], v: &mut [D], n: usize) {
    let half = D::from_f64(0.5);
    let two = D::from_f64(2.0);
    for _ in 0..REFINE_SWEEPS {
        for p in 0..n {
            for q in p + 1..n {
                let apq = b[p * n + q].clone();
                if apq.is_exact_zero() {
                    continue;
                }
                let diff = b[q * n + q].clone() - b[p * n + p].clone();
                let theta = (two.clone() * apq).atan2(&diff) * half.clone();
                let (s, c) = theta.sin_cos();
                rotate(b, v, n, p, q, c, s);
            }
        }
    }
}

/// `eigh` of the lower triangle of `a` into `out` (`w` then `v`).
fn eigh<D: Elementary>(a: &[D], n: usize, out: &mut [D]) {
    // the symmetric matrix of the lower triangle
    let sym = |i: usize, j: usize| if i >= j { &a[i * n + j] } else { &a[j * n + i] };
    let real: Vec<f64> = (0..n * n).map(|e| re64(sym(e / n, e % n))).collect();
    let (mut w0, mut v0) = jacobi_eigen(real, n);
    order_and_sign(&mut w0, &mut v0, n);
    let v0d: Vec<D> = v0.iter().map(|&x| konst(x)).collect();
    // b = v0^T a v0 on the numbers
    let mut av = vec![D::zero(); n * n];
    for i in 0..n {
        for j in 0..n {
            let mut acc = D::zero();
            for l in 0..n {
                acc += sym(i, l).clone() * v0d[l * n + j].clone();
            }
            av[i * n + j] = acc;
        }
    }
    let mut b = vec![D::zero(); n * n];
    for i in 0..n {
        for j in 0..n {
            let mut acc = D::zero();
            for l in 0..n {
                acc += v0d[l * n + i].clone() * av[l * n + j].clone();
            }
            b[i * n + j] = acc;
        }
    }
    let mut v = v0d;
    refine(&mut b, &mut v, n);
    for i in 0..n {
        out[i] = b[i * n + i].clone();
    }
    out[n..].clone_from_slice(&v);
}

/// Real SVD of `a` (`m x n`, `m >= n`) by one-sided Jacobi: `(u (m x m, columns
/// beyond n an orthonormal completion), s (n), v (n x n))`, unsorted.
fn jacobi_svd(a: &[f64], m: usize, n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut w = a.to_vec(); // columns are rotated until orthogonal
    let mut v: Vec<f64> = (0..n * n)
        .map(|i| if i / n == i % n { 1.0 } else { 0.0 })
        .collect();
    for _ in 0..MAX_SWEEPS {
        let mut rotated = false;
        for p in 0..n {
            for q in p + 1..n {
                let (mut alpha, mut beta, mut gamma) = (0.0, 0.0, 0.0);
                for r in 0..m {
                    let (x, y) = (w[r * n + p], w[r * n + q]);
                    alpha += x * x;
                    beta += y * y;
                    gamma += x * y;
                }
                if gamma == 0.0 || gamma.abs() <= 1e-17 * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let theta = 0.5 * (2.0 * gamma).atan2(beta - alpha);
                let (s, c) = theta.sin_cos();
                for r in 0..m {
                    let (x, y) = (w[r * n + p], w[r * n + q]);
                    w[r * n + p] = c * x - s * y;
                    w[r * n + q] = s * x + c * y;
                }
                for r in 0..n {
                    let (x, y) = (v[r * n + p], v[r * n + q]);
                    v[r * n + p] = c * x - s * y;
                    v[r * n + q] = s * x + c * y;
                }
            }
        }
        if !rotated {
            break;
        }
    }
    let s: Vec<f64> = (0..n)
        .map(|j| {
            (0..m)
                .map(|r| w[r * n + j] * w[r * n + j])
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    // u: normalised columns, then an orthonormal completion (Gram-Schmidt on
    // the unit vectors) for zero singular values and the columns beyond n
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(m);
    let mut slot: Vec<Option<usize>> = vec![None; n];
    for j in 0..n {
        if s[j] > 0.0 && s[j].is_finite() {
            slot[j] = Some(cols.len());
            cols.push((0..m).map(|r| w[r * n + j] / s[j]).collect());
        }
    }
    let mut e = 0;
    while cols.len() < m && e < m {
        let mut x: Vec<f64> = (0..m).map(|r| if r == e { 1.0 } else { 0.0 }).collect();
        for _ in 0..2 {
            for c in &cols {
                let d: f64 = c.iter().zip(&x).map(|(a, b)| a * b).sum();
                for (xi, ci) in x.iter_mut().zip(c) {
                    *xi -= d * ci;
                }
            }
        }
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 1e-8 {
            cols.push(x.iter().map(|v| v / norm).collect());
        }
        e += 1;
    }
    // order: the columns of the nonzero singular values where they belong
    let mut order: Vec<usize> = Vec::with_capacity(m);
    let mut spare = (0..cols.len()).filter(|c| !slot.contains(&Some(*c)));
    for s in &slot {
        order.push(match s {
            Some(c) => *c,
            None => spare.next().unwrap_or(0),
        });
    }
    order.extend(spare);
    let mut u = vec![0.0; m * m];
    for (j, &c) in order.iter().enumerate().take(m) {
        for r in 0..m {
            u[r * m + j] = cols.get(c).map_or(0.0, |col| col[r]);
        }
    }
    (u, s, v)
}

/// `svd` of `a` (`m x n`) into `out` (`s` descending, `u` (`m x p`), `vt` (`p x n`)):
/// the real decomposition, then Jacobi sweeps on the symmetric embedding
/// `[[0, a], [a^T, 0]]` (eigenvalues `+-s`, eigenvectors `[u; +-v] / sqrt 2`).
fn svd<D: Elementary>(a: &[D], m: usize, n: usize, out: &mut [D]) {
    let p = m.min(n);
    let real: Vec<f64> = a.iter().map(re64).collect();
    // decompose the taller orientation
    let (u, s, v) = if m >= n {
        jacobi_svd(&real, m, n)
    } else {
        let t: Vec<f64> = (0..n * m).map(|e| real[(e % m) * n + e / m]).collect();
        let (v, s, u) = jacobi_svd(&t, n, m);
        (u, s, v)
    };
    // u is m x m (columns 0..p paired with s), v is n x n, or the other way round
    let (um, vn) = (m, n);
    let mut idx: Vec<usize> = (0..p).collect();
    idx.sort_by(|&i, &j| s[j].partial_cmp(&s[i]).unwrap_or(std::cmp::Ordering::Equal));
    let ucol = |j: usize, r: usize| u[r * um + j];
    let vcol = |j: usize, r: usize| v[r * vn + j];
    let sign: Vec<f64> = idx
        .iter()
        .map(|&j| sign_of_largest(&(0..m).map(|r| ucol(j, r)).collect::<Vec<_>>()))
        .collect();
    // the embedding's eigenbasis, eigenvalues ascending: -s (smallest first is
    // the largest s), the zero block, then +s (largest last)
    let size = m + n;
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(size);
    for (c, &j) in idx.iter().enumerate() {
        let mut col: Vec<f64> = (0..m).map(|r| sign[c] * h * ucol(j, r)).collect();
        col.extend((0..n).map(|r| -sign[c] * h * vcol(j, r)));
        basis.push(col);
    }
    for j in p..m {
        let mut col: Vec<f64> = (0..m).map(|r| ucol(j, r)).collect();
        col.resize(m + n, 0.0);
        basis.push(col);
    }
    for j in p..n {
        let mut col = vec![0.0; m];
        col.extend((0..n).map(|r| vcol(j, r)));
        basis.push(col);
    }
    for (c, &j) in idx.iter().enumerate().rev() {
        let mut col: Vec<f64> = (0..m).map(|r| sign[c] * h * ucol(j, r)).collect();
        col.extend((0..n).map(|r| sign[c] * h * vcol(j, r)));
        basis.push(col);
    }
    let w0: Vec<D> = (0..size * size)
        .map(|e| konst(basis[e % size][e / size]))
        .collect();
    // b = w0^T h w0 on the numbers, with h = [[0, a], [a^T, 0]]
    let hx = |i: usize, l: usize| -> Option<&D> {
        match (i < m, l < m) {
            (true, false) => Some(&a[i * n + (l - m)]),
            (false, true) => Some(&a[l * n + (i - m)]),
            _ => None,
        }
    };
    let mut hw = vec![D::zero(); size * size];
    for i in 0..size {
        for j in 0..size {
            let mut acc = D::zero();
            for l in 0..size {
                if let Some(x) = hx(i, l) {
                    acc += x.clone() * w0[l * size + j].clone();
                }
            }
            hw[i * size + j] = acc;
        }
    }
    let mut b = vec![D::zero(); size * size];
    for i in 0..size {
        for j in 0..size {
            let mut acc = D::zero();
            for l in 0..size {
                acc += w0[l * size + i].clone() * hw[l * size + j].clone();
            }
            b[i * size + j] = acc;
        }
    }
    let mut w = w0;
    refine(&mut b, &mut w, size);
    let root2 = D::from_f64(std::f64::consts::SQRT_2);
    for c in 0..p {
        let col = size - 1 - c; // the c-th largest singular value
        out[c] = b[col * size + col].clone();
        for r in 0..m {
            out[p + r * p + c] = w[r * size + col].clone() * root2.clone();
        }
        for r in 0..n {
            out[p + m * p + c * n + r] = w[(m + r) * size + col].clone() * root2.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dual::Dual;

    fn run(func: LinalgFn, dims: (usize, usize, usize), args: &[&[f64]]) -> Vec<f64> {
        let (_, len) = func.layout(dims.0, dims.1, dims.2).unwrap();
        let mut out = vec![0.0; len];
        linalg(func, dims, args, &mut out);
        out
    }

    #[test]
    fn solve_inv_det_slogdet() {
        let a = [4.0, 1.0, 2.0, 0.5, 3.0, 1.0, 2.0, 1.0, 5.0];
        let b = [1.0, 2.0, 3.0];
        let x = run(LinalgFn::Solve, (3, 3, 1), &[&a, &b]);
        for i in 0..3 {
            let r: f64 = (0..3).map(|j| a[i * 3 + j] * x[j]).sum();
            assert!((r - b[i]).abs() < 1e-14);
        }
        let inv = run(LinalgFn::Inv, (3, 3, 0), &[&a]);
        for i in 0..3 {
            for j in 0..3 {
                let r: f64 = (0..3).map(|l| a[i * 3 + l] * inv[l * 3 + j]).sum();
                assert!((r - f64::from(u8::from(i == j))).abs() < 1e-14);
            }
        }
        let det = run(LinalgFn::Det, (3, 3, 0), &[&a]);
        let want = 4.0 * (15.0 - 1.0) - 1.0 * (2.5 - 2.0) + 2.0 * (0.5 - 6.0);
        assert!((det[0] - want).abs() < 1e-13);
        let sl = run(LinalgFn::Slogdet, (3, 3, 0), &[&a]);
        assert_eq!(sl[0], 1.0);
        assert!((sl[1] - want.ln()).abs() < 1e-14);
        // d det / d a = det * inv^T, through dual numbers
        let ad: Vec<Dual<f64, 1>> = (0..9)
            .map(|e| Dual::seeded(a[e], if e == 1 { 0 } else { 1 }))
            .collect();
        let mut out = [Dual::constant(0.0)];
        linalg(LinalgFn::Det, (3, 3, 0), &[&ad], &mut out);
        assert!((out[0].eps[0] - want * inv[3]).abs() < 1e-12);
    }

    #[test]
    fn eigh_and_svd_reconstruct() {
        let a = [2.0, 0.0, 0.0, 1.0, 3.0, 0.0, 0.5, -1.0, 1.0];
        let e = run(LinalgFn::Eigh, (3, 3, 0), &[&a]);
        let (w, v) = e.split_at(3);
        assert!(w[0] <= w[1] && w[1] <= w[2]);
        let sym = |i: usize, j: usize| if i >= j { a[i * 3 + j] } else { a[j * 3 + i] };
        for i in 0..3 {
            for j in 0..3 {
                let r: f64 = (0..3).map(|l| v[i * 3 + l] * w[l] * v[j * 3 + l]).sum();
                assert!((r - sym(i, j)).abs() < 1e-13, "{i} {j}");
            }
        }
        for (m, n) in [(3, 2), (2, 3), (3, 3)] {
            let a: Vec<f64> = (0..m * n).map(|e| ((e * 7 + 3) % 5) as f64 - 1.5).collect();
            let p = m.min(n);
            let out = run(LinalgFn::Svd, (m, n, 0), &[&a]);
            let (s, rest) = out.split_at(p);
            let (u, vt) = rest.split_at(m * p);
            for i in 0..m {
                for j in 0..n {
                    let r: f64 = (0..p).map(|l| u[i * p + l] * s[l] * vt[l * n + j]).sum();
                    assert!((r - a[i * n + j]).abs() < 1e-13, "{m}x{n} {i} {j}");
                }
            }
            assert!(s.windows(2).all(|w| w[0] >= w[1]));
        }
    }
}
