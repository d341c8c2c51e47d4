//! The const-generic dual number [`Dual`] and its arithmetic.

use std::cmp::Ordering;
use std::fmt;
use std::iter::{Product, Sum};
use std::num::FpCategory;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, Sub, SubAssign};

use num_traits::{Float, Num, NumCast, One, ToPrimitive, Zero};

use super::functions::{elementary_via_rules, rules, Chain, Elementary};
use crate::error::Error;

/// A dual number: a value `re` and `N` tangent lanes `eps`
/// (`re + sum_i eps[i] e_i` with `e_i e_j = 0`).
///
/// Arithmetic and the [`Elementary`] functions propagate all lanes at once
/// (forward mode with `N` directions). `T` may itself be a dual number,
/// which gives second (and higher) derivatives: `Dual<Dual<f64, N>, M>`.
/// `Dual` implements [`num_traits::Float`] (when `T` does), hence this
/// crate's [`Scalar`](crate::Scalar), so code generic over `Float` runs on
/// duals and nested duals.
///
/// Comparisons (`==`, `<`, ...) look at the real part `re` only, like the
/// branch a program takes on the value.
///
/// ```
/// use anydiff::dual::{Dual, Elementary};
///
/// // d/dx and d/dy of x * sin(y) at (2, 0.5)
/// let [x, y] = Dual::<f64, 2>::variables([2.0, 0.5]);
/// let f = x * y.sin();
/// assert_eq!(f.re, 2.0 * 0.5f64.sin());
/// assert_eq!(f.eps, [0.5f64.sin(), 2.0 * 0.5f64.cos()]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Dual<T, const N: usize> {
    /// The value (real part).
    pub re: T,
    /// The tangent lanes (directional derivatives of the value).
    pub eps: [T; N],
}

impl<T: Elementary, const N: usize> Dual<T, N> {
    /// A dual number with value `re` and the given tangent lanes.
    pub fn new(re: T, eps: [T; N]) -> Self {
        Dual { re, eps }
    }

    /// A constant: value `re`, all tangent lanes zero.
    pub fn constant(re: T) -> Self {
        Dual {
            re,
            eps: std::array::from_fn(|_| T::zero()),
        }
    }

    /// An independent variable seeded in `lane` (tangent 1 there, 0
    /// elsewhere); a `lane >= N` is an error.
    ///
    /// ```
    /// use anydiff::dual::Dual;
    ///
    /// let y = Dual::<f64, 2>::variable(0.5, 1).unwrap();
    /// assert_eq!(y.eps, [0.0, 1.0]);
    /// assert!(Dual::<f64, 2>::variable(0.5, 2).is_err());
    /// ```
    pub fn variable(re: T, lane: usize) -> Result<Self, Error> {
        if lane >= N {
            return Err(Error::invalid(format!(
                "lane {lane} of a dual number with {N} lanes (expected a lane below {N})"
            )));
        }
        Ok(Self::seeded(re, lane))
    }

    /// `N` independent variables, variable `i` seeded in lane `i`.
    ///
    /// ```
    /// use anydiff::dual::Dual;
    ///
    /// let [x, y] = Dual::variables([2.0f64, 3.0]);
    /// let f = x * y;
    /// assert_eq!((f.re, f.eps), (6.0, [3.0, 2.0]));
    /// ```
    pub fn variables(x: [T; N]) -> [Self; N] {
        let mut i = 0;
        x.map(|v| {
            let d = Self::seeded(v, i);
            i += 1;
            d
        })
    }

    /// Value `re` with tangent 1 in `lane` (none when `lane >= N`).
    pub(crate) fn seeded(re: T, lane: usize) -> Self {
        let mut d = Self::constant(re);
        if let Some(e) = d.eps.get_mut(lane) {
            *e = T::one();
        }
        d
    }
}

impl<T: Elementary, const N: usize> Default for Dual<T, N> {
    /// The constant zero.
    fn default() -> Self {
        Self::constant(T::zero())
    }
}

/// `re + [e0, e1, ...]ε`, with the formatter's options (precision, ...)
/// applied to every number.
///
/// ```
/// use anydiff::dual::Dual;
///
/// let x = Dual::new(1.5f64, [1.0, 0.25]);
/// assert_eq!(format!("{x}"), "1.5 + [1, 0.25]ε");
/// assert_eq!(format!("{x:.2}"), "1.50 + [1.00, 0.25]ε");
/// ```
impl<T: fmt::Display, const N: usize> fmt::Display for Dual<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_dual(f, &self.re, &self.eps)
    }
}

