"""The benchmark problems (benches/README.md describes them), each written once per framework.

A problem builds its function for ``numpy``, ``jax`` (``jax.numpy``) or ``torch`` from
one body over an array namespace; constants (weights) are drawn once with numpy and
converted, so every framework computes the same function.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = [
    "BRUSSELATOR_CHECKS",
    "FRAMEWORKS",
    "PROBLEMS",
    "Problem",
    "brusselator_check_error",
    "brusselator_init",
    "brusselator_rhs",
    "get_problem",
    "namespace",
    "to_framework",
    "UserFunctionError",
    "detect_framework",
    "to_numpy",
    "user_problem",
]

FRAMEWORKS = ("numpy", "jax", "torch")
"""Array frameworks a problem can be written in."""

Function = Callable[[Any], Any]


def namespace(framework: str) -> Any:
    """The array module of ``framework``: ``numpy``, ``jax.numpy`` or ``torch``."""
    if framework == "numpy":
        return np
    if framework == "jax":
        return importlib.import_module("jax.numpy")
    if framework == "torch":
        return importlib.import_module("torch")
    raise ValueError(f"unknown framework {framework!r}; expected one of {FRAMEWORKS}")


def to_framework(a: np.ndarray, framework: str) -> Any:
    """A numpy array as an array of ``framework`` (same dtype, CPU)."""
    if framework == "numpy":
        return np.asarray(a)
    if framework == "jax":
        return namespace("jax").asarray(a)
    return namespace("torch").from_numpy(np.ascontiguousarray(a))


def to_numpy(a: Any) -> np.ndarray:
    """Any array (numpy, JAX, torch, scipy.sparse, JAX BCOO; or a tuple of one) as a dense
    numpy array."""
    if isinstance(a, (tuple, list)) and len(a) == 1:
        a = a[0]
    for dense in ("toarray", "todense"):  # scipy.sparse, JAX BCOO
        if hasattr(a, dense) and not isinstance(a, np.ndarray):
            return np.asarray(getattr(a, dense)())
    detach = getattr(a, "detach", None)
    if detach is not None:
        return detach().cpu().numpy()
    return np.asarray(a)


@dataclass(frozen=True)
class Problem:
    """A function of one array, the point it is differentiated at, and its operators.

    Attributes:
        name: short name (``--problem``).
        description: one line for reports.
        operators: what is computed (``jacobian``, ``gradient``, ``hessian``).
        x0: the point, float64 numpy.
        builder: framework -> the function written with that framework's arrays.
        frameworks: frameworks the function can be built for.
        traceable: the version DualBackend traces (with numpy points): ``numpy``, ``jax``
            (its jaxpr), or None for functions it cannot trace (torch code).
    """

    name: str
    description: str
    operators: tuple[str, ...]
    x0: np.ndarray
    builder: Callable[[str], Function] = field(repr=False)
    frameworks: tuple[str, ...] = FRAMEWORKS
    traceable: str | None = "numpy"

    def function(self, framework: str) -> Function:
        """The function written for ``framework``."""
        if framework not in self.frameworks:
            raise ValueError(f"problem {self.name!r} has no {framework} version")
        return self.builder(framework)

    def point(self, framework: str) -> Any:
        """``x0`` as an array of ``framework``."""
        return to_framework(self.x0, framework)

    @property
    def n(self) -> int:
        """Number of inputs."""
        return int(self.x0.size)


# --- MLP ----------------------------------------------------------------------------------


def _mlp(n: int = 256, m: int = 256, seed: int = 0) -> Problem:
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0.0, 1.0 / np.sqrt(n), (n, n))
    w2 = rng.normal(0.0, 1.0 / np.sqrt(n), (m, n))
    x0 = rng.normal(size=n)

    def build(framework: str) -> Function:
        xp = namespace(framework)
        a, b = to_framework(w1, framework), to_framework(w2, framework)

        def mlp(x: Any) -> Any:
            return b @ xp.tanh(a @ x) + xp.sin(x)

        return mlp

    return Problem("mlp", f"W2 tanh(W1 x) + sin(x), n = m = {n}", ("jacobian",), x0, build)


# --- Rosenbrock ---------------------------------------------------------------------------


def _rosenbrock(n: int = 1000, seed: int = 1) -> Problem:
    x0 = np.random.default_rng(seed).uniform(-1.0, 1.0, n)

    def build(framework: str) -> Function:
        def rosenbrock(x: Any) -> Any:
            head = x[:-1]
            return (100.0 * (x[1:] - head**2) ** 2 + (1.0 - head) ** 2).sum()

        return rosenbrock

    return Problem(
        "rosenbrock", f"extended Rosenbrock, n = {n}", ("hessian", "gradient"), x0, build
    )


# --- tiny ---------------------------------------------------------------------------------


def _tiny() -> Problem:
    def build(framework: str) -> Function:
        xp = namespace(framework)

        def tiny(x: Any) -> Any:
            return xp.sin(x[0]) * x[1] + x[1] ** 2

        return tiny

    return Problem(
        "tiny",
        "sin(x0) x1 + x1^2, 2 inputs (call overhead)",
        ("gradient",),
        np.array([0.3, 1.2]),
        build,
    )


# --- Brusselator --------------------------------------------------------------------------

BRUSSELATOR_CHECKS = {
    34: 802.9807693762164,
    1058: 985.3120721709204,
    2000: -403.5817880634729,
    2048: 1431.1460373522068,
}
"""Reference check values of ``du`` at t = 0 for N = 32 (1-based Julia indices)."""


def brusselator_init(n_grid: int) -> np.ndarray:
    """Initial state ``(u0, v0)`` flattened in Julia's column-major order (length 2 N^2)."""
    x = np.linspace(0.0, 1.0, n_grid)
    # Axis 0 of each N x N block is j (y), axis 1 is i (x): C order then gives i + N j.
    u0 = np.broadcast_to((22.0 * (x * (1.0 - x)) ** 1.5)[:, None], (n_grid, n_grid))
    v0 = np.broadcast_to((27.0 * (x * (1.0 - x)) ** 1.5)[None, :], (n_grid, n_grid))
    return np.concatenate([u0.ravel(), v0.ravel()])


