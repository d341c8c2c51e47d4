//! [`DualVec`]: a dual number whose number of tangent lanes is chosen at
//! run time.

use std::cmp::Ordering;
use std::fmt;
use std::iter::{Product, Sum};
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, Sub, SubAssign};

use num_traits::{One, Zero};

use super::functions::{elementary_via_rules, rules, Chain, Elementary};
use super::number::{binary_from_assign, scalar_ops, write_dual};
use crate::error::Error;

/// A dual number with a run-time number of tangent lanes: value `re` and
/// lanes `eps`.
///
/// Lanes missing at the end of `eps` are zero, so a constant needs no
/// storage (`eps` empty) and numbers of different widths combine (the
/// result has the larger width). It shares the derivative rules of
/// [`Dual`](super::Dual) and nests the same way; it is `Clone` but not
/// `Copy`. Comparisons look at the real part only.
///
/// ```
/// use anydiff::dual::{DualVec, Elementary};
///
/// // f = exp(x) * y at (0, 3): df/dx = 3, df/dy = 1
/// let v = DualVec::variables(&[0.0f64, 3.0]);
/// let f = v[0].exp() * v[1].clone();
/// assert_eq!(f.re, 3.0);
/// assert_eq!(f.eps, vec![3.0, 1.0]);
/// ```
#[derive(Clone, Debug)]
pub struct DualVec<T> {
    /// The value (real part).
    pub re: T,
    /// The tangent lanes; lanes past the end are zero.
    pub eps: Vec<T>,
}

impl<T: Elementary> DualVec<T> {
    /// A dual number with value `re` and the given tangent lanes.
    pub fn new(re: T, eps: Vec<T>) -> Self {
        DualVec { re, eps }
    }

    /// A constant: value `re`, no stored lanes (all tangents zero).
    pub fn constant(re: T) -> Self {
        DualVec {
            re,
            eps: Vec::new(),
        }
    }

    /// An independent variable with `width` lanes, seeded in `lane`; a
    /// `lane >= width` is an error.
    ///
    /// ```
    /// use anydiff::dual::DualVec;
    ///
    /// assert_eq!(DualVec::variable(2.0f64, 1, 3).unwrap().eps, vec![0.0, 1.0, 0.0]);
    /// assert!(DualVec::variable(2.0f64, 3, 3).is_err());
    /// ```
    pub fn variable(re: T, lane: usize, width: usize) -> Result<Self, Error> {
        if lane >= width {
            return Err(Error::invalid(format!(
                "lane {lane} of a dual number with {width} lanes (expected a lane below {width})"
            )));
        }
        Ok(Self::seeded(re, lane, width))
    }

    /// One variable per value, variable `i` seeded in lane `i` of `x.len()`.
    ///
    /// ```
    /// use anydiff::dual::DualVec;
    ///
    /// let v = DualVec::variables(&[2.0f64, 3.0]);
    /// let f = v[0].clone() * v[1].clone();
    /// assert_eq!((f.re, f.eps), (6.0, vec![3.0, 2.0]));
    /// ```
    pub fn variables(x: &[T]) -> Vec<Self> {
        let n = x.len();
        x.iter()
            .enumerate()
            .map(|(i, v)| Self::seeded(v.clone(), i, n))
            .collect()
    }

    /// Value `re`, `width` lanes, tangent 1 in `lane` (none when out of range).
    pub(crate) fn seeded(re: T, lane: usize, width: usize) -> Self {
        let mut eps = vec![T::zero(); width];
        if let Some(e) = eps.get_mut(lane) {
            *e = T::one();
        }
        DualVec { re, eps }
    }

    /// The number of stored lanes.
    pub fn width(&self) -> usize {
        self.eps.len()
    }

    /// Lane `i` (zero when `i` is past the stored lanes).
    pub fn lane(&self, i: usize) -> T {
        self.eps.get(i).cloned().unwrap_or_else(T::zero)
    }

    fn widen(&mut self, n: usize) {
        if self.eps.len() < n {
            self.eps.resize(n, T::zero());
        }
    }
}

impl<T: Elementary> Default for DualVec<T> {
    /// The constant zero.
    fn default() -> Self {
        Self::constant(T::zero())
    }
}