/// Writes `re + [e0, e1, ...]ε` with `f`'s options.
pub(crate) fn write_dual<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    re: &T,
    eps: &[T],
) -> fmt::Result {
    fmt::Display::fmt(re, f)?;
    f.write_str(" + [")?;
    for (i, e) in eps.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        fmt::Display::fmt(e, f)?;
    }
    f.write_str("]ε")
}

impl<T: PartialEq, const N: usize> PartialEq for Dual<T, N> {
    /// Compares the real parts only.
    fn eq(&self, other: &Self) -> bool {
        self.re == other.re
    }
}

impl<T: PartialOrd, const N: usize> PartialOrd for Dual<T, N> {
    /// Orders by the real parts only.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.re.partial_cmp(&other.re)
    }
}

impl<T: Elementary, const N: usize> AddAssign for Dual<T, N> {
    #[inline]
    fn add_assign(&mut self, rhs: Self) {
        for (a, b) in self.eps.iter_mut().zip(rhs.eps) {
            *a += b;
        }
        self.re += rhs.re;
    }
}

impl<T: Elementary, const N: usize> SubAssign for Dual<T, N> {
    #[inline]
    fn sub_assign(&mut self, rhs: Self) {
        for (a, b) in self.eps.iter_mut().zip(rhs.eps) {
            *a -= b;
        }
        self.re -= rhs.re;
    }
}

impl<T: Elementary, const N: usize> MulAssign for Dual<T, N> {
    #[inline]
    fn mul_assign(&mut self, rhs: Self) {
        let Dual { re: b, eps: be } = rhs;
        for (a, db) in self.eps.iter_mut().zip(be) {
            *a *= b.clone();
            *a += self.re.clone() * db;
        }
        self.re *= b;
    }
}

impl<T: Elementary, const N: usize> DivAssign for Dual<T, N> {
    #[inline]
    fn div_assign(&mut self, rhs: Self) {
        let Dual { re: b, eps: be } = rhs;
        let q = self.re.clone() / b.clone();
        for (a, db) in self.eps.iter_mut().zip(be) {
            *a -= q.clone() * db;
            *a /= b.clone();
        }
        self.re = q;
    }
}

/// Binary operators by value, forwarded to the assign forms.
macro_rules! binary_from_assign {
    ([$($g:tt)*] $ty:ty) => {
        impl<$($g)*> Add for $ty where T: Elementary {
            type Output = Self;
            #[inline]
            fn add(mut self, rhs: Self) -> Self {
                self += rhs;
                self
            }
        }
        impl<$($g)*> Sub for $ty where T: Elementary {
            type Output = Self;
            #[inline]
            fn sub(mut self, rhs: Self) -> Self {
                self -= rhs;
                self
            }
        }
        impl<$($g)*> Mul for $ty where T: Elementary {
            type Output = Self;
            #[inline]
            fn mul(mut self, rhs: Self) -> Self {
                self *= rhs;
                self
            }
        }
        impl<$($g)*> Div for $ty where T: Elementary {
            type Output = Self;
            #[inline]
            fn div(mut self, rhs: Self) -> Self {
                self /= rhs;
                self
            }
        }
        /// Remainder `x - trunc(x / y) y` (derivative `dx - trunc(x / y) dy`).
        impl<$($g)*> Rem for $ty where T: Elementary {
            type Output = Self;
            fn rem(self, rhs: Self) -> Self {
                let q = Elementary::trunc(&(self.clone() / rhs.clone()));
                self - q * rhs
            }
        }
        impl<$($g)*> Sum for $ty where T: Elementary {
            fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
                iter.fold(<Self as Zero>::zero(), |a, b| a + b)
            }
        }
        impl<$($g)*> Product for $ty where T: Elementary {
            fn product<I: Iterator<Item = Self>>(iter: I) -> Self {
                iter.fold(<Self as One>::one(), |a, b| a * b)
            }
        }
    };
}
pub(crate) use binary_from_assign;

