//! What each instruction computes: the elementwise functions, comparisons and
//! the winner tests of max/min, generic over the number type (values, dual
//! numbers, nested duals), and the scalar rules `(value, partial derivatives)`
//! that the lane engine, the entry-by-entry Jacobians and generated code
//! (`anydiff-jit`) call, so that every engine agrees bit for bit.

use num_traits::{Float, Zero};

use super::ops::{BinaryFn, CompareFn, ReduceFn, UnaryFn};
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
        UnaryFn::Trunc => map!(x => x.trunc()),
        UnaryFn::Erfc => map!(x => x.erfc()),
        UnaryFn::ErfInv => map!(x => x.erf_inv()),
        UnaryFn::Lgamma => map!(x => x.lgamma()),
        UnaryFn::Digamma => map!(x => x.digamma()),
        UnaryFn::IsFinite => map!(x => zero_or_one(x.re().is_finite())),
        UnaryFn::StopGradient => map!(x => D::from_re(x.re())),
        UnaryFn::Perturbation => map!(x => x.perturbation()),
    }
}

/// The mean of `items`, whose values are all `value` (ties of a max or min): the
/// value exactly, the tangents averaged (`sum_j t_j * (1 / k)` in order; the
/// tangents are scaled without touching the values, which may be infinite).
fn tie_mean<D: Elementary>(items: &[&D], value: D::Real) -> D {
    let inv = D::from_re(<D::Real as num_traits::One>::one() / cast_count::<D>(items.len()));
    let mut acc = D::zero();
    for x in items {
        acc += x.perturbation() * inv.clone();
    }
    acc + D::from_re(value)
}

fn cast_count<D: Elementary>(k: usize) -> D::Real {
    crate::scalar::cast(k as f64)
}

/// `max(x, y)` (`max`) or `min(x, y)` with JAX's derivative: NaN (with zero
/// derivative) if either is NaN, the winner's tangents, or at a tie the mean of
/// both (so `max(a, b) + min(a, b)` has derivative `(1, 1)` at `a == b`).
fn extremum2<D: Elementary>(max: bool, x: &D, y: &D) -> D {
    let (a, b) = (x.re(), y.re());
    if a.is_nan() || b.is_nan() {
        return D::from_re(a + b);
    }
    if a == b {
        return tie_mean(&[x, y], a);
    }
    if (a > b) == max {
        x.clone()
    } else {
        y.clone()
    }
}

/// The maximum (`max`) or minimum of a non-empty group with JAX's derivative:
/// split evenly among the members equal to the result; a NaN member makes the
/// value NaN and the derivative NaN in every lane a member carries.
pub(crate) fn extremum<D: Elementary>(max: bool, group: &[&D]) -> D {
    let Some((first, rest)) = group.split_first() else {
        return D::zero();
    };
    let mut best = first.re();
    for x in rest {
        let v = x.re();
        if v.is_nan() || best.is_nan() {
            best = v + best;
        } else if (v > best) == max && v != best {
            best = v;
        }
    }
    if best.is_nan() {
        let mut sum = D::zero();
        for x in group {
            sum += (*x).clone();
        }
        return nan_tangents(sum);
    }
    let tied: Vec<&D> = group.iter().copied().filter(|x| x.re() == best).collect();
    tie_mean(&tied, best)
}

/// A NaN value whose tangents are NaN where those of `x` are nonzero (and zero
/// elsewhere): the rule of a function evaluated outside its domain, borrowed
/// from `sqrt` at a NaN argument.
pub(crate) fn nan_tangents<D: Elementary>(x: D) -> D {
    (x + D::from_re(<D::Real as Float>::nan())).sqrt()
}

/// The product of a group, left to right (1 for an empty one); the tangents
/// follow from the dual numbers' products (the product of the other members).
pub(crate) fn product<D: Elementary>(group: &[&D]) -> D {
    let mut acc = D::one();
    for x in group {
        acc *= (*x).clone();
    }
    acc
}

