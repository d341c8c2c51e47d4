//! Every elementary function of the dual numbers against its closed-form
//! derivative and central finite differences, on `Dual`, `DualVec`, `f32`
//! and nested duals, plus the documented edge values.

// one closure body serves Copy (`Dual`) and non-Copy (`DualVec`) types
#![allow(clippy::clone_on_copy)]

use anydiff::dual::{derivative, second_derivative, Dual, DualVec, Elementary};

type D1 = Dual<f64, 1>;
type DD = Dual<Dual<f64, 1>, 1>;

fn k<D: Elementary>(v: f64) -> D {
    D::from_f64(v)
}

/// A constant of the same type as `_like`.
fn ks<D: Elementary>(_like: &D, v: f64) -> D {
    D::from_f64(v)
}

struct Case {
    name: &'static str,
    real: fn(&f64) -> f64,
    dual: fn(&D1) -> D1,
    dvec: fn(&DualVec<f64>) -> DualVec<f64>,
    dual32: fn(&Dual<f32, 1>) -> Dual<f32, 1>,
    nested: fn(&DD) -> DD,
    deriv: fn(f64) -> f64,
    pts: Vec<f64>,
}

macro_rules! cases {
    ($( $name:literal : |$x:ident| $e:expr, |$v:ident| $d:expr, $pts:expr; )*) => {
        vec![$( Case {
            name: $name,
            real: |$x: &f64| $e,
            dual: |$x: &D1| $e,
            dvec: |$x: &DualVec<f64>| $e,
            dual32: |$x: &Dual<f32, 1>| $e,
            nested: |$x: &DD| $e,
            deriv: |$v: f64| $d,
            pts: $pts,
        } ),*]
    };
}

fn grid(a: f64, b: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
        .collect()
}

fn with(mut v: Vec<f64>, extra: &[f64]) -> Vec<f64> {
    v.extend_from_slice(extra);
    v
}

