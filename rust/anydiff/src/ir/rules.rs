//! What each instruction computes: the elementwise functions, comparisons and
//! the winner tests of max/min, generic over the number type (values, dual
//! numbers, nested duals), and the scalar rules `(value, partial derivatives)`
//! that the lane engine, the entry-by-entry Jacobians and generated code
//! (`anydiff-jit`) call, so that every engine agrees bit for bit.

use num_traits::{Float, Zero};

use super::ops::{BinaryFn, CompareFn, UnaryFn};
use crate::dual::{Dual, Elementary};
use crate::scalar::Scalar;

/// The real types the engine evaluates in: `f32` and `f64`.
pub trait IrReal: Scalar + Elementary<Real = Self> {}

impl<T: Scalar + Elementary<Real = T>> IrReal for T {}

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

/// `(f(x), f'(x))` of a unary function.
pub fn unary_rule<T: IrReal>(func: UnaryFn, x: T) -> (T, T) {
    let mut y = [Dual::<T, 1>::constant(T::zero())];
    unary(func, &[Dual::new(x, [T::one()])], &mut y);
    (y[0].re, y[0].eps[0])
}

/// `(x^n, n x^(n-1))` as the engine computes them.
pub fn powi_rule<T: IrReal>(x: T, n: i32) -> (T, T) {
    let y = Dual::<T, 1>::new(x, [T::one()]).powi(n);
    (y.re, y.eps[0])
}

/// `(f(a, b), df/da, df/db)` of a binary function.
pub fn binary_rule<T: IrReal>(func: BinaryFn, a: T, b: T) -> (T, T, T) {
    let (zero, one) = (T::zero(), T::one());
    let mut y = [Dual::<T, 2>::constant(zero)];
    let (x, z) = ([Dual::new(a, [one, zero])], [Dual::new(b, [zero, one])]);
    binary(func, &x, &z, &mut y);
    (y[0].re, y[0].eps[0], y[0].eps[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_closed_forms() {
        assert_eq!(unary_rule(UnaryFn::Sin, 0.5), (0.5f64.sin(), 0.5f64.cos()));
        assert_eq!(powi_rule(3.0, 3), (27.0, 27.0));
        assert_eq!(
            binary_rule(BinaryFn::Div, 1.0, 4.0),
            (0.25, 0.25, -1.0 / 16.0)
        );
        let (v, da, db) = binary_rule(BinaryFn::Max, 2.0, 1.0);
        assert_eq!((v, da, db), (2.0, 1.0, 0.0));
    }
}
