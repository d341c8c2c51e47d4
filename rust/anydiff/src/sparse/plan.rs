//! A prepared sparse Jacobian ([`SparseJacobianPlan`]): everything that
//! depends only on the function and the pattern is done once — the pattern
//! detected (or checked), the columns colored and the coloring verified,
//! the position of every nonzero in the compressed products worked out,
//! buffers allocated — and each call writes the nonzeros at a new point
//! without allocating.

use super::coloring::{color_columns_best, is_valid, Coloring, ImproveOptions};
use super::pattern::Pattern;
use crate::dual::{Dual, Elementary, VectorFunction};
use crate::error::Error;
use crate::finite_diff::Scheme;
use crate::scalar::Scalar;
use crate::stop::StopFlag;

/// Tangent lanes of the dual numbers the [`Engine::Dual`] engine runs the
/// function on: colors are processed in chunks of this many, so the
/// function is instantiated for one dual type only.
pub const DUAL_LANES: usize = 8;

/// How a [`SparseJacobianPlan`] computes the nonzeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Engine {
    /// [`Engine::Compiled`] when the function can be traced (no comparison
    /// of traced values) and `T` is `f64` with the `ir` feature on,
    /// [`Engine::Dual`] otherwise.
    #[default]
    Auto,
    /// Colored forward mode: the function runs on
    /// `Dual<T, DUAL_LANES>` once per chunk of [`DUAL_LANES`] colors; exact
    /// to rounding.
    Dual,
    /// Colored finite differences of the function on `T` (one or more
    /// evaluations per color); approximate.
    FiniteDiff(Scheme),
    /// The function traced once into an IR program whose sparse Jacobian is
    /// compiled ([`crate::ir::SparseJacobian`]): constant entries (the
    /// linear part) are computed once, only the others per call. Needs the
    /// `ir` feature and `T = f64`.
    Compiled,
}

