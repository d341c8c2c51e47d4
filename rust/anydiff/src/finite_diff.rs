//! Finite differences computed from batched primal evaluations.
//!
//! Every stencil point of every requested product is evaluated in a single
//! [`Primal::eval`] call, so a vectorised or compiled primal sees one batch.

use std::fmt;
use std::str::FromStr;

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Zip};
use num_traits::Float;

use crate::assemble::{BatchPolicy, Jvp, Primal};
use crate::error::{shape2, Error};
use crate::memory::try_zeros;
use crate::scalar::{cast, Scalar};
use crate::stop::StopFlag;

const FORWARD: &[(f64, f64)] = &[(0.0, -1.0), (1.0, 1.0)];
const CENTRAL: &[(f64, f64)] = &[(-1.0, -0.5), (1.0, 0.5)];
const CENTRAL5: &[(f64, f64)] = &[
    (-2.0, 1.0 / 12.0),
    (-1.0, -2.0 / 3.0),
    (1.0, 2.0 / 3.0),
    (2.0, -1.0 / 12.0),
];

/// Finite-difference stencil.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Scheme {
    /// One-sided `(f(x + h) - f(x)) / h`, order 1.
    Forward,
    /// `(f(x + h) - f(x - h)) / 2h`, order 2.
    #[default]
    Central,
    /// Five-point central stencil, order 4.
    Central5,
}

impl Scheme {
    /// Order of accuracy (1, 2 or 4).
    pub fn order(&self) -> usize {
        match self {
            Scheme::Forward => 1,
            Scheme::Central => 2,
            Scheme::Central5 => 4,
        }
    }

    /// Stencil as `(offset in units of h, weight)` pairs with non-zero
    /// weight; the derivative is `sum(weight * f(x + offset * h)) / h`.
    pub fn offsets(&self) -> &'static [(f64, f64)] {
        match self {
            Scheme::Forward => FORWARD,
            Scheme::Central => CENTRAL,
            Scheme::Central5 => CENTRAL5,
        }
    }

    /// The stencil as weighted differences `(a, b, w)`: the derivative is
    /// `sum(w * (f(x + a h) - f(x + b h))) / h`. Differences of equal values are
    /// exactly zero, which keeps structural zeros exact.
    pub fn pairs(&self) -> &'static [(f64, f64, f64)] {
        match self {
            Scheme::Forward => &[(1.0, 0.0, 1.0)],
            Scheme::Central => &[(1.0, -1.0, 0.5)],
            Scheme::Central5 => &[(1.0, -1.0, 2.0 / 3.0), (2.0, -2.0, -1.0 / 12.0)],
        }
    }

    /// Default relative step: `eps^(1/2)` (forward), `eps^(1/3)` (central),
    /// `eps^(1/5)` (central5), with `eps` the machine epsilon of `T`.
    pub fn default_relative_step<T: Float>(&self) -> T {
        let eps = T::epsilon();
        match self {
            Scheme::Forward => eps.sqrt(),
            Scheme::Central => eps.cbrt(),
            Scheme::Central5 => {
                eps.powf(T::one() / (T::one() + T::one() + T::one() + T::one() + T::one()))
            }
        }
    }

    /// The lowercase name (`"forward"`, `"central"` or `"central5"`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Scheme::Forward => "forward",
            Scheme::Central => "central",
            Scheme::Central5 => "central5",
        }
    }

    /// Number of stencil points away from `x` per product.
    fn moving_points(&self) -> usize {
        self.offsets().iter().filter(|(c, _)| *c != 0.0).count()
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scheme {
    type Err = Error;

    /// Parses `"forward"`, `"central"` or `"central5"` (ASCII case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "forward" => Ok(Scheme::Forward),
            "central" => Ok(Scheme::Central),
            "central5" => Ok(Scheme::Central5),
            _ => Err(Error::invalid(format!(
                "unknown finite-difference scheme {s:?}: expected one of \"forward\", \"central\", \"central5\""
            ))),
        }
    }
}

/// Finite-difference settings: a stencil and an optional relative step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FiniteDiff<T> {
    /// The stencil.
    pub scheme: Scheme,
    /// Relative step override (default: [`Scheme::default_relative_step`]);
    /// it must lie in `[eps, 1]` (`eps` the machine epsilon of `T`), or every
    /// routine returns [`Error::InvalidArgument`]: below `eps` the displaced
    /// points round back onto `x`, above 1 the displacement is larger than
    /// the point.
    pub step: Option<T>,
}