fn all_cases() -> Vec<Case> {
    use std::f64::consts::{FRAC_2_SQRT_PI, LN_10, LN_2};
    let wide = || with(grid(-3.1, 3.1, 23), &[0.0, 40.0, -40.0]);
    let pos = || with(grid(0.05, 5.0, 21), &[1e-3, 1e3, 1e8]);
    let unit = || grid(-0.95, 0.95, 21);
    cases! {
        "recip": |x| x.recip(), |v| -1.0 / (v * v), with(grid(0.1, 3.0, 12), &[-0.5, -2.0, 1e6]);
        "powi3": |x| x.powi(3), |v| 3.0 * v * v, wide();
        "powi-2": |x| x.powi(-2), |v| -2.0 / (v * v * v), with(grid(0.2, 3.0, 12), &[-0.7]);
        "powi0": |x| x.powi(0), |_v| 0.0, wide();
        "powf": |x| x.powf(2.5), |v| 2.5 * v.powf(1.5), pos();
        "pow_dual": |x| x.pow(&(x.clone() * ks(x, 0.5))), |v| v.powf(0.5 * v) * (0.5 * v.ln() + 0.5), grid(0.1, 4.0, 15);
        "pow_const_base": |x| Elementary::pow(&k(2.5), x), |v| 2.5f64.powf(v) * 2.5f64.ln(), wide();
        "sqrt": |x| x.sqrt(), |v| 0.5 / v.sqrt(), pos();
        "cbrt": |x| x.cbrt(), |v| 1.0 / (3.0 * v.cbrt().powi(2)), with(pos(), &[-2.0, -0.3]);
        "exp": |x| x.exp(), |v| v.exp(), wide();
        "exp2": |x| x.exp2(), |v| v.exp2() * LN_2, wide();
        "exp_m1": |x| x.exp_m1(), |v| v.exp(), with(wide(), &[1e-9]);
        "ln": |x| x.ln(), |v| 1.0 / v, pos();
        "ln_1p": |x| x.ln_1p(), |v| 1.0 / (1.0 + v), with(grid(-0.9, 5.0, 21), &[1e-9]);
        "log2": |x| x.log2(), |v| 1.0 / (v * LN_2), pos();
        "log10": |x| x.log10(), |v| 1.0 / (v * LN_10), pos();
        "log_base3": |x| x.log(&k(3.0)), |v| 1.0 / (v * 3f64.ln()), pos();
        "sin": |x| x.sin(), |v| v.cos(), with(wide(), &[1e4]);
        "cos": |x| x.cos(), |v| -v.sin(), with(wide(), &[1e4]);
        "tan": |x| x.tan(), |v| 1.0 / v.cos().powi(2), grid(-1.4, 1.4, 21);
        "sin_cos.0": |x| x.sin_cos().0, |v| v.cos(), wide();
        "sin_cos.1": |x| x.sin_cos().1, |v| -v.sin(), wide();
        "asin": |x| x.asin(), |v| 1.0 / (1.0 - v * v).sqrt(), unit();
        "acos": |x| x.acos(), |v| -1.0 / (1.0 - v * v).sqrt(), unit();
        "atan": |x| x.atan(), |v| 1.0 / (1.0 + v * v), with(wide(), &[1e5]);
        "atan2_y": |x| x.atan2(&k(-0.7)), |v| -0.7 / (0.49 + v * v), with(grid(-3.0, -0.1, 10), &[0.2, 1.0, 3.0, 40.0]); // cut at 0
        "atan2_x": |x| Elementary::atan2(&k(1.3), x), |v| -1.3 / (1.69 + v * v), wide();
        "sinh": |x| x.sinh(), |v| v.cosh(), wide();
        "cosh": |x| x.cosh(), |v| v.sinh(), wide();
        "tanh": |x| x.tanh(), |v| 1.0 / v.cosh().powi(2), wide();
        "asinh": |x| x.asinh(), |v| 1.0 / (v * v + 1.0).sqrt(), with(wide(), &[1e4]);
        "acosh": |x| x.acosh(), |v| 1.0 / (v * v - 1.0).sqrt(), grid(1.05, 6.0, 21);
        "atanh": |x| x.atanh(), |v| 1.0 / (1.0 - v * v), unit();
        "abs": |x| x.abs(), |v| v.signum(), grid(-3.05, 3.05, 20);
        "min": |x| x.min(&k(0.3)), |v| if v < 0.3 { 1.0 } else { 0.0 }, grid(-2.05, 2.05, 20);
        "max": |x| x.max(&k(0.3)), |v| if v > 0.3 { 1.0 } else { 0.0 }, grid(-2.05, 2.05, 20);
        "hypot": |x| x.hypot(&k(1.5)), |v| v / (v * v + 2.25).sqrt(), wide();
        "mul_add": |x| x.mul_add(&x.sin(), &x.exp()), |v| v.sin() + v * v.cos() + v.exp(), wide();
        "signum": |x| x.signum(), |_v| 0.0, grid(-2.05, 2.05, 20);
        "floor": |x| x.floor(), |_v| 0.0, grid(-2.05, 2.05, 20);
        "ceil": |x| x.ceil(), |_v| 0.0, grid(-2.05, 2.05, 20);
        "round": |x| x.round(), |_v| 0.0, grid(-2.05, 2.05, 20);
        "trunc": |x| x.trunc(), |_v| 0.0, grid(-2.05, 2.05, 20);
        "erf": |x| x.erf(), |v| FRAC_2_SQRT_PI * (-v * v).exp(), with(grid(-4.0, 4.0, 33), &[0.0, 1e-8, 7.0]);
        "div_mix": |x| (x.clone() * x.clone() + ks(x, 1.0)) / (x.exp() + ks(x, 2.0)), |v| (2.0 * v * (v.exp() + 2.0) - (v * v + 1.0) * v.exp()) / (v.exp() + 2.0).powi(2), wide();
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

/// Central difference of `g` at `x`, or None where the step leaves a smooth region.
fn central(g: impl Fn(f64) -> f64, x: f64) -> Option<f64> {
    let h = (1e-6 * x.abs().max(1.0)).min(1e-3);
    let d = (g(x + h) - g(x - h)) / (2.0 * h);
    d.is_finite().then_some(d)
}

#[test]
fn derivatives_match_closed_form_and_finite_differences() {
    let mut checked = 0;
    for c in all_cases() {
        for &p in &c.pts {
            let v = (c.real)(&p);
            let d = (c.dual)(&D1::variable(p, 0).unwrap());
            assert!(
                close(d.re, v, 0.0),
                "{} value at {p}: {} vs {v}",
                c.name,
                d.re
            );
            let exact = (c.deriv)(p);
            assert!(
                close(d.eps[0], exact, 1e-12),
                "{} derivative at {p}: {} vs {exact}",
                c.name,
                d.eps[0]
            );
            if let Some(fd) = central(|t| (c.real)(&t), p) {
                // skip kinks (abs/min/max/floor...) where the step straddles them
                let kink = (c.deriv)(p - 1e-5) != (c.deriv)(p + 1e-5)
                    && matches!(c.name, "abs" | "min" | "max");
                if !kink && v.abs() < 1e12 {
                    assert!(
                        close(d.eps[0], fd, 2e-6),
                        "{} vs finite differences at {p}: {} vs {fd}",
                        c.name,
                        d.eps[0]
                    );
                }
            }
            // DualVec shares the rules: bit-identical lanes
            let dv = (c.dvec)(&DualVec::variable(p, 0, 1).unwrap());
            assert!(
                close(dv.re, d.re, 0.0) && close(dv.lane(0), d.eps[0], 0.0),
                "{} DualVec",
                c.name
            );
            // nested: second derivative vs finite differences of the closed-form first
            let dd = (c.nested)(&Dual::variable(Dual::variable(p, 0).unwrap(), 0).unwrap());
            assert!(close(dd.re.eps[0], exact, 1e-12), "{} nested first", c.name);
            assert!(close(dd.eps[0].re, exact, 1e-12), "{} nested outer", c.name);
            if let Some(fd2) = central(c.deriv, p) {
                if exact.abs() < 1e12 && !matches!(c.name, "abs" | "min" | "max") {
                    assert!(
                        close(dd.eps[0].eps[0], fd2, 2e-5),
                        "{} second derivative at {p}: {} vs {fd2}",
                        c.name,
                        dd.eps[0].eps[0]
                    );
                }
            }
            // f32
            if p.abs() < 30.0 && exact.abs() < 1e6 && v.abs() < 1e6 {
                let d32 = (c.dual32)(&Dual::<f32, 1>::variable(p as f32, 0).unwrap());
                assert!(
                    close(f64::from(d32.eps[0]), exact, 2e-5),
                    "{} f32 at {p}: {} vs {exact}",
                    c.name,
                    d32.eps[0]
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 800, "{checked}");
}

#[test]
fn second_derivatives_closed_form() {
    let pts = grid(-2.0, 2.0, 17);
    for &x in &pts {
        let (v, d, dd) = second_derivative(|t: DD| t.exp(), x);
        assert!(close(v, x.exp(), 0.0) && close(d, x.exp(), 1e-15) && close(dd, x.exp(), 1e-15));
        let (_, d, dd) = second_derivative(|t: DD| t.sin(), x);
        assert!(close(d, x.cos(), 1e-15) && close(dd, -x.sin(), 1e-15));
        let (_, d, dd) = second_derivative(|t: DD| t.powi(5), x);
        assert!(close(d, 5.0 * x.powi(4), 1e-14) && close(dd, 20.0 * x.powi(3), 1e-14));
        let (_, d, dd) = second_derivative(|t: DD| t.erf(), x);
        let g = std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp();
        assert!(close(d, g, 1e-14) && close(dd, -2.0 * x * g, 1e-14));
    }
    // atan2(y, x): mixed second derivatives via Dual<Dual<f64, 2>, 2>
    for &(y, x) in &[(0.3, 1.2), (-1.0, 0.5), (2.0, -1.5), (-0.4, -0.9)] {
        let (_, g, h) = anydiff::dual::hessian_n(|v| v[0].atan2(&v[1]), [y, x]);
        let r2: f64 = x * x + y * y;
        let r4 = r2 * r2;
        assert!(close(g[0], x / r2, 1e-15) && close(g[1], -y / r2, 1e-15));
        assert!(close(h[0][0], -2.0 * x * y / r4, 1e-14));
        assert!(close(h[1][1], 2.0 * x * y / r4, 1e-14));
        assert!(close(h[0][1], (y * y - x * x) / r4, 1e-14));
        assert!(close(h[1][0], h[0][1], 1e-14));
    }
}

#[test]
fn edge_values_follow_f64() {
    // sqrt: sqrt'(0) = inf in the seeded lane; an unseeded lane stays 0
    let z = Dual::<f64, 2>::variable(0.0, 0).unwrap().sqrt();
    assert_eq!((z.re, z.eps), (0.0, [f64::INFINITY, 0.0]));
    let n = Dual::<f64, 2>::variable(-1.0, 0).unwrap().sqrt();
    assert!(n.re.is_nan() && n.eps[0].is_nan() && n.eps[1] == 0.0);
    let l = Dual::<f64, 1>::variable(0.0, 0).unwrap().ln();
    assert_eq!((l.re, l.eps[0]), (f64::NEG_INFINITY, f64::INFINITY));
    let l = Dual::<f64, 1>::variable(-2.0, 0).unwrap().ln();
    assert!(l.re.is_nan() && l.eps[0].is_nan());
    // sqrt(x) + y at x = 0: d/dy stays finite
    let (x, y) = (
        Dual::<f64, 2>::variable(0.0, 0).unwrap(),
        Dual::variable(1.0, 1).unwrap(),
    );
    assert_eq!((x.sqrt() + y).eps, [f64::INFINITY, 1.0]);
    // abs at 0 has derivative 0; min/max ties select the first argument
    assert_eq!(Dual::<f64, 1>::variable(0.0, 0).unwrap().abs().eps, [0.0]);
    let a = Dual::<f64, 2>::variable(1.0, 0).unwrap();
    let b = Dual::<f64, 2>::variable(1.0, 1).unwrap();
    assert_eq!(a.min(&b).eps, [1.0, 0.0]);
    assert_eq!(b.max(&a).eps, [0.0, 1.0]);
    let nan = Dual::<f64, 2>::new(f64::NAN, [1.0, 0.0]);
    assert_eq!(nan.max(&b).eps, [0.0, 1.0]);
    // powi(0) and a constant exponent with a negative base
    assert_eq!(Dual::<f64, 1>::variable(0.0, 0).unwrap().powi(0).eps, [0.0]);
    let p = Dual::<f64, 1>::variable(-2.0, 0)
        .unwrap()
        .pow(&Dual::constant(2.0));
    assert_eq!((p.re, p.eps), (4.0, [-4.0]));
    let p = Dual::<f64, 1>::variable(0.0, 0).unwrap().powf(0.5);
    assert_eq!((p.re, p.eps), (0.0, [f64::INFINITY]));
    // 1 / 0 and large arguments
    let r = Dual::<f64, 1>::variable(0.0, 0).unwrap().recip();
    assert_eq!(r.re, f64::INFINITY);
    assert!(r.eps[0] == f64::NEG_INFINITY);
    let e = Dual::<f64, 1>::variable(800.0, 0).unwrap().exp();
    assert_eq!((e.re, e.eps), (f64::INFINITY, [f64::INFINITY]));
    let t = Dual::<f64, 1>::variable(800.0, 0).unwrap().tanh();
    assert_eq!((t.re, t.eps), (1.0, [0.0]));
    assert_eq!(Dual::<f64, 1>::variable(30.0, 0).unwrap().erf().eps, [0.0]);
    // derivative() on the same closure
    assert_eq!(derivative(|t: D1| t.sqrt(), 4.0), (2.0, 0.25));
}

#[test]
fn arithmetic_and_scalar_operands() {
    let x = Dual::<f64, 2>::new(3.0, [1.0, 2.0]);
    let y = Dual::<f64, 2>::new(-2.0, [0.5, -1.0]);
    let p = x * y;
    assert_eq!((p.re, p.eps), (-6.0, [-2.0 + 1.5, -4.0 - 3.0]));
    let q = x / y;
    assert_eq!(q.re, -1.5);
    assert!(close(q.eps[0], (1.0 * -2.0 - 3.0 * 0.5) / 4.0, 1e-15));
    assert!(close(q.eps[1], (2.0 * -2.0 + 3.0) / 4.0, 1e-15));
    assert_eq!((x + 1.0).eps, x.eps);
    assert_eq!((1.0 - x).eps, [-1.0, -2.0]);
    assert_eq!((2.0 * x).eps, [2.0, 4.0]);
    let r = 6.0 / x;
    assert_eq!((r.re, r.eps), (2.0, [-6.0 / 9.0, -12.0 / 9.0]));
    let mut m = x;
    m += y;
    m -= 1.0;
    m *= 2.0;
    m /= y;
    let expect = ((x + y - 1.0) * 2.0) / y;
    assert_eq!((m.re, m.eps), (expect.re, expect.eps));
    assert_eq!((-x).eps, [-1.0, -2.0]);
    assert!(x > y && x == Dual::new(3.0, [9.0, 9.0]));
    let s: Dual<f64, 2> = [x, y, x].into_iter().sum();
    assert_eq!(s.eps, [2.5, 3.0]);
    // DualVec: widths combine, missing lanes are zero
    let a = DualVec::new(2.0, vec![1.0]);
    let b = DualVec::new(5.0, vec![0.0, 1.0, 3.0]);
    let c = a.clone() * b.clone();
    assert_eq!((c.re, c.eps.clone()), (10.0, vec![5.0, 2.0, 6.0]));
    let d = b.clone() / a.clone();
    assert_eq!((d.re, d.eps), (2.5, vec![-1.25, 0.5, 1.5]));
    let e = 1.0f64 - a + 2.0f64 * b;
    assert_eq!((e.re, e.eps), (9.0, vec![-1.0, 2.0, 6.0]));
    let f = Dual::<f32, 1>::variable(2.0, 0).unwrap() * 3.0f32 + 1.0f32;
    assert_eq!((f.re, f.eps), (7.0, [3.0]));
}

/// The inlined small powers give exactly what the generic `powi` gives, edge
/// values included.
#[test]
fn small_powers_match_the_generic_loop_bit_for_bit() {
    let values = [
        0.0,
        -0.0,
        1.0,
        -1.5,
        3.7e-160,
        -2.2e-308,
        5e-324,
        1.3e103,
        -7.9e155,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        std::f64::consts::PI,
    ];
    for x in values {
        for n in 0..=3 {
            let (got, want) = (Elementary::powi(&x, n), x.powi(n));
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{x}^{n}: {got} vs {want}"
            );
        }
    }
}
