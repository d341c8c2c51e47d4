//! [`Dual2Vec`]: value, gradient and Hessian carried together through one
//! evaluation, for a number of variables chosen at run time.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use num_traits::{One, Zero};

use super::functions::{is_finite, Elementary};
use super::number::Dual;
use crate::error::Error;

/// A second-order dual number over `n` variables (`n` chosen at run time):
/// a value, its gradient (`n` numbers) and its Hessian (symmetric, the
/// lower triangle stored: `n (n + 1) / 2` numbers), in one allocation.
///
/// One evaluation of a function on `Dual2Vec` gives its value, gradient
/// and Hessian ([`hessian`](super::hessian) does this); each operation
/// costs about `n^2 / 2` multiply-adds. A constant stores nothing, and
/// numbers over different `n` combine (missing variables have zero
/// derivatives). Comparisons look at the value only. Every elementary
/// function takes its first and second derivative from the rules of
/// [`Dual`] (evaluated on `Dual<Dual<T, 1>, 1>`), so both number types
/// agree; as there, a derivative that is exactly zero stays zero through a
/// function whose derivative is infinite or NaN at that point.
///
/// ```
/// use anydiff::dual::{Dual2Vec, Elementary};
///
/// // f = x^2 y at (3, 2): gradient (2 x y, x^2) = (12, 9), Hessian [[2 y, 2 x], [2 x, 0]]
/// let v = Dual2Vec::variables(&[3.0f64, 2.0]);
/// let f = v[0].powi(2) * v[1].clone();
/// assert_eq!(f.value(), 18.0);
/// assert_eq!(f.gradient(), vec![12.0, 9.0]);
/// assert_eq!((f.hessian(0, 0), f.hessian(1, 0), f.hessian(1, 1)), (4.0, 6.0, 0.0));
/// ```
#[derive(Clone, Debug)]
pub struct Dual2Vec<T> {
    re: T,
    /// Number of variables stored (0 for a constant).
    n: usize,
    /// The gradient (`n`), then the Hessian's lower triangle by rows
    /// (`H[i][j]`, `j <= i`, at `n + i (i + 1) / 2 + j`).
    d: Vec<T>,
}

/// Index of `H[i][j]` (`j <= i`) in the packed lower triangle.
#[inline]
fn tri(i: usize, j: usize) -> usize {
    i * (i + 1) / 2 + j
}

/// Storage length for `n` variables.
#[inline]
fn storage(n: usize) -> usize {
    n + n * (n + 1) / 2
}

/// `d * x`, except that an exactly zero `x` stays zero whatever `d` is.
#[inline]
fn term<T: Elementary>(d: &T, x: &T) -> T {
    if x.is_exact_zero() {
        T::zero()
    } else {
        d.clone() * x.clone()
    }
}

impl<T: Elementary> Dual2Vec<T> {
    /// A constant: value `re`, no stored derivatives.
    pub fn constant(re: T) -> Self {
        Dual2Vec {
            re,
            n: 0,
            d: Vec::new(),
        }
    }

    /// Variable `index` of `n` (gradient `e_index`, Hessian zero); an
    /// `index >= n` is an error.
    ///
    /// ```
    /// use anydiff::dual::Dual2Vec;
    ///
    /// let y = Dual2Vec::variable(2.0f64, 1, 2).unwrap();
    /// assert_eq!(y.gradient(), vec![0.0, 1.0]);
    /// assert!(Dual2Vec::variable(2.0f64, 2, 2).is_err());
    /// ```
    pub fn variable(re: T, index: usize, n: usize) -> Result<Self, Error> {
        if index >= n {
            return Err(Error::invalid(format!(
                "variable {index} of {n} (expected an index below {n})"
            )));
        }
        Ok(Self::seeded(re, index, n))
    }

    /// One variable per value: variable `i` of `x.len()` has value `x[i]`.
    pub fn variables(x: &[T]) -> Vec<Self> {
        let n = x.len();
        x.iter()
            .enumerate()
            .map(|(i, v)| Self::seeded(v.clone(), i, n))
            .collect()
    }

    fn seeded(re: T, index: usize, n: usize) -> Self {
        let mut d = vec![T::zero(); storage(n)];
        if let Some(g) = d.get_mut(index) {
            *g = T::one();
        }
        Dual2Vec { re, n, d }
    }

    /// The value.
    pub fn value(&self) -> T {
        self.re.clone()
    }

    /// The number of variables stored (0 for a constant).
    pub fn n_vars(&self) -> usize {
        self.n
    }

