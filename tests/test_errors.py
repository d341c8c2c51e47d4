"""Bad input: the exception type, and a message naming what was expected and what came."""

from __future__ import annotations

import sys
import traceback
from typing import Any, Callable

import numpy as np
import pytest

import anydiff
from anydiff import _arrays
from conftest import jax_backend, ns, torch_backend

X3 = np.array([0.1, 0.2, 0.3])
FD = anydiff.FiniteDifferences()


def double(x):
    return 2 * x


def total(x):
    return ns(x).sum(x * x)


def test_gradient_of_non_scalar_output() -> None:
    with pytest.raises(ValueError, match=r"scalar.*shape \(\).*\(3,\)"):
        anydiff.gradient(FD, double, X3)


@pytest.mark.parametrize(
    "call",
    [
        lambda: anydiff.hessian(FD, lambda x, y: np.sum(x * y), X3, X3),
        lambda: anydiff.prepare_hessian(FD, lambda x, y: np.sum(x * y), X3, X3),
        lambda: anydiff.hvp(FD, lambda x, y: np.sum(x * y), (X3, X3), X3),
    ],
    ids=["hessian", "prepare_hessian", "hvp"],
)
def test_hessian_with_two_inputs(call: Callable[[], Any]) -> None:
    with pytest.raises(TypeError, match=r"one input; got 2.*Constant"):
        call()


def test_hessian_of_non_scalar_output() -> None:
    with pytest.raises(ValueError, match=r"scalar.*\(3,\)"):
        anydiff.hessian(FD, double, X3)


def test_derivative_of_non_scalar_input() -> None:
    with pytest.raises(ValueError, match=r"scalar input.*shape \(\).*\(3,\)"):
        anydiff.derivative(FD, double, X3)
    with pytest.raises(ValueError, match=r"scalar input.*\(3,\)"):
        anydiff.second_derivative(FD, double, X3)
    with pytest.raises(ValueError, match=r"scalar input.*\(3,\)"):
        anydiff.lazy_derivative(FD, double, X3)


def test_lazy_gradient_of_non_scalar_output() -> None:
    with pytest.raises(ValueError, match=r"scalar.*\(3,\)"):
        anydiff.lazy_gradient(FD, double, X3)


@pytest.mark.parametrize(
    ("framework", "make", "bad"),
    [
        ("jax", lambda m: anydiff.JaxBackend(m), "fwd"),
        ("torch", lambda m: anydiff.TorchBackend(m), "backward"),
        (None, lambda m: anydiff.FiniteDifferences(m), "central3"),
    ],
    ids=["jax", "torch", "fd"],
)
def test_unknown_option_lists_accepted_values(
    framework: Any, make: Callable[[str], Any], bad: str
) -> None:
    if framework is not None:
        pytest.importorskip(framework)
    accepted = r"'forward'.*'central'.*'central5'" if bad == "central3" else r"'forward', 'reverse'"
    with pytest.raises(ValueError, match=rf"{accepted}.*got '{bad}'"):
        make(bad)


def test_bad_finite_difference_step() -> None:
    for step in (0.0, -1e-3, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive finite"):
            anydiff.FiniteDifferences(step=step)


@pytest.mark.parametrize(
    "x",
    [np.arange(3), np.array(2), 3, np.array([True, False])],
    ids=["int-array", "int-0d", "int", "bool"],
)
def test_integer_inputs(x: Any) -> None:
    with pytest.raises(
        TypeError, match=r"argument 0 must be floating point.*got .*dtype (int|bool)"
    ):
        anydiff.jacobian(FD, double, x)


def test_integer_input_in_second_position_is_named() -> None:
    with pytest.raises(TypeError, match=r"argument 1 must be floating point.*int"):
        anydiff.jacobian(FD, lambda x, y: x * y, X3, np.arange(3))


def test_integer_tensor_inputs() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"floating point.*torch array.*int64"):
        anydiff.gradient(anydiff.TorchBackend("reverse"), total, torch.arange(3))


@pytest.mark.parametrize(
    ("prepare", "bad_args", "position"),
    [
        (lambda: anydiff.prepare_jacobian(FD, double, X3), (np.zeros(4),), 0),
        (lambda: anydiff.prepare_jacobian(FD, double, X3), (X3.astype(np.float32),), 0),
        (
            lambda: anydiff.prepare_gradient(FD, lambda x, y: np.sum(x * y), X3, X3),
            (X3, np.zeros(2)),
            1,
        ),
        (lambda: anydiff.prepare_hessian(FD, total, X3), (np.zeros((3, 1)),), 0),
        (lambda: anydiff.prepare_pushforward(FD, double, X3), (np.zeros(2),), 0),
    ],
    ids=["shape", "dtype", "second-arg", "hessian", "pushforward"],
)
def test_plan_called_with_another_signature(
    prepare: Callable[[], Any], bad_args: tuple, position: int
) -> None:
    plan = prepare()
    with pytest.raises(
        anydiff.PreparationMismatchError, match=rf"argument {position}: expected .* got .*MISMATCH"
    ):
        plan(*bad_args)
    assert issubclass(anydiff.PreparationMismatchError, ValueError)


