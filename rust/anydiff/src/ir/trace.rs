//! Programs from Rust code: [`trace`] runs a function written once for any
//! number type (`fn f<D: DualNum<f64>>(x: &[D], y: &mut [D])`) on
//! [`Tracer`] numbers, which record every operation, and turns the record
//! into a [`Program`]: global sparsity patterns, the compiled sparse
//! Jacobian ([`super::SparseJacobian`]) and every engine of this module
//! then apply to plain Rust code.
//!
//! The record is one scalar operation per step; [`trace`] vectorises it
//! before building the program: operations of one kind at the same depth
//! (the longest path from an input) become one instruction over all of
//! them, their arguments gathered by static index maps. Code that applies
//! the same formula at every grid point (a discretised PDE) becomes a
//! program of a few dozen array instructions, whatever the grid size.
//!
//! What cannot be recorded is refused: a comparison of traced values
//! (`if x > y`, `x == y`) would freeze one branch, so [`trace`] returns an
//! error naming it. Branch-free forms are recorded: `min`, `max`, `abs`,
//! `signum`, `floor`, `ceil`, `round`, `trunc`. `mul_add` is recorded as a
//! product and a sum (not fused).
//!
//! ```
//! use anydiff::dual::DualNum;
//! use anydiff::ir::trace;
//!
//! // y_i = x_i^2 - x_{i+1} (a chain): bidiagonal Jacobian
//! fn f<D: DualNum<f64> + Copy>(x: &[D], y: &mut [D]) {
//!     for i in 0..y.len() {
//!         y[i] = x[i].powi(2) - x[i + 1];
//!     }
//! }
//! let prog = trace(5, 4, |x, y| f(x, y)).unwrap();
//! assert_eq!((prog.n_inputs(), prog.n_outputs()), (5, 4));
//! let pattern = prog.jacobian_sparsity();
//! assert_eq!(pattern.nnz(), 8);
//! assert_eq!(pattern.row(2), &[2, 3]);
//! // a handful of array instructions, not one per element
//! assert!(prog.n_nodes() < 10);
//! ```

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};

use num_traits::{One, Zero};

use super::program::{BinaryFn, CompareFn, Op, Program, UnaryFn};
use crate::dual::Elementary;
use crate::error::Error;

/// A number that records the operations applied to it (see [`trace`]).
///
/// It is either a constant, computed at once in `f64`, or a step of the
/// trace in progress. Comparisons between traced values cannot be recorded:
/// they make [`trace`] fail (and return `false` / `None` meanwhile).
#[derive(Clone, Copy, Debug)]
pub struct Tracer(Repr);

#[derive(Clone, Copy, Debug)]
enum Repr {
    Const(f64),
    Step { trace: u32, id: u32 },
}

/// One recorded scalar operation; arguments are step ids.
#[derive(Clone, Copy, Debug)]
enum Step {
    Input(u32),
    Const(f64),
    Unary(UnaryFn, u32),
    Binary(BinaryFn, u32, u32),
    Powi(u32, i32),
    Compare(CompareFn, u32, u32),
    Select(u32, u32, u32),
}

impl Step {
    fn args(&self) -> ([u32; 3], usize) {
        match *self {
            Step::Input(_) | Step::Const(_) => ([0; 3], 0),
            Step::Unary(_, a) | Step::Powi(a, _) => ([a, 0, 0], 1),
            Step::Binary(_, a, b) | Step::Compare(_, a, b) => ([a, b, 0], 2),
            Step::Select(c, t, f) => ([c, t, f], 3),
        }
    }
}

/// The record of the trace running on this thread.
struct Tape {
    id: u32,
    steps: Vec<Step>,
    consts: HashMap<u64, u32>,
    error: Option<String>,
}

impl Tape {
    fn fail(&mut self, msg: String) {
        if self.error.is_none() {
            self.error = Some(msg);
        }
    }

    fn push(&mut self, step: Step) -> u32 {
        let id = u32::try_from(self.steps.len()).unwrap_or(u32::MAX);
        if id == u32::MAX {
            self.fail("the trace exceeds 2^32 - 1 operations".into());
        }
        self.steps.push(step);
        id
    }

