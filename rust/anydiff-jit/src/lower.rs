//! Lowering a [`Program`] to straight-line Cranelift code for one point.
//!
//! Every element of every node becomes one [`Scalar`]: an SSA value and its
//! tangent lanes, kept sparse. The lanes are the program's inputs (unit
//! seeds), so which lanes an element has is known while the code is
//! generated: a lane that no input reaches costs nothing, gathers and
//! concatenations only rename scalars, and a seed's tangent of exactly one
//! multiplies nothing. What remains is the arithmetic that
//! `jax.jit(jax.jacfwd(f))` would keep after constant folding its one-hot seeds.
//!
//! The rules are the interpreter's ([`anydiff::ir`] lanes engine): add, sub,
//! mul, neg, comparisons, select, reductions and products inline, the other
//! functions through [`crate::rules`]; a tangent that is zero stays zero even
//! where a partial derivative is infinite or NaN.

use anydiff::ir::{BinaryFn, CompareFn, Curvature, Op, Program, ReduceFn, UnaryFn};
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{
    types, AbiParam, InstBuilder, MemFlagsData, SigRef, Signature, StackSlot, StackSlotData,
    StackSlotKind, Type, Value,
};
use cranelift_frontend::FunctionBuilder;

use crate::rules::{
    binary_call, binary_code, powi_call, reduce_call, reduce_code, unary_call, unary_code,
};
use crate::JitError;

/// A tangent lane's value: exactly one (a seed) or a computed number.
#[derive(Clone, Copy)]
enum Tangent {
    One,
    Of(Value),
}

/// One element: its value and its nonzero tangent lanes, sorted by lane.
#[derive(Clone)]
struct Scalar {
    value: Value,
    lanes: Vec<(u32, Tangent)>,
}

/// Where the generated code reads and writes for the point at hand.
pub(crate) struct Pointers {
    pub(crate) points: Value,
    pub(crate) params: Value,
}

/// What one point's code computes: the outputs' values, their Jacobian, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Values only (`eval_points`).
    Values,
    /// The Jacobian only.
    Jacobian,
    /// Values and Jacobian.
    ValuesAndJacobian,
}

impl Mode {
    pub(crate) fn values(self) -> bool {
        self != Mode::Jacobian
    }

    pub(crate) fn jacobian(self) -> bool {
        self != Mode::Values
    }
}

/// Signatures of the rule calls, imported once per function.
struct Calls {
    unary: SigRef,
    powi: SigRef,
    binary: SigRef,
    reduce: SigRef,
    slot: StackSlot,
    /// The members of a max/min/prod/argmax/argmin group, and what the rule writes.
    reduce_in: StackSlot,
    reduce_out: StackSlot,
}

/// The code generator for one function body.
pub(crate) struct Lowering<'a, 'b> {
    b: &'a mut FunctionBuilder<'b>,
    ptr: Type,
    zero: Value,
    one: Value,
    calls: Calls,
    /// Instructions emitted so far, against `budget`.
    emitted: usize,
    budget: usize,
}