@functools.lru_cache(maxsize=16)
def _forcing(n_grid: int, t: float) -> np.ndarray:
    x = np.linspace(0.0, 1.0, n_grid)
    inside = (x[None, :] - 0.3) ** 2 + (x[:, None] - 0.6) ** 2 <= 0.1**2
    return np.where(inside & (t >= 1.1), 5.0, 0.0)


def brusselator_rhs(u: Any, n_grid: int, t: float = 0.0, framework: str = "numpy") -> Any:
    """SciML's ``brusselator_2d_loop`` right-hand side on an N x N periodic grid.

    ``u`` is the flat state (length 2 N^2, index ``i + N j + N^2 k``); returns ``du`` in
    the same layout. ``framework`` names the array type of ``u``.
    """
    xp = namespace(framework)
    a_coef, b_coef, alpha = 3.4, 1.0, 10.0
    a = alpha * (n_grid - 1) ** 2  # alpha / dx^2 with dx = 1 / (N - 1)
    grid = u.reshape(2, n_grid, n_grid)
    uu, vv = grid[0], grid[1]

    def lap(w: Any) -> Any:
        return xp.roll(w, 1, 0) + xp.roll(w, -1, 0) + xp.roll(w, 1, 1) + xp.roll(w, -1, 1) - 4.0 * w

    u2v = uu * uu * vv
    forcing = to_framework(_forcing(n_grid, t), framework)
    du = a * lap(uu) + b_coef + u2v - (a_coef + 1.0) * uu + forcing
    dv = a * lap(vv) + a_coef * uu - u2v
    return xp.concatenate([du.reshape(-1), dv.reshape(-1)])


def brusselator_check_error(framework: str = "numpy") -> float:
    """Largest absolute deviation of ``brusselator_rhs`` (N = 32, t = 0) from the reference
    check values; about 1e-13 when the definition is right."""
    u = to_framework(brusselator_init(32), framework)
    du = to_numpy(brusselator_rhs(u, 32, 0.0, framework))
    return max(abs(float(du[k - 1]) - v) for k, v in BRUSSELATOR_CHECKS.items())


def _brusselator(n_grid: int = 8) -> Problem:
    def build(framework: str) -> Function:
        def brusselator(u: Any) -> Any:
            return brusselator_rhs(u, n_grid, 0.0, framework)

        return brusselator

    return Problem(
        "brusselator",
        f"2-D Brusselator RHS at t = 0, N = {n_grid} ({2 * n_grid**2} states)",
        ("jacobian",),
        brusselator_init(n_grid),
        build,
    )


PROBLEMS: dict[str, Problem] = {p.name: p for p in (_mlp(), _rosenbrock(), _tiny(), _brusselator())}
"""The built-in problems by name."""