    /// The step id of an operand (constants are interned).
    fn operand(&mut self, t: Tracer) -> u32 {
        match t.0 {
            Repr::Const(c) => {
                if let Some(&id) = self.consts.get(&c.to_bits()) {
                    return id;
                }
                let id = self.push(Step::Const(c));
                self.consts.insert(c.to_bits(), id);
                id
            }
            Repr::Step { trace, id } if trace == self.id => id,
            Repr::Step { .. } => {
                self.fail("a value traced by another call of trace was used".into());
                0
            }
        }
    }
}

thread_local! {
    static TAPE: RefCell<Option<Tape>> = const { RefCell::new(None) };
}

static NEXT_TRACE: AtomicU32 = AtomicU32::new(1);

/// Records `step` (built from the operands' step ids) on this thread's tape.
fn record(args: &[Tracer], step: impl FnOnce(&[u32]) -> Step) -> Tracer {
    TAPE.with(|tape| {
        let mut tape = tape.borrow_mut();
        let Some(tape) = tape.as_mut() else {
            // a traced value used after its trace ended: nothing to record into
            return Tracer(Repr::Const(f64::NAN));
        };
        let ids: Vec<u32> = args.iter().map(|&a| tape.operand(a)).collect();
        let id = tape.push(step(&ids));
        Tracer(Repr::Step { trace: tape.id, id })
    })
}

fn fail(msg: &str) {
    TAPE.with(|tape| {
        if let Some(tape) = tape.borrow_mut().as_mut() {
            tape.fail(msg.to_string());
        }
    });
}

impl Tracer {
    /// A constant.
    pub fn constant(v: f64) -> Self {
        Tracer(Repr::Const(v))
    }

    /// The value, when this is a constant (not a recorded step).
    pub fn as_constant(&self) -> Option<f64> {
        match self.0 {
            Repr::Const(c) => Some(c),
            Repr::Step { .. } => None,
        }
    }

    fn unary_op(self, func: UnaryFn, on_const: impl FnOnce(f64) -> f64) -> Self {
        match self.0 {
            Repr::Const(c) => Tracer::constant(on_const(c)),
            Repr::Step { .. } => record(&[self], |a| Step::Unary(func, a[0])),
        }
    }

    fn binary_op(
        self,
        other: Self,
        func: BinaryFn,
        on_const: impl FnOnce(f64, f64) -> f64,
    ) -> Self {
        match (self.0, other.0) {
            (Repr::Const(a), Repr::Const(b)) => Tracer::constant(on_const(a, b)),
            _ => record(&[self, other], |a| Step::Binary(func, a[0], a[1])),
        }
    }

    /// `1.0` where `func(self, other)` holds, else `0.0` (recorded).
    fn compare_op(self, other: Self, func: CompareFn) -> Self {
        record(&[self, other], |a| Step::Compare(func, a[0], a[1]))
    }

    /// `t` where `self != 0`, else `f` (recorded).
    fn select(self, t: Self, f: Self) -> Self {
        record(&[self, t, f], |a| Step::Select(a[0], a[1], a[2]))
    }

    /// `x.trunc()`: `ceil` below zero, `floor` elsewhere.
    fn trunc_op(self) -> Self {
        let below = self.compare_op(Tracer::constant(0.0), CompareFn::Lt);
        below.select(
            self.unary_op(UnaryFn::Ceil, f64::ceil),
            self.unary_op(UnaryFn::Floor, f64::floor),
        )
    }
}

