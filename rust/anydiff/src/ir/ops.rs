//! The instruction set: [`Op`] and the tables of elementwise functions,
//! comparisons and reductions it names. Each table is one enum; its `ALL`
//! list and names are what the Python front ends see (`_core.UNARY_FUNCTIONS`
//! and friends), and its per-function properties (how its Hessian looks, for
//! sparsity detection) are exhaustive methods beside it.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// Errors of this module: only shapes and invalid arguments.
pub type IrError = Error<Infallible>;

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
    pub(crate) fn map_args(&self, f: impl Fn(usize) -> usize) -> Op {
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
