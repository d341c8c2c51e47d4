//! Special functions in `f64` that the standard library lacks: the error
//! function family (from `libm`, correctly rounded to within an ulp), the log
//! gamma function, the digamma and polygamma functions and the inverse error
//! function. Conventions at poles and edges follow JAX's (`jax.lax.lgamma`,
//! `digamma`, `polygamma`, `erf_inv`, `erfc`).

use std::f64::consts::PI;

/// `erf(x)`.
pub(crate) fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// `erfc(x) = 1 - erf(x)`, accurate where `erf(x)` is close to 1.
pub(crate) fn erfc(x: f64) -> f64 {
    libm::erfc(x)
}

/// `ln |Gamma(x)|` (`+inf` at the poles `0, -1, -2, ...`).
pub(crate) fn lgamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// `sin(pi x)` with the argument reduced exactly first (so that it is zero at
/// the integers and accurate for large `|x|`).
fn sin_pi(x: f64) -> f64 {
    let r = x - 2.0 * (x / 2.0).round(); // in [-1, 1], exact
    if r.abs() <= 0.5 {
        (PI * r).sin()
    } else {
        // sin(pi r) = sin(pi (sign(r) - r))
        (PI * (r.signum() - r)).sin()
    }
}

/// `cos(pi x)`, reduced as in [`sin_pi`].
fn cos_pi(x: f64) -> f64 {
    sin_pi(x + 0.5)
}

/// Whether `x` is a pole of the gamma function (`0, -1, -2, ...`).
fn is_pole(x: f64) -> bool {
    x <= 0.0 && x == x.floor()
}

/// The digamma function `psi(x) = d/dx ln Gamma(x)`; NaN at the poles (as JAX).
pub(crate) fn digamma(x: f64) -> f64 {
    if x.is_nan() || x == f64::NEG_INFINITY || is_pole(x) {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return x;
    }
    if x < 0.5 {
        // reflection: psi(x) = psi(1 - x) - pi cot(pi x)
        return digamma(1.0 - x) - PI * cos_pi(x) / sin_pi(x);
    }
    // psi(x) = psi(x + k) - sum 1/(x + j), then the asymptotic series
    let mut acc = 0.0;
    let mut y = x;
    while y < 10.0 {
        acc -= 1.0 / y;
        y += 1.0;
    }
    let r = 1.0 / (y * y);
    // -sum_k B_2k / (2k y^2k), Bernoulli numbers B_2 .. B_14
    let tail = r
        * (1.0 / 12.0
            - r * (1.0 / 120.0
                - r * (1.0 / 252.0
                    - r * (1.0 / 240.0 - r * (1.0 / 132.0 - r * (691.0 / 32760.0 - r / 12.0))))));
    acc + y.ln() - 0.5 / y - tail
}

/// Bernoulli numbers `B_2, B_4, ..., B_20`.
const BERNOULLI: [f64; 10] = [
    1.0 / 6.0,
    -1.0 / 30.0,
    1.0 / 42.0,
    -1.0 / 30.0,
    5.0 / 66.0,
    -691.0 / 2730.0,
    7.0 / 6.0,
    -3617.0 / 510.0,
    43867.0 / 798.0,
    -174611.0 / 330.0,
];

/// `n!` as a float.
fn factorial(n: u32) -> f64 {
    (1..=n).map(f64::from).product()
}

/// The polygamma function `psi^(n)(x)`, the `n`-th derivative of digamma
/// (`n = 0` is digamma itself). At the poles: `+inf` for odd `n`, NaN for even
/// `n` (the sign depends on the side), as JAX.
pub(crate) fn polygamma(n: u32, x: f64) -> f64 {
    if n == 0 {
        return digamma(x);
    }
    if x.is_nan() || x == f64::NEG_INFINITY {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return 0.0;
    }
    if is_pole(x) {
        return if n % 2 == 1 { f64::INFINITY } else { f64::NAN };
    }
    let sign = if n % 2 == 1 { 1.0 } else { -1.0 }; // (-1)^(n+1)
    if x < 0.5 {
        // reflection: psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi d^n/dx^n cot(pi x)
        let parity = if n % 2 == 0 { 1.0 } else { -1.0 };
        return parity * polygamma(n, 1.0 - x) - PI * cot_pi_derivative(n, x);
    }
    let nf = factorial(n);
    // (-1)^(n+1) n! sum_j 1/(x + j)^(n+1) for the shift, then the asymptotic series
    let mut acc = 0.0;
    let mut y = x;
    let threshold = 15.0 + f64::from(n);
    while y < threshold {
        acc += y.powi(-(n as i32) - 1);
        y += 1.0;
    }
    // (n-1)!/y^n + n!/(2 y^(n+1)) + sum_k B_2k (2k+n-1)!/((2k)! y^(2k+n))
    let mut series = factorial(n - 1) / y.powi(n as i32) + nf / (2.0 * y.powi(n as i32 + 1));
    for (k, b) in BERNOULLI.iter().enumerate() {
        let k = k as u32 + 1;
        let term = b * factorial(2 * k + n - 1) / (factorial(2 * k) * y.powi((2 * k + n) as i32));
        series += term;
        if term.abs() <= series.abs() * 1e-18 {
            break;
        }
    }
    sign * (nf * acc + series)
}

