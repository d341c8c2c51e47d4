//! WGSL generated from a [`Program`]: one invocation per point, every element
//! of every node a scalar `let` with its tangent lanes beside it (registers,
//! no arrays). Gathers and concatenations only rename elements, so they cost
//! nothing; tangents known to be zero (a Jacobian's unit seeds) are dropped
//! while generating, so the kernel does only the work the seeds need.
//!
//! Bindings: `points` (`P x n`), `params` (the program's parameters, then its
//! constants), `seeds` (`L x n`, for [`Seeds::Given`]), `values` (`P x m`),
//! `tangents` (`P x m x L`) and a uniform with the number of points.
//!
//! Straight-line code grows with elements x lanes, and drivers compile it in
//! time that grows faster than its length (lavapipe took 148 s for a 64-input
//! Jacobian). Past [`TARGET_STATEMENTS`] statements the lanes go into a loop
//! instead: the values are computed once, then a loop runs over blocks of a
//! few lanes with the lane code written once for a block (the seeds of a
//! block are read at run time, so known-zero tangents are no longer dropped).
//! A kernel that needs more than [`MAX_STATEMENTS`] statements even with one
//! lane per pass is refused at once ([`GpuError::TooLarge`]).

use std::fmt::Write;

use anydiff::ir::{BinaryFn, CompareFn, Op, Program, ReduceFn, UnaryFn};

use crate::error::GpuError;

/// Most scalar elements a per-point program may have (the kernel is
/// straight-line code, a few statements per element within
/// [`MAX_STATEMENTS`]); larger programs run as array programs.
pub const MAX_ELEMENTS: usize = 1600;
/// Most tangent lanes of one kernel.
pub const MAX_LANES: usize = 64;
/// Invocations per workgroup.
pub const WORKGROUP: u32 = 64;
/// Statements a kernel aims at: lanes are written out when they fit, else
/// they loop over the widest block of lanes that fits (lavapipe compiles
/// this many in about a second).
pub const TARGET_STATEMENTS: usize = 1500;
/// Most statements of any kernel (values plus one lane per loop pass): past
/// this the driver's compile time runs to minutes, so the kernel is refused.
pub const MAX_STATEMENTS: usize = 4000;
/// Most terms of one sum expression.
const SUM_TERMS: usize = 16;
/// Lanes per loop pass tried within [`TARGET_STATEMENTS`], widest first
/// (one lane per pass is tried last, within [`MAX_STATEMENTS`]).
const LOOP_BLOCKS: [usize; 4] = [16, 8, 4, 2];

/// The number type of a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    F32,
    F64,
}

impl Precision {
    /// The WGSL type name.
    pub fn wgsl(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }

    /// Bytes per number.
    pub fn bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }
}

/// Where the tangent lanes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Seeds {
    /// `n` lanes, lane `j` the unit vector `e_j`: the Jacobian. Zero tangents
    /// are known while generating and cost nothing.
    Identity,
    /// This many directions read from the `seeds` buffer (`L x n`, the same at every point).
    Given(usize),
}

/// A generated kernel.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// The WGSL module (entry point `main`).
    pub source: String,
    /// Tangent lanes per point.
    pub lanes: usize,
    /// Constants of the program, stored after its parameters in `params`.
    pub constants: Vec<f64>,
}

#[derive(Clone, Debug)]
enum Lane {
    Zero,
    One,
    Var(String),
}

#[derive(Clone, Debug)]
struct Scalar {
    v: String,
    d: Vec<Lane>,
}

struct Gen {
    body: String,
    /// The lane code of a looped kernel (in `body` when the lanes are unrolled).
    lane_body: String,
    looped: bool,
    next: usize,
    ty: &'static str,
    lanes: usize,
}

impl Gen {
    /// A value or a factor shared by the lanes.
    fn bind(&mut self, expr: String) -> String {
        let name = format!("v{}", self.next);
        self.next += 1;
        // writing to a String cannot fail
        let _ = writeln!(self.body, "    let {name}: {} = {expr};", self.ty);
        name
    }