    /// The gradient (as long as [`n_vars`](Self::n_vars)).
    pub fn gradient(&self) -> Vec<T> {
        self.d[..self.n].to_vec()
    }

    /// Gradient entry `i` (zero past the stored variables).
    pub fn grad(&self, i: usize) -> T {
        if i < self.n {
            self.d[i].clone()
        } else {
            T::zero()
        }
    }

    /// Hessian entry `(i, j)` (symmetric; zero past the stored variables).
    pub fn hessian(&self, i: usize, j: usize) -> T {
        let (i, j) = if i >= j { (i, j) } else { (j, i) };
        if i < self.n {
            self.d[self.n + tri(i, j)].clone()
        } else {
            T::zero()
        }
    }

    /// Re-lays the storage out for `n` variables (`n >= self.n`).
    fn widen(&mut self, n: usize) {
        if n <= self.n {
            return;
        }
        let mut d = vec![T::zero(); storage(n)];
        d[..self.n].clone_from_slice(&self.d[..self.n]);
        let t = self.n * (self.n + 1) / 2;
        for k in 0..t {
            d[n + k] = self.d[self.n + k].clone();
        }
        self.n = n;
        self.d = d;
    }

    /// `self` with `rhs`'s width, when it is wider.
    fn match_width(&mut self, rhs: &Self) {
        if rhs.n > self.n {
            self.widen(rhs.n);
        }
    }

    /// The chain rule of a function with derivatives `d1`, `d2` at the
    /// value: gradient `d1 g`, Hessian `d1 H + d2 g g^T`.
    fn chain(&self, value: T, d1: T, d2: T) -> Self {
        let n = self.n;
        let mut d = Vec::with_capacity(self.d.len());
        let (g, h) = self.d.split_at(n);
        if is_finite(&d1) && is_finite(&d2) {
            d.extend(g.iter().map(|gi| gi.clone() * d1.clone()));
            let mut k = 0;
            for i in 0..n {
                let gd = g[i].clone() * d2.clone();
                for gj in &g[..=i] {
                    d.push(h[k].clone() * d1.clone() + gd.clone() * gj.clone());
                    k += 1;
                }
            }
        } else {
            d.extend(g.iter().map(|gi| term(&d1, gi)));
            let mut k = 0;
            for i in 0..n {
                for gj in &g[..=i] {
                    d.push(term(&d1, &h[k]) + term(&d2, &(g[i].clone() * gj.clone())));
                    k += 1;
                }
            }
        }
        Dual2Vec { re: value, n, d }
    }

    /// A function of one argument from its rules on `Dual<Dual<T, 1>, 1>`.
    fn unary(&self, f: impl Fn(&Dual<Dual<T, 1>, 1>) -> Dual<Dual<T, 1>, 1>) -> Self {
        let x = Dual::new(
            Dual::new(self.re.clone(), [T::one()]),
            [Dual::new(T::one(), [T::zero()])],
        );
        let r = f(&x);
        let [d1] = r.re.eps;
        let [outer] = r.eps;
        let [d2] = outer.eps;
        if self.n == 0 {
            return Self::constant(r.re.re);
        }
        self.chain(r.re.re, d1, d2)
    }

    /// A function of two arguments from its rules on `Dual<Dual<T, 2>, 2>`:
    /// `f_a g_a + f_b g_b` and `f_a H_a + f_b H_b + f_aa g_a g_a^T +
    /// f_ab (g_a g_b^T + g_b g_a^T) + f_bb g_b g_b^T`.
    fn binary(
        &self,
        other: &Self,
        f: impl Fn(&Dual<Dual<T, 2>, 2>, &Dual<Dual<T, 2>, 2>) -> Dual<Dual<T, 2>, 2>,
    ) -> Self {
        let seed = |v: &T, lane: usize| {
            let mut inner = [T::zero(), T::zero()];
            inner[lane] = T::one();
            let mut outer = [Dual::constant(T::zero()), Dual::constant(T::zero())];
            outer[lane] = Dual::constant(T::one());
            Dual::new(Dual::new(v.clone(), inner), outer)
        };
        let r = f(&seed(&self.re, 0), &seed(&other.re, 1));
        let value = r.re.re;
        let [fa, fb] = r.re.eps;
        let [ra, rb] = r.eps;
        let [faa, fab] = ra.eps;
        let [_, fbb] = rb.eps;
        let n = self.n.max(other.n);
        if n == 0 {
            return Self::constant(value);
        }
        let mut a = self.clone();
        a.widen(n);
        let mut b = other.clone();
        b.widen(n);
        let (ga, ha) = a.d.split_at(n);
        let (gb, hb) = b.d.split_at(n);
        let mut d = Vec::with_capacity(storage(n));
        d.extend((0..n).map(|i| term(&fa, &ga[i]) + term(&fb, &gb[i])));
        let mut k = 0;
        for i in 0..n {
            for j in 0..=i {
                let cross = ga[i].clone() * gb[j].clone() + gb[i].clone() * ga[j].clone();
                d.push(
                    term(&fa, &ha[k])
                        + term(&fb, &hb[k])
                        + term(&faa, &(ga[i].clone() * ga[j].clone()))
                        + term(&fab, &cross)
                        + term(&fbb, &(gb[i].clone() * gb[j].clone())),
                );
                k += 1;
            }
        }
        Dual2Vec { re: value, n, d }
    }