impl<T: Scalar> FiniteDiff<T> {
    /// Settings for `scheme` with the default step.
    pub fn new(scheme: Scheme) -> Self {
        FiniteDiff { scheme, step: None }
    }

    /// The relative step in use (the override or the scheme's default).
    pub fn relative_step(&self) -> T {
        self.step
            .unwrap_or_else(|| self.scheme.default_relative_step())
    }

    /// JVPs by finite differences: `out[i, :] ≈ J(x) @ tangents[i, :]`.
    ///
    /// `fx` is `f(x)` if known; it is used only by [`Scheme::Forward`], which
    /// otherwise evaluates `f(x)` in the same batch. Steps are per
    /// coordinate, as in [`FiniteDiff::jvp_basis`]: for tangent `v` the step is
    /// `h = rel * min_j max(1, |x_j|) / |v_j|` over the coordinates `v` moves,
    /// so no coordinate moves by more than `rel * max(1, |x_j|)` (a unit
    /// tangent `e_j` gets exactly the basis step, and a large or infinite
    /// coordinate elsewhere in `x` does not change it). Zero tangent rows
    /// give zero output rows without evaluation. All stencil points of all
    /// tangents go to one [`Primal::eval`] call (none when nothing needs
    /// evaluating).
    ///
    /// ```
    /// use anydiff::{oracle_fn, FiniteDiff, Scheme};
    /// use ndarray::{array, Array2};
    /// // f(x) = [exp(x0) + x1]
    /// let mut f = oracle_fn(|p: ndarray::ArrayView2<f64>, mut out: ndarray::ArrayViewMut2<f64>| {
    ///     for (x, mut o) in p.rows().into_iter().zip(out.rows_mut()) {
    ///         o[0] = x[0].exp() + x[1];
    ///     }
    ///     Ok::<(), std::convert::Infallible>(())
    /// });
    /// let x = array![0.5, 2.0];
    /// let mut out = Array2::zeros((1, 1));
    /// let fd = FiniteDiff::new(Scheme::Central);
    /// fd.jvp(&mut f, x.view(), None, array![[1.0, 3.0]].view(), out.view_mut()).unwrap();
    /// assert!((out[[0, 0]] - (0.5f64.exp() + 3.0)).abs() < 1e-9);
    /// ```
    pub fn jvp<P: Primal<T>>(
        &self,
        primal: &mut P,
        x: ArrayView1<'_, T>,
        fx: Option<ArrayView1<'_, T>>,
        tangents: ArrayView2<'_, T>,
        out: ArrayViewMut2<'_, T>,
    ) -> Result<(), Error<P::Error>> {
        self.jvp_cached(primal, x, fx, tangents, out).map(|_| ())
    }

    /// Basis JVPs: columns `start .. start + k` of `J(x)` written as the rows
    /// of `out` (`k x m`), with the per-coordinate step
    /// `h_j = rel * max(1, |x_j|)`. Same one-batch rule as [`FiniteDiff::jvp`].
    ///
    /// ```
    /// use anydiff::{oracle_fn, FiniteDiff, Scheme};
    /// use ndarray::{array, Array2};
    /// // f(x) = [x0 * x1, sin(x1)]
    /// let mut f = oracle_fn(|p: ndarray::ArrayView2<f64>, mut out: ndarray::ArrayViewMut2<f64>| {
    ///     for (x, mut o) in p.rows().into_iter().zip(out.rows_mut()) {
    ///         o[0] = x[0] * x[1];
    ///         o[1] = x[1].sin();
    ///     }
    ///     Ok::<(), std::convert::Infallible>(())
    /// });
    /// let x = array![3.0, 0.25];
    /// let mut col1 = Array2::zeros((1, 2)); // d f / d x1
    /// FiniteDiff::new(Scheme::Central5).jvp_basis(&mut f, x.view(), None, 1, col1.view_mut()).unwrap();
    /// assert!((col1[[0, 0]] - 3.0).abs() < 1e-10);
    /// assert!((col1[[0, 1]] - 0.25f64.cos()).abs() < 1e-10);
    /// ```
    pub fn jvp_basis<P: Primal<T>>(
        &self,
        primal: &mut P,
        x: ArrayView1<'_, T>,
        fx: Option<ArrayView1<'_, T>>,
        start: usize,
        out: ArrayViewMut2<'_, T>,
    ) -> Result<(), Error<P::Error>> {
        self.jvp_basis_cached(primal, x, fx, start, out).map(|_| ())
    }

