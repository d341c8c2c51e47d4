//! The derivative rules that generated code calls out to: thin `extern "C"`
//! wrappers of [`anydiff::ir::unary_rule`], [`anydiff::ir::powi_rule`] and
//! [`anydiff::ir::binary_rule`], so compiled kernels and the interpreter
//! compute every value and partial derivative the same way.

use anydiff::ir::{binary_rule, powi_rule, unary_rule, BinaryFn, UnaryFn};

/// Writes `(f(x), f'(x))` of `UnaryFn::ALL[func]` to `out[0..2]`.
///
/// # Safety
/// `out` points to two writable `f64`s; `func < UnaryFn::ALL.len()`.
pub(crate) unsafe extern "C" fn unary_call(func: u32, x: f64, out: *mut f64) {
    let (v, d) = unary_rule(UnaryFn::ALL[func as usize], x);
    // SAFETY: the caller passes a slot of at least two f64s
    unsafe {
        out.write(v);
        out.add(1).write(d);
    }
}

/// Writes `(x^n, n x^(n-1))` to `out[0..2]`.
///
/// # Safety
/// `out` points to two writable `f64`s.
pub(crate) unsafe extern "C" fn powi_call(n: i32, x: f64, out: *mut f64) {
    let (v, d) = powi_rule(x, n);
    // SAFETY: as in `unary_call`
    unsafe {
        out.write(v);
        out.add(1).write(d);
    }
}

/// Writes `(f(a, b), df/da, df/db)` of `BinaryFn::ALL[func]` to `out[0..3]`.
///
/// # Safety
/// `out` points to three writable `f64`s; `func < BinaryFn::ALL.len()`.
pub(crate) unsafe extern "C" fn binary_call(func: u32, a: f64, b: f64, out: *mut f64) {
    let (v, da, db) = binary_rule(BinaryFn::ALL[func as usize], a, b);
    // SAFETY: the caller passes a slot of at least three f64s
    unsafe {
        out.write(v);
        out.add(1).write(da);
        out.add(2).write(db);
    }
}

/// Index of `func` in `UnaryFn::ALL`, the code the generated calls pass.
pub(crate) fn unary_code(func: UnaryFn) -> u32 {
    UnaryFn::ALL.iter().position(|&f| f == func).unwrap_or(0) as u32
}

/// Index of `func` in `BinaryFn::ALL`.
pub(crate) fn binary_code(func: BinaryFn) -> u32 {
    BinaryFn::ALL.iter().position(|&f| f == func).unwrap_or(0) as u32
}