/// Runs `f` on `n` traced inputs and `m` outputs (initially the constant 0)
/// and returns the recorded function as a vectorised [`Program`] with one
/// input of length `n` and one output of length `m`.
///
/// Errors when `f` compares traced values, mixes values of another trace,
/// or when a trace is already running on this thread (from inside `f`).
pub fn trace(
    n: usize,
    m: usize,
    f: impl FnOnce(&[Tracer], &mut [Tracer]),
) -> Result<Program, Error> {
    let id = NEXT_TRACE.fetch_add(1, AtomicOrdering::Relaxed);
    let started = TAPE.with(|tape| {
        let mut tape = tape.borrow_mut();
        if tape.is_some() {
            return false;
        }
        *tape = Some(Tape {
            id,
            steps: Vec::new(),
            consts: HashMap::new(),
            error: None,
        });
        true
    });
    if !started {
        return Err(Error::invalid(
            "trace was called while a trace is running on this thread",
        ));
    }
    /// Ends the trace also when `f` panics.
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            TAPE.with(|tape| tape.borrow_mut().take());
        }
    }
    let guard = Guard;
    let mut inputs = Vec::new();
    inputs
        .try_reserve_exact(n)
        .map_err(|_| Error::invalid(format!("cannot allocate {n} traced inputs")))?;
    for j in 0..n {
        let idx =
            u32::try_from(j).map_err(|_| Error::invalid(format!("{n} inputs exceed 2^32 - 1")))?;
        inputs.push(record(&[], |_| Step::Input(idx)));
    }
    let mut outputs = Vec::new();
    outputs
        .try_reserve_exact(m)
        .map_err(|_| Error::invalid(format!("cannot allocate {m} traced outputs")))?;
    outputs.resize(m, Tracer::constant(0.0));
    f(&inputs, &mut outputs);
    let mut tape = TAPE
        .with(|tape| tape.borrow_mut().take())
        .ok_or_else(|| Error::invalid("the trace was ended from inside the traced function"))?;
    drop(guard);
    let out_ids: Vec<u32> = outputs.iter().map(|&y| tape.operand(y)).collect();
    if let Some(msg) = tape.error {
        return Err(Error::invalid(format!("cannot trace the function: {msg}")));
    }
    vectorise(&tape.steps, n, &out_ids)
}

/// Which instruction a group of steps becomes: the operation and, per
/// argument, whether every step of the group reads a constant there.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Unary(UnaryFn),
    Binary(BinaryFn),
    Powi(i32),
    Compare(CompareFn),
    Select,
}

/// Builds a program in which the steps of one kind, depth and constant
/// arguments form one instruction.
fn vectorise(steps: &[Step], n: usize, outputs: &[u32]) -> Result<Program, Error> {
    let len = steps.len();
    let mut depth = vec![0u32; len];
    // group key -> group index; a step's (group, position)
    let mut groups: HashMap<(u32, Kind, [bool; 3]), usize> = HashMap::new();
    let mut members: Vec<Vec<u32>> = Vec::new();
    let mut kinds: Vec<Kind> = Vec::new();
    let mut group_depth: Vec<u32> = Vec::new();
    let mut place = vec![(usize::MAX, 0usize); len];
    for (i, step) in steps.iter().enumerate() {
        let (args, k) = step.args();
        let is_const = |a: u32| matches!(steps[a as usize], Step::Const(_));
        let kind = match *step {
            Step::Input(_) | Step::Const(_) => continue,
            Step::Unary(f, _) => Kind::Unary(f),
            Step::Binary(f, _, _) => Kind::Binary(f),
            Step::Powi(_, p) => Kind::Powi(p),
            Step::Compare(f, _, _) => Kind::Compare(f),
            Step::Select(..) => Kind::Select,
        };
        let d = 1 + args[..k]
            .iter()
            .map(|&a| depth[a as usize])
            .max()
            .unwrap_or(0);
        depth[i] = d;
        let mut consts = [false; 3];
        for (c, &a) in consts.iter_mut().zip(&args[..k]) {
            *c = is_const(a);
        }
        let g = *groups.entry((d, kind, consts)).or_insert_with(|| {
            members.push(Vec::new());
            kinds.push(kind);
            group_depth.push(d);
            members.len() - 1
        });
        place[i] = (g, members[g].len());
        members[g].push(i as u32);
    }
    // instructions by depth (a group reads only shallower groups)
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|&g| group_depth[g]);
    let mut ops = vec![Op::Input { index: 0, len: n }];
    let mut group_op = vec![usize::MAX; members.len()];
    let mut b = Builder {
        steps,
        place: &place,
        group_op: &mut group_op,
        ops: &mut ops,
        lens: vec![n],
    };
    for &g in &order {
        let kind = kinds[g];
        let arity = match kind {
            Kind::Unary(_) | Kind::Powi(_) => 1,
            Kind::Binary(_) | Kind::Compare(_) => 2,
            Kind::Select => 3,
        };
        let mut operands = [0usize; 3];
        for (slot, operand) in operands.iter_mut().enumerate().take(arity) {
            let srcs: Vec<u32> = members[g]
                .iter()
                .map(|&s| steps[s as usize].args().0[slot])
                .collect();
            *operand = b.vector(&srcs);
        }
        let [a, bb, c] = operands;
        let op = match kind {
            Kind::Unary(func) => Op::Unary { func, a },
            Kind::Binary(func) => Op::Binary { func, a, b: bb },
            Kind::Powi(p) => Op::Powi { a, n: p },
            Kind::Compare(func) => Op::Compare { func, a, b: bb },
            Kind::Select => Op::Select { c: a, t: bb, f: c },
        };
        let len = members[g].len();
        b.group_op[g] = b.push(op, len);
    }
    let out = b.vector(outputs);
    Program::new(ops, &[n], &[], &[out])
}