    /// Multiplies every derivative by `c`.
    fn scale(&mut self, c: &T) {
        for x in self.d.iter_mut() {
            *x *= c.clone();
        }
    }
}

impl<T: Elementary> Default for Dual2Vec<T> {
    /// The constant zero.
    fn default() -> Self {
        Self::constant(T::zero())
    }
}

/// `re + [gradient]ε + [Hessian lower triangle by rows]ε²`.
///
/// ```
/// use anydiff::dual::Dual2Vec;
///
/// let v = Dual2Vec::variables(&[3.0f64, 2.0]);
/// let f = v[0].clone() * v[1].clone();
/// assert_eq!(f.to_string(), "6 + [2, 3]ε + [0, 1, 0]ε²");
/// ```
impl<T: fmt::Display> fmt::Display for Dual2Vec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.re, f)?;
        let (g, h) = self.d.split_at(self.n);
        for (part, suffix) in [(g, "]ε"), (h, "]ε²")] {
            f.write_str(" + [")?;
            for (i, e) in part.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                fmt::Display::fmt(e, f)?;
            }
            f.write_str(suffix)?;
        }
        Ok(())
    }
}

impl<T: PartialEq> PartialEq for Dual2Vec<T> {
    /// Compares the values only.
    fn eq(&self, other: &Self) -> bool {
        self.re == other.re
    }
}

impl<T: PartialOrd> PartialOrd for Dual2Vec<T> {
    /// Orders by the values only.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.re.partial_cmp(&other.re)
    }
}

impl<T: Elementary> AddAssign for Dual2Vec<T> {
    fn add_assign(&mut self, rhs: Self) {
        let Dual2Vec { re, n, d } = rhs;
        self.re += re;
        if n == 0 {
            return;
        }
        if self.n == 0 {
            self.n = n;
            self.d = d;
            return;
        }
        self.widen(n);
        let mut rhs = Dual2Vec {
            re: T::zero(),
            n,
            d,
        };
        rhs.widen(self.n);
        for (a, b) in self.d.iter_mut().zip(rhs.d) {
            *a += b;
        }
    }
}

impl<T: Elementary> SubAssign for Dual2Vec<T> {
    fn sub_assign(&mut self, rhs: Self) {
        *self += -rhs;
    }
}

impl<T: Elementary> MulAssign for Dual2Vec<T> {
    fn mul_assign(&mut self, rhs: Self) {
        let (a, b) = (self.re.clone(), rhs.re.clone());
        if rhs.n == 0 {
            self.scale(&b);
            self.re *= b;
            return;
        }
        if self.n == 0 {
            let mut out = rhs;
            out.scale(&a);
            out.re *= a;
            *self = out;
            return;
        }
        let mut rhs = rhs;
        self.match_width(&rhs);
        rhs.widen(self.n);
        let n = self.n;
        // H = a Hb + b Ha + ga gb^T + gb ga^T (before the gradient changes)
        let (ga, ha) = self.d.split_at_mut(n);
        let (gb, hb) = rhs.d.split_at(n);
        let mut k = 0;
        for i in 0..n {
            for j in 0..=i {
                let cross = ga[i].clone() * gb[j].clone() + gb[i].clone() * ga[j].clone();
                ha[k] = ha[k].clone() * b.clone() + hb[k].clone() * a.clone() + cross;
                k += 1;
            }
        }
        for (x, y) in ga.iter_mut().zip(gb) {
            *x = x.clone() * b.clone() + y.clone() * a.clone();
        }
        self.re = a * b;
    }
}