/// Arithmetic with a plain real `$r` (`f32` or `f64`) on either side.
macro_rules! scalar_ops {
    ($r:ty; [$($g:tt)*] $ty:ty) => {
        impl<$($g)*> AddAssign<$r> for $ty where T: Elementary<Real = $r> {
            #[inline]
            fn add_assign(&mut self, rhs: $r) {
                self.re += T::from_re(rhs);
            }
        }
        impl<$($g)*> SubAssign<$r> for $ty where T: Elementary<Real = $r> {
            #[inline]
            fn sub_assign(&mut self, rhs: $r) {
                self.re -= T::from_re(rhs);
            }
        }
        impl<$($g)*> MulAssign<$r> for $ty where T: Elementary<Real = $r> {
            #[inline]
            fn mul_assign(&mut self, rhs: $r) {
                let c = T::from_re(rhs);
                for a in self.eps.iter_mut() {
                    *a *= c.clone();
                }
                self.re *= c;
            }
        }
        impl<$($g)*> DivAssign<$r> for $ty where T: Elementary<Real = $r> {
            #[inline]
            fn div_assign(&mut self, rhs: $r) {
                let c = T::from_re(rhs);
                for a in self.eps.iter_mut() {
                    *a /= c.clone();
                }
                self.re /= c;
            }
        }
        impl<$($g)*> Add<$r> for $ty where T: Elementary<Real = $r> {
            type Output = Self;
            #[inline]
            fn add(mut self, rhs: $r) -> Self {
                self += rhs;
                self
            }
        }
        impl<$($g)*> Sub<$r> for $ty where T: Elementary<Real = $r> {
            type Output = Self;
            #[inline]
            fn sub(mut self, rhs: $r) -> Self {
                self -= rhs;
                self
            }
        }
        impl<$($g)*> Mul<$r> for $ty where T: Elementary<Real = $r> {
            type Output = Self;
            #[inline]
            fn mul(mut self, rhs: $r) -> Self {
                self *= rhs;
                self
            }
        }
        impl<$($g)*> Div<$r> for $ty where T: Elementary<Real = $r> {
            type Output = Self;
            #[inline]
            fn div(mut self, rhs: $r) -> Self {
                self /= rhs;
                self
            }
        }
        impl<$($g)*> Add<$ty> for $r where T: Elementary<Real = $r> {
            type Output = $ty;
            #[inline]
            fn add(self, rhs: $ty) -> $ty {
                rhs + self
            }
        }
        impl<$($g)*> Sub<$ty> for $r where T: Elementary<Real = $r> {
            type Output = $ty;
            #[inline]
            fn sub(self, rhs: $ty) -> $ty {
                -rhs + self
            }
        }
        impl<$($g)*> Mul<$ty> for $r where T: Elementary<Real = $r> {
            type Output = $ty;
            #[inline]
            fn mul(self, rhs: $ty) -> $ty {
                rhs * self
            }
        }
        impl<$($g)*> Div<$ty> for $r where T: Elementary<Real = $r> {
            type Output = $ty;
            #[inline]
            fn div(self, rhs: $ty) -> $ty {
                <$ty as Elementary>::from_re(self) / rhs
            }
        }
    };
}
pub(crate) use scalar_ops;

binary_from_assign!([T, const N: usize] Dual<T, N>);
scalar_ops!(f64; [T, const N: usize] Dual<T, N>);
scalar_ops!(f32; [T, const N: usize] Dual<T, N>);

impl<T: Elementary, const N: usize> Neg for Dual<T, N> {
    type Output = Self;
    #[inline]
    fn neg(self) -> Self {
        Dual {
            re: -self.re,
            eps: self.eps.map(|e| -e),
        }
    }
}

impl<T: Elementary, const N: usize> Zero for Dual<T, N> {
    fn zero() -> Self {
        Self::constant(T::zero())
    }
    /// True when the value and every lane are zero.
    fn is_zero(&self) -> bool {
        self.re.is_zero() && self.eps.iter().all(Zero::is_zero)
    }
}

impl<T: Elementary, const N: usize> One for Dual<T, N> {
    fn one() -> Self {
        Self::constant(T::one())
    }
}

impl<T: Elementary, const N: usize> Chain for Dual<T, N> {
    type Inner = T;

    #[inline]
    fn value(&self) -> &T {
        &self.re
    }

    fn tangent_is_zero(&self) -> bool {
        self.eps.iter().all(Elementary::is_exact_zero)
    }