    /// A tangent lane: in the loop over lane blocks when there is one.
    fn bind_lane(&mut self, expr: String) -> String {
        if !self.looped {
            return self.bind(expr);
        }
        let name = format!("v{}", self.next);
        self.next += 1;
        let _ = writeln!(self.lane_body, "        let {name}: {} = {expr};", self.ty);
        name
    }

    fn num(&self, x: f64) -> String {
        format!("{}({x:?})", self.ty)
    }

    fn zero_scalar(&mut self) -> Scalar {
        Scalar {
            v: self.num(0.0),
            d: vec![Lane::Zero; self.lanes],
        }
    }

    fn lane_expr(&self, l: &Lane) -> String {
        match l {
            Lane::Zero => self.num(0.0),
            Lane::One => self.num(1.0),
            Lane::Var(v) => v.clone(),
        }
    }

    /// `d * t` with the dual numbers' rule that a zero tangent stays zero.
    fn term(&self, d: &str, t: &Lane) -> Option<String> {
        match t {
            Lane::Zero => None,
            Lane::One => Some(d.to_string()),
            Lane::Var(v) => Some(format!("tm({d}, {v})")),
        }
    }

    /// The lane `sum_i d_i t_i` over the nonzero terms.
    fn combine(&mut self, terms: &[(&str, &Lane)]) -> Lane {
        let parts: Vec<String> = terms.iter().filter_map(|(d, t)| self.term(d, t)).collect();
        match parts.len() {
            0 => Lane::Zero,
            _ => Lane::Var(self.bind_lane(parts.join(" + "))),
        }
    }

    fn unary(&mut self, func: UnaryFn, x: &Scalar, f64: bool) -> Result<Scalar, GpuError> {
        let xv = x.v.clone();
        if func == UnaryFn::Neg {
            let v = self.bind(format!("-{xv}"));
            let d =
                x.d.iter()
                    .map(|t| match t {
                        Lane::Zero => Lane::Zero,
                        t => Lane::Var(self.bind_lane(format!("-{}", self.lane_expr(t)))),
                    })
                    .collect();
            return Ok(Scalar { v, d });
        }
        let n = |c: f64| self.num(c);
        let (value, deriv) = unary_rule(func, &xv, &n, f64)?;
        let v = self.bind(value);
        let live = x.d.iter().any(|t| !matches!(t, Lane::Zero));
        let Some(deriv) = deriv.filter(|_| live) else {
            return Ok(Scalar {
                v,
                d: vec![Lane::Zero; self.lanes],
            });
        };
        let d = self.bind(deriv.replace('Y', &v));
        let lanes = x.d.iter().map(|t| self.combine(&[(&d, t)])).collect();
        Ok(Scalar { v, d: lanes })
    }

    fn binary(&mut self, func: BinaryFn, x: &Scalar, z: &Scalar) -> Result<Scalar, GpuError> {
        let (xv, zv) = (x.v.clone(), z.v.clone());
        let n = |c: f64| self.num(c);
        match func {
            BinaryFn::Add | BinaryFn::Sub => {
                let op = if func == BinaryFn::Add { "+" } else { "-" };
                let v = self.bind(format!("{xv} {op} {zv}"));
                let mut d = Vec::with_capacity(self.lanes);
                for (a, b) in x.d.iter().zip(&z.d) {
                    d.push(match (a, b, func) {
                        (a, Lane::Zero, _) => a.clone(),
                        (Lane::Zero, b, BinaryFn::Add) => b.clone(),
                        (a, b, _) => {
                            let e = format!("{} {op} {}", self.lane_expr(a), self.lane_expr(b));
                            Lane::Var(self.bind_lane(e))
                        }
                    });
                }
                return Ok(Scalar { v, d });
            }
            BinaryFn::Min | BinaryFn::Max => return Ok(self.pick(func == BinaryFn::Max, x, z)),
            _ => {}
        }
        let (value, da, db) = binary_rule(func, &xv, &zv, &n);
        let v = self.bind(value);
        let live = x.d.iter().chain(&z.d).any(|t| !matches!(t, Lane::Zero));
        if !live {
            return Ok(Scalar {
                v,
                d: vec![Lane::Zero; self.lanes],
            });
        }
        let da = self.bind(da.replace('Y', &v));
        let db = self.bind(db.replace('Y', &v));
        let d =
            x.d.iter()
                .zip(&z.d)
                .map(|(a, b)| self.combine(&[(&da, a), (&db, b)]))
                .collect();
        Ok(Scalar { v, d })
    }

