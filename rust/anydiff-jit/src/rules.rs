//! The derivative rules that generated code calls out to: thin `extern "C"`
//! wrappers of [`anydiff::ir::unary_rule`], [`anydiff::ir::powi_rule`],
//! [`anydiff::ir::binary_rule`] and [`anydiff::ir::reduce_rule`], so compiled
//! kernels and the interpreter compute every value and partial derivative the
//! same way.

use anydiff::ir::{
    binary_rule, powi_rule, reduce_rule, unary_rule, BinaryFn, ReduceFn, Tangent, UnaryFn,
};

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

/// Writes the reduction `ReduceFn::ALL[func]` of the `k` values at `x` to
/// `out`: `out[0]` the value, `out[1]` 1.0 for [`Tangent::NaN`] (else 0.0), then
/// for each member `(weight, 1.0)` if it contributes to the tangent, else `(0.0, 0.0)`.
///
/// # Safety
/// `x` points to `k` readable `f64`s and `out` to `2 + 2 k` writable ones;
/// `func < ReduceFn::ALL.len()`.
pub(crate) unsafe extern "C" fn reduce_call(func: u32, k: u32, x: *const f64, out: *mut f64) {
    let k = k as usize;
    // SAFETY: the caller passes `k` values and `2 + 2 k` output slots
    let (x, out) = unsafe {
        (
            std::slice::from_raw_parts(x, k),
            std::slice::from_raw_parts_mut(out, 2 + 2 * k),
        )
    };
    let (mut weights, mut prods) = (Vec::new(), Vec::new());
    let (v, how) = reduce_rule(ReduceFn::ALL[func as usize], x, &mut weights, &mut prods);
    out.fill(0.0);
    out[0] = v;
    out[1] = if how == Tangent::NaN { 1.0 } else { 0.0 };
    for (q, w) in weights {
        out[2 + 2 * q] = w;
        out[3 + 2 * q] = 1.0;
    }
}

/// Index of `func` in `ReduceFn::ALL`.
pub(crate) fn reduce_code(func: ReduceFn) -> u32 {
    ReduceFn::ALL.iter().position(|&f| f == func).unwrap_or(0) as u32
}

/// Index of `func` in `UnaryFn::ALL`, the code the generated calls pass.
pub(crate) fn unary_code(func: UnaryFn) -> u32 {
    UnaryFn::ALL.iter().position(|&f| f == func).unwrap_or(0) as u32
}

/// Index of `func` in `BinaryFn::ALL`.
pub(crate) fn binary_code(func: BinaryFn) -> u32 {
    BinaryFn::ALL.iter().position(|&f| f == func).unwrap_or(0) as u32
}