    /// The dense `m x n` Jacobian at `x` (`n = x.len()`), column blocks sized
    /// by `policy` (accounting for all stencil points). `f(x)` is evaluated at
    /// most once (only for [`Scheme::Forward`] when `fx` is `None`). The
    /// thread's current [`StopFlag`] is checked before each block; a
    /// Jacobian that cannot be allocated is [`Error::OutOfMemory`].
    ///
    /// ```
    /// use anydiff::{oracle_fn, BatchPolicy, FiniteDiff, Scheme};
    /// use ndarray::array;
    /// // f(x) = [x0^2, x0 * x1, exp(x1)]
    /// let mut f = oracle_fn(|p: ndarray::ArrayView2<f64>, mut out: ndarray::ArrayViewMut2<f64>| {
    ///     for (x, mut o) in p.rows().into_iter().zip(out.rows_mut()) {
    ///         o[0] = x[0] * x[0];
    ///         o[1] = x[0] * x[1];
    ///         o[2] = x[1].exp();
    ///     }
    ///     Ok::<(), std::convert::Infallible>(())
    /// });
    /// let x = array![1.5, -0.5];
    /// let fd = FiniteDiff::new(Scheme::Central);
    /// let j = fd.jacobian(&mut f, x.view(), None, 3, &BatchPolicy::default()).unwrap();
    /// let exact = array![[3.0, 0.0], [-0.5, 1.5], [0.0, (-0.5f64).exp()]];
    /// assert!((&j - &exact).iter().all(|d| d.abs() < 1e-9));
    /// ```
    pub fn jacobian<P: Primal<T>>(
        &self,
        primal: &mut P,
        x: ArrayView1<'_, T>,
        fx: Option<ArrayView1<'_, T>>,
        m: usize,
        policy: &BatchPolicy,
    ) -> Result<Array2<T>, Error<P::Error>> {
        let n = x.len();
        if let Some(fx) = fx {
            if fx.len() != m {
                return Err(Error::shape(
                    "f(x)",
                    format!("length {m}"),
                    format!("length {}", fx.len()),
                ));
            }
        }
        let mut out = try_zeros("the Jacobian", (m, n))?;
        if m == 0 || n == 0 {
            return Ok(out);
        }
        let points = self.scheme.moving_points();
        let blocks = policy.blocks(
            n,
            n.saturating_mul(points),
            m.saturating_mul(points),
            std::mem::size_of::<T>(),
        );
        let mut oracle = FdJvp::new(*self, primal, x, fx);
        for block in blocks {
            StopFlag::check_current()?;
            let start = block.start;
            let cols = out.slice_mut(s![.., block]).reversed_axes();
            oracle.jvp_basis(n, start, cols)?;
        }
        Ok(out)
    }

    /// [`FiniteDiff::jvp`] returning `f(x)` when it was evaluated.
    fn jvp_cached<P: Primal<T>>(
        &self,
        primal: &mut P,
        x: ArrayView1<'_, T>,
        fx: Option<ArrayView1<'_, T>>,
        tangents: ArrayView2<'_, T>,
        out: ArrayViewMut2<'_, T>,
    ) -> Result<Option<Array1<T>>, Error<P::Error>> {
        let n = x.len();
        if tangents.ncols() != n {
            return Err(Error::shape(
                "tangents",
                format!("{} columns (the length of x)", n),
                format!("shape {}", shape2(tangents.nrows(), tangents.ncols())),
            ));
        }
        if out.nrows() != tangents.nrows() {
            return Err(Error::shape(
                "JVP output",
                format!("{} rows (one per tangent)", tangents.nrows()),
                format!("shape {}", shape2(out.nrows(), out.ncols())),
            ));
        }
        let rel = self.checked_step()?;
        let mut active = Vec::with_capacity(tangents.nrows());
        for (i, v) in tangents.rows().into_iter().enumerate() {
            // dominant coordinate of the tangent, and the step that moves no
            // coordinate by more than its own scale rel * max(1, |x_j|)
            let mut dom: Option<(usize, T)> = None;
            let mut h_nominal = T::infinity();
            for ((j, &vj), &xj) in v.iter().enumerate().zip(x.iter()) {
                if vj == T::zero() {
                    continue;
                }
                if dom.map_or(true, |(_, best)| vj.abs() > best.abs()) {
                    dom = Some((j, vj));
                }
                h_nominal = h_nominal.min(rel * T::one().max(xj.abs()) / vj.abs());
            }
            let Some((j, vj)) = dom else { continue };
            // exact-step trick on the dominant coordinate
            let h = match x.get(j) {
                Some(&xj) => {
                    let d = ((xj + h_nominal * vj) - xj) / vj;
                    if d.is_finite() && d > T::zero() {
                        d
                    } else {
                        h_nominal
                    }
                }
                None => h_nominal,
            };
            active.push((i, h));
        }
        self.run_stencil(primal, x, fx, out, &active, |i, ch, mut point| {
            Zip::from(&mut point)
                .and(tangents.row(i))
                .for_each(|p, &v| *p = *p + ch * v);
        })
    }