    /// `max(x, z)` / `min(x, z)` as the CPU engine picks: `z` when it is strictly
    /// larger (smaller), or NaN while `x` is not.
    fn pick(&mut self, max: bool, x: &Scalar, z: &Scalar) -> Scalar {
        let (xv, zv) = (&x.v, &z.v);
        let op = if max { ">" } else { "<" };
        let take = self.bind_bool(format!(
            "({zv} {op} {xv}) || ({zv} != {zv} && {xv} == {xv})"
        ));
        let v = self.bind(format!("select({xv}, {zv}, {take})"));
        let d =
            x.d.iter()
                .zip(&z.d)
                .map(|(a, b)| match (a, b) {
                    (Lane::Zero, Lane::Zero) => Lane::Zero,
                    (a, b) => {
                        let e = format!(
                            "select({}, {}, {take})",
                            self.lane_expr(a),
                            self.lane_expr(b)
                        );
                        Lane::Var(self.bind_lane(e))
                    }
                })
                .collect();
        Scalar { v, d }
    }

    fn bind_bool(&mut self, expr: String) -> String {
        let name = format!("b{}", self.next);
        self.next += 1;
        let _ = writeln!(self.body, "    let {name}: bool = {expr};");
        name
    }

    fn select(&mut self, cond: &str, t: &Scalar, f: &Scalar) -> Scalar {
        let v = self.bind(format!("select({}, {}, {cond})", f.v, t.v));
        let d =
            t.d.iter()
                .zip(&f.d)
                .map(|(a, b)| match (a, b) {
                    (Lane::Zero, Lane::Zero) => Lane::Zero,
                    (a, b) => {
                        let e = format!(
                            "select({}, {}, {cond})",
                            self.lane_expr(b),
                            self.lane_expr(a)
                        );
                        Lane::Var(self.bind_lane(e))
                    }
                })
                .collect();
        Scalar { v, d }
    }

    fn sum(&mut self, items: &[&Scalar]) -> Scalar {
        if items.is_empty() {
            return self.zero_scalar();
        }
        let values = items.iter().map(|s| s.v.clone()).collect();
        let v = self.sum_of(values, false);
        let d = (0..self.lanes)
            .map(|l| {
                let parts: Vec<String> = items
                    .iter()
                    .filter(|s| !matches!(s.d[l], Lane::Zero))
                    .map(|s| self.lane_expr(&s.d[l]))
                    .collect();
                match parts.len() {
                    0 => Lane::Zero,
                    _ => Lane::Var(self.sum_of(parts, true)),
                }
            })
            .collect();
        Scalar { v, d }
    }

    /// The bound sum of `parts` (a lane's or a value's), in partial sums of at
    /// most [`SUM_TERMS`] terms: one long `a + b + ...` nests as deep as it is
    /// long in the shader compiler, whose recursion overflowed the stack at a
    /// few hundred terms.
    fn sum_of(&mut self, mut parts: Vec<String>, lane: bool) -> String {
        while parts.len() > SUM_TERMS {
            parts = parts
                .chunks(SUM_TERMS)
                .map(|c| {
                    let e = c.join(" + ");
                    if lane {
                        self.bind_lane(e)
                    } else {
                        self.bind(e)
                    }
                })
                .collect();
        }
        let e = parts.join(" + ");
        if lane {
            self.bind_lane(e)
        } else {
            self.bind(e)
        }
    }
}