struct Builder<'a> {
    steps: &'a [Step],
    place: &'a [(usize, usize)],
    group_op: &'a mut [usize],
    ops: &'a mut Vec<Op>,
    /// The length of each instruction in `ops`.
    lens: Vec<usize>,
}

impl Builder<'_> {
    /// An instruction whose element `e` is the value of step `srcs[e]`:
    /// a constant array, an existing instruction, or a gather from the
    /// concatenation of the instructions holding the steps.
    fn vector(&mut self, srcs: &[u32]) -> usize {
        let consts: Option<Vec<f64>> = srcs
            .iter()
            .map(|&s| match self.steps[s as usize] {
                Step::Const(c) => Some(c),
                _ => None,
            })
            .collect();
        if let Some(values) = consts {
            let len = values.len();
            return self.push(Op::Const(values), len);
        }
        // the instruction and element holding each step; constants mixed in
        // (outputs only) come from one constant array
        let mut const_values = Vec::new();
        let mut located = Vec::with_capacity(srcs.len());
        for &s in srcs {
            located.push(match self.steps[s as usize] {
                Step::Input(j) => (Some(0usize), j as usize),
                Step::Const(c) => {
                    const_values.push(c);
                    (None, const_values.len() - 1)
                }
                _ => {
                    let (g, pos) = self.place[s as usize];
                    (Some(self.group_op[g]), pos)
                }
            });
        }
        let const_op = if const_values.is_empty() {
            None
        } else {
            let len = const_values.len();
            Some(self.push(Op::Const(const_values), len))
        };
        let located: Vec<(usize, usize)> = located
            .into_iter()
            .map(|(op, e)| (op.or(const_op).unwrap_or(0), e))
            .collect();
        let mut parts: Vec<usize> = Vec::new();
        for &(op, _) in &located {
            if !parts.contains(&op) {
                parts.push(op);
            }
        }
        if let [only] = parts[..] {
            let whole = self.len_of(only) == located.len()
                && located.iter().enumerate().all(|(e, &(_, p))| p == e);
            if whole {
                return only;
            }
        }
        let mut offset = HashMap::with_capacity(parts.len());
        let mut total = 0usize;
        for &p in &parts {
            offset.insert(p, total);
            total += self.len_of(p);
        }
        let source = if let [only] = parts[..] {
            only
        } else {
            self.push(Op::Concat(parts), total)
        };
        let indices = located
            .iter()
            .map(|&(op, e)| (offset[&op] + e) as i64)
            .collect();
        let len = located.len();
        self.push(Op::Gather { a: source, indices }, len)
    }

    /// Appends `op` of length `len`; returns its index.
    fn push(&mut self, op: Op, len: usize) -> usize {
        self.ops.push(op);
        self.lens.push(len);
        self.ops.len() - 1
    }

    fn len_of(&self, op: usize) -> usize {
        self.lens[op]
    }
}

impl PartialEq for Tracer {
    /// Equal constants compare; traced values cannot (the trace fails).
    fn eq(&self, other: &Self) -> bool {
        match (self.0, other.0) {
            (Repr::Const(a), Repr::Const(b)) => a == b,
            _ => {
                fail("the function compares traced values (==); branches cannot be recorded");
                false
            }
        }
    }
}

impl PartialOrd for Tracer {
    /// Constants order; traced values cannot (the trace fails).
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self.0, other.0) {
            (Repr::Const(a), Repr::Const(b)) => a.partial_cmp(&b),
            _ => {
                fail("the function compares traced values (<, >); branches cannot be recorded");
                None
            }
        }
    }
}

impl Default for Tracer {
    /// The constant zero.
    fn default() -> Self {
        Tracer::constant(0.0)
    }
}

impl fmt::Display for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::Const(c) => fmt::Display::fmt(&c, f),
            Repr::Step { id, .. } => write!(f, "%{id}"),
        }
    }
}