/// `re + [e0, e1, ...]ε` (the stored lanes), with the formatter's options.
///
/// ```
/// use anydiff::dual::DualVec;
///
/// assert_eq!(DualVec::new(2.0f64, vec![1.0, 0.0]).to_string(), "2 + [1, 0]ε");
/// ```
impl<T: fmt::Display> fmt::Display for DualVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_dual(f, &self.re, &self.eps)
    }
}

impl<T: PartialEq> PartialEq for DualVec<T> {
    /// Compares the real parts only.
    fn eq(&self, other: &Self) -> bool {
        self.re == other.re
    }
}

impl<T: PartialOrd> PartialOrd for DualVec<T> {
    /// Orders by the real parts only.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.re.partial_cmp(&other.re)
    }
}

impl<T: Elementary> AddAssign for DualVec<T> {
    fn add_assign(&mut self, rhs: Self) {
        self.widen(rhs.eps.len());
        for (a, b) in self.eps.iter_mut().zip(rhs.eps) {
            *a += b;
        }
        self.re += rhs.re;
    }
}

impl<T: Elementary> SubAssign for DualVec<T> {
    fn sub_assign(&mut self, rhs: Self) {
        self.widen(rhs.eps.len());
        for (a, b) in self.eps.iter_mut().zip(rhs.eps) {
            *a -= b;
        }
        self.re -= rhs.re;
    }
}

impl<T: Elementary> MulAssign for DualVec<T> {
    fn mul_assign(&mut self, rhs: Self) {
        let DualVec { re: b, eps: be } = rhs;
        self.widen(be.len());
        let mut be = be.into_iter();
        for a in self.eps.iter_mut() {
            *a *= b.clone();
            if let Some(db) = be.next() {
                *a += self.re.clone() * db;
            }
        }
        self.re *= b;
    }
}

impl<T: Elementary> DivAssign for DualVec<T> {
    fn div_assign(&mut self, rhs: Self) {
        let DualVec { re: b, eps: be } = rhs;
        self.widen(be.len());
        let q = self.re.clone() / b.clone();
        let mut be = be.into_iter();
        for a in self.eps.iter_mut() {
            if let Some(db) = be.next() {
                *a -= q.clone() * db;
            }
            *a /= b.clone();
        }
        self.re = q;
    }
}

binary_from_assign!([T] DualVec<T>);
scalar_ops!(f64; [T] DualVec<T>);
scalar_ops!(f32; [T] DualVec<T>);

impl<T: Elementary> Neg for DualVec<T> {
    type Output = Self;
    fn neg(self) -> Self {
        DualVec {
            re: -self.re,
            eps: self.eps.into_iter().map(Neg::neg).collect(),
        }
    }
}

impl<T: Elementary> Zero for DualVec<T> {
    fn zero() -> Self {
        Self::constant(T::zero())
    }
    /// True when the value and every lane are zero.
    fn is_zero(&self) -> bool {
        self.re.is_zero() && self.eps.iter().all(Zero::is_zero)
    }
}

impl<T: Elementary> One for DualVec<T> {
    fn one() -> Self {
        Self::constant(T::one())
    }
}

impl<T: Elementary> Chain for DualVec<T> {
    type Inner = T;

    fn value(&self) -> &T {
        &self.re
    }

    fn tangent_is_zero(&self) -> bool {
        self.eps.iter().all(Elementary::is_exact_zero)
    }

    fn scaled(value: T, x: &Self, d: T) -> Self {
        DualVec {
            re: value,
            eps: x.eps.iter().map(|e| e.clone() * d.clone()).collect(),
        }
    }

    fn linear(value: T, terms: &[(&Self, T)]) -> Self {
        let width = terms.iter().map(|(x, _)| x.eps.len()).max().unwrap_or(0);
        let mut eps = vec![T::zero(); width];
        for (x, d) in terms {
            for (o, e) in eps.iter_mut().zip(x.eps.iter()) {
                if !e.is_exact_zero() {
                    *o += e.clone() * d.clone();
                }
            }
        }
        DualVec { re: value, eps }
    }
}

impl<T: Elementary> Elementary for DualVec<T> {
    type Real = T::Real;

    fn re(&self) -> T::Real {
        self.re.re()
    }

    fn from_re(re: T::Real) -> Self {
        Self::constant(T::from_re(re))
    }

    elementary_via_rules!();
}