/// The partial derivatives of a max, min or prod reduction with respect to its
/// members (positions in `group`): the tied members of a max or min, each
/// `1 / count`, or every member NaN if one is NaN; for prod the product of the
/// other members (prefix and suffix products, zeros exact).
pub(crate) fn reduce_partials<D: Elementary>(func: ReduceFn, group: &[&D]) -> Vec<(usize, D)> {
    match func {
        ReduceFn::Max | ReduceFn::Min => {
            let max = func == ReduceFn::Max;
            let values: Vec<D::Real> = group.iter().map(|x| x.re()).collect();
            let mut best = match values.first() {
                Some(&v) => v,
                None => return Vec::new(),
            };
            for &v in &values[1..] {
                if v.is_nan() || best.is_nan() {
                    best = v + best;
                } else if (v > best) == max && v != best {
                    best = v;
                }
            }
            if best.is_nan() {
                return (0..group.len()).map(|q| (q, D::from_re(best))).collect();
            }
            let tied: Vec<usize> = (0..group.len()).filter(|&q| values[q] == best).collect();
            let inv = D::from_re(<D::Real as num_traits::One>::one() / cast_count::<D>(tied.len()));
            tied.into_iter().map(|q| (q, inv.clone())).collect()
        }
        ReduceFn::Prod => {
            let mut prefix = Vec::with_capacity(group.len() + 1);
            prefix.push(D::one());
            for x in group {
                let last = prefix[prefix.len() - 1].clone();
                prefix.push(last * (*x).clone());
            }
            let mut suffix = D::one();
            let mut out = vec![(0, D::zero()); group.len()];
            for q in (0..group.len()).rev() {
                out[q] = (q, prefix[q].clone() * suffix.clone());
                suffix = (*group[q]).clone() * suffix;
            }
            out
        }
        ReduceFn::Sum => (0..group.len()).map(|q| (q, D::one())).collect(),
        ReduceFn::ArgMax | ReduceFn::ArgMin => Vec::new(),
    }
}

/// Position of the winner of a group for `argmax` (`max`) / `argmin`: the first
/// NaN if there is one, else the first maximal (minimal) element.
pub(crate) fn arg_extremum<R: Float>(max: bool, values: impl Iterator<Item = R>) -> usize {
    let mut best: Option<(usize, R)> = None;
    for (i, v) in values.enumerate() {
        best = match best {
            None => Some((i, v)),
            Some((_, b)) if b.is_nan() => best,
            Some(_) if v.is_nan() => Some((i, v)),
            Some((_, b)) if (max && v > b) || (!max && v < b) => Some((i, v)),
            keep => keep,
        };
    }
    best.map_or(0, |(i, _)| i)
}

/// JAX's sort order: ascending, `-0.0 == 0.0`, NaN after every number.
pub(crate) fn sort_order<R: Float>(a: R, b: R) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Equal),
    }
}

/// The stable sorting permutation of `keys` ([`sort_order`]): `perm[e]` is the
/// position in `keys` of the `e`-th smallest.
pub(crate) fn sort_permutation<R: Float>(keys: impl Iterator<Item = R>, perm: &mut Vec<usize>) {
    let keys: Vec<R> = keys.collect();
    perm.clear();
    perm.extend(0..keys.len());
    perm.sort_by(|&i, &j| sort_order(keys[i], keys[j]));
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
        BinaryFn::Min => map!(x, y => extremum2(false, x, y)),
        BinaryFn::Max => map!(x, y => extremum2(true, x, y)),
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
        assert_eq!(binary_rule(BinaryFn::Max, 1.0, 1.0), (1.0, 0.5, 0.5));
        assert_eq!(binary_rule(BinaryFn::Min, 1.0, 1.0), (1.0, 0.5, 0.5));
        let (v, da, db) = binary_rule(BinaryFn::Max, f64::NAN, 1.0);
        assert!(v.is_nan() && da == 0.0 && db == 0.0);
        // ties of the smallest subnormal keep the value exactly
        let tiny = f64::from_bits(1);
        assert_eq!(binary_rule(BinaryFn::Max, tiny, tiny), (tiny, 0.5, 0.5));
        assert_eq!(binary_rule(BinaryFn::Max, f64::MAX, f64::MAX).0, f64::MAX);
    }
}