macro_rules! arith {
    ($tr:ident, $f:ident, $atr:ident, $af:ident, $func:ident, $op:tt) => {
        impl $tr for Tracer {
            type Output = Tracer;
            #[inline]
            fn $f(self, rhs: Tracer) -> Tracer {
                self.binary_op(rhs, BinaryFn::$func, |a, b| a $op b)
            }
        }
        impl $tr<f64> for Tracer {
            type Output = Tracer;
            #[inline]
            fn $f(self, rhs: f64) -> Tracer {
                self $op Tracer::constant(rhs)
            }
        }
        impl $tr<Tracer> for f64 {
            type Output = Tracer;
            #[inline]
            fn $f(self, rhs: Tracer) -> Tracer {
                Tracer::constant(self) $op rhs
            }
        }
        impl $atr for Tracer {
            #[inline]
            fn $af(&mut self, rhs: Tracer) {
                *self = *self $op rhs;
            }
        }
        impl $atr<f64> for Tracer {
            #[inline]
            fn $af(&mut self, rhs: f64) {
                *self = *self $op rhs;
            }
        }
    };
}
arith!(Add, add, AddAssign, add_assign, Add, +);
arith!(Sub, sub, SubAssign, sub_assign, Sub, -);
arith!(Mul, mul, MulAssign, mul_assign, Mul, *);
arith!(Div, div, DivAssign, div_assign, Div, /);

impl Neg for Tracer {
    type Output = Tracer;
    fn neg(self) -> Tracer {
        self.unary_op(UnaryFn::Neg, |x| -x)
    }
}

impl Zero for Tracer {
    fn zero() -> Self {
        Tracer::constant(0.0)
    }
    /// True for the constant zero only.
    fn is_zero(&self) -> bool {
        matches!(self.0, Repr::Const(c) if c == 0.0)
    }
}

impl One for Tracer {
    fn one() -> Self {
        Tracer::constant(1.0)
    }
}

/// Functions recorded as one unary instruction of the same name.
macro_rules! recorded {
    ($($name:ident => $func:ident),* $(,)?) => {
        $(
            fn $name(&self) -> Self {
                self.unary_op(UnaryFn::$func, |x| Elementary::$name(&x))
            }
        )*
    };
}

impl Elementary for Tracer {
    type Real = f64;

    /// The value of a constant; reading a traced value makes the trace
    /// fail (the value is not known while tracing), and gives NaN.
    fn re(&self) -> f64 {
        match self.0 {
            Repr::Const(c) => c,
            Repr::Step { .. } => {
                fail("the function reads the value of a traced number (re())");
                f64::NAN
            }
        }
    }

    fn from_re(re: f64) -> Self {
        Tracer::constant(re)
    }

    recorded!(
        recip => Recip, sqrt => Sqrt, cbrt => Cbrt, exp => Exp, exp2 => Exp2,
        exp_m1 => Expm1, ln => Log, ln_1p => Log1p, log2 => Log2, log10 => Log10,
        sin => Sin, cos => Cos, tan => Tan, asin => Asin, acos => Acos, atan => Atan,
        sinh => Sinh, cosh => Cosh, tanh => Tanh, asinh => Asinh, acosh => Acosh,
        atanh => Atanh, abs => Abs, floor => Floor, ceil => Ceil, erf => Erf,
    );

    fn powi(&self, n: i32) -> Self {
        match self.0 {
            Repr::Const(c) => Tracer::constant(Elementary::powi(&c, n)),
            Repr::Step { .. } => record(&[*self], |a| Step::Powi(a[0], n)),
        }
    }

    fn powf(&self, n: f64) -> Self {
        self.pow(&Tracer::constant(n))
    }

    fn pow(&self, y: &Self) -> Self {
        self.binary_op(*y, BinaryFn::Pow, |a, b| a.powf(b))
    }

    fn sin_cos(&self) -> (Self, Self) {
        (self.sin(), self.cos())
    }

    fn atan2(&self, x: &Self) -> Self {
        self.binary_op(*x, BinaryFn::Atan2, f64::atan2)
    }

    fn hypot(&self, y: &Self) -> Self {
        self.binary_op(*y, BinaryFn::Hypot, f64::hypot)
    }

