"""Every backend x every applicable operator x every scenario, against closed forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import pytest

import anydiff
from conftest import assert_close, assert_kind, gpu_adapter, jax_backend, torch_backend
from scenarios import SCENARIOS, Scenario


@dataclass
class BackendCase:
    name: str
    make: Callable[[Scenario], Any]
    tol1: float  # first-order operators
    tol2: Optional[float]  # second-order operators; None: not applicable

    def __repr__(self) -> str:
        return self.name


def _plain(factory: Callable[[], Any]) -> Callable[[Scenario], Any]:
    return lambda scn: factory()


def _ho(outer: Callable[[], Any], inner: Callable[[], Any]) -> Callable[[Scenario], Any]:
    return lambda scn: anydiff.HigherOrderBackend((outer(), inner()))


BACKENDS = [
    BackendCase("jax-fwd", _plain(jax_backend("forward")), 1e-10, 1e-10),
    BackendCase("jax-rev", _plain(jax_backend("reverse")), 1e-10, 1e-10),
    BackendCase("torch-fwd", _plain(torch_backend("forward")), 1e-10, 1e-10),
    BackendCase("torch-rev", _plain(torch_backend("reverse")), 1e-10, 1e-10),
    BackendCase("fd-central", lambda scn: anydiff.FiniteDifferences("central"), 1e-6, 1e-4),
    BackendCase("fd-central5", lambda scn: anydiff.FiniteDifferences("central5"), 1e-6, 1e-4),
    BackendCase(
        "fd-central-step",
        lambda scn: anydiff.FiniteDifferences("central", step=1e-5),
        1e-6,
        None,
    ),
    BackendCase(
        "cb-jacobian",
        lambda scn: anydiff.CallbackBackend(jacobian=scn.callback_jacobian),
        1e-10,
        None,
    ),
    BackendCase("cb-jvp", lambda scn: anydiff.CallbackBackend(jvp=scn.callback_jvp), 1e-10, None),
    BackendCase("cb-vjp", lambda scn: anydiff.CallbackBackend(vjp=scn.callback_vjp), 1e-10, None),
    BackendCase("dual", lambda scn: anydiff.DualBackend(), 1e-10, 1e-10),
    BackendCase("dual-numpy", lambda scn: anydiff.DualBackend(frontend="numpy"), 1e-10, 1e-10),
    BackendCase("ho-jax", _ho(jax_backend("forward"), jax_backend("reverse")), 1e-10, 1e-10),
    BackendCase("ho-torch", _ho(torch_backend("forward"), torch_backend("reverse")), 1e-10, 1e-10),
    BackendCase(
        "ho-fd-jax", _ho(lambda: anydiff.FiniteDifferences(), jax_backend("reverse")), 1e-10, 1e-4
    ),
]

if gpu_adapter() is not None:
    # forward mode on the GPU (float64 kernels), the rest on the CPU engine
    BACKENDS.append(
        BackendCase("dual-gpu", lambda scn: anydiff.DualBackend(device="gpu"), 1e-10, 1e-10)
    )

OPERATORS = [
    "derivative",
    "second_derivative",
    "gradient",
    "jacobian",
    "hessian",
    "hvp",
    "pushforward",
    "pullback",
    "lazy_jacobian",
]


def applicable(op: str, scn: Scenario, bc: BackendCase) -> bool:
    second = op in ("second_derivative", "hessian", "hvp")
    if second and bc.tol2 is None:
        return False
    if op in ("derivative", "second_derivative"):
        return scn.scalar_input
    if op == "gradient":
        return scn.scalar_output
    if op in ("hessian", "hvp"):
        return scn.scalar_output and scn.n_inputs == 1
    if op == "lazy_jacobian":
        return scn.n_inputs == 1 and not scn.multi_out
    return True


CASES = [
    pytest.param(bc, scn, op, id=f"{bc.name}-{scn.name}-{op}")
    for bc in BACKENDS
    for scn in SCENARIOS
    for op in OPERATORS
    if applicable(op, scn, bc)
]


def _check(got: Any, want: Any, tol: float) -> None:
    assert_close(got, want, rtol=tol, atol=tol)
    assert_kind(got, "numpy")


@pytest.mark.parametrize(("bc", "scn", "op"), CASES)
def test_scenario(bc: BackendCase, scn: Scenario, op: str) -> None:
    b = bc.make(scn)
    f, args, args2 = scn.f, scn.args, scn.args2
    tol = bc.tol2 if op in ("second_derivative", "hessian", "hvp") else bc.tol1
    value, value2 = scn.value(args), scn.value(args2)
    jac, jac2 = scn.jac(*scn.unwrap(args)), scn.jac(*scn.unwrap(args2))
    # The function value is exact whatever the backend.
    vtol = 1e-12

    if op in ("derivative", "jacobian", "gradient"):
        fn = getattr(anydiff, op)
        _check(fn(b, f, *args), jac, tol)
        val, d = getattr(anydiff, f"value_and_{op}")(b, f, *args)
        _check(val, value, vtol)
        _check(d, jac, tol)
        plan = getattr(anydiff, f"prepare_{op}")(b, f, *args)
        _check(plan(*args2), jac2, tol)
        val2, d2 = getattr(plan, f"value_and_{op}")(*args2)
        _check(val2, value2, vtol)
        _check(d2, jac2, tol)
        _check(plan(*args), jac, tol)
        if op == "derivative":
            lazy = anydiff.lazy_derivative(b, f, *args)
            _check(lazy @ np.array(2.0), 2 * np.asarray(jac), tol)
        if op == "gradient" and scn.n_inputs == 1:
            lazy = anydiff.lazy_gradient(b, f, *args)
            v = scn.tangent()
            _check(lazy @ v, np.tensordot(jac, v, np.ndim(v)), tol)
            _check(np.array(3.0) @ lazy, 3 * np.asarray(jac), tol)

    elif op == "second_derivative":
        _check(anydiff.second_derivative(b, f, *args), scn.d2(*scn.unwrap(args)), tol)
        val, d, dd = anydiff.value_derivative_and_second_derivative(b, f, *args)
        _check(val, value, vtol)
        _check(d, jac, tol)
        _check(dd, scn.d2(*scn.unwrap(args)), tol)
        plan = anydiff.prepare_second_derivative(b, f, *args)
        _check(plan(*args2), scn.d2(*scn.unwrap(args2)), tol)
        val2, d_2, dd2 = plan.value_derivative_and_second_derivative(*args2)
        _check(val2, value2, vtol)
        _check(d_2, jac2, tol)
        _check(dd2, scn.d2(*scn.unwrap(args2)), tol)

    elif op == "hessian":
        h, h2 = scn.hess(*scn.unwrap(args)), scn.hess(*scn.unwrap(args2))
        _check(anydiff.hessian(b, f, *args), h, tol)
        val, hh = anydiff.value_and_hessian(b, f, *args)
        _check(val, value, vtol)
        _check(hh, h, tol)
        val, g, hh = anydiff.value_gradient_and_hessian(b, f, *args)
        _check(val, value, vtol)
        _check(g, jac, max(tol, bc.tol1))
        _check(hh, h, tol)
        plan = anydiff.prepare_hessian(b, f, *args)
        _check(plan(*args2), h2, tol)
        val2, g2, hh2 = plan.value_gradient_and_hessian(*args2)
        _check(val2, value2, vtol)
        _check(g2, jac2, max(tol, bc.tol1))
        _check(hh2, h2, tol)

    elif op == "hvp":
        v = scn.tangent()
        xs = args if len(args) > 1 else args[0]
        _check(anydiff.hvp(b, f, xs, v), scn.hvp(args, v), tol)
        plan = anydiff.prepare_hvp(b, f, *args)
        _check(plan(*args2, v=v), scn.hvp(args2, v), tol)
        if scn.n_inputs == 1 and len(args) == 1:
            lazy = anydiff.lazy_hessian(b, f, *args)
            _check(lazy @ v, scn.hvp(args, v), tol)
            assert lazy.shape == np.shape(v) + np.shape(v)

    elif op == "pushforward":
        v = scn.tangent()
        _check(anydiff.pushforward_function(b, f, *args)(v), scn.jvp(args, v), tol)
        val, t = anydiff.value_and_pushforward_function(b, f, *args)(v)
        _check(val, value, vtol)
        _check(t, scn.jvp(args, v), tol)
        xs = args if len(args) > 1 else args[0]
        _check(anydiff.jvp(b, f, xs, v), scn.jvp(args, v), tol)
        plan = anydiff.prepare_pushforward(b, f, *args)
        _check(plan(*args2)(v), scn.jvp(args2, v), tol)
        val2, t2 = plan.value_and_pushforward(*args2)(v)
        _check(val2, value2, vtol)
        _check(t2, scn.jvp(args2, v), tol)

    elif op == "pullback":
        w = scn.cotangent()
        _check(anydiff.pullback_function(b, f, *args)(w), scn.vjp(args, w), tol)
        val, g = anydiff.value_and_pullback_function(b, f, *args)(w)
        _check(val, value, vtol)
        _check(g, scn.vjp(args, w), tol)
        xs = args if len(args) > 1 else args[0]
        _check(anydiff.vjp(b, f, xs, w), scn.vjp(args, w), tol)
        plan = anydiff.prepare_pullback(b, f, *args)
        _check(plan(*args2)(w), scn.vjp(args2, w), tol)
        val2, g2 = plan.value_and_pullback(*args2)(w)
        _check(val2, value2, vtol)
        _check(g2, scn.vjp(args2, w), tol)

    elif op == "lazy_jacobian":
        v, w = scn.tangent(), scn.cotangent()
        lazy = anydiff.lazy_jacobian(b, f, *args)
        assert lazy.shape == np.shape(jac)
        _check(lazy @ v, scn.jvp(args, v), tol)
        _check(w @ lazy, scn.vjp(args, w), tol)
        _check(lazy.T @ w, scn.vjp(args, w), tol)
        _check(lazy.todense(), jac, tol)
        _check(lazy.T.todense(), np.transpose(jac, _transposed_axes(scn)), tol)


def _transposed_axes(scn: Scenario) -> tuple:
    n_out, n_in = len(scn.out_shapes[0]), len(scn.in_shapes[0])
    return tuple(range(n_out, n_out + n_in)) + tuple(range(n_out))


def _convert(a: Any, kind: str) -> Any:
    if isinstance(a, anydiff.Constant):
        return a
    if kind == "jax":
        return pytest.importorskip("jax.numpy").asarray(a)
    return pytest.importorskip("torch").as_tensor(a)


FOREIGN = [
    bc for bc in BACKENDS if bc.name in ("fd-central", "torch-rev", "jax-fwd", "cb-jacobian")
]


@pytest.mark.parametrize("kind", ["jax", "torch"])
@pytest.mark.parametrize("scn", SCENARIOS, ids=[s.name for s in SCENARIOS])
@pytest.mark.parametrize("bc", FOREIGN, ids=[bc.name for bc in FOREIGN])
def test_scenario_with_framework_inputs(bc: BackendCase, scn: Scenario, kind: str) -> None:
    """jax / torch inputs: the same closed forms, results of the input's kind and shape."""
    b = bc.make(scn)
    args = tuple(_convert(a, kind) for a in scn.args)
    jac = scn.jac(*scn.unwrap(scn.args))
    value = scn.value(scn.args)
    tol = bc.tol1

    def check(got: Any, want: Any, t: float = tol) -> None:
        assert_close(got, want, rtol=t, atol=t)
        assert_kind(got, kind)

    val, j = anydiff.value_and_jacobian(b, scn.f, *args)
    check(val, value, 1e-12)
    check(j, jac)
    if scn.scalar_output:
        val, g = anydiff.value_and_gradient(b, scn.f, *args)
        check(val, value, 1e-12)
        check(g, jac)
    if scn.scalar_input:
        val, d = anydiff.value_and_derivative(b, scn.f, *args)
        check(val, value, 1e-12)
        check(d, jac)
    if scn.scalar_output and scn.n_inputs == 1 and bc.tol2 is not None:
        check(anydiff.hessian(b, scn.f, *args), scn.hess(*scn.unwrap(scn.args)), bc.tol2)
    v = scn.tangent()
    vk = tuple(_convert(t, kind) for t in v) if isinstance(v, tuple) else _convert(v, kind)
    check(anydiff.pushforward_function(b, scn.f, *args)(vk), scn.jvp(scn.args, v))
    w = scn.cotangent()
    wk = tuple(_convert(t, kind) for t in w) if isinstance(w, tuple) else _convert(w, kind)
    check(anydiff.pullback_function(b, scn.f, *args)(wk), scn.vjp(scn.args, w))