/// WGSL for a unary function at `xv`: its value, and its derivative written with
/// `Y` standing for the value (`None`: the derivative is zero).
pub(crate) fn unary_rule(
    func: UnaryFn,
    xv: &str,
    n: &dyn Fn(f64) -> String,
    f64: bool,
) -> Result<(String, Option<String>), GpuError> {
    if f64 && func == UnaryFn::Erf {
        return Err(GpuError::Unsupported(
            "erf in f64 (use dtype float32, or the CPU engine)".into(),
        ));
    }
    let sign = format!(
        "select(select(select({xv}, {z}, {xv} == {z}), {m}, {xv} < {z}), {o}, {xv} > {z})",
        z = n(0.0),
        m = n(-1.0),
        o = n(1.0)
    );
    let (value, deriv): (String, Option<String>) = match func {
        UnaryFn::Neg => (format!("-{xv}"), Some(n(-1.0))),
        UnaryFn::Exp => (format!("exp_({xv})"), Some("Y".into())),
        UnaryFn::Exp2 => (
            format!("exp2_({xv})"),
            Some(format!("Y * {}", n(std::f64::consts::LN_2))),
        ),
        UnaryFn::Expm1 => (format!("expm1_({xv})"), Some(format!("Y + {}", n(1.0)))),
        UnaryFn::Log => (format!("log_({xv})"), Some(format!("{} / {xv}", n(1.0)))),
        UnaryFn::Log1p => (
            format!("log1p_({xv})"),
            Some(format!("{o} / ({o} + {xv})", o = n(1.0))),
        ),
        UnaryFn::Log2 => (
            format!("log2_({xv})"),
            Some(format!(
                "{} / ({xv} * {})",
                n(1.0),
                n(std::f64::consts::LN_2)
            )),
        ),
        UnaryFn::Log10 => (
            format!("log10_({xv})"),
            Some(format!(
                "{} / ({xv} * {})",
                n(1.0),
                n(std::f64::consts::LN_10)
            )),
        ),
        UnaryFn::Sqrt => (format!("sqrt({xv})"), Some(format!("{} / Y", n(0.5)))),
        UnaryFn::Cbrt => (
            format!("cbrt_({xv})"),
            Some(format!("{} / ({} * Y * Y)", n(1.0), n(3.0))),
        ),
        UnaryFn::Sin => (format!("sin_({xv})"), Some(format!("cos_({xv})"))),
        UnaryFn::Cos => (format!("cos_({xv})"), Some(format!("-sin_({xv})"))),
        UnaryFn::Tan => (format!("tan_({xv})"), Some(format!("{} + Y * Y", n(1.0)))),
        UnaryFn::Asin => (
            format!("asin_({xv})"),
            Some(format!("{o} / sqrt({o} - {xv} * {xv})", o = n(1.0))),
        ),
        UnaryFn::Acos => (
            format!("acos_({xv})"),
            Some(format!(
                "{m} / sqrt({o} - {xv} * {xv})",
                m = n(-1.0),
                o = n(1.0)
            )),
        ),
        UnaryFn::Atan => (
            format!("atan_({xv})"),
            Some(format!("{o} / ({o} + {xv} * {xv})", o = n(1.0))),
        ),
        UnaryFn::Sinh => (format!("sinh_({xv})"), Some(format!("cosh_({xv})"))),
        UnaryFn::Cosh => (format!("cosh_({xv})"), Some(format!("sinh_({xv})"))),
        UnaryFn::Tanh => (format!("tanh_({xv})"), Some(format!("{} - Y * Y", n(1.0)))),
        UnaryFn::Asinh => (
            format!("asinh_({xv})"),
            Some(format!("{o} / sqrt({xv} * {xv} + {o})", o = n(1.0))),
        ),
        UnaryFn::Acosh => (
            format!("acosh_({xv})"),
            Some(format!("{o} / sqrt({xv} * {xv} - {o})", o = n(1.0))),
        ),
        UnaryFn::Atanh => (
            format!("atanh_({xv})"),
            Some(format!("{o} / ({o} - {xv} * {xv})", o = n(1.0))),
        ),
        UnaryFn::Abs => (format!("abs({xv})"), Some(sign.clone())),
        UnaryFn::Sign => (sign.clone(), None),
        UnaryFn::Floor => (format!("floor({xv})"), None),
        UnaryFn::Ceil => (format!("ceil({xv})"), None),
        UnaryFn::Round => (format!("round({xv})"), None),
        UnaryFn::Recip => (format!("{} / {xv}", n(1.0)), Some("-Y * Y".into())),
        UnaryFn::Erf => (
            format!("erf_({xv})"),
            Some(format!(
                "{} * exp_(-{xv} * {xv})",
                n(std::f64::consts::FRAC_2_SQRT_PI)
            )),
        ),
        UnaryFn::Logistic => (
            format!("logistic_({xv})"),
            Some(format!("Y * ({} - Y)", n(1.0))),
        ),
        UnaryFn::Square => (format!("{xv} * {xv}"), Some(format!("{} * {xv}", n(2.0)))),
    };
    Ok((value, deriv))
}