/// `d^n/dx^n cot(pi x)`: with `c = cot(pi x)`, `dc/dx = -pi (1 + c^2)`, so each
/// derivative is a polynomial in `c`, built by differentiating the last one.
fn cot_pi_derivative(n: u32, x: f64) -> f64 {
    let c = cos_pi(x) / sin_pi(x);
    let mut poly = vec![0.0, 1.0]; // P_0(c) = c
    for _ in 0..n {
        // P' (c) * (-pi) (1 + c^2)
        let d: Vec<f64> = (1..poly.len()).map(|k| k as f64 * poly[k]).collect();
        let mut next = vec![0.0; d.len() + 2];
        for (k, &v) in d.iter().enumerate() {
            next[k] -= PI * v;
            next[k + 2] -= PI * v;
        }
        poly = next;
    }
    poly.iter().rev().fold(0.0, |acc, &a| acc * c + a)
}

/// The inverse error function on `[-1, 1]` (`+-inf` at `+-1`, NaN outside):
/// Winitzki's approximation refined by Newton's method on `erf` (or on
/// `erfc` in the tails, where `1 - |x|` is exact and `erf` would cancel).
pub(crate) fn erf_inv(x: f64) -> f64 {
    if x.is_nan() || x.abs() > 1.0 {
        return f64::NAN;
    }
    if x.abs() == 1.0 {
        return x * f64::INFINITY;
    }
    if x == 0.0 {
        return x;
    }
    let a = x.abs();
    let l = (-a).ln_1p() + a.ln_1p(); // ln(1 - a^2)
    let k = 0.147;
    let t = 2.0 / (PI * k) + 0.5 * l;
    let mut y = ((t * t - l / k).sqrt() - t).sqrt();
    let tail = a >= 0.5;
    let q = 1.0 - a; // exact for a >= 0.5
    for _ in 0..60 {
        let f = if tail { q - erfc(y) } else { erf(y) - a };
        let fp = std::f64::consts::FRAC_2_SQRT_PI * (-y * y).exp();
        if fp == 0.0 || !fp.is_finite() {
            break;
        }
        let step = f / fp;
        y -= step;
        if step.abs() <= y.abs() * 1e-17 {
            break;
        }
    }
    y.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rtol: f64) -> bool {
        (a - b).abs() <= rtol * b.abs().max(1e-300) || a == b
    }

    #[test]
    fn reference_values() {
        // mpmath / scipy values
        let digammas = [
            (1.0, -0.5772156649015329),
            (0.5, -1.9635100260214235),
            (2.0, 0.42278433509846713),
            (10.0, 2.251752589066721),
            (1e10, 23.025850929890456),
            (-1.5, 0.7031566406452432),
            (-0.5, 0.03648997397857652),
            (-2.5, 1.103_156_640_645_243),
            (1e-300, -1e300),
        ];
        for (x, want) in digammas {
            // near -0.5 the reflection cancels (psi(1.5) - pi cot(-pi/2) = 0.04 - 0 + ...)
            assert!(
                close(digamma(x), want, 1e-14),
                "digamma({x}) = {}",
                digamma(x)
            );
        }
        let trigammas = [
            (1.0, 1.6449340668482264),
            (0.5, 4.934802200544679),
            (10.0, 0.10516633568168575),
            (-1.5, 9.379246644989124),
            (1e-5, 10000000001.644908),
            (-0.5, 8.934802200544679),
        ];
        for (x, want) in trigammas {
            assert!(
                close(polygamma(1, x), want, 4e-15),
                "psi1({x}) = {}",
                polygamma(1, x)
            );
        }
        let tetragammas = [
            (1.0, -2.4041138063191885),
            (0.5, -16.828_796_644_234_32),
            (-1.5, -0.236_204_051_641_727_4),
            (-0.5, -0.8287966442343199),
        ];
        for (x, want) in tetragammas {
            assert!(
                close(polygamma(2, x), want, 4e-14),
                "psi2({x}) = {}",
                polygamma(2, x)
            );
        }
        for (n, x, want) in [
            (3, 2.5, 0.22390584881725205),
            (4, -0.3, 9731.83495623352),
            (3, -2.7, 768.9626351155226),
            (2, 3e5, -1.1111148148209877e-11),
        ] {
            let got = polygamma(n, x);
            assert!(close(got, want, 1e-13), "psi{n}({x}) = {got}");
        }
        for (x, want) in [
            (0.3, 0.272_462_714_726_754_3),
            (0.9, 1.1630871536766742),
            (-0.5, -0.4769362762044699),
            (0.7, 0.7328690779592168),
            (0.999999999, 4.320005388105362),
            (0.999999999999999, 5.675915739744713),
            (1e-20, 8.86226925452758e-21),
        ] {
            assert!(
                close(erf_inv(x), want, 2e-15),
                "erf_inv({x}) = {}",
                erf_inv(x)
            );
            assert!(close(erf(erf_inv(x)), x, 2e-15));
        }
        assert_eq!(erf_inv(1.0), f64::INFINITY);
        assert_eq!(erf_inv(-1.0), f64::NEG_INFINITY);
        assert!(erf_inv(1.5).is_nan());
        assert!(digamma(0.0).is_nan() && digamma(-2.0).is_nan());
        assert_eq!(polygamma(1, -2.0), f64::INFINITY);
        assert!(polygamma(2, 0.0).is_nan());
        assert_eq!(lgamma(0.0), f64::INFINITY);
        assert!(close(lgamma(0.5), 0.5723649429247001, 1e-15));
        assert!(close(erfc(10.0), 2.088487583762545e-45, 1e-14));
    }
}