    /// [`FiniteDiff::jvp_basis`] returning `f(x)` when it was evaluated.
    fn jvp_basis_cached<P: Primal<T>>(
        &self,
        primal: &mut P,
        x: ArrayView1<'_, T>,
        fx: Option<ArrayView1<'_, T>>,
        start: usize,
        out: ArrayViewMut2<'_, T>,
    ) -> Result<Option<Array1<T>>, Error<P::Error>> {
        let n = x.len();
        let k = out.nrows();
        if start.checked_add(k).map_or(true, |stop| stop > n) {
            return Err(Error::shape(
                "basis block",
                format!("start + rows <= n = {n}"),
                format!("start = {start}, rows = {k}"),
            ));
        }
        let rel = self.checked_step()?;
        let active: Vec<(usize, T)> = (0..k)
            .map(|i| {
                let xj = x[start + i];
                let h_nominal = rel * T::one().max(xj.abs());
                let h = (xj + h_nominal) - xj;
                let h = if h.is_finite() && h > T::zero() {
                    h
                } else {
                    h_nominal
                };
                (i, h)
            })
            .collect();
        self.run_stencil(primal, x, fx, out, &active, |i, ch, mut point| {
            if let Some(p) = point.get_mut(start + i) {
                *p = *p + ch;
            }
        })
    }

    /// The relative step, validated to lie in `[eps, 1]`.
    fn checked_step<E>(&self) -> Result<T, Error<E>> {
        let rel = self.relative_step();
        if rel >= T::epsilon() && rel <= T::one() {
            return Ok(rel);
        }
        let (got, eps) = (
            rel.to_f64().unwrap_or(f64::NAN),
            T::epsilon().to_f64().unwrap_or(0.0),
        );
        let bits = 8 * std::mem::size_of::<T>();
        Err(Error::invalid(format!(
            "finite-difference step must be a relative step in [eps, 1] = [{eps:e}, 1] for \
             float{bits} (below eps the displaced points round back onto x, above 1 the \
             displacement exceeds the point); got {got:e}"
        )))
    }