/// WGSL for a binary function of `xv` and `zv` other than `+ - min max`: its value
/// and its two partial derivatives (with `Y` standing for the value).
pub(crate) fn binary_rule(
    func: BinaryFn,
    xv: &str,
    zv: &str,
    n: &dyn Fn(f64) -> String,
) -> (String, String, String) {
    match func {
        BinaryFn::Mul => (format!("{xv} * {zv}"), zv.to_string(), xv.to_string()),
        BinaryFn::Div => (
            format!("{xv} / {zv}"),
            format!("{} / {zv}", n(1.0)),
            format!("-Y / {zv}"),
        ),
        BinaryFn::Pow => (
            format!("pow_({xv}, {zv})"),
            format!("{zv} * pow_({xv}, {zv} - {})", n(1.0)),
            format!("Y * log_({xv})"),
        ),
        BinaryFn::Atan2 => (
            format!("atan2_({xv}, {zv})"),
            format!("{zv} / ({xv} * {xv} + {zv} * {zv})"),
            format!("-{xv} / ({xv} * {xv} + {zv} * {zv})"),
        ),
        BinaryFn::Hypot => (
            format!("hypot_({xv}, {zv})"),
            format!("{xv} / Y"),
            format!("{zv} / Y"),
        ),
        BinaryFn::Rem => (
            format!("rem_({xv}, {zv})"),
            n(1.0),
            format!("-trunc({xv} / {zv})"),
        ),
        BinaryFn::Add | BinaryFn::Sub | BinaryFn::Min | BinaryFn::Max => {
            unreachable!("handled above")
        }
    }
}

/// The WGSL operator of a comparison.
pub(crate) fn compare_op(func: CompareFn) -> &'static str {
    match func {
        CompareFn::Lt => "<",
        CompareFn::Le => "<=",
        CompareFn::Gt => ">",
        CompareFn::Ge => ">=",
        CompareFn::Eq => "==",
        CompareFn::Ne => "!=",
    }
}

/// Refuses f64 on an adapter without it.
pub(crate) fn check_precision(
    gpu: &crate::device::Gpu,
    precision: Precision,
) -> Result<(), GpuError> {
    if precision == Precision::F64 && !gpu.info().f64 {
        return Err(GpuError::NoF64(gpu.info().name.clone()));
    }
    Ok(())
}

/// Refuses more lanes than a kernel carries.
pub(crate) fn check_lanes(lanes: usize) -> Result<(), GpuError> {
    if lanes > MAX_LANES {
        return Err(GpuError::TooLarge(format!(
            "{lanes} tangent lanes per kernel (at most {MAX_LANES}); split the directions"
        )));
    }
    Ok(())
}

/// The per-point kernel of `program` for the given seeds and precision: the
/// lanes written out when that takes at most [`TARGET_STATEMENTS`]
/// statements, else in a loop over the widest block of lanes that keeps the
/// kernel within it, else one lane per pass within [`MAX_STATEMENTS`], else
/// [`GpuError::TooLarge`].
pub fn per_point(
    program: &Program,
    seeds: Seeds,
    precision: Precision,
) -> Result<Kernel, GpuError> {
    let n = program.n_inputs();
    let lanes = match seeds {
        Seeds::Identity => n,
        Seeds::Given(l) => l,
    };
    let elements: usize = program.node_lens().iter().sum();
    if elements > MAX_ELEMENTS {
        return Err(GpuError::TooLarge(format!(
            "a program of {elements} scalar elements (per-point kernels take at most \
             {MAX_ELEMENTS}); array programs run on the CPU engine"
        )));
    }
    check_lanes(lanes)?;
    if let Some(k) = generate(program, seeds, precision, None, TARGET_STATEMENTS)? {
        return Ok(k);
    }
    for block in LOOP_BLOCKS.into_iter().filter(|&b| b < lanes) {
        if let Some(k) = generate(program, seeds, precision, Some(block), TARGET_STATEMENTS)? {
            return Ok(k);
        }
    }
    if let Some(k) = generate(program, seeds, precision, Some(1), MAX_STATEMENTS)? {
        return Ok(k);
    }
    Err(GpuError::TooLarge(format!(
        "a per-point kernel of this program needs more than {MAX_STATEMENTS} WGSL statements \
         even with one tangent lane per loop pass ({elements} scalar elements), which drivers \
         take minutes to compile; use the CPU engine"
    )))
}

