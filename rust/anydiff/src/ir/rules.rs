//! The engine's derivative rules for one scalar: value and partial derivatives
//! of an elementwise instruction, exactly as the forward engine computes them
//! (from [`Dual`] numbers). Code generated from a [`super::Program`] elsewhere
//! (`anydiff-jit`) calls these so that every engine agrees bit for bit.

use super::eval::{binary, unary, IrReal};
use super::program::{BinaryFn, UnaryFn};
use crate::dual::{Dual, Elementary};

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