/// The real types a plan computes in: `f32` and `f64` (sealed).
pub trait PlanReal: Scalar + Elementary<Real = Self> + sealed::Sealed {
    /// Runs `f` on dual numbers of this real type.
    #[doc(hidden)]
    fn eval_dual<F: VectorFunction<Self>>(
        f: &F,
        x: &[Dual<Self, DUAL_LANES>],
        y: &mut [Dual<Self, DUAL_LANES>],
    );
    /// Runs `f` on this real type.
    #[doc(hidden)]
    fn eval_real<F: VectorFunction<Self>>(f: &F, x: &[Self], y: &mut [Self]);
    /// Traces `f` (None: this type is not traced).
    #[doc(hidden)]
    #[cfg(feature = "ir")]
    fn trace<F: VectorFunction<Self>>(f: &F) -> Option<Result<crate::ir::Program, Error>>;
    /// Runs a compiled Jacobian (an error for types other than `f64`).
    #[doc(hidden)]
    #[cfg(feature = "ir")]
    fn run_compiled(
        jac: &crate::ir::SparseJacobian,
        x: &[Self],
        values: &mut [Self],
    ) -> Result<(), Error>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The evaluations of [`PlanReal`], the same for every real type `$t` (a
/// generic default cannot name the dual type's number bounds).
macro_rules! plan_real_evaluations {
    ($t:ty) => {
        fn eval_dual<F: VectorFunction<$t>>(
            f: &F,
            x: &[Dual<$t, DUAL_LANES>],
            y: &mut [Dual<$t, DUAL_LANES>],
        ) {
            f.eval(x, y);
        }
        fn eval_real<F: VectorFunction<$t>>(f: &F, x: &[$t], y: &mut [$t]) {
            f.eval(x, y);
        }
    };
}

impl PlanReal for f64 {
    plan_real_evaluations!(f64);
    #[cfg(feature = "ir")]
    fn trace<F: VectorFunction<f64>>(f: &F) -> Option<Result<crate::ir::Program, Error>> {
        Some(crate::ir::trace(f.n_inputs(), f.n_outputs(), |x, y| {
            f.eval(x, y)
        }))
    }
    #[cfg(feature = "ir")]
    fn run_compiled(
        jac: &crate::ir::SparseJacobian,
        x: &[f64],
        values: &mut [f64],
    ) -> Result<(), Error> {
        jac.run(x, &[], values)
    }
}

impl PlanReal for f32 {
    plan_real_evaluations!(f32);
    #[cfg(feature = "ir")]
    fn trace<F: VectorFunction<f32>>(_: &F) -> Option<Result<crate::ir::Program, Error>> {
        None
    }
    #[cfg(feature = "ir")]
    fn run_compiled(_: &crate::ir::SparseJacobian, _: &[f32], _: &mut [f32]) -> Result<(), Error> {
        Err(Error::invalid(
            "the compiled engine computes in f64, not f32",
        ))
    }
}

/// The per-engine prepared state.
enum Kernel<T> {
    Dual {
        /// Per chunk of colors: `(nonzero, row, lane)` of each nonzero.
        entries: Vec<Vec<(u32, u32, u8)>>,
        /// Per chunk: `(column, lane)` of each seeded column.
        seeds: Vec<Vec<(u32, u8)>>,
        xs: Vec<Dual<T, DUAL_LANES>>,
        ys: Vec<Dual<T, DUAL_LANES>>,
    },
    FiniteDiff {
        scheme: Scheme,
        /// Per color: the columns.
        classes: Vec<Vec<u32>>,
        /// Per color: `(nonzero, row, column)`.
        entries: Vec<Vec<(u32, u32, u32)>>,
        /// Distinct nonzero stencil offsets (in units of h).
        offsets: Vec<f64>,
        /// `(a, b, w)` of the stencil as indices into `offsets` (`None`: x itself).
        pairs: Vec<(Option<usize>, Option<usize>, T)>,
        steps: Vec<T>,
        point: Vec<T>,
        fx: Vec<T>,
        fs: Vec<Vec<T>>,
    },
    #[cfg(feature = "ir")]
    Compiled(Box<crate::ir::SparseJacobian>),
}

/// A sparse Jacobian of a [`VectorFunction`], prepared once and computed at
/// any number of points.
///
/// Built from the function and its pattern (given, or detected by tracing
/// the function: a pattern valid for every `x`). The dual and
/// finite-difference engines color the columns once, check the coloring
/// once and cache where each nonzero sits in the compressed products;
/// [`compute_into`](Self::compute_into) then only evaluates and copies,
/// into buffers made when the plan was built.
///
/// A given pattern must hold every nonzero the function can produce: a
/// missing one is an error with [`Engine::Compiled`], but the colored
/// engines cannot see it (the entries of its column leak into others).
///
/// ```
/// use anydiff::dual::{DualNum, VectorFunction};
/// use anydiff::sparse::{Engine, SparseJacobianPlan};
///
/// /// y_i = x_{i-1} - 2 x_i + x_{i+1} + x_i^3 (tridiagonal Jacobian)
/// struct Reaction(usize);
///
/// impl VectorFunction<f64> for Reaction {
///     fn n_inputs(&self) -> usize {
///         self.0
///     }
///     fn n_outputs(&self) -> usize {
///         self.0
///     }
///     fn eval<D: DualNum<f64> + Copy>(&self, x: &[D], y: &mut [D]) {
///         let n = self.0;
///         for i in 0..n {
///             let mut s = x[i].powi(3) - x[i] * 2.0;
///             if i > 0 {
///                 s += x[i - 1];
///             }
///             if i + 1 < n {
///                 s += x[i + 1];
///             }
///             y[i] = s;
///         }
///     }
/// }
///
/// let x: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
/// let mut values = Vec::new();
/// for engine in [Engine::Auto, Engine::Dual] {
///     let mut plan = SparseJacobianPlan::new(Reaction(100), None, engine).unwrap();
///     assert_eq!(plan.pattern().nnz(), 298); // detected by tracing
///     values = vec![0.0; plan.pattern().nnz()];
///     plan.compute_into(&x, &mut values).unwrap();
///     let p = plan.pattern();
///     assert_eq!(values[p.position(10, 10).unwrap()], 3.0 * 0.01 - 2.0);
///     assert_eq!(values[p.position(10, 11).unwrap()], 1.0);
/// }
/// ```
pub struct SparseJacobianPlan<T, F> {
    f: F,
    pattern: Pattern,
    coloring: Option<Coloring>,
    engine: Engine,
    kernel: Kernel<T>,
}

impl<T: PlanReal, F: VectorFunction<T>> SparseJacobianPlan<T, F> {
    /// Prepares the Jacobian of `f` with `pattern` (`None`: detected by
    /// tracing `f`, which needs the `ir` feature and `T = f64`) and
    /// `engine`.
    pub fn new(f: F, pattern: Option<Pattern>, engine: Engine) -> Result<Self, Error> {
        let (n, m) = (f.n_inputs(), f.n_outputs());
        if let Some(p) = &pattern {
            if (p.nrows(), p.ncols()) != (m, n) {
                return Err(Error::shape(
                    "pattern",
                    format!("({m}, {n}) (outputs, inputs of the function)"),
                    format!("({}, {})", p.nrows(), p.ncols()),
                ));
            }
        }
        Self::prepare(f, pattern, engine)
    }

    #[cfg(feature = "ir")]
    fn prepare(f: F, pattern: Option<Pattern>, engine: Engine) -> Result<Self, Error> {
        let traced = match engine {
            Engine::Auto | Engine::Compiled => T::trace(&f),
            Engine::Dual | Engine::FiniteDiff(_) if pattern.is_none() => T::trace(&f),
            _ => None,
        };
        match (engine, traced) {
            (Engine::Auto | Engine::Compiled, Some(Ok(prog))) => {
                let pattern = pattern.unwrap_or_else(|| prog.jacobian_sparsity());
                let jac = crate::ir::SparseJacobian::new(std::sync::Arc::new(prog), &pattern)?;
                Ok(SparseJacobianPlan {
                    f,
                    pattern,
                    coloring: None,
                    engine: Engine::Compiled,
                    kernel: Kernel::Compiled(Box::new(jac)),
                })
            }
            (Engine::Compiled, Some(Err(e))) => Err(e),
            (Engine::Compiled, None) => Err(Error::invalid(
                "the compiled engine computes in f64: use Engine::Dual for f32",
            )),
            (_, traced) => {
                let pattern = match (pattern, traced) {
                    (Some(p), _) => p,
                    (None, Some(Ok(prog))) => prog.jacobian_sparsity(),
                    (None, Some(Err(e))) => {
                        return Err(Error::invalid(format!(
                            "no pattern was given and it cannot be detected: {e}"
                        )))
                    }
                    (None, None) => {
                        return Err(Error::invalid(
                            "no pattern was given; detection by tracing needs f64",
                        ))
                    }
                };
                let engine = match engine {
                    Engine::Auto => Engine::Dual,
                    e => e,
                };
                Self::colored(f, pattern, engine)
            }
        }
    }

    #[cfg(not(feature = "ir"))]
    fn prepare(f: F, pattern: Option<Pattern>, engine: Engine) -> Result<Self, Error> {
        let Some(pattern) = pattern else {
            return Err(Error::invalid(
                "no pattern was given; detecting it needs the 'ir' feature",
            ));
        };
        let engine = match engine {
            Engine::Auto => Engine::Dual,
            Engine::Compiled => {
                return Err(Error::invalid("the compiled engine needs the 'ir' feature"))
            }
            e => e,
        };
        Self::colored(f, pattern, engine)
    }

    /// A plan for the dual or finite-difference engine.
    fn colored(f: F, pattern: Pattern, engine: Engine) -> Result<Self, Error> {
        let (n, m, nnz) = (pattern.ncols(), pattern.nrows(), pattern.nnz());
        if n > u32::MAX as usize || m > u32::MAX as usize || nnz > u32::MAX as usize {
            return Err(Error::invalid(format!(
                "a pattern of shape ({m}, {n}) with {nnz} nonzeros exceeds 2^32 - 1"
            )));
        }
        // the fewest colors of every strong greedy order (each color costs an evaluation)
        let stop = StopFlag::current().unwrap_or_default();
        let coloring = color_columns_best(&pattern, &[], &ImproveOptions::none(), &stop)?;
        if !is_valid(&pattern, &coloring) {
            return Err(Error::invalid("the column coloring is not valid"));
        }
        let nc = coloring.ncolors;
        let colors = &coloring.colors;
        let kernel = match engine {
            Engine::FiniteDiff(scheme) => {
                let mut classes = vec![Vec::new(); nc];
                for (j, &c) in colors.iter().enumerate() {
                    classes[c].push(j as u32);
                }
                let mut entries = vec![Vec::new(); nc];
                for i in 0..m {
                    for (k, &j) in pattern.row(i).iter().enumerate() {
                        let pos = pattern.row_ptr()[i] + k;
                        entries[colors[j]].push((pos as u32, i as u32, j as u32));
                    }
                }
                let mut offsets: Vec<f64> = Vec::new();
                let mut index = |o: f64| -> Option<usize> {
                    if o == 0.0 {
                        return None;
                    }
                    Some(match offsets.iter().position(|&p| p == o) {
                        Some(i) => i,
                        None => {
                            offsets.push(o);
                            offsets.len() - 1
                        }
                    })
                };
                let pairs: Vec<_> = scheme
                    .pairs()
                    .iter()
                    .map(|&(a, b, w)| (index(a), index(b), crate::scalar::cast::<T>(w)))
                    .collect();
                let fs = vec![vec![T::zero(); m]; offsets.len()];
                Kernel::FiniteDiff {
                    scheme,
                    classes,
                    entries,
                    offsets,
                    pairs,
                    steps: vec![T::zero(); n],
                    point: vec![T::zero(); n],
                    fx: vec![T::zero(); m],
                    fs,
                }
            }
            _ => {
                let chunks = nc.div_ceil(DUAL_LANES);
                let mut entries = vec![Vec::new(); chunks];
                for i in 0..m {
                    for (k, &j) in pattern.row(i).iter().enumerate() {
                        let pos = pattern.row_ptr()[i] + k;
                        let c = colors[j];
                        entries[c / DUAL_LANES].push((
                            pos as u32,
                            i as u32,
                            (c % DUAL_LANES) as u8,
                        ));
                    }
                }
                let mut seeds = vec![Vec::new(); chunks];
                for (j, &c) in colors.iter().enumerate() {
                    seeds[c / DUAL_LANES].push((j as u32, (c % DUAL_LANES) as u8));
                }
                Kernel::Dual {
                    entries,
                    seeds,
                    xs: vec![Dual::constant(T::zero()); n],
                    ys: vec![Dual::constant(T::zero()); m],
                }
            }
        };
        Ok(SparseJacobianPlan {
            f,
            pattern,
            coloring: Some(coloring),
            engine,
            kernel,
        })
    }

    /// Writes the Jacobian's nonzeros at `x` (length `n`) into `values`
    /// (length `nnz`, in the order of the pattern's CSR arrays). Allocates
    /// nothing.
    pub fn compute_into(&mut self, x: &[T], values: &mut [T]) -> Result<(), Error> {
        let (n, nnz) = (self.pattern.ncols(), self.pattern.nnz());
        if x.len() != n {
            return Err(Error::shape(
                "x",
                format!("({n},)"),
                format!("({},)", x.len()),
            ));
        }
        if values.len() != nnz {
            return Err(Error::shape(
                "values",
                format!("({nnz},) (nnz)"),
                format!("({},)", values.len()),
            ));
        }
        match &mut self.kernel {
            Kernel::Dual {
                entries,
                seeds,
                xs,
                ys,
            } => {
                for (chunk, seeded) in entries.iter().zip(seeds.iter()) {
                    for (d, &v) in xs.iter_mut().zip(x) {
                        *d = Dual::constant(v);
                    }
                    for &(j, lane) in seeded {
                        xs[j as usize].eps[lane as usize] = T::one();
                    }
                    ys.fill(Dual::constant(T::zero()));
                    T::eval_dual(&self.f, xs, ys);
                    for &(k, row, lane) in chunk {
                        values[k as usize] = ys[row as usize].eps[lane as usize];
                    }
                }
                Ok(())
            }
            Kernel::FiniteDiff {
                scheme,
                classes,
                entries,
                offsets,
                pairs,
                steps,
                point,
                fx,
                fs,
            } => {
                let rel = scheme.default_relative_step::<T>();
                for ((h, &xj), p) in steps.iter_mut().zip(x).zip(point.iter_mut()) {
                    let nominal = rel * T::one().max(xj.abs());
                    // a step that is exact in floating point
                    let exact = (xj + nominal) - xj;
                    *h = if exact > T::zero() { exact } else { nominal };
                    *p = xj;
                }
                if pairs.iter().any(|(a, b, _)| a.is_none() || b.is_none()) {
                    T::eval_real(&self.f, x, fx);
                }
                for (class, chunk) in classes.iter().zip(entries.iter()) {
                    for (o, f_o) in offsets.iter().zip(fs.iter_mut()) {
                        let o = crate::scalar::cast::<T>(*o);
                        for &j in class {
                            let j = j as usize;
                            point[j] = x[j] + o * steps[j];
                        }
                        T::eval_real(&self.f, point, f_o);
                    }
                    for &j in class {
                        point[j as usize] = x[j as usize];
                    }
                    for &(k, row, col) in chunk {
                        let r = row as usize;
                        let at = |o: Option<usize>| match o {
                            Some(i) => fs[i][r],
                            None => fx[r],
                        };
                        let mut d = T::zero();
                        for &(a, b, w) in pairs.iter() {
                            d += w * (at(a) - at(b));
                        }
                        values[k as usize] = d / steps[col as usize];
                    }
                }
                Ok(())
            }
            #[cfg(feature = "ir")]
            Kernel::Compiled(jac) => T::run_compiled(jac, x, values),
        }
    }

    /// The Jacobian's nonzeros at `x`, in a new vector (CSR order).
    pub fn compute(&mut self, x: &[T]) -> Result<Vec<T>, Error> {
        let mut values = vec![T::zero(); self.pattern.nnz()];
        self.compute_into(x, &mut values)?;
        Ok(values)
    }

    /// The pattern (given or detected); `values` follow its CSR order.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// The column coloring of the dual and finite-difference engines
    /// (`None` for the compiled engine, which needs none).
    pub fn coloring(&self) -> Option<&Coloring> {
        self.coloring.as_ref()
    }

    /// The engine in use ([`Engine::Auto`] resolved).
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The function.
    pub fn function(&self) -> &F {
        &self.f
    }
}