/// The kernel with its lanes unrolled (`block` None) or in a loop over
/// blocks of `block` lanes; `None` as soon as it passes `cap` statements.
fn generate(
    program: &Program,
    seeds: Seeds,
    precision: Precision,
    block: Option<usize>,
    cap: usize,
) -> Result<Option<Kernel>, GpuError> {
    let (n, m) = (program.n_inputs(), program.n_outputs());
    let total_lanes = match seeds {
        Seeds::Identity => n,
        Seeds::Given(l) => l,
    };
    let lanes = block.unwrap_or(total_lanes);
    let ty = precision.wgsl();
    let f64 = precision == Precision::F64;
    let mut g = Gen {
        body: String::new(),
        lane_body: String::new(),
        looped: block.is_some(),
        next: 0,
        ty,
        lanes,
    };
    let param_lens = program.param_lens();
    let mut param_offsets = Vec::with_capacity(param_lens.len());
    let mut at = 0;
    for len in param_lens {
        param_offsets.push(at);
        at += len;
    }
    let n_params = at;
    let mut input_offsets = Vec::new();
    let mut at = 0;
    for len in program.input_lens() {
        input_offsets.push(at);
        at += len;
    }
    let mut constants: Vec<f64> = Vec::new();
    let mut nodes: Vec<Vec<Scalar>> = Vec::with_capacity(program.ops().len());
    for op in program.ops() {
        let node: Vec<Scalar> = match op {
            Op::Input { index, len } => (0..*len)
                .map(|e| {
                    let j = input_offsets[*index] + e;
                    let v = g.bind(format!("points[xb + {j}u]"));
                    let d = (0..lanes)
                        .map(|l| match (seeds, block) {
                            (Seeds::Identity, None) if l == j => Lane::One,
                            (Seeds::Identity, None) => Lane::Zero,
                            (Seeds::Given(_), None) => {
                                Lane::Var(g.bind(format!("seeds[{}u]", l * n + j)))
                            }
                            // lane `base + l` of the loop's block, known only at run time
                            (Seeds::Identity, Some(_)) => Lane::Var(g.bind_lane(format!(
                                "select({}, {}, base + {l}u == {j}u)",
                                g.num(0.0),
                                g.num(1.0)
                            ))),
                            (Seeds::Given(_), Some(_)) => Lane::Var(g.bind_lane(format!(
                                "select({}, seeds[(base + {l}u) * {n}u + {j}u], base + {l}u < {total_lanes}u)",
                                g.num(0.0)
                            ))),
                        })
                        .collect();
                    Scalar { v, d }
                })
                .collect(),
            Op::Param { index, len } => (0..*len)
                .map(|e| Scalar {
                    v: g.bind(format!("params[{}u]", param_offsets[*index] + e)),
                    d: vec![Lane::Zero; lanes],
                })
                .collect(),
            Op::Const(values) => values
                .iter()
                .map(|&c| {
                    constants.push(c);
                    Scalar {
                        v: g.bind(format!("params[{}u]", n_params + constants.len() - 1)),
                        d: vec![Lane::Zero; lanes],
                    }
                })
                .collect(),
            Op::Unary { func, a } => {
                let src = nodes[*a].clone();
                src.iter()
                    .map(|x| g.unary(*func, x, f64))
                    .collect::<Result<_, _>>()?
            }
            Op::Powi { a, n: e } => {
                let src = nodes[*a].clone();
                src.iter().map(|x| powi(&mut g, x, *e)).collect()
            }
            Op::Binary { func, a, b } => {
                let (xa, xb) = (nodes[*a].clone(), nodes[*b].clone());
                xa.iter()
                    .zip(&xb)
                    .map(|(x, z)| g.binary(*func, x, z))
                    .collect::<Result<_, _>>()?
            }
            Op::Compare { func, a, b } => {
                let (xa, xb) = (nodes[*a].clone(), nodes[*b].clone());
                let op = compare_op(*func);
                xa.iter()
                    .zip(&xb)
                    .map(|(x, z)| {
                        let e = format!(
                            "select({}, {}, {} {op} {})",
                            g.num(0.0),
                            g.num(1.0),
                            x.v,
                            z.v
                        );
                        Scalar {
                            v: g.bind(e),
                            d: vec![Lane::Zero; lanes],
                        }
                    })
                    .collect()
            }
            Op::Select { c, t, f } => {
                let (xc, xt, xf) = (nodes[*c].clone(), nodes[*t].clone(), nodes[*f].clone());
                xc.iter()
                    .zip(xt.iter().zip(&xf))
                    .map(|(c, (t, f))| {
                        let cond = g.bind_bool(format!("{} != {}", c.v, g.num(0.0)));
                        g.select(&cond, t, f)
                    })
                    .collect()
            }
            Op::Gather { a, indices } => indices
                .iter()
                .map(|&ix| match usize::try_from(ix) {
                    Ok(ix) => nodes[*a][ix].clone(),
                    Err(_) => g.zero_scalar(),
                })
                .collect(),
            Op::Concat(parts) => parts.iter().flat_map(|&p| nodes[p].clone()).collect(),
            Op::Reduce {
                func,
                a,
                offsets,
                indices,
            } => {
                let src = nodes[*a].clone();
                offsets
                    .windows(2)
                    .map(|w| {
                        let group: Vec<&Scalar> =
                            indices[w[0]..w[1]].iter().map(|&j| &src[j]).collect();
                        match func {
                            ReduceFn::Sum => g.sum(&group),
                            ReduceFn::Max | ReduceFn::Min => {
                                let Some((first, rest)) = group.split_first() else {
                                    return g.zero_scalar();
                                };
                                rest.iter().fold((*first).clone(), |acc, x| {
                                    g.pick(*func == ReduceFn::Max, &acc, x)
                                })
                            }
                        }
                    })
                    .collect()
            }
            Op::Dot {
                a,
                b,
                batch,
                m: rows,
                k,
                n: cols,
            } => {
                let (xa, xb) = (nodes[*a].clone(), nodes[*b].clone());
                let (rows, k, cols) = (*rows, *k, *cols);
                let mut out = Vec::with_capacity(batch * rows * cols);
                for bt in 0..*batch {
                    for i in 0..rows {
                        if g.next > cap {
                            return Ok(None);
                        }
                        for j in 0..cols {
                            let products: Vec<Scalar> = (0..k)
                                .map(|kk| {
                                    let x = &xa[(bt * rows + i) * k + kk];
                                    let z = &xb[(bt * k + kk) * cols + j];
                                    g.binary(BinaryFn::Mul, x, z)
                                })
                                .collect::<Result<_, _>>()?;
                            let refs: Vec<&Scalar> = products.iter().collect();
                            out.push(g.sum(&refs));
                        }
                    }
                }
                out
            }
        };
        nodes.push(node);
        if g.next > cap {
            return Ok(None);
        }
    }
    let mut body = std::mem::take(&mut g.body);
    let mut lane_body = std::mem::take(&mut g.lane_body);
    let mut r = 0;
    for &o in program.outputs() {
        for s in &nodes[o] {
            let _ = writeln!(body, "    values[p * {m}u + {r}u] = {};", s.v);
            for (l, lane) in s.d.iter().enumerate() {
                let lane = g.lane_expr(lane);
                let _ = match block {
                    None => writeln!(
                        body,
                        "    tangents[(p * {m}u + {r}u) * {lanes}u + {l}u] = {lane};"
                    ),
                    Some(_) => writeln!(
                        lane_body,
                        "        if base + {l}u < {total_lanes}u {{ \
                         tangents[(p * {m}u + {r}u) * {total_lanes}u + base + {l}u] = {lane}; }}"
                    ),
                };
            }
            r += 1;
        }
    }
    if let Some(b) = block {
        let _ = write!(
            body,
            "    for (var base = 0u; base < {total_lanes}u; base = base + {b}u) {{\n{lane_body}    }}\n"
        );
    }
    let common = prelude(precision);
    let source = format!(
        "{common}
struct Meta {{
    count: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}}

@group(0) @binding(0) var<storage, read> points: array<{ty}>;
@group(0) @binding(1) var<storage, read> params: array<{ty}>;
@group(0) @binding(2) var<storage, read> seeds: array<{ty}>;
@group(0) @binding(3) var<storage, read_write> values: array<{ty}>;
@group(0) @binding(4) var<storage, read_write> tangents: array<{ty}>;
@group(0) @binding(5) var<uniform> info: Meta;

@compute @workgroup_size({WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
    let p = gid.x;
    if p >= info.count {{ return; }}
    let xb = p * {n}u;
{body}}}
"
    );
    Ok(Some(Kernel {
        source,
        lanes: total_lanes,
        constants,
    }))
}

