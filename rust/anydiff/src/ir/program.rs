//! The instruction set ([`Op`]) and its validated, pruned form ([`Program`]).

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// Errors of this module: only shapes and invalid arguments.
pub type IrError = Error;

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $var:ident => $s:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $var,)*
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),*];

            /// The name used by the Python front ends.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$var => $s,)*
                }
            }
        }

        impl FromStr for $name {
            type Err = IrError;
            fn from_str(s: &str) -> Result<Self, IrError> {
                match s {
                    $($s => Ok($name::$var),)*
                    other => Err(Error::invalid(format!(
                        concat!("unknown ", $what, " {:?} (expected one of: {})"),
                        other,
                        [$($s),*].join(", ")
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// Elementwise functions of one argument.
    UnaryFn, "unary function", {
        /// `-x`
        Neg => "neg",
        /// `e^x`
        Exp => "exp",
        /// `2^x`
        Exp2 => "exp2",
        /// `e^x - 1`
        Expm1 => "expm1",
        /// natural logarithm
        Log => "log",
        /// `ln(1 + x)`
        Log1p => "log1p",
        /// base-2 logarithm
        Log2 => "log2",
        /// base-10 logarithm
        Log10 => "log10",
        /// square root
        Sqrt => "sqrt",
        /// cube root
        Cbrt => "cbrt",
        /// sine
        Sin => "sin",
        /// cosine
        Cos => "cos",
        /// tangent
        Tan => "tan",
        /// arcsine
        Asin => "asin",
        /// arccosine
        Acos => "acos",
        /// arctangent
        Atan => "atan",
        /// hyperbolic sine
        Sinh => "sinh",
        /// hyperbolic cosine
        Cosh => "cosh",
        /// hyperbolic tangent
        Tanh => "tanh",
        /// inverse hyperbolic sine
        Asinh => "asinh",
        /// inverse hyperbolic cosine
        Acosh => "acosh",
        /// inverse hyperbolic tangent
        Atanh => "atanh",
        /// absolute value
        Abs => "abs",
        /// sign (0 at 0, like numpy)
        Sign => "sign",
        /// floor
        Floor => "floor",
        /// ceiling
        Ceil => "ceil",
        /// round half to even (like numpy)
        Round => "round",
        /// `1 / x`
        Recip => "recip",
        /// error function
        Erf => "erf",
        /// `1 / (1 + e^-x)`
        Logistic => "logistic",
        /// `x^2`
        Square => "square",
    }
);

named_enum!(
    /// Elementwise functions of two arguments of equal length.
    BinaryFn, "binary function", {
        /// `a + b`
        Add => "add",
        /// `a - b`
        Sub => "sub",
        /// `a * b`
        Mul => "mul",
        /// `a / b`
        Div => "div",
        /// `a^b`
        Pow => "pow",
        /// `atan2(a, b)` (`a` is y)
        Atan2 => "atan2",
        /// the smaller (NaN propagates, ties pick `a`)
        Min => "min",
        /// the larger (NaN propagates, ties pick `a`)
        Max => "max",
        /// `sqrt(a^2 + b^2)`
        Hypot => "hypot",
        /// `fmod(a, b)`: `a - trunc(a / b) b`
        Rem => "rem",
    }
);

named_enum!(
    /// Comparisons; the result is 1.0 where true, 0.0 elsewhere (zero derivative).
    CompareFn, "comparison", {
        /// `a < b`
        Lt => "lt",
        /// `a <= b`
        Le => "le",
        /// `a > b`
        Gt => "gt",
        /// `a >= b`
        Ge => "ge",
        /// `a == b`
        Eq => "eq",
        /// `a != b`
        Ne => "ne",
    }
);

named_enum!(
    /// Segmented reductions.
    ReduceFn, "reduction", {
        /// sum (0 for an empty group)
        Sum => "sum",
        /// maximum (derivative of the first maximal element)
        Max => "max",
        /// minimum (derivative of the first minimal element)
        Min => "min",
    }
);

/// One instruction; arguments are indices of earlier instructions.
///
/// Mirrors the instruction table of `anydiff.ir._graph` one to one.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Differentiated input `index` (of `len` elements).
    Input {
        /// Which input.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// Non-differentiated parameter `index`, supplied with each evaluation.
    Param {
        /// Which parameter.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// A constant array.
    Const(Vec<f64>),
    /// `func(a)` elementwise.
    Unary {
        /// The function.
        func: UnaryFn,
        /// The argument.
        a: usize,
    },
    /// `func(a, b)` elementwise (equal lengths).
    Binary {
        /// The function.
        func: BinaryFn,
        /// First argument.
        a: usize,
        /// Second argument.
        b: usize,
    },
    /// `a^n` for an integer `n`.
    Powi {
        /// The base.
        a: usize,
        /// The exponent.
        n: i32,
    },
    /// `func(a, b)` as 0.0 / 1.0 (equal lengths).
    Compare {
        /// The comparison.
        func: CompareFn,
        /// First argument.
        a: usize,
        /// Second argument.
        b: usize,
    },
    /// `t` where `c != 0`, else `f` (equal lengths).
    Select {
        /// Condition.
        c: usize,
        /// Value where true.
        t: usize,
        /// Value where false.
        f: usize,
    },
    /// `out[i] = a[indices[i]]`; an index of -1 reads 0.
    Gather {
        /// The source.
        a: usize,
        /// One index per output element, in `-1..len(a)`.
        indices: Vec<i64>,
    },
    /// Flat concatenation.
    Concat(Vec<usize>),
    /// `out[g] = func(a[indices[offsets[g]..offsets[g + 1]]])`.
    Reduce {
        /// The reduction.
        func: ReduceFn,
        /// The argument.
        a: usize,
        /// CSR group pointers (`len(out) + 1` entries).
        offsets: Vec<usize>,
        /// Element indices of the groups.
        indices: Vec<usize>,
    },
    /// Batched matrix product `(batch, m, k) @ (batch, k, n) -> (batch, m, n)`.
    Dot {
        /// Left factor (`batch * m * k` elements).
        a: usize,
        /// Right factor (`batch * k * n` elements).
        b: usize,
        /// Number of products.
        batch: usize,
        /// Rows of each product.
        m: usize,
        /// Contraction length.
        k: usize,
        /// Columns of each product.
        n: usize,
    },
}

impl Op {
    /// The instruction's name in the Python table.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Param { .. } => "param",
            Op::Const(_) => "const",
            Op::Unary { .. } => "unary",
            Op::Binary { .. } => "binary",
            Op::Powi { .. } => "powi",
            Op::Compare { .. } => "compare",
            Op::Select { .. } => "select",
            Op::Gather { .. } => "gather",
            Op::Concat(_) => "concat",
            Op::Reduce { .. } => "reduce",
            Op::Dot { .. } => "dot",
        }
    }

    /// The instructions this one reads.
    pub fn args(&self) -> Vec<usize> {
        match self {
            Op::Input { .. } | Op::Param { .. } | Op::Const(_) => Vec::new(),
            Op::Unary { a, .. } | Op::Powi { a, .. } | Op::Gather { a, .. } => vec![*a],
            Op::Reduce { a, .. } => vec![*a],
            Op::Binary { a, b, .. } | Op::Compare { a, b, .. } | Op::Dot { a, b, .. } => {
                vec![*a, *b]
            }
            Op::Select { c, t, f } => vec![*c, *t, *f],
            Op::Concat(parts) => parts.clone(),
        }
    }

    /// The same instruction with every argument mapped by `f`.
    fn map_args(&self, f: impl Fn(usize) -> usize) -> Op {
        let mut op = self.clone();
        match &mut op {
            Op::Input { .. } | Op::Param { .. } | Op::Const(_) => {}
            Op::Unary { a, .. } | Op::Powi { a, .. } | Op::Gather { a, .. } => *a = f(*a),
            Op::Reduce { a, .. } => *a = f(*a),
            Op::Binary { a, b, .. } | Op::Compare { a, b, .. } | Op::Dot { a, b, .. } => {
                *a = f(*a);
                *b = f(*b);
            }
            Op::Select { c, t, f: g } => {
                *c = f(*c);
                *t = f(*t);
                *g = f(*g);
            }
            Op::Concat(parts) => parts.iter_mut().for_each(|p| *p = f(*p)),
        }
        op
    }
}

/// A validated program: instructions in topological order (arguments
/// before users), dead instructions removed, with each node's length and
/// its offset in a flat workspace.
///
/// The input vector of a point is the concatenation of the inputs
/// `0..k` (`n` numbers in all); the output vector is the concatenation
/// of the output nodes (`m` numbers).
#[derive(Debug, Clone)]
pub struct Program {
    pub(crate) ops: Vec<Op>,
    pub(crate) lens: Vec<usize>,
    /// Offset of each node in the workspace, in elements (times the chunk size).
    pub(crate) offsets: Vec<usize>,
    /// Workspace size in elements.
    pub(crate) work_len: usize,
    /// Gathers of a contiguous range: views of their argument, not executed.
    pub(crate) alias: Vec<bool>,
    /// The node whose block each node lives in (itself unless an alias).
    pub(crate) root: Vec<usize>,
    /// Concatenations that only assemble outputs: the forward lane engine
    /// skips them and copies each output element from [`Program::sources`].
    pub(crate) forwarded: Vec<bool>,
    /// `(node, element)` holding each of the `m` output elements, looking
    /// through forwarded concatenations.
    pub(crate) sources: Vec<(usize, usize)>,
    /// Each gather's index map as runs ([`super::runs`]), where they are long.
    pub(crate) gather_runs: Vec<Option<super::runs::Runs>>,
    /// The sources as runs `(node, first element, length)` of consecutive
    /// elements of one node, in output order.
    pub(crate) source_runs: Vec<(usize, usize, usize)>,
    /// The keep-every-node layout of the reverse sweeps and which nodes are
    /// active, made on first use.
    pub(crate) tape: std::sync::OnceLock<Box<(Program, Vec<bool>)>>,
    /// Workspaces of finished calls, for the next call.
    pub(crate) scratch: Scratch,
    /// The tiled form of this program ([`super::tiles`]), made on first use.
    pub(crate) tiled: std::sync::OnceLock<Option<Box<Program>>>,
    /// The steps of a tiled form (None for the program itself).
    pub(crate) tiles: Option<Box<super::tiles::Tiles>>,
    pub(crate) outputs: Vec<usize>,
    pub(crate) input_lens: Vec<usize>,
    pub(crate) input_offsets: Vec<usize>,
    pub(crate) param_lens: Vec<usize>,
    pub(crate) param_offsets: Vec<usize>,
    pub(crate) n: usize,
    pub(crate) m: usize,
    pub(crate) n_params: usize,
}

fn prefix(lens: &[usize]) -> (Vec<usize>, usize) {
    let mut offs = Vec::with_capacity(lens.len());
    let mut total = 0usize;
    for &l in lens {
        offs.push(total);
        total += l;
    }
    (offs, total)
}

/// Validation error for instruction `i`.
fn bad(i: usize, op: &Op, msg: impl fmt::Display) -> IrError {
    Error::invalid(format!("instruction {i} ({}): {msg}", op.name()))
}

impl Program {
    /// Validates `ops` and builds the program.
    ///
    /// `input_lens[i]` / `param_lens[i]` are the lengths of input / parameter
    /// `i`; every `Input`/`Param` instruction must name one of them with that
    /// length, at most once. `outputs` are instruction indices. Errors name
    /// the offending instruction.
    pub fn new(
        ops: Vec<Op>,
        input_lens: &[usize],
        param_lens: &[usize],
        outputs: &[usize],
    ) -> Result<Program, IrError> {
        let mut lens: Vec<usize> = Vec::with_capacity(ops.len());
        // numbers in all nodes: bounded like the inputs, so that sizes never overflow
        let mut total = 0usize;
        let mut seen_input = vec![false; input_lens.len()];
        let mut seen_param = vec![false; param_lens.len()];
        for (i, op) in ops.iter().enumerate() {
            for a in op.args() {
                if a >= i {
                    return Err(bad(
                        i,
                        op,
                        format!("argument {a} does not refer to an earlier instruction"),
                    ));
                }
            }
            let len_of = |a: usize| lens[a];
            let len = match op {
                Op::Input { index, len } | Op::Param { index, len } => {
                    let (declared, seen, what) = if matches!(op, Op::Input { .. }) {
                        (input_lens, &mut seen_input, "input")
                    } else {
                        (param_lens, &mut seen_param, "param")
                    };
                    let Some(&want) = declared.get(*index) else {
                        return Err(bad(
                            i,
                            op,
                            format!(
                                "{what} index {index} out of range ({} {what}s declared)",
                                declared.len()
                            ),
                        ));
                    };
                    if want != *len {
                        return Err(bad(
                            i,
                            op,
                            format!("{what} {index} has length {want}, instruction says {len}"),
                        ));
                    }
                    if std::mem::replace(&mut seen[*index], true) {
                        return Err(bad(i, op, format!("{what} {index} appears twice")));
                    }
                    *len
                }
                Op::Const(values) => values.len(),
                Op::Unary { a, .. } | Op::Powi { a, .. } => len_of(*a),
                Op::Binary { a, b, .. } | Op::Compare { a, b, .. } => {
                    if len_of(*a) != len_of(*b) {
                        return Err(bad(
                            i,
                            op,
                            format!(
                                "arguments {a} and {b} have different lengths {} and {}",
                                len_of(*a),
                                len_of(*b)
                            ),
                        ));
                    }
                    len_of(*a)
                }
                Op::Select { c, t, f } => {
                    let l = len_of(*c);
                    if len_of(*t) != l || len_of(*f) != l {
                        return Err(bad(
                            i,
                            op,
                            format!(
                                "arguments {c}, {t}, {f} have different lengths {}, {}, {}",
                                l,
                                len_of(*t),
                                len_of(*f)
                            ),
                        ));
                    }
                    l
                }
                Op::Gather { a, indices } => {
                    let la = len_of(*a);
                    if let Some((e, &ix)) = indices
                        .iter()
                        .enumerate()
                        .find(|(_, &ix)| ix < -1 || (ix >= 0 && ix as u64 >= la as u64))
                    {
                        return Err(bad(
                            i,
                            op,
                            format!("index {ix} at position {e} is outside -1..{la}"),
                        ));
                    }
                    indices.len()
                }
                Op::Concat(parts) => {
                    if parts.is_empty() {
                        return Err(bad(i, op, "no arguments"));
                    }
                    parts.iter().map(|&p| len_of(p)).sum()
                }
                Op::Reduce {
                    func,
                    a,
                    offsets,
                    indices,
                } => {
                    let la = len_of(*a);
                    if offsets.first() != Some(&0) || offsets.last() != Some(&indices.len()) {
                        return Err(bad(
                            i,
                            op,
                            format!(
                                "offsets must start at 0 and end at len(indices) = {}",
                                indices.len()
                            ),
                        ));
                    }
                    for (g, w) in offsets.windows(2).enumerate() {
                        if w[0] > w[1] {
                            return Err(bad(i, op, format!("offsets decrease at group {g}")));
                        }
                        if w[0] == w[1] && *func != ReduceFn::Sum {
                            return Err(bad(
                                i,
                                op,
                                format!("group {g} is empty (only sum allows empty groups)"),
                            ));
                        }
                    }
                    if let Some((e, &ix)) = indices.iter().enumerate().find(|(_, &ix)| ix >= la) {
                        return Err(bad(
                            i,
                            op,
                            format!("index {ix} at position {e} is outside 0..{la}"),
                        ));
                    }
                    offsets.len() - 1
                }
                Op::Dot {
                    a,
                    b,
                    batch,
                    m,
                    k,
                    n,
                } => {
                    let prod = |x: usize, y: usize, z: usize| {
                        x.checked_mul(y).and_then(|v| v.checked_mul(z))
                    };
                    let (la, lb) = (len_of(*a), len_of(*b));
                    if prod(*batch, *m, *k) != Some(la) || prod(*batch, *k, *n) != Some(lb) {
                        return Err(bad(
                            i,
                            op,
                            format!(
                                "argument lengths {la} and {lb} do not fit (batch, m, k, n) = ({batch}, {m}, {k}, {n})"
                            ),
                        ));
                    }
                    prod(*batch, *m, *n).ok_or_else(|| bad(i, op, "result size overflows"))?
                }
            };
            total = total.saturating_add(len);
            if total > u32::MAX as usize {
                return Err(bad(
                    i,
                    op,
                    format!(
                        "the program's instructions hold more than {} numbers",
                        u32::MAX
                    ),
                ));
            }
            lens.push(len);
        }
        let inputs = input_lens
            .iter()
            .try_fold(0usize, |acc, &l| acc.checked_add(l));
        if !matches!(inputs, Some(n) if n <= u32::MAX as usize) {
            return Err(Error::invalid(format!(
                "the inputs hold more than {} numbers",
                u32::MAX
            )));
        }
        // one point's workspace must be had before any evaluation allocates it
        crate::memory::ensure_allocatable("the program's workspace (one point)", &[total], 16)?;
        for (j, &o) in outputs.iter().enumerate() {
            if o >= ops.len() {
                return Err(Error::invalid(format!(
                    "output {j} refers to instruction {o}, but the program has {} instructions",
                    ops.len()
                )));
            }
        }
        Ok(Self::build(ops, lens, input_lens, param_lens, outputs))
    }

    /// Prunes dead nodes, renumbers, and lays out the workspace.
    fn build(
        ops: Vec<Op>,
        lens: Vec<usize>,
        input_lens: &[usize],
        param_lens: &[usize],
        outputs: &[usize],
    ) -> Program {
        let mut live = vec![false; ops.len()];
        for &o in outputs {
            live[o] = true;
        }
        for i in (0..ops.len()).rev() {
            if live[i] {
                for a in ops[i].args() {
                    live[a] = true;
                }
            }
        }
        let mut new_id = vec![usize::MAX; ops.len()];
        let mut kept_ops = Vec::new();
        let mut kept_lens = Vec::new();
        for (i, (op, len)) in ops.into_iter().zip(lens).enumerate() {
            if live[i] {
                new_id[i] = kept_ops.len();
                kept_ops.push(op.map_args(|a| new_id[a]));
                kept_lens.push(len);
            }
        }
        let outputs: Vec<usize> = outputs.iter().map(|&o| new_id[o]).collect();
        let (input_offsets, n) = prefix(input_lens);
        let (param_offsets, n_params) = prefix(param_lens);
        let m = outputs.iter().map(|&o| kept_lens[o]).sum();
        let (forwarded, sources) = output_sources(&kept_ops, &kept_lens, &outputs);
        let mut kept: Vec<usize> = sources.iter().map(|&(node, _)| node).collect();
        kept.extend(&outputs);
        let last = last_use(&kept_ops);
        let (offsets, work_len, alias) = layout_with(&kept_ops, &kept_lens, &kept, last);
        let root = roots(&kept_ops, &alias);
        let gather_runs = kept_ops
            .iter()
            .map(|op| match op {
                Op::Gather { indices, .. } => super::runs::runs_of(indices),
                _ => None,
            })
            .collect();
        Program {
            ops: kept_ops,
            lens: kept_lens,
            offsets,
            work_len,
            alias,
            root,
            source_runs: consecutive_runs(&sources),
            gather_runs,
            forwarded,
            sources,
            tape: std::sync::OnceLock::new(),
            scratch: Scratch::default(),
            tiled: std::sync::OnceLock::new(),
            tiles: None,
            outputs,
            input_lens: input_lens.to_vec(),
            input_offsets,
            param_lens: param_lens.to_vec(),
            param_offsets,
            n,
            m,
            n_params,
        }
    }

    /// The same program with another workspace layout (and no cached forms).
    pub(crate) fn with_layout(
        &self,
        offsets: Vec<usize>,
        work_len: usize,
        alias: Vec<bool>,
        root: Vec<usize>,
    ) -> Program {
        Program {
            ops: self.ops.clone(),
            lens: self.lens.clone(),
            offsets,
            work_len,
            alias,
            root,
            forwarded: self.forwarded.clone(),
            sources: self.sources.clone(),
            source_runs: self.source_runs.clone(),
            gather_runs: self.gather_runs.clone(),
            tape: std::sync::OnceLock::new(),
            scratch: Scratch::default(),
            tiled: std::sync::OnceLock::new(),
            tiles: None,
            outputs: self.outputs.clone(),
            input_lens: self.input_lens.clone(),
            input_offsets: self.input_offsets.clone(),
            param_lens: self.param_lens.clone(),
            param_offsets: self.param_offsets.clone(),
            n: self.n,
            m: self.m,
            n_params: self.n_params,
        }
    }

    /// Number of differentiated inputs `n` (total length of the inputs).
    pub fn n_inputs(&self) -> usize {
        self.n
    }

    /// Number of outputs `m` (total length of the output nodes).
    pub fn n_outputs(&self) -> usize {
        self.m
    }

    /// Total length of the parameters.
    pub fn n_params(&self) -> usize {
        self.n_params
    }

    /// Number of (live) nodes.
    pub fn n_nodes(&self) -> usize {
        self.ops.len()
    }

    /// The lengths of the inputs.
    pub fn input_lens(&self) -> &[usize] {
        &self.input_lens
    }

    /// The lengths of the parameters.
    pub fn param_lens(&self) -> &[usize] {
        &self.param_lens
    }

    /// The live instructions (arguments renumbered).
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The length of each live node.
    pub fn node_lens(&self) -> &[usize] {
        &self.lens
    }

    /// The output nodes (indices into [`Program::ops`]).
    pub fn outputs(&self) -> &[usize] {
        &self.outputs
    }

    /// Workspace size of one point, in numbers.
    pub fn workspace_len(&self) -> usize {
        self.work_len
    }

    /// The last node that reads each node (`None`: no reader).
    pub(crate) fn last_use(&self) -> Vec<Option<usize>> {
        last_use(&self.ops)
    }
}

fn last_use(ops: &[Op]) -> Vec<Option<usize>> {
    let mut last = vec![None; ops.len()];
    for (i, op) in ops.iter().enumerate() {
        for a in op.args() {
            last[a] = Some(i);
        }
    }
    last
}

/// Whether a node's block is permanent: leaves (filled before the
/// instructions run) and outputs (read after they ran).
fn permanent(op: &Op) -> bool {
    matches!(op, Op::Input { .. } | Op::Param { .. } | Op::Const(_))
}

/// A gather that reads a contiguous range `start..start + len` of its
/// argument: it needs no storage of its own (element-major blocks make the
/// range a contiguous part of the argument's block).
fn alias_of(op: &Op) -> Option<(usize, usize)> {
    match op {
        Op::Gather { a, indices } => {
            let first = *indices.first()?;
            let start = usize::try_from(first).ok()?;
            let contiguous = indices
                .iter()
                .enumerate()
                .all(|(e, &ix)| usize::try_from(ix).ok() == Some(start + e));
            contiguous.then_some((*a, start))
        }
        _ => None,
    }
}

/// Workspaces kept between calls: a large one would otherwise be mapped and
/// faulted in afresh by every call (a third of a 100 us Hessian went there).
#[derive(Default)]
pub(crate) struct Scratch(std::sync::Mutex<Vec<Box<dyn std::any::Any + Send>>>);

impl Scratch {
    /// Most workspaces kept (one per worker thread is the usual need).
    const KEEP: usize = 16;

    fn pool(&self) -> std::sync::MutexGuard<'_, Vec<Box<dyn std::any::Any + Send>>> {
        match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A kept value of type `S` that `fits`, if any.
    pub(crate) fn take<S: std::any::Any>(&self, fits: impl Fn(&S) -> bool) -> Option<S> {
        let mut pool = self.pool();
        let at = pool
            .iter()
            .position(|b| b.downcast_ref::<S>().is_some_and(&fits))?;
        pool.swap_remove(at).downcast::<S>().ok().map(|b| *b)
    }

    /// Keeps `s` for a later call.
    pub(crate) fn give<S: std::any::Any + Send>(&self, s: S) {
        let mut pool = self.pool();
        if pool.len() < Self::KEEP {
            pool.push(Box::new(s));
        }
    }
}

impl Clone for Scratch {
    fn clone(&self) -> Self {
        Scratch::default()
    }
}

impl fmt::Debug for Scratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scratch({} kept)", self.pool().len())
    }
}

/// Which concatenations only assemble outputs (every reader is one of them
/// too), and the `(node, element)` that holds each output element when
/// those are looked through.
fn output_sources(
    ops: &[Op],
    lens: &[usize],
    outputs: &[usize],
) -> (Vec<bool>, Vec<(usize, usize)>) {
    let mut read_by_other = vec![false; ops.len()];
    let mut forwarded = vec![false; ops.len()];
    for (i, op) in ops.iter().enumerate().rev() {
        forwarded[i] = matches!(op, Op::Concat(_)) && !read_by_other[i];
        if !forwarded[i] {
            for a in op.args() {
                read_by_other[a] = true;
            }
        }
    }
    fn source(
        ops: &[Op],
        lens: &[usize],
        forwarded: &[bool],
        node: usize,
        e: usize,
    ) -> (usize, usize) {
        if let (true, Op::Concat(parts)) = (forwarded[node], &ops[node]) {
            let mut at = e;
            for &p in parts {
                if at < lens[p] {
                    return source(ops, lens, forwarded, p, at);
                }
                at -= lens[p];
            }
        }
        (node, e)
    }
    let sources = outputs
        .iter()
        .flat_map(|&o| (0..lens[o]).map(move |e| (o, e)))
        .map(|(o, e)| source(ops, lens, &forwarded, o, e))
        .collect();
    (forwarded, sources)
}

/// `(node, first element, length)` runs of consecutive elements of one node.
fn consecutive_runs(sources: &[(usize, usize)]) -> Vec<(usize, usize, usize)> {
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    for &(node, e) in sources {
        match runs.last_mut() {
            Some((n, first, len)) if *n == node && *first + *len == e => *len += 1,
            _ => runs.push((node, e, 1)),
        }
    }
    runs
}

/// The node whose block each node lives in: an alias lives in its argument's root.
pub(crate) fn roots(ops: &[Op], alias: &[bool]) -> Vec<usize> {
    let mut root: Vec<usize> = (0..ops.len()).collect();
    for (i, op) in ops.iter().enumerate() {
        if let (true, Op::Gather { a, .. }) = (alias[i], op) {
            root[i] = root[*a];
        }
    }
    root
}

/// Assigns each node a block of the workspace; a block is reused once the
/// last reader of its node (and of every alias of it) has run, `last[i]`
/// being the last reader of node `i`. Leaves and outputs keep their blocks.
/// Returns the offsets, the workspace length and which nodes are aliases
/// (not executed).
pub(crate) fn layout_with(
    ops: &[Op],
    lens: &[usize],
    outputs: &[usize],
    last: Vec<Option<usize>>,
) -> (Vec<usize>, usize, Vec<bool>) {
    let nodes = ops.len();
    let mut offsets = vec![0usize; nodes];
    let mut top = 0usize;
    let mut root: Vec<usize> = (0..nodes).collect();
    let mut rel = vec![0usize; nodes];
    let mut alias = vec![false; nodes];
    for (i, op) in ops.iter().enumerate() {
        if let Some((a, start)) = alias_of(op) {
            alias[i] = true;
            root[i] = root[a];
            rel[i] = rel[a] + start;
        }
    }
    for (i, op) in ops.iter().enumerate() {
        if permanent(op) {
            offsets[i] = top;
            top += lens[i];
        }
    }
    // keep[r]: the block of root r is never freed
    let mut keep: Vec<bool> = ops.iter().map(permanent).collect();
    for &o in outputs {
        keep[root[o]] = true;
    }
    let mut last_root: Vec<Option<usize>> = vec![None; nodes];
    for (x, l) in last.iter().enumerate() {
        let r = root[x];
        last_root[r] = last_root[r].max(*l);
    }
    // dying[i]: roots whose last reader is i
    let mut dying: Vec<Vec<usize>> = vec![Vec::new(); nodes];
    for (r, l) in last_root.iter().enumerate() {
        if let (Some(l), false) = (l, keep[r]) {
            if root[r] == r {
                dying[*l].push(r);
            }
        }
    }
    let mut free: Vec<(usize, usize)> = Vec::new(); // (start, size), sorted by start
    for (i, op) in ops.iter().enumerate() {
        if alias[i] {
            offsets[i] = offsets[root[i]] + rel[i];
            continue;
        }
        if permanent(op) {
            continue;
        }
        let need = lens[i];
        // best fit
        let mut best: Option<usize> = None;
        for (j, &(_, size)) in free.iter().enumerate() {
            let better = match best {
                None => true,
                Some(b) => free[b].1 > size,
            };
            if size >= need && better {
                best = Some(j);
            }
        }
        offsets[i] = match best {
            Some(j) => {
                let (start, size) = free[j];
                if size == need {
                    free.remove(j);
                } else {
                    free[j] = (start + need, size - need);
                }
                start
            }
            None => {
                // extend the arena, absorbing a free block at its top
                match free.last() {
                    Some(&(start, size)) if start + size == top => {
                        free.pop();
                        top = start + need;
                        start
                    }
                    _ => {
                        let s = top;
                        top += need;
                        s
                    }
                }
            }
        };
        for &a in &dying[i] {
            release(&mut free, offsets[a], lens[a]);
        }
    }
    (offsets, top, alias)
}

fn release(free: &mut Vec<(usize, usize)>, start: usize, size: usize) {
    if size == 0 {
        return;
    }
    let pos = free.partition_point(|&(s, _)| s < start);
    free.insert(pos, (start, size));
    // merge with the next, then with the previous
    if pos + 1 < free.len() && free[pos].0 + free[pos].1 == free[pos + 1].0 {
        free[pos].1 += free[pos + 1].1;
        free.remove(pos + 1);
    }
    if pos > 0 && free[pos - 1].0 + free[pos - 1].1 == free[pos].0 {
        free[pos - 1].1 += free[pos].1;
        free.remove(pos);
    }
}