    /// `f64::signum`: `+-1` also at `+-0`, where the IR's `sign` gives 0:
    /// there `sign(1 / floor(x))` gives the sign of the zero (`floor` keeps
    /// it and has a zero derivative, so no infinite partial reaches `sign`).
    fn signum(&self) -> Self {
        if let Repr::Const(c) = self.0 {
            return Tracer::constant(c.signum());
        }
        let zero = self.compare_op(Tracer::constant(0.0), CompareFn::Eq);
        let of_zero = self
            .unary_op(UnaryFn::Floor, f64::floor)
            .recip()
            .unary_op(UnaryFn::Sign, f64::signum);
        zero.select(of_zero, self.unary_op(UnaryFn::Sign, f64::signum))
    }

    fn trunc(&self) -> Self {
        if let Repr::Const(c) = self.0 {
            return Tracer::constant(c.trunc());
        }
        self.trunc_op()
    }

    /// Half away from zero (like `f64::round`): `trunc(x)`, plus `signum(x)`
    /// where `|x - trunc(x)| >= 0.5` (that difference is exact).
    fn round(&self) -> Self {
        if let Repr::Const(c) = self.0 {
            return Tracer::constant(c.round());
        }
        let t = self.trunc_op();
        let half = (*self - t)
            .abs()
            .compare_op(Tracer::constant(0.5), CompareFn::Ge);
        let step = self.unary_op(UnaryFn::Sign, f64::signum);
        t + half.select(step, Tracer::constant(0.0))
    }

    /// `other` where it is strictly smaller or `self` is NaN (ties: `self`).
    fn min(&self, other: &Self) -> Self {
        if let (Repr::Const(a), Repr::Const(b)) = (self.0, other.0) {
            return Tracer::constant(Elementary::min(&a, &b));
        }
        let nan = self.compare_op(*self, CompareFn::Ne);
        let smaller = other.compare_op(*self, CompareFn::Lt);
        nan.select(*other, smaller.select(*other, *self))
    }

    /// `other` where it is strictly larger or `self` is NaN (ties: `self`).
    fn max(&self, other: &Self) -> Self {
        if let (Repr::Const(a), Repr::Const(b)) = (self.0, other.0) {
            return Tracer::constant(Elementary::max(&a, &b));
        }
        let nan = self.compare_op(*self, CompareFn::Ne);
        let larger = other.compare_op(*self, CompareFn::Gt);
        nan.select(*other, larger.select(*other, *self))
    }

    /// `self * a + b`, recorded as a product and a sum (not fused).
    fn mul_add(&self, a: &Self, b: &Self) -> Self {
        if let (Repr::Const(x), Repr::Const(y), Repr::Const(z)) = (self.0, a.0, b.0) {
            return Tracer::constant(x.mul_add(y, z));
        }
        *self * *a + *b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_of_traced_values_are_refused() {
        let err = trace(2, 1, |x, y| {
            y[0] = if x[0] > x[1] { x[0] } else { x[1] };
        })
        .unwrap_err();
        assert!(err.to_string().contains("compares traced values"), "{err}");
    }

    #[test]
    fn values_of_another_trace_are_refused() {
        let mut kept = Tracer::constant(0.0);
        trace(1, 1, |x, y| {
            kept = x[0];
            y[0] = x[0];
        })
        .unwrap();
        let err = trace(1, 1, |x, y| y[0] = x[0] + kept).unwrap_err();
        assert!(err.to_string().contains("another call"), "{err}");
    }

    #[test]
    fn nested_traces_are_refused() {
        let mut inner = None;
        trace(1, 1, |x, y| {
            inner = Some(trace(1, 1, |a, b| b[0] = a[0]).is_err());
            y[0] = x[0];
        })
        .unwrap();
        assert_eq!(inner, Some(true));
        // and the thread can trace again afterwards
        assert!(trace(1, 1, |x, y| y[0] = x[0]).is_ok());
    }

    #[test]
    fn constants_fold_and_outputs_may_be_constant() {
        let prog = trace(2, 3, |x, y| {
            let c = Tracer::constant(2.0).powi(3) + 1.0;
            assert_eq!(c.as_constant(), Some(9.0));
            y[0] = x[0] * c;
            y[1] = c;
            // y[2] stays 0
        })
        .unwrap();
        let mut out = ndarray::Array2::<f64>::zeros((1, 3));
        prog.eval_points(ndarray::array![[1.5, 7.0]].view(), &[], out.view_mut())
            .unwrap();
        assert_eq!(out.row(0).to_vec(), vec![13.5, 9.0, 0.0]);
    }
}