    #[inline]
    fn scaled(value: T, x: &Self, d: T) -> Self {
        Dual {
            re: value,
            eps: std::array::from_fn(|i| x.eps[i].clone() * d.clone()),
        }
    }

    #[inline]
    fn linear(value: T, terms: &[(&Self, T)]) -> Self {
        let eps = match terms {
            [(x, d)] => std::array::from_fn(|i| {
                let e = &x.eps[i];
                if e.is_exact_zero() {
                    T::zero()
                } else {
                    e.clone() * d.clone()
                }
            }),
            _ => {
                let mut eps: [T; N] = std::array::from_fn(|_| T::zero());
                for (x, d) in terms {
                    for (o, e) in eps.iter_mut().zip(x.eps.iter()) {
                        if !e.is_exact_zero() {
                            *o += e.clone() * d.clone();
                        }
                    }
                }
                eps
            }
        };
        Dual { re: value, eps }
    }
}

impl<T: Elementary, const N: usize> Elementary for Dual<T, N> {
    type Real = T::Real;

    #[inline]
    fn re(&self) -> T::Real {
        self.re.re()
    }

    #[inline]
    fn from_re(re: T::Real) -> Self {
        Self::constant(T::from_re(re))
    }

    const HAS_MATMUL: bool = T::HAS_MATMUL;

    #[cfg(feature = "ir")]
    fn matmul_into(
        dims: (usize, usize, usize),
        a: (&[Self], usize, usize, bool),
        b: (&[Self], usize, usize, bool),
        accumulate: bool,
        c: (&mut [Self], usize, usize),
    ) -> bool {
        use crate::ir::gemm::{gemm_dual, Mat, MatMut};
        let (a, b) = (
            Mat::new(a.0, a.1, a.2).constant(a.3),
            Mat::new(b.0, b.1, b.2).constant(b.3),
        );
        gemm_dual(dims, a, b, accumulate, MatMut::new(c.0, c.1, c.2))
    }

    #[cfg(feature = "ir")]
    fn matmul_real_left(
        dims: (usize, usize, usize),
        a: (&[T::Real], usize, usize),
        b: (&[Self], usize, usize),
        accumulate: bool,
        c: (&mut [Self], usize, usize),
    ) -> bool {
        use crate::ir::gemm::{gemm_dual_real_left, Mat, MatMut};
        let (a, b) = (Mat::new(a.0, a.1, a.2), Mat::new(b.0, b.1, b.2));
        gemm_dual_real_left(dims, a, b, accumulate, MatMut::new(c.0, c.1, c.2))
    }

    elementary_via_rules!();
}

impl<T: Elementary + Num, const N: usize> Num for Dual<T, N> {
    type FromStrRadixErr = T::FromStrRadixErr;

    /// Parses the value; the tangents are zero.
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        T::from_str_radix(s, radix).map(Self::constant)
    }
}

impl<T: Elementary + ToPrimitive, const N: usize> ToPrimitive for Dual<T, N> {
    fn to_i64(&self) -> Option<i64> {
        self.re.to_i64()
    }
    fn to_u64(&self) -> Option<u64> {
        self.re.to_u64()
    }
    fn to_f64(&self) -> Option<f64> {
        self.re.to_f64()
    }
    fn to_f32(&self) -> Option<f32> {
        self.re.to_f32()
    }
}

impl<T: Elementary + NumCast, const N: usize> NumCast for Dual<T, N> {
    /// A constant converted from `n`.
    fn from<P: ToPrimitive>(n: P) -> Option<Self> {
        <T as NumCast>::from(n).map(Self::constant)
    }
}

