//! Sparse Jacobian of the 2-D Brusselator by colored finite differences,
//! plus coloring figures on a few reference patterns.
//!
//! Run with `cargo run -p anydiff --release --example brusselator_sparse`.

use std::convert::Infallible;
use std::time::Instant;

use anydiff::sparse::{
    color_columns, color_columns_best, color_star, decompress_columns, is_valid, seed_matrix,
    ImproveOptions, Order, Pattern,
};
use anydiff::{oracle_fn, BatchPolicy, FiniteDiff, Scheme, StopFlag};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2};

type Layout = Box<dyn Fn(usize, usize, usize) -> usize>;

/// Brusselator right-hand side at `t = 0` (forcing off), Julia layout.
fn brusselator_rhs(n: usize, y: ArrayView1<f64>, mut dy: ndarray::ArrayViewMut1<f64>) {
    let (a_const, b_const, alpha) = (3.4, 1.0, 10.0);
    let dx = 1.0 / (n as f64 - 1.0);
    let a = alpha / (dx * dx);
    let id = |i: usize, j: usize, k: usize| i + n * j + n * n * k;
    for j in 0..n {
        for i in 0..n {
            let (ip, im) = ((i + 1) % n, (i + n - 1) % n);
            let (jp, jm) = ((j + 1) % n, (j + n - 1) % n);
            let u = y[id(i, j, 0)];
            let v = y[id(i, j, 1)];
            let lap = |k: usize| {
                y[id(ip, j, k)] + y[id(im, j, k)] + y[id(i, jp, k)] + y[id(i, jm, k)]
                    - 4.0 * y[id(i, j, k)]
            };
            dy[id(i, j, 0)] = a * lap(0) + b_const + u * u * v - (a_const + 1.0) * u;
            dy[id(i, j, 1)] = a * lap(1) + a_const * u - u * u * v;
        }
    }
}

/// Initial state `u0 = 22 (y(1-y))^1.5`, `v0 = 27 (x(1-x))^1.5`.
fn initial_state(n: usize) -> Array1<f64> {
    let grid = |i: usize| i as f64 / (n as f64 - 1.0);
    let mut y0 = Array1::zeros(2 * n * n);
    for j in 0..n {
        for i in 0..n {
            let (x, y) = (grid(i), grid(j));
            y0[i + n * j] = 22.0 * (y * (1.0 - y)).powf(1.5);
            y0[i + n * j + n * n] = 27.0 * (x * (1.0 - x)).powf(1.5);
        }
    }
    y0
}

/// Brusselator Jacobian pattern with state index `index(i, j, k)`.
fn brusselator_pattern(n: usize, index: &dyn Fn(usize, usize, usize) -> usize) -> Pattern {
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
                for (p, q) in nb {
                    rows.push(r);
                    cols.push(index(p, q, k));
                }
                rows.push(r);
                cols.push(index(i, j, 1 - k));
            }
        }
    }
    let size = 2 * n * n;
    Pattern::from_coo(size, size, &rows, &cols).unwrap_or_else(|_| Pattern::empty(size, size))
}

/// A seeded permutation of `0..len` (linear congruential shuffle).
fn permutation(len: usize, seed: u64) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..len).collect();
    let mut s = seed;
    for i in (1..len).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        perm.swap(i, ((s >> 33) as usize) % (i + 1));
    }
    perm
}

/// Pattern from a list of offsets on a periodic-free grid (`dims` sizes).
fn stencil(dims: &[usize], offsets: &[Vec<i64>]) -> Pattern {
    let total: usize = dims.iter().product();
    let (mut rows, mut cols) = (Vec::new(), Vec::new());
    for r in 0..total {
        let mut coord = Vec::with_capacity(dims.len());
        let mut rest = r;
        for &d in dims {
            coord.push((rest % d) as i64);
            rest /= d;
        }
        'offs: for off in offsets {
            let mut c = 0usize;
            let mut stride = 1usize;
            for ((&x, &o), &d) in coord.iter().zip(off).zip(dims) {
                let y = x + o;
                if y < 0 || y >= d as i64 {
                    continue 'offs;
                }
                c += y as usize * stride;
                stride *= d;
            }
            rows.push(r);
            cols.push(c);
        }
    }
    Pattern::from_coo(total, total, &rows, &cols).unwrap_or_else(|_| Pattern::empty(total, total))
}

fn random_pattern(m: usize, n: usize, per_row: usize, seed: u64) -> Pattern {
    let mut s = seed;
    let (mut rows, mut cols) = (Vec::new(), Vec::new());
    for i in 0..m {
        for _ in 0..per_row {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            rows.push(i);
            cols.push(((s >> 33) as usize) % n);
        }
    }
    Pattern::from_coo(m, n, &rows, &cols).unwrap_or_else(|_| Pattern::empty(m, n))
}