impl<'a, 'b> Lowering<'a, 'b> {
    /// A generator emitting into `b`'s current block (the function's entry,
    /// which dominates the loop body, so the constants made here are usable
    /// everywhere); gives up with [`JitError::TooLarge`] past `budget`
    /// instructions. `group` is the largest group of the reductions that call
    /// out to [`reduce_call`].
    pub(crate) fn new(
        b: &'a mut FunctionBuilder<'b>,
        ptr: Type,
        call_conv: cranelift_codegen::isa::CallConv,
        (budget, group): (usize, usize),
    ) -> Self {
        let sig = |params: &[Type]| {
            let mut s = Signature::new(call_conv);
            s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
            s
        };
        let f64t = types::F64;
        let calls = Calls {
            unary: b.import_signature(sig(&[types::I32, f64t, ptr])),
            powi: b.import_signature(sig(&[types::I32, f64t, ptr])),
            binary: b.import_signature(sig(&[types::I32, f64t, f64t, ptr])),
            reduce: b.import_signature(sig(&[types::I32, types::I32, ptr, ptr])),
            slot: b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 24, 3)),
            reduce_in: b.create_sized_stack_slot(StackSlotData::new(
                StackSlotKind::ExplicitSlot,
                (8 * group.max(1)) as u32,
                3,
            )),
            reduce_out: b.create_sized_stack_slot(StackSlotData::new(
                StackSlotKind::ExplicitSlot,
                (8 * (2 + 2 * group)) as u32,
                3,
            )),
        };
        let zero = b.ins().f64const(0.0);
        let one = b.ins().f64const(1.0);
        Lowering {
            b,
            ptr,
            zero,
            one,
            calls,
            emitted: 0,
            budget,
        }
    }

    /// The builder, to emit the code around the point's.
    pub(crate) fn builder(&mut self) -> &mut FunctionBuilder<'b> {
        self.b
    }

    fn count(&mut self, k: usize) -> Result<(), JitError> {
        self.emitted += k;
        if self.emitted > self.budget {
            return Err(JitError::TooLarge(format!(
                "more than {} instructions per point",
                self.budget
            )));
        }
        Ok(())
    }

    fn constant(&mut self, x: f64) -> Scalar {
        let value = if x.to_bits() == 0 {
            self.zero
        } else {
            self.b.ins().f64const(x)
        };
        Scalar {
            value,
            lanes: Vec::new(),
        }
    }

    fn tangent_value(&self, t: Tangent) -> Value {
        match t {
            Tangent::One => self.one,
            Tangent::Of(v) => v,
        }
    }

    /// `d * t`, except that a zero `t` gives zero whatever `d` is.
    fn term(&mut self, d: Value, t: Tangent) -> Value {
        match t {
            Tangent::One => d,
            Tangent::Of(x) => {
                let is_zero = self.b.ins().fcmp(FloatCC::Equal, x, self.zero);
                let prod = self.b.ins().fmul(d, x);
                self.b.ins().select(is_zero, self.zero, prod)
            }
        }
    }

    /// Lanes of `d * t` for every lane of `x` (chain rule of one argument).
    fn scale(&mut self, d: Value, x: &[(u32, Tangent)]) -> Vec<(u32, Tangent)> {
        x.iter()
            .map(|&(l, t)| (l, Tangent::Of(self.term(d, t))))
            .collect()
    }

    /// The lanes of `a` and `b` merged by lane: `f(Some(a), Some(b))` where
    /// both have the lane, `f(Some(a), None)` or `f(None, Some(b))` where one has.
    fn merge(
        &mut self,
        a: &[(u32, Tangent)],
        b: &[(u32, Tangent)],
        mut f: impl FnMut(&mut Self, Option<Tangent>, Option<Tangent>) -> Value,
    ) -> Vec<(u32, Tangent)> {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::with_capacity(a.len().max(b.len()));
        while i < a.len() || j < b.len() {
            let la = a.get(i).map_or(u32::MAX, |x| x.0);
            let lb = b.get(j).map_or(u32::MAX, |x| x.0);
            let (lane, ta, tb) = match la.cmp(&lb) {
                std::cmp::Ordering::Less => {
                    i += 1;
                    (la, Some(a[i - 1].1), None)
                }
                std::cmp::Ordering::Greater => {
                    j += 1;
                    (lb, None, Some(b[j - 1].1))
                }
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                    (la, Some(a[i - 1].1), Some(b[j - 1].1))
                }
            };
            out.push((lane, Tangent::Of(f(self, ta, tb))));
        }
        out
    }

    /// A rule call writing `k` results to the stack slot; returns them.
    fn call(&mut self, sig: SigRef, target: usize, args: &[Value], k: usize) -> Vec<Value> {
        let callee = self.b.ins().iconst(self.ptr, target as i64);
        let slot = self.b.ins().stack_addr(self.ptr, self.calls.slot, 0);
        let mut all = args.to_vec();
        all.push(slot);
        self.b.ins().call_indirect(sig, callee, &all);
        (0..k)
            .map(|r| {
                self.b
                    .ins()
                    .load(types::F64, MemFlagsData::trusted(), slot, (8 * r) as i32)
            })
            .collect()
    }

    fn unary(&mut self, func: UnaryFn, x: &Scalar) -> Result<Scalar, JitError> {
        self.count(4 + 3 * x.lanes.len())?;
        let (value, d) = if func == UnaryFn::Neg {
            (self.b.ins().fneg(x.value), self.b.ins().f64const(-1.0))
        } else {
            let code = self.b.ins().iconst(types::I32, unary_code(func) as i64);
            let r = self.call(
                self.calls.unary,
                unary_call as *const () as usize,
                &[code, x.value],
                2,
            );
            (r[0], r[1])
        };
        if func.curvature() == Curvature::Constant {
            // zero derivative: no lanes (as the interpreter's live lanes)
            return Ok(Scalar {
                value,
                lanes: Vec::new(),
            });
        }
        Ok(Scalar {
            value,
            lanes: self.scale(d, &x.lanes),
        })
    }

    fn powi(&mut self, x: &Scalar, n: i32) -> Result<Scalar, JitError> {
        self.count(4 + 3 * x.lanes.len())?;
        let code = self.b.ins().iconst(types::I32, n as i64);
        let r = self.call(
            self.calls.powi,
            powi_call as *const () as usize,
            &[code, x.value],
            2,
        );
        Ok(Scalar {
            value: r[0],
            lanes: self.scale(r[1], &x.lanes),
        })
    }

    fn binary(&mut self, func: BinaryFn, a: &Scalar, b: &Scalar) -> Result<Scalar, JitError> {
        self.count(5 + 7 * (a.lanes.len() + b.lanes.len()))?;
        let (x, z) = (a.value, b.value);
        match func {
            BinaryFn::Add | BinaryFn::Sub => {
                let sub = func == BinaryFn::Sub;
                let value = if sub {
                    self.b.ins().fsub(x, z)
                } else {
                    self.b.ins().fadd(x, z)
                };
                let lanes = self.merge(&a.lanes, &b.lanes, |s, ta, tb| {
                    let (ta, tb) = (
                        ta.map(|t| s.tangent_value(t)),
                        tb.map(|t| s.tangent_value(t)),
                    );
                    match (ta, tb) {
                        (Some(p), Some(q)) if sub => s.b.ins().fsub(p, q),
                        (Some(p), Some(q)) => s.b.ins().fadd(p, q),
                        (Some(p), None) => p,
                        (None, Some(q)) if sub => s.b.ins().fneg(q),
                        (None, Some(q)) => q,
                        (None, None) => s.zero,
                    }
                });
                Ok(Scalar { value, lanes })
            }
            _ => {
                let (value, da, db) = if func == BinaryFn::Mul {
                    (self.b.ins().fmul(x, z), z, x)
                } else {
                    let code = self.b.ins().iconst(types::I32, binary_code(func) as i64);
                    let r = self.call(
                        self.calls.binary,
                        binary_call as *const () as usize,
                        &[code, x, z],
                        3,
                    );
                    (r[0], r[1], r[2])
                };
                let lanes = self.merge(&a.lanes, &b.lanes, |s, ta, tb| match (ta, tb) {
                    (Some(p), Some(q)) => {
                        let (p, q) = (s.term(da, p), s.term(db, q));
                        s.b.ins().fadd(p, q)
                    }
                    (Some(p), None) => s.term(da, p),
                    (None, Some(q)) => s.term(db, q),
                    (None, None) => s.zero,
                });
                Ok(Scalar { value, lanes })
            }
        }
    }

    fn compare(&mut self, func: CompareFn, a: &Scalar, b: &Scalar) -> Result<Scalar, JitError> {
        self.count(2)?;
        let cc = match func {
            CompareFn::Lt => FloatCC::LessThan,
            CompareFn::Le => FloatCC::LessThanOrEqual,
            CompareFn::Gt => FloatCC::GreaterThan,
            CompareFn::Ge => FloatCC::GreaterThanOrEqual,
            CompareFn::Eq => FloatCC::Equal,
            CompareFn::Ne => FloatCC::NotEqual,
        };
        let c = self.b.ins().fcmp(cc, a.value, b.value);
        Ok(Scalar {
            value: self.b.ins().select(c, self.one, self.zero),
            lanes: Vec::new(),
        })
    }

    /// `t` where `c != 0` (NaN included), else `f`, lane by lane.
    fn select(&mut self, c: &Scalar, t: &Scalar, f: &Scalar) -> Result<Scalar, JitError> {
        self.count(2 + t.lanes.len() + f.lanes.len())?;
        let is_zero = self.b.ins().fcmp(FloatCC::Equal, c.value, self.zero);
        let value = self.b.ins().select(is_zero, f.value, t.value);
        let lanes = self.merge(&t.lanes, &f.lanes, |s, tt, tf| {
            let tt = tt.map_or(s.zero, |x| s.tangent_value(x));
            let tf = tf.map_or(s.zero, |x| s.tangent_value(x));
            s.b.ins().select(is_zero, tf, tt)
        });
        Ok(Scalar { value, lanes })
    }

    /// `acc + x` for values and lanes (a lane missing from one side is zero).
    fn accumulate(&mut self, acc: Scalar, x: &Scalar) -> Result<Scalar, JitError> {
        self.count(1)?;
        let value = self.b.ins().fadd(acc.value, x.value);
        let lanes = self.sum_lanes(&acc.lanes, &x.lanes)?;
        Ok(Scalar { value, lanes })
    }

    /// A max, min, prod, argmax or argmin reduction of `group`: the value and
    /// the members' weights from [`reduce_call`], then each lane as the
    /// interpreter sums it (`sum term(weight, t)` over the contributing members,
    /// or `term(NaN, sum t)` for a NaN member).
    fn reduce(&mut self, func: ReduceFn, group: &[&Scalar]) -> Result<Scalar, JitError> {
        let k = group.len();
        let lanes_in: usize = group.iter().map(|x| x.lanes.len()).sum();
        self.count(10 + 6 * k + 8 * lanes_in)?;
        let flags = MemFlagsData::trusted();
        let inp = self.b.ins().stack_addr(self.ptr, self.calls.reduce_in, 0);
        for (q, x) in group.iter().enumerate() {
            self.b.ins().store(flags, x.value, inp, (8 * q) as i32);
        }
        let out = self.b.ins().stack_addr(self.ptr, self.calls.reduce_out, 0);
        let code = self.b.ins().iconst(types::I32, reduce_code(func) as i64);
        let count = self.b.ins().iconst(types::I32, k as i64);
        let callee = self
            .b
            .ins()
            .iconst(self.ptr, reduce_call as *const () as usize as i64);
        self.b
            .ins()
            .call_indirect(self.calls.reduce, callee, &[code, count, inp, out]);
        let load =
            |s: &mut Self, at: usize| s.b.ins().load(types::F64, flags, out, (8 * at) as i32);
        let value = load(self, 0);
        if matches!(func, ReduceFn::ArgMax | ReduceFn::ArgMin) || lanes_in == 0 {
            return Ok(Scalar {
                value,
                lanes: Vec::new(),
            });
        }
        let flag = load(self, 1);
        let is_nan = self.b.ins().fcmp(FloatCC::NotEqual, flag, self.zero);
        let mut weights = Vec::with_capacity(k);
        for q in 0..k {
            let w = load(self, 2 + 2 * q);
            let m = load(self, 3 + 2 * q);
            let used = self.b.ins().fcmp(FloatCC::NotEqual, m, self.zero);
            weights.push((w, used));
        }
        let mut all: Vec<u32> = group
            .iter()
            .flat_map(|x| x.lanes.iter().map(|l| l.0))
            .collect();
        all.sort_unstable();
        all.dedup();
        let nan = self.b.ins().f64const(f64::NAN);
        let mut lanes = Vec::with_capacity(all.len());
        for l in all {
            let (mut acc, mut sum) = (self.zero, self.zero);
            for (x, &(w, used)) in group.iter().zip(&weights) {
                let Some(&(_, t)) = x.lanes.iter().find(|(lane, _)| *lane == l) else {
                    continue;
                };
                let term = self.term(w, t);
                let part = self.b.ins().select(used, term, self.zero);
                acc = self.b.ins().fadd(acc, part);
                let tv = self.tangent_value(t);
                sum = self.b.ins().fadd(sum, tv);
            }
            let nan_lane = self.term(nan, Tangent::Of(sum));
            lanes.push((l, Tangent::Of(self.b.ins().select(is_nan, nan_lane, acc))));
        }
        Ok(Scalar { value, lanes })
    }

    /// `sum_k a[k] b[k]` with the interpreter's order: the values, then the
    /// lanes through `b`, then the lanes through `a`.
    fn dot(&mut self, a: &[&Scalar], b: &[&Scalar]) -> Result<Scalar, JitError> {
        let mut value = self.zero;
        let mut lanes: Vec<(u32, Tangent)> = Vec::new();
        for (x, z) in a.iter().zip(b) {
            self.count(2)?;
            let prod = self.b.ins().fmul(x.value, z.value);
            value = self.b.ins().fadd(value, prod);
        }
        for (x, z) in a.iter().zip(b) {
            let through_b = self.scale(x.value, &z.lanes);
            lanes = self.sum_lanes(&lanes, &through_b)?;
        }
        for (x, z) in a.iter().zip(b) {
            let through_a = self.scale(z.value, &x.lanes);
            lanes = self.sum_lanes(&lanes, &through_a)?;
        }
        Ok(Scalar { value, lanes })
    }

    /// Lanes of `p + q` (a lane missing from one side is zero).
    fn sum_lanes(
        &mut self,
        p: &[(u32, Tangent)],
        q: &[(u32, Tangent)],
    ) -> Result<Vec<(u32, Tangent)>, JitError> {
        self.count(4 * (p.len() + q.len()))?;
        Ok(self.merge(p, q, |s, x, y| {
            let (x, y) = (x.map(|t| s.tangent_value(t)), y.map(|t| s.tangent_value(t)));
            match (x, y) {
                (Some(x), Some(y)) => s.b.ins().fadd(x, y),
                (Some(x), None) => x,
                (None, Some(y)) => y,
                (None, None) => s.zero,
            }
        }))
    }

    /// The scalars of every output element of `prog` at the point `ptrs`
    /// (inputs are loaded where an instruction needs them, parameters too).
    fn scalars(&mut self, prog: &Program, ptrs: &Pointers) -> Result<Vec<Scalar>, JitError> {
        let input_starts = starts(prog.input_lens());
        let param_starts = starts(prog.param_lens());
        let mut nodes: Vec<Vec<Scalar>> = Vec::with_capacity(prog.n_nodes());
        let flags = MemFlagsData::trusted();
        for op in prog.ops() {
            let els: Vec<Scalar> = match op {
                Op::Input { index, len } => {
                    self.count(*len)?;
                    (0..*len)
                        .map(|e| {
                            let at = input_starts[*index] + e;
                            let value =
                                self.b
                                    .ins()
                                    .load(types::F64, flags, ptrs.points, (8 * at) as i32);
                            Scalar {
                                value,
                                lanes: vec![(at as u32, Tangent::One)],
                            }
                        })
                        .collect()
                }
                Op::Param { index, len } => {
                    self.count(*len)?;
                    (0..*len)
                        .map(|e| Scalar {
                            value: self.b.ins().load(
                                types::F64,
                                flags,
                                ptrs.params,
                                (8 * (param_starts[*index] + e)) as i32,
                            ),
                            lanes: Vec::new(),
                        })
                        .collect()
                }
                Op::Const(values) => {
                    self.count(values.len())?;
                    values.iter().map(|&x| self.constant(x)).collect()
                }
                Op::Unary { func, a } => {
                    let mut out = Vec::with_capacity(nodes[*a].len());
                    for x in &nodes[*a] {
                        out.push(self.unary(*func, x)?);
                    }
                    out
                }
                Op::Powi { a, n } => {
                    let mut out = Vec::with_capacity(nodes[*a].len());
                    for x in &nodes[*a] {
                        out.push(self.powi(x, *n)?);
                    }
                    out
                }
                Op::Binary { func, a, b } => {
                    let mut out = Vec::with_capacity(nodes[*a].len());
                    for (x, z) in nodes[*a].iter().zip(&nodes[*b]) {
                        out.push(self.binary(*func, x, z)?);
                    }
                    out
                }
                Op::Compare { func, a, b } => {
                    let mut out = Vec::with_capacity(nodes[*a].len());
                    for (x, z) in nodes[*a].iter().zip(&nodes[*b]) {
                        out.push(self.compare(*func, x, z)?);
                    }
                    out
                }
                Op::Select { c, t, f } => {
                    let mut out = Vec::with_capacity(nodes[*c].len());
                    for ((s, x), z) in nodes[*c].iter().zip(&nodes[*t]).zip(&nodes[*f]) {
                        out.push(self.select(s, x, z)?);
                    }
                    out
                }
                Op::Gather { a, indices } => {
                    let mut out = Vec::with_capacity(indices.len());
                    for &ix in indices {
                        out.push(match usize::try_from(ix) {
                            Ok(ix) => nodes[*a][ix].clone(),
                            Err(_) => self.constant(0.0),
                        });
                    }
                    out
                }
                Op::Concat(parts) => parts.iter().flat_map(|&p| nodes[p].clone()).collect(),
                Op::Reduce {
                    func,
                    a,
                    offsets,
                    indices,
                } => {
                    let mut out = Vec::with_capacity(offsets.len().saturating_sub(1));
                    for w in offsets.windows(2) {
                        let group: Vec<&Scalar> =
                            indices[w[0]..w[1]].iter().map(|&j| &nodes[*a][j]).collect();
                        out.push(match func {
                            ReduceFn::Sum => {
                                let mut acc = self.constant(0.0);
                                for x in group {
                                    acc = self.accumulate(acc, x)?;
                                }
                                acc
                            }
                            _ => self.reduce(*func, &group)?,
                        });
                    }
                    out
                }
                Op::Sort { .. } | Op::Linalg { .. } => {
                    return Err(JitError::Declined(format!(
                        "the compiler does not translate {} instructions",
                        op.name()
                    )))
                }
                Op::Dot {
                    a,
                    b,
                    batch,
                    m,
                    k,
                    n,
                } => {
                    let (x, z) = (&nodes[*a], &nodes[*b]);
                    let mut out = Vec::with_capacity(batch * m * n);
                    for bt in 0..*batch {
                        for i in 0..*m {
                            for j in 0..*n {
                                let row: Vec<&Scalar> =
                                    (0..*k).map(|kk| &x[(bt * m + i) * k + kk]).collect();
                                let col: Vec<&Scalar> =
                                    (0..*k).map(|kk| &z[(bt * k + kk) * n + j]).collect();
                                out.push(self.dot(&row, &col)?);
                            }
                        }
                    }
                    out
                }
            };
            nodes.push(els);
        }
        Ok(prog
            .outputs()
            .iter()
            .flat_map(|&o| nodes[o].iter().cloned())
            .collect())
    }

    /// Emits the whole point: loads, arithmetic, and the stores of `mode`'s
    /// results to `values` (`m` numbers) and `jacobian` (`m * n`, row-major).
    pub(crate) fn point(
        &mut self,
        prog: &Program,
        ptrs: &Pointers,
        mode: Mode,
        (values, jacobian): (Value, Value),
    ) -> Result<(), JitError> {
        let outs = self.scalars(prog, ptrs)?;
        let n = prog.n_inputs();
        let flags = MemFlagsData::trusted();
        self.count(outs.len() * (1 + if mode.jacobian() { n } else { 0 }))?;
        for (r, s) in outs.iter().enumerate() {
            if mode.values() {
                self.b.ins().store(flags, s.value, values, (8 * r) as i32);
            }
            if mode.jacobian() {
                let mut lanes = s.lanes.iter().peekable();
                for l in 0..n {
                    let x = match lanes.next_if(|(lane, _)| *lane as usize == l) {
                        Some(&(_, t)) => self.tangent_value(t),
                        None => self.zero,
                    };
                    self.b
                        .ins()
                        .store(flags, x, jacobian, (8 * (r * n + l)) as i32);
                }
            }
        }
        Ok(())
    }
}

/// Start of each of `lens`' arrays in their concatenation.
fn starts(lens: &[usize]) -> Vec<usize> {
    lens.iter()
        .scan(0, |at, &l| {
            let s = *at;
            *at += l;
            Some(s)
        })
        .collect()
}