/// `num_traits::Float` for duals: predicates and classification look at the
/// real part; constants have zero tangents; the functions are the
/// [`Elementary`] ones (so `powf` takes a dual exponent).
impl<T: Elementary + Float, const N: usize> Float for Dual<T, N> {
    fn nan() -> Self {
        Self::constant(T::nan())
    }
    fn infinity() -> Self {
        Self::constant(T::infinity())
    }
    fn neg_infinity() -> Self {
        Self::constant(T::neg_infinity())
    }
    fn neg_zero() -> Self {
        Self::constant(T::neg_zero())
    }
    fn min_value() -> Self {
        Self::constant(T::min_value())
    }
    fn min_positive_value() -> Self {
        Self::constant(T::min_positive_value())
    }
    fn max_value() -> Self {
        Self::constant(T::max_value())
    }
    fn epsilon() -> Self {
        Self::constant(T::epsilon())
    }
    fn is_nan(self) -> bool {
        self.re.is_nan()
    }
    fn is_infinite(self) -> bool {
        self.re.is_infinite()
    }
    fn is_finite(self) -> bool {
        self.re.is_finite()
    }
    fn is_normal(self) -> bool {
        self.re.is_normal()
    }
    fn classify(self) -> FpCategory {
        self.re.classify()
    }
    fn floor(self) -> Self {
        Elementary::floor(&self)
    }
    fn ceil(self) -> Self {
        Elementary::ceil(&self)
    }
    fn round(self) -> Self {
        Elementary::round(&self)
    }
    fn trunc(self) -> Self {
        Elementary::trunc(&self)
    }
    fn fract(self) -> Self {
        self - Elementary::trunc(&self)
    }
    fn abs(self) -> Self {
        Elementary::abs(&self)
    }
    fn signum(self) -> Self {
        Elementary::signum(&self)
    }
    fn is_sign_positive(self) -> bool {
        self.re.is_sign_positive()
    }
    fn is_sign_negative(self) -> bool {
        self.re.is_sign_negative()
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        Elementary::mul_add(&self, &a, &b)
    }
    fn recip(self) -> Self {
        Elementary::recip(&self)
    }
    fn powi(self, n: i32) -> Self {
        Elementary::powi(&self, n)
    }
    fn powf(self, n: Self) -> Self {
        Elementary::pow(&self, &n)
    }
    fn sqrt(self) -> Self {
        Elementary::sqrt(&self)
    }
    fn exp(self) -> Self {
        Elementary::exp(&self)
    }
    fn exp2(self) -> Self {
        Elementary::exp2(&self)
    }
    fn ln(self) -> Self {
        Elementary::ln(&self)
    }
    fn log(self, base: Self) -> Self {
        Elementary::log(&self, &base)
    }
    fn log2(self) -> Self {
        Elementary::log2(&self)
    }
    fn log10(self) -> Self {
        Elementary::log10(&self)
    }
    fn to_degrees(self) -> Self {
        self * Self::constant(<T as Elementary>::from_f64(180.0 / std::f64::consts::PI))
    }
    fn to_radians(self) -> Self {
        self * Self::constant(<T as Elementary>::from_f64(std::f64::consts::PI / 180.0))
    }
    fn max(self, other: Self) -> Self {
        Elementary::max(&self, &other)
    }
    fn min(self, other: Self) -> Self {
        Elementary::min(&self, &other)
    }
    fn abs_sub(self, other: Self) -> Self {
        if self <= other {
            Self::zero()
        } else {
            self - other
        }
    }
    fn cbrt(self) -> Self {
        Elementary::cbrt(&self)
    }
    fn hypot(self, other: Self) -> Self {
        Elementary::hypot(&self, &other)
    }
    fn sin(self) -> Self {
        Elementary::sin(&self)
    }
    fn cos(self) -> Self {
        Elementary::cos(&self)
    }
    fn tan(self) -> Self {
        Elementary::tan(&self)
    }
    fn asin(self) -> Self {
        Elementary::asin(&self)
    }
    fn acos(self) -> Self {
        Elementary::acos(&self)
    }
    fn atan(self) -> Self {
        Elementary::atan(&self)
    }
    fn atan2(self, other: Self) -> Self {
        Elementary::atan2(&self, &other)
    }
    fn sin_cos(self) -> (Self, Self) {
        Elementary::sin_cos(&self)
    }
    fn exp_m1(self) -> Self {
        Elementary::exp_m1(&self)
    }
    fn ln_1p(self) -> Self {
        Elementary::ln_1p(&self)
    }
    fn sinh(self) -> Self {
        Elementary::sinh(&self)
    }
    fn cosh(self) -> Self {
        Elementary::cosh(&self)
    }
    fn tanh(self) -> Self {
        Elementary::tanh(&self)
    }
    fn asinh(self) -> Self {
        Elementary::asinh(&self)
    }
    fn acosh(self) -> Self {
        Elementary::acosh(&self)
    }
    fn atanh(self) -> Self {
        Elementary::atanh(&self)
    }
    fn integer_decode(self) -> (u64, i16, i8) {
        self.re.integer_decode()
    }
}