/// The functions every kernel may call: the elementary functions of the
/// precision, `tm` (a tangent term that stays zero for a zero tangent),
/// `hypot_` and `rem_`.
pub(crate) fn prelude(precision: Precision) -> String {
    let ty = precision.wgsl();
    let math = match precision {
        Precision::F32 => include_str!("wgsl/f32.wgsl"),
        Precision::F64 => include_str!("wgsl/f64.wgsl"),
    };
    format!(
        "{math}
fn tm(d: {ty}, t: {ty}) -> {ty} {{
    return select(d * t, {ty}(0), t == {ty}(0));
}}

fn hypot_(x: {ty}, z: {ty}) -> {ty} {{
    let s = max(abs(x), abs(z));
    if s == {ty}(0) || s != s {{ return s; }}
    let a = x / s;
    let b = z / s;
    return s * sqrt(a * a + b * b);
}}

// fmod: x - q y is exact for the right quotient q, so one fma gives it; a
// quotient rounded up by x / y shows as a remainder of the wrong sign.
fn rem_(x: {ty}, y: {ty}) -> {ty} {{
    let q = trunc(x / y);
    var r = fma(-q, y, x);
    if r != {ty}(0) && (r < {ty}(0)) != (x < {ty}(0)) {{
        r = r + select(abs(y), -abs(y), x < {ty}(0));
    }}
    return r;
}}

fn powi_(x: {ty}, n: i32) -> {ty} {{
    var r = {ty}(1);
    for (var i = 0; i < abs(n); i = i + 1) {{
        r = r * x;
    }}
    return select(r, {ty}(1) / r, n < 0);
}}

"
    )
}