    /// Evaluates the stencil for the `active` output rows `(row, h)` in one
    /// batch and writes the differences; other rows of `out` are zeroed.
    /// `displace(row, c * h, point)` moves a copy of `x` along that row's
    /// direction. Returns `f(x)` when it had to be evaluated.
    fn run_stencil<P, D>(
        &self,
        primal: &mut P,
        x: ArrayView1<'_, T>,
        fx: Option<ArrayView1<'_, T>>,
        mut out: ArrayViewMut2<'_, T>,
        active: &[(usize, T)],
        mut displace: D,
    ) -> Result<Option<Array1<T>>, Error<P::Error>>
    where
        P: Primal<T>,
        D: FnMut(usize, T, ArrayViewMut1<'_, T>),
    {
        let m = out.ncols();
        if let Some(fx) = fx {
            if fx.len() != m {
                return Err(Error::shape(
                    "f(x)",
                    format!("length {m}"),
                    format!("length {}", fx.len()),
                ));
            }
        }
        out.fill(T::zero());
        if m == 0 || active.is_empty() {
            return Ok(None);
        }
        let offsets = self.scheme.offsets();
        let moving: Vec<(T, T)> = offsets
            .iter()
            .filter(|(c, _)| *c != 0.0)
            .map(|&(c, w)| (cast(c), cast(w)))
            .collect();
        let centre_weight: T = cast(
            offsets
                .iter()
                .filter(|(c, _)| *c == 0.0)
                .map(|(_, w)| w)
                .sum(),
        );
        let needs_fx = centre_weight != T::zero();
        let eval_fx = needs_fx && fx.is_none();
        let per = moving.len();
        let rows = active.len() * per + usize::from(eval_fx);

        let mut points: Array2<T> = try_zeros("the finite-difference points", (rows, x.len()))?;
        for mut p in points.rows_mut() {
            p.assign(&x);
        }
        for (a, &(i, h)) in active.iter().enumerate() {
            for (q, &(c, _)) in moving.iter().enumerate() {
                displace(i, c * h, points.row_mut(a * per + q));
            }
        }
        let mut values: Array2<T> =
            try_zeros("the values at the finite-difference points", (rows, m))?;
        primal
            .eval(points.view(), values.view_mut())
            .map_err(Error::Oracle)?;

        let evaluated = if eval_fx {
            Some(values.row(rows - 1).to_owned())
        } else {
            None
        };
        let centre = match (&evaluated, fx) {
            (Some(v), _) => Some(v.view()),
            (None, Some(v)) if needs_fx => Some(v),
            _ => None,
        };
        // Combine as weighted differences of pairs of evaluations, so that an output the
        // displacement does not touch gives exactly zero (a structural zero stays zero).
        for (a, &(i, h)) in active.iter().enumerate() {
            let mut row = out.row_mut(i);
            for &(plus, minus, w) in self.scheme.pairs() {
                let (plus, minus, w): (T, T, T) = (cast(plus), cast(minus), cast(w));
                let value_at = |c: T| match moving.iter().position(|&(o, _)| o == c) {
                    Some(q) => Some(values.row(a * per + q)),
                    None => centre,
                };
                if let (Some(hi), Some(lo)) = (value_at(plus), value_at(minus)) {
                    Zip::from(&mut row)
                        .and(hi)
                        .and(lo)
                        .for_each(|o, &u, &v| *o = *o + w * (u - v));
                }
            }
            row.mapv_inplace(|v| v / h);
        }
        Ok(evaluated)
    }
}

/// Adapts a [`Primal`] at a point `x` into a [`Jvp`] oracle by finite
/// differences, so [`crate::jacobian_forward_into`] works with it.
///
/// `jvp` uses [`FiniteDiff::jvp`], `jvp_basis` uses [`FiniteDiff::jvp_basis`];
/// `f(x)` is cached after its first evaluation. Its error type is
/// `Error<P::Error>`; use [`Error::flatten`] on assembly results.
pub struct FdJvp<'p, T, P> {
    fd: FiniteDiff<T>,
    primal: &'p mut P,
    x: Array1<T>,
    fx: Option<Array1<T>>,
}

impl<'p, T: Scalar, P: Primal<T>> FdJvp<'p, T, P> {
    /// Wraps `primal` at `x` (copied), with `f(x)` if known.
    pub fn new(
        fd: FiniteDiff<T>,
        primal: &'p mut P,
        x: ArrayView1<'_, T>,
        fx: Option<ArrayView1<'_, T>>,
    ) -> Self {
        FdJvp {
            fd,
            primal,
            x: x.to_owned(),
            fx: fx.map(|v| v.to_owned()),
        }
    }

    /// The point of linearisation.
    pub fn x(&self) -> ArrayView1<'_, T> {
        self.x.view()
    }

    /// `f(x)`, if given or already evaluated.
    pub fn fx(&self) -> Option<ArrayView1<'_, T>> {
        self.fx.as_ref().map(|v| v.view())
    }
}

impl<T: Scalar, P: Primal<T>> Jvp<T> for FdJvp<'_, T, P> {
    type Error = Error<P::Error>;

    fn jvp(
        &mut self,
        tangents: ArrayView2<'_, T>,
        out: ArrayViewMut2<'_, T>,
    ) -> Result<(), Self::Error> {
        let fx = self.fx.as_ref().map(|v| v.view());
        if let Some(v) = self
            .fd
            .jvp_cached(self.primal, self.x.view(), fx, tangents, out)?
        {
            self.fx = Some(v);
        }
        Ok(())
    }

    fn jvp_basis(
        &mut self,
        n: usize,
        start: usize,
        out: ArrayViewMut2<'_, T>,
    ) -> Result<(), Self::Error> {
        if n != self.x.len() {
            return Err(Error::shape(
                "input size",
                format!("n = {}", self.x.len()),
                format!("n = {n}"),
            ));
        }
        let fx = self.fx.as_ref().map(|v| v.view());
        if let Some(v) = self
            .fd
            .jvp_basis_cached(self.primal, self.x.view(), fx, start, out)?
        {
            self.fx = Some(v);
        }
        Ok(())
    }
}
