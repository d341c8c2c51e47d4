//! WGSL generated from a [`Program`]: one invocation per point, every element
//! of every node a scalar `let` with its tangent lanes beside it (registers,
//! no arrays). Gathers and concatenations only rename elements, so they cost
//! nothing; tangents known to be zero (a Jacobian's unit seeds) are dropped
//! while generating, so the kernel does only the work the seeds need.
//!
//! Bindings: `points` (`P x n`), `params` (the program's parameters, then its
//! constants), `seeds` (`L x n`, for [`Seeds::Given`]), `values` (`P x m`),
//! `tangents` (`P x m x L`) and a uniform with the number of points.

use std::fmt::Write;

use anydiff::ir::{BinaryFn, CompareFn, Op, Program, ReduceFn, UnaryFn};

use crate::error::GpuError;

/// Most scalar elements a per-point program may have (the kernel is straight-line code).
pub const MAX_ELEMENTS: usize = 20_000;
/// Most tangent lanes of one kernel.
pub const MAX_LANES: usize = 64;
/// Invocations per workgroup.
pub const WORKGROUP: u32 = 64;

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
    next: usize,
    ty: &'static str,
    lanes: usize,
}

impl Gen {
    fn bind(&mut self, expr: String) -> String {
        let name = format!("v{}", self.next);
        self.next += 1;
        // writing to a String cannot fail
        let _ = writeln!(self.body, "    let {name}: {} = {expr};", self.ty);
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
            _ => Lane::Var(self.bind(parts.join(" + "))),
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
                        t => Lane::Var(self.bind(format!("-{}", self.lane_expr(t)))),
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
                            Lane::Var(self.bind(e))
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

    /// `max(x, z)` / `min(x, z)` as the CPU engine computes them: NaN (zero
    /// tangents) if either is NaN, else the winner, and at a tie the tangents
    /// averaged (JAX's convention).
    fn pick(&mut self, max: bool, x: &Scalar, z: &Scalar) -> Scalar {
        let (xv, zv) = (&x.v, &z.v);
        let op = if max { ">" } else { "<" };
        let nan = self.bind_bool(format!("isnan_({xv}) || isnan_({zv})"));
        let zwins = self.bind_bool(format!("{zv} {op} {xv}"));
        let tie = self.bind_bool(format!("{zv} == {xv}"));
        let v = self.bind(format!(
            "select(select({xv}, {zv}, {zwins}), {xv} + {zv}, {nan})"
        ));
        let half = self.num(0.5);
        let zero = self.num(0.0);
        let d =
            x.d.iter()
                .zip(&z.d)
                .map(|(a, b)| match (a, b) {
                    (Lane::Zero, Lane::Zero) => Lane::Zero,
                    (a, b) => {
                        let (ta, tb) = (self.lane_expr(a), self.lane_expr(b));
                        let e = format!(
                            "select(select(select({ta}, {tb}, {zwins}), tm({half}, {ta}) + tm({half}, {tb}), {tie}), {zero}, {nan})"
                        );
                        Lane::Var(self.bind(e))
                    }
                })
                .collect();
        Scalar { v, d }
    }

    /// A max/min/prod/argmax/argmin reduction of `group` as the CPU engine
    /// computes it (ties of a max share the tangent evenly; a NaN member gives
    /// NaN tangents where a member has any).
    fn reduce(&mut self, func: ReduceFn, group: &[&Scalar]) -> Scalar {
        let Some((first, rest)) = group.split_first() else {
            let v = if func == ReduceFn::Prod { 1.0 } else { 0.0 };
            return Scalar {
                v: self.num(v),
                d: vec![Lane::Zero; self.lanes],
            };
        };
        let (zero, one) = (self.num(0.0), self.num(1.0));
        match func {
            ReduceFn::Max | ReduceFn::Min => {
                let op = if func == ReduceFn::Max { ">" } else { "<" };
                let mut best = first.v.clone();
                for x in rest {
                    let xv = &x.v;
                    best = self.bind(format!(
                        "select(select({best}, {xv}, {xv} {op} {best}), {xv} + {best}, isnan_({xv}) || isnan_({best}))"
                    ));
                }
                let nan = self.bind_bool(format!("isnan_({best})"));
                let count = group
                    .iter()
                    .map(|x| format!("select({zero}, {one}, {} == {best})", x.v))
                    .collect::<Vec<_>>()
                    .join(" + ");
                let inv = self.bind(format!("{one} / ({count})"));
                let d = (0..self.lanes)
                    .map(|l| {
                        let live: Vec<&Scalar> = group
                            .iter()
                            .copied()
                            .filter(|x| !matches!(x.d[l], Lane::Zero))
                            .collect();
                        if live.is_empty() {
                            return Lane::Zero;
                        }
                        let weighted: Vec<String> = live
                            .iter()
                            .map(|x| {
                                let t = self.lane_expr(&x.d[l]);
                                format!("select({zero}, tm({inv}, {t}), {} == {best})", x.v)
                            })
                            .collect();
                        let sum: Vec<String> =
                            live.iter().map(|x| self.lane_expr(&x.d[l])).collect();
                        Lane::Var(self.bind(format!(
                            "select({zero} + {}, tm({}, {zero} + {}), {nan})",
                            weighted.join(" + "),
                            self.nan_expr(),
                            sum.join(" + ")
                        )))
                    })
                    .collect();
                Scalar { v: best, d }
            }
            ReduceFn::Prod => {
                // prefix and suffix products; member j's partial is prefix_j * suffix_(j+1)
                let k = group.len();
                let mut prefix = vec![one.clone()];
                for x in group {
                    let last = prefix[prefix.len() - 1].clone();
                    prefix.push(self.bind(format!("{last} * {}", x.v)));
                }
                let mut suffix = vec![one.clone(); k + 1];
                for j in (0..k).rev() {
                    suffix[j] = self.bind(format!("{} * {}", group[j].v, suffix[j + 1]));
                }
                let partials: Vec<String> = (0..k)
                    .map(|j| self.bind(format!("{} * {}", prefix[j], suffix[j + 1])))
                    .collect();
                let d = (0..self.lanes)
                    .map(|l| {
                        let terms: Vec<(&str, &Lane)> = group
                            .iter()
                            .zip(&partials)
                            .map(|(x, p)| (p.as_str(), &x.d[l]))
                            .collect();
                        self.combine(&terms)
                    })
                    .collect();
                Scalar {
                    v: prefix[k].clone(),
                    d,
                }
            }
            ReduceFn::ArgMax | ReduceFn::ArgMin => {
                let op = if func == ReduceFn::ArgMax { ">" } else { "<" };
                let (mut best, mut at) = (first.v.clone(), zero.clone());
                for (q, x) in rest.iter().enumerate() {
                    let xv = &x.v;
                    let take = self.bind_bool(format!(
                        "!isnan_({best}) && (({xv} {op} {best}) || isnan_({xv}))"
                    ));
                    best = self.bind(format!("select({best}, {xv}, {take})"));
                    at = self.bind(format!(
                        "select({at}, {}, {take})",
                        self.num((q + 1) as f64)
                    ));
                }
                Scalar {
                    v: at,
                    d: vec![Lane::Zero; self.lanes],
                }
            }
            ReduceFn::Sum => self.sum(group),
        }
    }

    /// A NaN of the kernel's type.
    fn nan_expr(&self) -> String {
        format!("nan_({})", self.num(0.0))
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
                        Lane::Var(self.bind(e))
                    }
                })
                .collect();
        Scalar { v, d }
    }

    fn sum(&mut self, items: &[&Scalar]) -> Scalar {
        if items.is_empty() {
            return self.zero_scalar();
        }
        let v = self.bind(
            items
                .iter()
                .map(|s| s.v.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
        );
        let d = (0..self.lanes)
            .map(|l| {
                let parts: Vec<String> = items
                    .iter()
                    .filter(|s| !matches!(s.d[l], Lane::Zero))
                    .map(|s| self.lane_expr(&s.d[l]))
                    .collect();
                match parts.len() {
                    0 => Lane::Zero,
                    _ => Lane::Var(self.bind(parts.join(" + "))),
                }
            })
            .collect();
        Scalar { v, d }
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
    if matches!(
        func,
        UnaryFn::Erfc | UnaryFn::ErfInv | UnaryFn::Lgamma | UnaryFn::Digamma
    ) {
        return Err(GpuError::Unsupported(format!(
            "{func} (the GPU kernels do not have it; use device='cpu')"
        )));
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
        // derivative +1 at 0 (JAX's convention), NaN for NaN
        UnaryFn::Abs => (
            format!("abs({xv})"),
            Some(format!(
                "select(select({xv}, {m}, {xv} < {z}), {o}, {xv} >= {z})",
                z = n(0.0),
                m = n(-1.0),
                o = n(1.0)
            )),
        ),
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
        UnaryFn::Trunc => (format!("trunc({xv})"), None),
        UnaryFn::IsFinite => (
            format!("select({}, {}, isfinite_({xv}))", n(0.0), n(1.0)),
            None,
        ),
        UnaryFn::StopGradient => (xv.to_string(), None),
        UnaryFn::Perturbation => (n(0.0), Some(n(1.0))),
        UnaryFn::Erfc | UnaryFn::ErfInv | UnaryFn::Lgamma | UnaryFn::Digamma => {
            unreachable!("refused above")
        }
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
        // as the CPU engine (JAX): d/dx = 0 at x = y = 0, d/dy = 0 at x = 0
        BinaryFn::Pow => (
            format!("pow_({xv}, {zv})"),
            format!(
                "select({zv} * pow_({xv}, {zv} - {o}), {z}, {xv} == {z} && {zv} == {z})",
                o = n(1.0),
                z = n(0.0)
            ),
            format!("select(Y * log_({xv}), {z}, {xv} == {z})", z = n(0.0)),
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

/// The error for an instruction the GPU kernels do not translate.
pub(crate) fn refused(op: &Op) -> GpuError {
    GpuError::Unsupported(format!(
        "{} instructions (sort, linear algebra) run on the CPU engine only; use device='cpu'",
        op.name()
    ))
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

/// The per-point kernel of `program` for the given seeds and precision.
pub fn per_point(
    program: &Program,
    seeds: Seeds,
    precision: Precision,
) -> Result<Kernel, GpuError> {
    let (n, m) = (program.n_inputs(), program.n_outputs());
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
    let ty = precision.wgsl();
    let f64 = precision == Precision::F64;
    let mut g = Gen {
        body: String::new(),
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
                        .map(|l| match seeds {
                            Seeds::Identity if l == j => Lane::One,
                            Seeds::Identity => Lane::Zero,
                            Seeds::Given(_) => Lane::Var(g.bind(format!("seeds[{}u]", l * n + j))),
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
                        g.reduce(*func, &group)
                    })
                    .collect()
            }
            Op::Sort { .. } | Op::Linalg { .. } => return Err(refused(op)),
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
    }
    let mut body = std::mem::take(&mut g.body);
    let mut r = 0;
    for &o in program.outputs() {
        for s in &nodes[o] {
            let _ = writeln!(body, "    values[p * {m}u + {r}u] = {};", s.v);
            for (l, lane) in s.d.iter().enumerate() {
                let _ = writeln!(
                    body,
                    "    tangents[(p * {m}u + {r}u) * {lanes}u + {l}u] = {};",
                    g.lane_expr(lane)
                );
            }
            r += 1;
        }
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
    Ok(Kernel {
        source,
        lanes,
        constants,
    })
}

/// The functions every kernel may call: the elementary functions of the
/// precision (`wgsl/f32.wgsl`, `wgsl/f64.wgsl`) and the helpers of both
/// (`wgsl/common.wgsl`: `tm`, a tangent term that stays zero for a zero
/// tangent, `hypot_`, `rem_`, `powi_`), written for the type alias `real`.
pub(crate) fn prelude(precision: Precision) -> String {
    let math = match precision {
        Precision::F32 => include_str!("wgsl/f32.wgsl"),
        Precision::F64 => include_str!("wgsl/f64.wgsl"),
    };
    format!(
        "alias real = {};\n{math}\n{}\n",
        precision.wgsl(),
        include_str!("wgsl/common.wgsl")
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
        for _ in 1..k.unsigned_abs() {
            acc = g.bind(format!("{acc} * {xv}"));
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