fn orders_line(p: &Pattern) -> String {
    Order::ALL
        .iter()
        .map(|&o| format!("{o}={}", color_columns(p, o).ncolors))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = 32;
    let size = 2 * n * n;

    // 1. the right-hand side and the DESIGN.md check values
    let y0 = initial_state(n);
    let mut du = Array1::zeros(size);
    brusselator_rhs(n, y0.view(), du.view_mut());
    for (idx1, want) in [
        (34, 802.9807693762164),
        (1058, 985.3120721709204),
        (2000, -403.5817880634729),
        (2048, 1431.1460373522068),
    ] {
        let got: f64 = du[idx1 - 1];
        let rel = ((got - want) / want).abs();
        println!("du[{idx1}] = {got:.13} (reference {want}, rel. error {rel:.1e})");
        if rel > 1e-9 {
            return Err(format!("du[{idx1}] = {got} differs from {want}").into());
        }
    }

    // 2. colored central differences versus the dense FD Jacobian
    let mut f = oracle_fn(|p: ArrayView2<f64>, mut out: ArrayViewMut2<f64>| {
        for (x, o) in p.rows().into_iter().zip(out.rows_mut()) {
            brusselator_rhs(n, x, o);
        }
        Ok::<(), Infallible>(())
    });
    let fd = FiniteDiff::new(Scheme::Central);
    let t0 = Instant::now();
    let pattern = brusselator_pattern(n, &|i, j, k| i + n * j + n * n * k);
    let coloring = color_columns(&pattern, Order::default());
    let t_color = t0.elapsed();
    let seeds = seed_matrix::<f64>(&coloring);
    let mut compressed = Array2::zeros((coloring.ncolors, size));
    fd.jvp(&mut f, y0.view(), None, seeds.t(), compressed.view_mut())?;
    let values = decompress_columns(&pattern, &coloring, compressed.t())?;
    let t_sparse = t0.elapsed();
    let t1 = Instant::now();
    let dense = fd.jacobian(&mut f, y0.view(), None, size, &BatchPolicy::default())?;
    let t_dense = t1.elapsed();
    let sparse = pattern.to_dense(&values)?;
    let scale = dense.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let err = (&sparse - &dense)
        .iter()
        .fold(0.0f64, |m, x| m.max(x.abs()));
    println!(
        "Brusselator N={n}: {size} x {size}, nnz {}, {} colors (order {}), valid {}",
        pattern.nnz(),
        coloring.ncolors,
        Order::default(),
        is_valid(&pattern, &coloring)
    );
    println!(
        "  coloring {:.2} ms, coloring + {} colored FD evaluations + decompression {:.1} ms, dense FD {:.1} ms",
        t_color.as_secs_f64() * 1e3,
        2 * coloring.ncolors,
        t_sparse.as_secs_f64() * 1e3,
        t_dense.as_secs_f64() * 1e3
    );
    println!("  max |sparse - dense| = {err:.2e} (max |J| = {scale:.2e})");
    if err > 1e-6 * scale {
        return Err(format!("sparse FD Jacobian differs from dense: {err:e}").into());
    }

    // 3. colors per layout and ordering
    let layouts: Vec<(String, Layout)> = {
        let mut v: Vec<(String, Layout)> = vec![
            (
                "julia".into(),
                Box::new(move |i, j, k| i + n * j + n * n * k),
            ),
            (
                "interleaved".into(),
                Box::new(move |i, j, k| 2 * (i * n + j) + k),
            ),
        ];
        for seed in 1..=3u64 {
            let perm = permutation(size, seed);
            v.push((
                format!("random perm {seed}"),
                Box::new(move |i, j, k| perm[i + n * j + n * n * k]),
            ));
        }
        v
    };
    println!("\nBrusselator N={n} column colors (minimum 7):");
    for (name, layout) in &layouts {
        let p = brusselator_pattern(n, layout.as_ref());
        let t = Instant::now();
        let best =
            color_columns_best(&p, &[], &ImproveOptions::default(), &StopFlag::new()).unwrap();
        let dt = t.elapsed().as_secs_f64();
        println!(
            "  {name:<14} {}  best (default budget)={} ({dt:.2} s, valid {})",
            orders_line(&p),
            best.ncolors,
            is_valid(&p, &best)
        );
    }

    // 4. coloring time for N = 512 (default greedy order)
    let big_n = 512;
    let big = brusselator_pattern(big_n, &|i, j, k| i + big_n * j + big_n * big_n * k);
    for order in [Order::Natural, Order::LargestFirst, Order::SmallestLast] {
        let t = Instant::now();
        let c = color_columns(&big, order);
        println!(
            "Brusselator N={big_n} ({} columns): {order} greedy {} colors in {:.1} ms",
            big.ncols(),
            c.ncolors,
            t.elapsed().as_secs_f64() * 1e3
        );
    }

    // 5. other reference patterns
    println!("\nOther patterns (column colors):");
    let mut seven = vec![vec![0i64, 0, 0]];
    for d in 0..3 {
        for s in [-1i64, 1] {
            let mut o = vec![0i64; 3];
            o[d] = s;
            seven.push(o);
        }
    }
    let nine: Vec<Vec<i64>> = (-1..=1)
        .flat_map(|a| (-1..=1).map(move |b| vec![a, b]))
        .collect();
    let others = [
        ("3D 7-point 16^3", stencil(&[16, 16, 16], &seven)),
        ("2D 9-point 64^2", stencil(&[64, 64], &nine)),
        ("banded half-width 5, n=1000", {
            let offs: Vec<Vec<i64>> = (-5..=5).map(|o| vec![o]).collect();
            stencil(&[1000], &offs)
        }),
        (
            "random 1000 x 1000, 5/row",
            random_pattern(1000, 1000, 5, 42),
        ),
    ];
    for (name, p) in &others {
        let best =
            color_columns_best(p, &[], &ImproveOptions::default(), &StopFlag::new()).unwrap();
        let star = if p.is_symmetric() {
            color_star(p, Order::SmallestLast)
                .map(|s| s.ncolors.to_string())
                .unwrap_or_default()
        } else {
            "-".into()
        };
        println!(
            "  {name:<28} {}  best={}  star(smallest_last)={star}",
            orders_line(p),
            best.ncolors
        );
    }
    Ok(())
}