impl<T: Elementary> DivAssign for Dual2Vec<T> {
    /// `q = a / b`: `g_q = (g_a - q g_b) / b`,
    /// `H_q = (H_a - q H_b - g_q g_b^T - g_b g_q^T) / b`.
    fn div_assign(&mut self, rhs: Self) {
        let b = rhs.re.clone();
        let q = self.re.clone() / b.clone();
        if rhs.n == 0 {
            let r = b.recip();
            self.scale(&r);
            self.re = q;
            return;
        }
        let mut rhs = rhs;
        self.match_width(&rhs);
        rhs.widen(self.n);
        let n = self.n;
        let (ga, ha) = self.d.split_at_mut(n);
        let (gb, hb) = rhs.d.split_at(n);
        for (x, y) in ga.iter_mut().zip(gb) {
            *x = (x.clone() - q.clone() * y.clone()) / b.clone();
        }
        let mut k = 0;
        for i in 0..n {
            for j in 0..=i {
                let cross = ga[i].clone() * gb[j].clone() + gb[i].clone() * ga[j].clone();
                ha[k] = (ha[k].clone() - q.clone() * hb[k].clone() - cross) / b.clone();
                k += 1;
            }
        }
        self.re = q;
    }
}

macro_rules! by_value {
    ($tr:ident, $f:ident, $assign:ident) => {
        impl<T: Elementary> $tr for Dual2Vec<T> {
            type Output = Self;
            #[inline]
            fn $f(mut self, rhs: Self) -> Self {
                self.$assign(rhs);
                self
            }
        }
    };
}
by_value!(Add, add, add_assign);
by_value!(Sub, sub, sub_assign);
by_value!(Mul, mul, mul_assign);
by_value!(Div, div, div_assign);

impl<T: Elementary> Neg for Dual2Vec<T> {
    type Output = Self;
    fn neg(self) -> Self {
        Dual2Vec {
            re: -self.re,
            n: self.n,
            d: self.d.into_iter().map(Neg::neg).collect(),
        }
    }
}

/// Arithmetic with a plain real `$r` on either side.
macro_rules! real_ops {
    ($r:ty) => {
        impl<T: Elementary<Real = $r>> AddAssign<$r> for Dual2Vec<T> {
            fn add_assign(&mut self, rhs: $r) {
                self.re += T::from_re(rhs);
            }
        }
        impl<T: Elementary<Real = $r>> SubAssign<$r> for Dual2Vec<T> {
            fn sub_assign(&mut self, rhs: $r) {
                self.re -= T::from_re(rhs);
            }
        }
        impl<T: Elementary<Real = $r>> MulAssign<$r> for Dual2Vec<T> {
            fn mul_assign(&mut self, rhs: $r) {
                let c = T::from_re(rhs);
                self.scale(&c);
                self.re *= c;
            }
        }
        impl<T: Elementary<Real = $r>> DivAssign<$r> for Dual2Vec<T> {
            fn div_assign(&mut self, rhs: $r) {
                let c = T::from_re(rhs);
                for x in self.d.iter_mut() {
                    *x /= c.clone();
                }
                self.re /= c;
            }
        }
        impl<T: Elementary<Real = $r>> Add<$r> for Dual2Vec<T> {
            type Output = Self;
            fn add(mut self, rhs: $r) -> Self {
                self += rhs;
                self
            }
        }
        impl<T: Elementary<Real = $r>> Sub<$r> for Dual2Vec<T> {
            type Output = Self;
            fn sub(mut self, rhs: $r) -> Self {
                self -= rhs;
                self
            }
        }
        impl<T: Elementary<Real = $r>> Mul<$r> for Dual2Vec<T> {
            type Output = Self;
            fn mul(mut self, rhs: $r) -> Self {
                self *= rhs;
                self
            }
        }
        impl<T: Elementary<Real = $r>> Div<$r> for Dual2Vec<T> {
            type Output = Self;
            fn div(mut self, rhs: $r) -> Self {
                self /= rhs;
                self
            }
        }
        impl<T: Elementary<Real = $r>> Add<Dual2Vec<T>> for $r {
            type Output = Dual2Vec<T>;
            fn add(self, rhs: Dual2Vec<T>) -> Dual2Vec<T> {
                rhs + self
            }
        }
        impl<T: Elementary<Real = $r>> Sub<Dual2Vec<T>> for $r {
            type Output = Dual2Vec<T>;
            fn sub(self, rhs: Dual2Vec<T>) -> Dual2Vec<T> {
                -rhs + self
            }
        }
        impl<T: Elementary<Real = $r>> Mul<Dual2Vec<T>> for $r {
            type Output = Dual2Vec<T>;
            fn mul(self, rhs: Dual2Vec<T>) -> Dual2Vec<T> {
                rhs * self
            }
        }
        impl<T: Elementary<Real = $r>> Div<Dual2Vec<T>> for $r {
            type Output = Dual2Vec<T>;
            fn div(self, rhs: Dual2Vec<T>) -> Dual2Vec<T> {
                Dual2Vec::constant(T::from_re(self)) / rhs
            }
        }
    };
}
real_ops!(f64);
real_ops!(f32);