/// `x^e` by repeated multiplication (as the CPU engine's `powi`), derivative `e x^(e-1)`.
fn powi(g: &mut Gen, x: &Scalar, e: i32) -> Scalar {
    let xv = x.v.clone();
    let pow = |g: &mut Gen, k: i32| -> String {
        if k == 0 {
            return g.num(1.0);
        }
        let mut acc = xv.clone();
        if k.unsigned_abs() <= 16 {
            for _ in 1..k.unsigned_abs() {
                acc = g.bind(format!("{acc} * {xv}"));
            }
        } else {
            // by squaring: a few statements for any exponent (2^31 - 1 included)
            let (mut base, mut e, mut result) = (xv.clone(), k.unsigned_abs(), None::<String>);
            while e > 0 {
                if e & 1 == 1 {
                    result = Some(match result {
                        None => base.clone(),
                        Some(r) => g.bind(format!("{r} * {base}")),
                    });
                }
                e >>= 1;
                if e > 0 {
                    base = g.bind(format!("{base} * {base}"));
                }
            }
            acc = result.unwrap_or_else(|| g.num(1.0));
        }
        if k < 0 {
            acc = g.bind(format!("{} / {acc}", g.num(1.0)));
        }
        acc
    };
    let v = pow(g, e);
    let v = g.bind(v);
    let live = x.d.iter().any(|t| !matches!(t, Lane::Zero));
    if !live || e == 0 {
        return Scalar {
            v,
            d: vec![Lane::Zero; g.lanes],
        };
    }
    let below = pow(g, e - 1);
    let d = g.bind(format!("{} * {below}", g.num(f64::from(e))));
    let lanes = x.d.iter().map(|t| g.combine(&[(&d, t)])).collect();
    Scalar { v, d: lanes }
}