def test_plan_called_with_another_number_of_arguments() -> None:
    plan = anydiff.prepare_jacobian(FD, double, X3)
    with pytest.raises(anydiff.PreparationMismatchError, match=r"argument 1: expected no argument"):
        plan(X3, X3)


def test_plan_called_with_constant_in_other_position() -> None:
    plan = anydiff.prepare_jacobian(FD, lambda x, c: x * c, X3, anydiff.Constant(2.0))
    with pytest.raises(anydiff.PreparationMismatchError, match=r"argument 1: expected Constant"):
        plan(X3, X3)


def test_wrong_tangent_shape() -> None:
    push = anydiff.pushforward_function(FD, double, X3)
    with pytest.raises(ValueError, match=r"shape \(3,\); got \(4,\)"):
        push(np.zeros(4))
    with pytest.raises(ValueError, match=r"\(batch, 3\); got \(3,\)"):
        push(np.zeros(3), True)
    pull = anydiff.pullback_function(FD, double, X3)
    with pytest.raises(ValueError, match=r"shape \(3,\); got \(2,\)"):
        pull(np.zeros(2))
    with pytest.raises(ValueError, match=r"shape \(3,\); got \(2,\)"):
        anydiff.hvp(FD, total, X3, np.zeros(2))


def test_wrong_lazy_operand_shape() -> None:
    lazy = anydiff.lazy_jacobian(FD, double, X3)
    with pytest.raises(ValueError, match=r"shape \(3,\).*got \(4,\)"):
        lazy @ np.zeros(4)


@pytest.mark.parametrize("first", ["jax", None, np.eye(3), anydiff.JaxBackend, double])
def test_non_backend_first_argument(first: Any) -> None:
    name = type(first).__name__
    for call in (
        lambda: anydiff.jacobian(first, double, X3),
        lambda: anydiff.prepare_gradient(first, total, X3),
        lambda: anydiff.jvp(first, double, X3, X3),
        lambda: anydiff.lazy_hessian(first, total, X3),
    ):
        with pytest.raises(TypeError, match=rf"anydiff backend.*got {name}"):
            call()


def test_non_callable_function() -> None:
    with pytest.raises(TypeError, match=r"f must be callable; got ndarray"):
        anydiff.jacobian(FD, X3, X3)


def test_higher_order_backend_arguments() -> None:
    with pytest.raises(TypeError, match=r"pair \(outer, inner\)"):
        anydiff.HigherOrderBackend(FD)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"anydiff backends; got str"):
        anydiff.HigherOrderBackend((FD, "jax"))  # type: ignore[arg-type]


# --- callbacks ---------------------------------------------------------------------------


def test_callback_backend_needs_a_callback() -> None:
    with pytest.raises(ValueError, match=r"at least one of jvp=, vjp= or jacobian="):
        anydiff.CallbackBackend()
    with pytest.raises(TypeError, match=r"jvp= must be callable; got int"):
        anydiff.CallbackBackend(jvp=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("backend", "pattern"),
    [
        (
            anydiff.CallbackBackend(jvp=lambda x, v: np.ones(4)),
            r"jvp callback returned shape \(4,\), expected \(3,\)",
        ),
        (
            anydiff.CallbackBackend(vjp=lambda x, w: np.ones(2)),
            r"vjp callback returned shape \(2,\), expected \(3,\)",
        ),
        (
            anydiff.CallbackBackend(jacobian=lambda x: np.eye(4)),
            r"jacobian callback returned shape \(4, 4\), expected \(3, 3\)",
        ),
        (
            anydiff.CallbackBackend(jvp=lambda x, v: np.ones((2, 4)), batched=True),
            r"jvp callback returned shape \(2, 4\), expected \(\d+, 3\)",
        ),
    ],
    ids=["jvp", "vjp", "jacobian", "batched-jvp"],
)
def test_callback_wrong_shape(backend: Any, pattern: str) -> None:
    with pytest.raises(anydiff.ShapeError, match=pattern):
        anydiff.jacobian(backend, double, X3)
    assert issubclass(anydiff.ShapeError, ValueError)


@pytest.mark.parametrize(
    ("result", "got"),
    [
        (lambda v: (2 * v).astype(np.float32), "float32"),
        (lambda v: np.array([1, 2, 3]), "int64"),
        (lambda v: (2 * v).astype(np.complex128), "complex128"),
    ],
    ids=["float32", "int", "complex"],
)
def test_callback_wrong_dtype(result: Callable[[Any], Any], got: str) -> None:
    backend = anydiff.CallbackBackend(jvp=lambda x, v: result(v))
    with pytest.raises(TypeError, match=rf"jvp callback returned dtype {got}, expected float64"):
        anydiff.jacobian(backend, double, X3)
    backend = anydiff.CallbackBackend(vjp=lambda x, w: result(w))
    with pytest.raises(TypeError, match=rf"vjp callback returned dtype {got}, expected float64"):
        anydiff.vjp(backend, double, X3, X3)