impl<T: Elementary> Zero for Dual2Vec<T> {
    fn zero() -> Self {
        Self::constant(T::zero())
    }
    /// True when the value and every derivative are zero.
    fn is_zero(&self) -> bool {
        self.re.is_zero() && self.d.iter().all(Zero::is_zero)
    }
}

impl<T: Elementary> One for Dual2Vec<T> {
    fn one() -> Self {
        Self::constant(T::one())
    }
}

/// Functions of one argument through [`Dual2Vec::unary`].
macro_rules! unary_fns {
    ($($name:ident),*) => {
        $(
            fn $name(&self) -> Self {
                self.unary(|x| x.$name())
            }
        )*
    };
}

/// Functions without derivative: the value's function, as a constant.
macro_rules! flat_fns {
    ($($name:ident),*) => {
        $(
            fn $name(&self) -> Self {
                Self::constant(self.re.$name())
            }
        )*
    };
}

impl<T: Elementary> Elementary for Dual2Vec<T> {
    type Real = T::Real;

    fn re(&self) -> T::Real {
        self.re.re()
    }

    fn from_re(re: T::Real) -> Self {
        Self::constant(T::from_re(re))
    }

    fn powi(&self, n: i32) -> Self {
        let v = &self.re;
        match n {
            0 => Self::constant(T::one()),
            1 => self.clone(),
            2 => {
                if self.n == 0 {
                    return Self::constant(v.clone() * v.clone());
                }
                self.chain(
                    v.clone() * v.clone(),
                    v.clone() + v.clone(),
                    T::from_f64(2.0),
                )
            }
            _ => self.unary(|x| x.powi(n)),
        }
    }

    fn powf(&self, n: Self::Real) -> Self {
        self.unary(|x| x.powf(n))
    }

    fn pow(&self, y: &Self) -> Self {
        if y.n == 0 {
            let w = y.re.clone();
            return self.unary(|x| x.pow(&Dual::constant(Dual::constant(w.clone()))));
        }
        self.binary(y, |a, b| a.pow(b))
    }

    unary_fns!(
        recip,
        sqrt,
        cbrt,
        exp,
        exp2,
        exp_m1,
        ln,
        ln_1p,
        log2,
        log10,
        sin,
        cos,
        tan,
        asin,
        acos,
        atan,
        sinh,
        cosh,
        tanh,
        asinh,
        acosh,
        atanh,
        abs,
        erf,
        erfc,
        erf_inv,
        lgamma,
        digamma,
        perturbation
    );

    fn polygamma(&self, n: u32) -> Self {
        self.unary(|x| x.polygamma(n))
    }
    flat_fns!(signum, floor, ceil, round, trunc);

    fn sin_cos(&self) -> (Self, Self) {
        (self.sin(), self.cos())
    }

    fn atan2(&self, x: &Self) -> Self {
        self.binary(x, |a, b| a.atan2(b))
    }

    fn hypot(&self, y: &Self) -> Self {
        self.binary(y, |a, b| a.hypot(b))
    }

    /// Selects `other` when it is strictly smaller or `self` is NaN.
    #[allow(clippy::eq_op)]
    fn min(&self, other: &Self) -> Self {
        if other.re < self.re || self.re != self.re {
            other.clone()
        } else {
            self.clone()
        }
    }

    /// Selects `other` when it is strictly larger or `self` is NaN.
    #[allow(clippy::eq_op)]
    fn max(&self, other: &Self) -> Self {
        if other.re > self.re || self.re != self.re {
            other.clone()
        } else {
            self.clone()
        }
    }

    fn mul_add(&self, a: &Self, b: &Self) -> Self {
        let mut r = self.clone() * a.clone() + b.clone();
        r.re = self.re.mul_add(&a.re, &b.re);
        r
    }
}
