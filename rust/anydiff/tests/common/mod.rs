//! Functions shared by the integration tests of several modules.
#![allow(dead_code)]

use anydiff::dual::DualNum;

/// The 2-D Brusselator right-hand side (DESIGN.md) at t = 0, Julia layout
/// (`y[i + n j + n^2 k]`, `k = 0` for u, 1 for v); generic over `Copy` and
/// non-`Copy` number types.
pub fn brusselator<D: DualNum<f64>>(n: usize, y: &[D], dy: &mut [D]) {
    let (a_const, b_const, alpha) = (3.4, 1.0, 10.0);
    let dx = 1.0 / (n as f64 - 1.0);
    let a = alpha / (dx * dx);
    let id = |i: usize, j: usize, k: usize| i + n * j + n * n * k;
    for j in 0..n {
        for i in 0..n {
            let (ip, im) = ((i + 1) % n, (i + n - 1) % n);
            let (jp, jm) = ((j + 1) % n, (j + n - 1) % n);
            let (u, v) = (y[id(i, j, 0)].clone(), y[id(i, j, 1)].clone());
            let lap = |k: usize| {
                y[id(ip, j, k)].clone()
                    + y[id(im, j, k)].clone()
                    + y[id(i, jp, k)].clone()
                    + y[id(i, jm, k)].clone()
                    - y[id(i, j, k)].clone() * 4.0
            };
            let uuv = u.clone() * u.clone() * v;
            dy[id(i, j, 0)] = lap(0) * a + b_const + uuv.clone() - u.clone() * (a_const + 1.0);
            dy[id(i, j, 1)] = lap(1) * a + u * a_const - uuv;
        }
    }
}