def test_callback_wrong_structure_for_two_inputs() -> None:
    backend = anydiff.CallbackBackend(vjp=lambda xs, w: w)
    with pytest.raises(anydiff.ShapeError, match=r"tuple of 2 arrays, got ndarray"):
        anydiff.jacobian(backend, lambda x, y: x * y, X3, X3)


def test_reverse_products_from_forward_only_custom_backend() -> None:
    class Forward(anydiff.AbstractForwardMode):
        def pushforward_batch(self, f, xs, tangents):
            return np.stack([2 * t for t in tangents[0]])

    with pytest.raises(anydiff.UnsupportedOperationError, match=r"reverse-mode.*pullback_batch"):
        Forward().pullback_batch(double, (X3,), X3[None])


# --- missing frameworks ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("jax", lambda: anydiff.JaxBackend("forward")),
        ("torch", lambda: anydiff.TorchBackend("reverse")),
    ],
)
def test_missing_framework(
    monkeypatch: pytest.MonkeyPatch, name: str, make: Callable[[], Any]
) -> None:
    monkeypatch.setitem(sys.modules, name, None)
    extra = rf"pip install 'anydiff\[{name}\]'"
    with pytest.raises(anydiff.BackendUnavailableError, match=rf"needs {name}.*{extra}"):
        _arrays.import_framework(name)
    with pytest.raises(anydiff.BackendUnavailableError, match=extra):
        make()
    assert issubclass(anydiff.BackendUnavailableError, ImportError)


def test_importing_anydiff_does_not_import_frameworks() -> None:
    import subprocess

    code = (
        "import sys, anydiff, numpy as np\n"
        "anydiff.jacobian(anydiff.FiniteDifferences(), lambda x: 2 * x, np.ones(2))\n"
        "print('jax' in sys.modules, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --- exceptions raised inside f or a callback propagate unchanged --------------------------


class Boom(Exception):
    pass


def _raised_here(err: BaseException, function: str) -> bool:
    return any(frame.name == function for frame in traceback.extract_tb(err.__traceback__))


def _raising_after_first_call(err: Boom) -> Callable[[Any], Any]:
    calls = []

    def explode(x):
        calls.append(1)
        if len(calls) > 1:
            raise err
        return ns(x).sin(x)

    return explode


@pytest.mark.parametrize(
    "make",
    [
        jax_backend("forward"),
        jax_backend("reverse"),
        torch_backend("forward"),
        torch_backend("reverse"),
    ],
    ids=["jax-fwd", "jax-rev", "torch-fwd", "torch-rev"],
)
def test_exception_in_f_propagates_from_frameworks(make: Callable[[], Any]) -> None:
    err = Boom("raised by f")
    f = _raising_after_first_call(err)
    with pytest.raises(Boom) as info:
        anydiff.jacobian(make(), f, X3 + 1.0)
    assert info.value is err
    assert _raised_here(info.value, "explode")


@pytest.mark.parametrize("batch_size", [None, 1])
@pytest.mark.parametrize("method", ["forward", "central", "central5"])
def test_exception_in_f_propagates_through_rust_finite_differences(
    method: str, batch_size: Any
) -> None:
    err = Boom("raised at a stencil point")
    x0 = X3 + 2.0

    def explode(x):
        if not np.array_equal(x, x0):  # only at perturbed points, i.e. from the Rust stencil
            raise err
        return np.sin(x)

    with pytest.raises(Boom) as info:
        anydiff.prepare_jacobian(
            anydiff.FiniteDifferences(method), explode, x0, batch_size=batch_size
        )(x0)
    assert info.value is err
    assert _raised_here(info.value, "explode")


@pytest.mark.parametrize("batch_size", [None, 1, 2])
@pytest.mark.parametrize("kind", ["jvp", "vjp", "jacobian"])
def test_exception_in_callback_propagates_through_rust_assembly(kind: str, batch_size: Any) -> None:
    err = Boom(f"raised by the {kind} callback")

    def explode(*args):
        raise err

    backend = anydiff.CallbackBackend(**{kind: explode})
    with pytest.raises(Boom) as info:
        anydiff.prepare_jacobian(backend, double, X3, batch_size=batch_size)(X3)
    assert info.value is err
    assert str(info.value) == f"raised by the {kind} callback"
    assert _raised_here(info.value, "explode")


def test_exception_in_callback_propagates_from_hessian_assembly() -> None:
    err = Boom("raised in the gradient")

    class Exploding(anydiff.AbstractForwardMode):
        def pushforward_batch(self, f, xs, tangents):
            raise err

    backend = anydiff.HigherOrderBackend((anydiff.FiniteDifferences(), Exploding()))
    with pytest.raises(Boom) as info:
        anydiff.prepare_hessian(backend, total, X3, batch_size=1)(X3)
    assert info.value is err