def get_problem(name: str) -> Problem:
    """A built-in problem by name."""
    try:
        return PROBLEMS[name]
    except KeyError:
        raise ValueError(f"unknown problem {name!r}; choose from {sorted(PROBLEMS)}") from None


# --- user functions -----------------------------------------------------------------------


class UserFunctionError(ValueError):
    """A ``--fn`` function that cannot be loaded or evaluated; the message says why."""


def _load(spec: str) -> Function:
    """``module:function`` or ``path/to/file.py:function`` -> the function."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise UserFunctionError(
            f"--fn expects module:function or path/to/file.py:function; got {spec!r}"
        )
    if target.endswith(".py") or Path(target).is_file():
        path = Path(target).resolve()
        if not path.is_file():
            raise UserFunctionError(f"--fn {spec!r}: no file {path}")
        loader_spec = importlib.util.spec_from_file_location(path.stem, path)
        if loader_spec is None or loader_spec.loader is None:
            raise UserFunctionError(f"--fn {spec!r}: cannot import {path}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules.setdefault(path.stem, module)
        try:
            loader_spec.loader.exec_module(module)
        except Exception as err:
            raise UserFunctionError(
                f"--fn {spec!r}: importing {path} raised {type(err).__name__}: {err}"
            ) from None
    else:
        if "" not in sys.path:
            sys.path.insert(0, "")
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise UserFunctionError(
                f"--fn {spec!r}: cannot import module {target!r} ({err})"
            ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        public = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
        raise UserFunctionError(
            f"--fn {spec!r}: {module.__name__} has no function {attr!r}; "
            f"its functions: {', '.join(public) or 'none'}"
        )
    return fn


def _kind(value: Any) -> str | None:
    """The framework of an array (or of the first array of a tuple), None if none."""
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    module = type(value).__module__.split(".")[0]
    if module in ("jax", "jaxlib"):
        return "jax"
    if module == "torch":
        return "torch"
    if isinstance(value, (np.ndarray, np.generic, float, int)):
        return "numpy"
    return None


def detect_framework(fn: Function, x0: np.ndarray) -> str:
    """The framework ``fn`` is written with: called on a numpy array it returns numpy
    (numpy code) or a JAX array (jax.numpy code); torch code needs a tensor."""
    failures: list[str] = []
    for framework in ("numpy", "torch", "jax"):
        if framework != "numpy" and importlib.util.find_spec(framework) is None:
            continue
        try:
            kind = _kind(fn(to_framework(x0, framework)))
        except Exception as err:
            failures.append(f"{framework}: {type(err).__name__}: {str(err).splitlines()[0]}")
            continue
        if kind is not None:
            return kind
        failures.append(f"{framework}: returned no array")
    raise UserFunctionError(
        f"the function fails at an input of shape {x0.shape} with every array type tried "
        "(check --shape): " + "; ".join(failures)
    )


def user_problem(
    spec: str,
    shape: tuple[int, ...],
    framework: str | None = None,
    operators: tuple[str, ...] = ("jacobian",),
    seed: int = 0,
) -> Problem:
    """A problem from a user's function written with ``framework`` arrays (detected from
    the function when None).

    The function is evaluated at a seeded standard-normal float64 point of ``shape``. A
    numpy version (for finite differences and scipy) converts at the boundary.
    """
    if framework is not None and framework not in FRAMEWORKS:
        raise UserFunctionError(f"unknown framework {framework!r}; expected one of {FRAMEWORKS}")
    fn = _load(spec)
    x0 = np.random.default_rng(seed).normal(size=shape)
    detected = detect_framework(fn, x0)
    if framework is not None and framework != detected:
        try:
            fn(to_framework(x0, framework))
        except Exception as err:
            raise UserFunctionError(
                f"--framework {framework}: the function fails on a {framework} array "
                f"({type(err).__name__}: {str(err).splitlines()[0]}); it looks like "
                f"{detected} code: drop --framework or pass --framework {detected}"
            ) from None
    framework = framework or detected

    def build(target: str) -> Function:
        if target == framework:
            return fn

        def on_numpy(x: Any) -> Any:
            return to_numpy(fn(to_framework(np.asarray(x), framework)))

        return on_numpy

    frameworks = (framework,) if framework == "numpy" else (framework, "numpy")
    return Problem(
        spec,
        f"user function {spec} ({framework}), x of shape {shape}",
        operators,
        x0,
        build,
        frameworks,
        traceable=framework if framework in ("numpy", "jax") else None,
    )
