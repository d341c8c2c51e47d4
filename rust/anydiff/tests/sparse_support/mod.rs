//! Pattern builders shared by the sparse tests.
#![allow(dead_code)]

use anydiff::sparse::Pattern;

/// Brusselator N x N Jacobian pattern with state index `index(i, j, k)`.
pub fn brusselator(n: usize, index: impl Fn(usize, usize, usize) -> usize) -> Pattern {
    let (mut rows, mut cols) = (Vec::new(), Vec::new());
    for k in 0..2 {
        for j in 0..n {
            for i in 0..n {
                let r = index(i, j, k);
                let nb = [
                    (i, j),
                    ((i + 1) % n, j),
                    ((i + n - 1) % n, j),
                    (i, (j + 1) % n),
                    (i, (j + n - 1) % n),
                ];
                for (a, b) in nb {
                    rows.push(r);
                    cols.push(index(a, b, k));
                }
                rows.push(r);
                cols.push(index(i, j, 1 - k));
            }
        }
    }
    let size = 2 * n * n;
    Pattern::from_coo(size, size, &rows, &cols).expect("valid pattern")
}

/// Julia layout `i + N j + N^2 k`.
pub fn julia(n: usize) -> impl Fn(usize, usize, usize) -> usize {
    move |i, j, k| i + n * j + n * n * k
}

/// Interleaved layout `2 (i N + j) + k`.
pub fn interleaved(n: usize) -> impl Fn(usize, usize, usize) -> usize {
    move |i, j, k| 2 * (i * n + j) + k
}

/// Julia layout followed by a seeded random permutation.
pub fn permuted(n: usize, seed: u64) -> impl Fn(usize, usize, usize) -> usize {
    let size = 2 * n * n;
    let mut perm: Vec<usize> = (0..size).collect();
    let mut s = seed;
    for i in (1..size).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((s >> 33) as usize) % (i + 1);
        perm.swap(i, j);
    }
    move |i, j, k| perm[i + n * j + n * n * k]
}

/// Tridiagonal `n x n` pattern.
pub fn tridiagonal(n: usize) -> Pattern {
    banded(n, 1)
}

/// Banded `n x n` pattern with half-bandwidth `w`.
pub fn banded(n: usize, w: usize) -> Pattern {
    let (mut r, mut c) = (Vec::new(), Vec::new());
    for i in 0..n {
        for j in i.saturating_sub(w)..(i + w + 1).min(n) {
            r.push(i);
            c.push(j);
        }
    }
    Pattern::from_coo(n, n, &r, &c).expect("valid pattern")
}
