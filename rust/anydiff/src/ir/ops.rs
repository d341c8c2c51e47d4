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
        /// integer part (towards zero)
        Trunc => "trunc",
        /// complementary error function `1 - erf(x)`
        Erfc => "erfc",
        /// inverse error function
        ErfInv => "erf_inv",
        /// `ln |Gamma(x)|`
        Lgamma => "lgamma",
        /// digamma `d/dx ln Gamma(x)`
        Digamma => "digamma",
        /// 1.0 where `x` is finite, else 0.0 (zero derivative)
        IsFinite => "is_finite",
        /// `x` with zero derivative
        StopGradient => "stop_gradient",
        /// value 0.0 with the derivatives of `x` (`stop_gradient(p) + perturbation(e)`
        /// is `p` with the derivatives of `e`: custom derivative rules)
        Perturbation => "perturbation",
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
        /// the smaller (NaN propagates with zero derivative; at a tie the
        /// derivative is split evenly, as JAX's)
        Min => "min",
        /// the larger (as `min`)
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
        /// maximum; the derivative is split evenly among the maximal
        /// elements (JAX's convention); NaN if a member is NaN
        Max => "max",
        /// minimum (as `max`)
        Min => "min",
        /// product (1 for an empty group); the derivative of a member is the
        /// product of the others, zeros included
        Prod => "prod",
        /// position of the first maximal element in its group (the first NaN
        /// if any), as a number; zero derivative
        ArgMax => "argmax",
        /// position of the first minimal element (as `argmax`)
        ArgMin => "argmin",
    }
);

named_enum!(
    /// Dense linear algebra on a batch of small matrices (`Op::Linalg`, sizes
    /// `batch, m, n, k`). Matrices are row-major; `p = min(m, n)`. Derivatives
    /// (forward, reverse, second order) are those of the algorithm run on dual
    /// numbers: exact for the finite algorithms, and for `eigh`/`svd` Jacobi
    /// sweeps on dual numbers started from the real decomposition.
    LinalgFn, "linear algebra function", {
        /// `(a (n, n), b (n, k)) -> x (n, k)` with `a x = b` (LU with partial pivoting)
        Solve => "solve",
        /// `a (n, n) -> a^-1 (n, n)`
        Inv => "inv",
        /// `a (n, n) -> det a (1)`
        Det => "det",
        /// `a (n, n) -> (sign det a, ln |det a|) (2)`; the sign has zero derivative
        Slogdet => "slogdet",
        /// `a (n, n) -> l (n, n)`, lower triangular with `l l^T = a`, read
        /// from the lower triangle of `a`; NaN where `a` is not positive definite
        Cholesky => "cholesky",
        /// `a (n, n)` symmetric (lower triangle read) `-> (w (n), v (n, n))`:
        /// eigenvalues ascending, eigenvectors as columns, each with its
        /// largest-magnitude component positive; derivatives NaN where
        /// eigenvalues coincide
        Eigh => "eigh",
        /// `a (m, n) -> (s (p), u (m, p), vt (p, n))`: singular values
        /// descending, each column of `u` with its largest-magnitude component
        /// positive; derivatives NaN where singular values coincide or vanish
        Svd => "svd",
        /// `a (m, n) -> (lu (m, n), pivots (p), permutation (m))`, LAPACK's
        /// `getrf` layout (unit lower and upper factors in one matrix, row
        /// swaps as 0-based numbers); pivots and permutation have zero derivative
        Lu => "lu",
        /// `(a (n, n), b (n, k)) -> x (n, k)` with `a x = b`, `a` lower triangular
        SolveLower => "solve_lower",
        /// as `solve_lower` for upper triangular `a`
        SolveUpper => "solve_upper",
        /// as `solve_lower` with a unit diagonal (not read)
        SolveLowerUnit => "solve_lower_unit",
        /// as `solve_upper` with a unit diagonal (not read)
        SolveUpperUnit => "solve_upper_unit",
    }
);

/// How a function's second derivative looks, which is what Hessian sparsity
/// detection records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curvature {
    /// Zero derivative wherever it is differentiable: the result depends on
    /// no input at all (`floor`, `sign`, comparisons).
    Constant,
    /// Zero second derivative (linear or piecewise linear): nothing to record.
    Linear,
    /// The second derivative only mixes the two arguments (`a * b`).
    Bilinear,
    /// Mixes the two arguments and the second one with itself (`a / b`).
    Quotient,
    /// Any pair of the arguments' inputs.
    Nonlinear,
}

