//! Compiled kernels (`anydiff-jit`, feature `jit`) behind `_core.Program`:
//! `eval` and `jacobian` at many float64 points run one machine-code loop per
//! program instead of the interpreter. Kernels compile on first use and are
//! kept with the program; a program the compiler declines stays interpreted.

use std::sync::OnceLock;

use anydiff::ir::Program;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Fewest points for which `engine="auto"` compiles (below, compiling costs
/// more than it saves).
const MIN_POINTS: usize = 16;

/// Whether this build has the compiler (`engine="auto"` never compiles without).
const HAS_COMPILER: bool = cfg!(feature = "jit");

/// Which engine a call asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    /// Compiled where the program, the dtype and the batch allow, else interpreted.
    Auto,
    /// Compiled, or an error saying why not.
    Compiled,
    /// Always the interpreter.
    Interpreter,
}

impl Engine {
    pub(crate) fn parse(s: &str) -> PyResult<Engine> {
        match s {
            "auto" => Ok(Engine::Auto),
            "compiled" => Ok(Engine::Compiled),
            "interpreter" => Ok(Engine::Interpreter),
            other => Err(PyValueError::new_err(format!(
                "engine must be 'auto', 'compiled' or 'interpreter'; got {other:?}"
            ))),
        }
    }
}

/// What a kernel computes.
#[derive(Clone, Copy)]
pub(crate) enum Want {
    Values = 0,
    Jacobian = 1,
    ValuesAndJacobian = 2,
}

#[cfg(feature = "jit")]
pub(crate) use anydiff_jit::Kernel;

/// Stand-in without the `jit` feature: never built, so never run.
#[cfg(not(feature = "jit"))]
pub(crate) enum Kernel {}

#[cfg(not(feature = "jit"))]
impl Kernel {
    pub(crate) fn run(
        &self,
        _: usize,
        _: &[f64],
        _: &[f64],
        _: &mut [f64],
        _: &mut [f64],
    ) -> Result<(), std::convert::Infallible> {
        match *self {}
    }
}

/// A program's kernels, one per [`Want`], compiled on first use
/// (`None`: the compiler declined, with its reason).
#[derive(Default)]
pub(crate) struct Compiled {
    kernels: [OnceLock<Result<Kernel, String>>; 3],
}

/// Whether `ANYDIFF_JIT=0` turned compiled kernels off for `engine="auto"`.
fn disabled() -> bool {
    static OFF: OnceLock<bool> = OnceLock::new();
    *OFF.get_or_init(|| std::env::var("ANYDIFF_JIT").is_ok_and(|v| v == "0"))
}

impl Compiled {
    /// Whether `engine` may use a kernel at `np` points at all: a cheap test
    /// made before the points are converted, so that the calls the
    /// interpreter serves (one point, say) convert them once.
    pub(crate) fn may_compile(engine: Engine, np: usize) -> bool {
        match engine {
            Engine::Interpreter => false,
            Engine::Auto => HAS_COMPILER && !disabled() && np >= MIN_POINTS,
            Engine::Compiled => true,
        }
    }

    /// The kernel for `want` where `engine` allows one at `np` float64 points
    /// (`f64`: whether the points are float64); `Engine::Compiled` raises
    /// instead of falling back.
    pub(crate) fn get(
        &self,
        py: Python<'_>,
        prog: &Program,
        (engine, want): (Engine, Want),
        (np, f64): (usize, bool),
    ) -> PyResult<Option<&Kernel>> {
        let forced = match engine {
            Engine::Interpreter => return Ok(None),
            Engine::Auto if !HAS_COMPILER || disabled() || !f64 || np < MIN_POINTS => {
                return Ok(None)
            }
            Engine::Auto => false,
            Engine::Compiled if !f64 => {
                return Err(PyValueError::new_err(
                    "engine='compiled' runs float64 points only; got float32",
                ))
            }
            Engine::Compiled => true,
        };
        // The GIL is released around the whole `get_or_init`, not only inside
        // the initializer: a thread waiting for another's compile must not hold
        // it, or the compiling thread (which needs it to return) never can.
        let cell = &self.kernels[want as usize];
        let kernel = match cell.get() {
            Some(k) => k,
            None => py.detach(|| cell.get_or_init(|| compile(prog, want))),
        };
        match kernel {
            Ok(k) => Ok(Some(k)),
            Err(why) if forced => Err(PyValueError::new_err(format!("engine='compiled': {why}"))),
            Err(_) => Ok(None),
        }
    }
}

#[cfg(feature = "jit")]
fn compile(prog: &Program, want: Want) -> Result<Kernel, String> {
    use anydiff_jit::Mode;
    let mode = match want {
        Want::Values => Mode::Values,
        Want::Jacobian => Mode::Jacobian,
        Want::ValuesAndJacobian => Mode::ValuesAndJacobian,
    };
    Kernel::compile(prog, mode).map_err(|e| e.to_string())
}

#[cfg(not(feature = "jit"))]
fn compile(_: &Program, _: Want) -> Result<Kernel, String> {
    Err("this build of anydiff has no compiler (feature 'jit')".into())
}