impl UnaryFn {
    /// How the function's Hessian looks.
    pub fn curvature(self) -> Curvature {
        use UnaryFn::*;
        match self {
            Sign | Floor | Ceil | Round | Trunc | IsFinite | StopGradient => Curvature::Constant,
            Neg | Abs | Perturbation => Curvature::Linear,
            Exp | Exp2 | Expm1 | Log | Log1p | Log2 | Log10 | Sqrt | Cbrt | Sin | Cos | Tan
            | Asin | Acos | Atan | Sinh | Cosh | Tanh | Asinh | Acosh | Atanh | Recip | Erf
            | Logistic | Square | Erfc | ErfInv | Lgamma | Digamma => Curvature::Nonlinear,
        }
    }
}

impl BinaryFn {
    /// How the function's Hessian looks.
    pub fn curvature(self) -> Curvature {
        use BinaryFn::*;
        match self {
            Add | Sub | Min | Max | Rem => Curvature::Linear,
            Mul => Curvature::Bilinear,
            Div => Curvature::Quotient,
            Pow | Atan2 | Hypot => Curvature::Nonlinear,
        }
    }
}

impl ReduceFn {
    /// How the reduction's Hessian looks (`Bilinear`: products of distinct members).
    pub fn curvature(self) -> Curvature {
        match self {
            ReduceFn::Sum | ReduceFn::Max | ReduceFn::Min => Curvature::Linear,
            ReduceFn::Prod => Curvature::Bilinear,
            ReduceFn::ArgMax | ReduceFn::ArgMin => Curvature::Constant,
        }
    }

    /// Whether an empty group is allowed (its value is the identity).
    pub fn allows_empty(self) -> bool {
        matches!(self, ReduceFn::Sum | ReduceFn::Prod)
    }
}

impl LinalgFn {
    /// The lengths of the arguments and of the result of one batch item for
    /// sizes `(m, n, k)`, or why they do not fit the function.
    pub fn layout(self, m: usize, n: usize, k: usize) -> Result<(Vec<usize>, usize), String> {
        use LinalgFn::*;
        let mul = |a: usize, b: usize| a.checked_mul(b).ok_or("sizes overflow");
        let square = |what: &str| {
            if m == n {
                Ok(())
            } else {
                Err(format!(
                    "{what} needs square matrices; got m = {m}, n = {n}"
                ))
            }
        };
        Ok(match self {
            Solve | SolveLower | SolveUpper | SolveLowerUnit | SolveUpperUnit => {
                square(self.as_str())?;
                (vec![mul(n, n)?, mul(n, k)?], mul(n, k)?)
            }
            Inv | Cholesky => {
                square(self.as_str())?;
                (vec![mul(n, n)?], mul(n, n)?)
            }
            Det => {
                square("det")?;
                (vec![mul(n, n)?], 1)
            }
            Slogdet => {
                square("slogdet")?;
                (vec![mul(n, n)?], 2)
            }
            Eigh => {
                square("eigh")?;
                (vec![mul(n, n)?], mul(n, n)? + n)
            }
            Svd => {
                let p = m.min(n);
                (vec![mul(m, n)?], p + mul(m, p)? + mul(p, n)?)
            }
            Lu => (vec![mul(m, n)?], mul(m, n)? + m.min(n) + m),
        })
    }
}

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
    /// `a` permuted segment by segment (`segment` consecutive elements) in the
    /// stable ascending order of `keys` (NaN last, `-0.0 == 0.0`: JAX's sort);
    /// the derivative flows through `a` only.
    Sort {
        /// What orders each segment.
        keys: usize,
        /// What is permuted (same length as `keys`).
        a: usize,
        /// Elements per segment (divides the length).
        segment: usize,
    },
    /// Dense linear algebra on `batch` matrices ([`LinalgFn`]): the arguments
    /// and the result are the batch items one after another.
    Linalg {
        /// The function.
        func: LinalgFn,
        /// The arguments (as many as the function takes).
        args: Vec<usize>,
        /// Number of matrices.
        batch: usize,
        /// Rows.
        m: usize,
        /// Columns.
        n: usize,
        /// Right-hand sides (solves).
        k: usize,
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
            Op::Sort { .. } => "sort",
            Op::Linalg { .. } => "linalg",
            Op::Dot { .. } => "dot",
        }
    }

    /// Whether the result has zero derivative (no tangent reaches it).
    pub fn has_zero_derivative(&self) -> bool {
        match self {
            Op::Unary { func, .. } => func.curvature() == Curvature::Constant,
            Op::Reduce { func, .. } => func.curvature() == Curvature::Constant,
            Op::Compare { .. } | Op::Param { .. } | Op::Const(_) => true,
            _ => false,
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
            Op::Sort { keys, a, .. } => vec![*keys, *a],
            Op::Concat(parts) | Op::Linalg { args: parts, .. } => parts.clone(),
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
            Op::Sort { keys, a, .. } => {
                *keys = f(*keys);
                *a = f(*a);
            }
            Op::Concat(parts) | Op::Linalg { args: parts, .. } => {
                parts.iter_mut().for_each(|p| *p = f(*p))
            }
        }
        op
    }
}
