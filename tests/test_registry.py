"""The operator registry and the plans it finds: dispatch through the backend's MRO and
its delegates, DualBackend's plans (mode by cost model, traces owned by plans, f traced
once for sparse matrices, JAX code on JAX inputs), public operators as real functions."""

from __future__ import annotations

import gc
import inspect
from typing import Any

import numpy as np
import pytest

import anydiff
from anydiff import _core, operators
from anydiff._contract import cheaper_mode
from anydiff.backends.dual._plans import DualJacobianPlan
from anydiff.backends.dual._sparse import EntrywiseJacobianPlan
from anydiff.backends.dual._traced import TracedFunction
from anydiff.backends.sparse._plans import ColoredJacobianPlan
from anydiff.operators import GenericJacobianPlan, JacobianPlan, plan_class, register_plan
from conftest import need

jax = pytest.importorskip("jax")
jnp = jax.numpy

RNG = np.random.default_rng(12)


def dense(n: int, m: int, xp: Any = np, dtype: Any = np.float64) -> Any:
    W = np.random.default_rng(n + 7 * m).standard_normal((m, n)) / np.sqrt(n)
    W = xp.asarray(W.astype(dtype))
    return lambda x: xp.tanh(W @ x) + xp.sum(xp.sin(x))


# --- dispatch ------------------------------------------------------------------------------


class MyDual(anydiff.DualBackend):
    """A subclass: finds DualBackend's plans through its MRO."""


class Doubling(anydiff.AbstractForwardMode):
    """A forward-mode backend with a registered Jacobian plan of its own."""

    def pushforward_batch(self, f: Any, xs: tuple, tangents: tuple) -> Any:
        h = 1e-30
        rows = [np.imag(f(*(x + 1j * h * t[i] for x, t in zip(xs, tangents)))) / h
                for i in range(len(tangents[0]))]  # fmt: skip
        return np.stack(rows)


@register_plan(JacobianPlan, Doubling)
class DoublingJacobianPlan(GenericJacobianPlan):
    """The generic Jacobian, doubled: shows which plan computed a result."""

    def jacobian_at(self, xs: tuple, cs: tuple) -> Any:
        return 2 * super().jacobian_at(xs, cs)


def test_plans_are_found_through_the_mro_and_delegates() -> None:
    x = np.array([0.3, -0.2, 0.5])
    assert plan_class(JacobianPlan, anydiff.DualBackend()) is DualJacobianPlan
    assert plan_class(JacobianPlan, MyDual()) is DualJacobianPlan
    assert plan_class(JacobianPlan, anydiff.FiniteDifferences()) is GenericJacobianPlan
    fd_over_dual = anydiff.HigherOrderBackend((anydiff.FiniteDifferences(), anydiff.DualBackend()))
    assert isinstance(anydiff.prepare_jacobian(fd_over_dual, np.sin, x), DualJacobianPlan)
    sparse_dual = anydiff.SparseBackend(anydiff.DualBackend(), detector=anydiff.TracerDetector())
    assert isinstance(anydiff.prepare_jacobian(sparse_dual, np.sin, x), EntrywiseJacobianPlan)
    sparse_fd = anydiff.SparseBackend(anydiff.FiniteDifferences())
    plan = anydiff.prepare_jacobian(sparse_fd, np.sin, x)
    assert type(plan) is ColoredJacobianPlan
    assert isinstance(plan, anydiff.SparseJacobianPlan) and isinstance(plan, JacobianPlan)
    # derivatives at many points of a SparseBackend are its inner backend's, dense
    X = RNG.standard_normal((4, 3))
    np.testing.assert_allclose(
        anydiff.batch_jacobian(sparse_dual, np.sin, X),
        np.stack([np.diag(np.cos(r)) for r in X]),
        rtol=1e-15,
    )


def test_a_registered_plan_serves_every_entry_point() -> None:
    b, x = Doubling(), np.array([0.3, -0.2, 0.5])
    want = 2 * np.diag(np.cos(x))
    np.testing.assert_allclose(anydiff.prepare_jacobian(b, np.sin, x)(x), want, rtol=1e-14)
    np.testing.assert_allclose(anydiff.jacobian(b, np.sin, x), want, rtol=1e-14)
    np.testing.assert_allclose(JacobianPlan(b, np.sin, x)(x), want, rtol=1e-14)
    X = np.stack([x, 2 * x])
    batch = anydiff.batch_jacobian(b, np.sin, X)
    np.testing.assert_allclose(batch[1], 2 * np.diag(np.cos(2 * x)), rtol=1e-14)


def test_registration_errors() -> None:
    with pytest.raises(TypeError, match="must subclass"):
        register_plan(JacobianPlan, Doubling)(int)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already has"):
        register_plan(JacobianPlan, Doubling)(DoublingJacobianPlan)
    with pytest.raises(TypeError, match="not an operator"):
        register_plan(GenericJacobianPlan, Doubling)
    with pytest.raises(TypeError, match="backend class"):
        register_plan(JacobianPlan, int)  # type: ignore[arg-type]


def test_public_operators_are_real_functions() -> None:
    for name in ("jacobian", "gradient", "hessian", "value_and_jacobian", "pullback_function"):
        fn = getattr(anydiff, name)
        assert inspect.isfunction(fn) and fn.__module__.startswith("anydiff.operators.")
        assert list(inspect.signature(fn).parameters)[:2] == ["b", "f"]
        assert fn is getattr(operators, name)
    assert "Jacobian" in (anydiff.jacobian.__doc__ or "")


def test_type_checkers_see_the_operators(tmp_path: Any) -> None:
    """mypy reads the public operators' signatures from the package itself."""
    api = pytest.importorskip("mypy.api")
    use = tmp_path / "use.py"
    use.write_text(
        "import numpy as np\nimport anydiff\n"
        "plan = anydiff.prepare_jacobian(anydiff.DualBackend(), np.sin, np.ones(3))\n"
        "reveal_type(plan)\nreveal_type(anydiff.value_and_gradient)\n"
        "anydiff.hessian(anydiff.DualBackend())\nanydiff.not_an_operator\n"
    )
    out, _, status = api.run(
        ["--no-incremental", "--follow-imports=silent", "--cache-dir", str(tmp_path), str(use)]
    )
    assert status == 1, out
    assert 'Revealed type is "anydiff.operators.first_order.jacobian.JacobianPlan"' in out
    assert "-> tuple[Any, Any]" in out
    assert 'Missing positional argument "f" in call to "hessian"' in out
    assert 'Module has no attribute "not_an_operator"' in out
    assert out.count("error:") == 2, out


# --- DualBackend: the mode its cost model picks -----------------------------------------


@pytest.mark.parametrize(("n", "m"), [(10, 10), (60, 59), (200, 20), (20, 200), (6, 1)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_jacobian_mode_and_both_forced_modes(n: int, m: int, dtype: Any) -> None:
    f, fj = dense(n, m, dtype=dtype), dense(n, m, jnp)
    x = RNG.standard_normal(n).astype(dtype)
    plan = anydiff.prepare_jacobian(anydiff.DualBackend(), f, x)
    backend = anydiff.DualBackend()
    assert plan.mode == cheaper_mode(backend, n, m)
    assert plan.mode == _core.pick_mode(n, m, backend.vjp_cost)
    want = np.asarray(jax.jacfwd(fj)(jnp.asarray(x, dtype=jnp.float64)))
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for mode in ("forward", "reverse"):
        plan.mode = mode
        got = plan(x)
        assert got.dtype == dtype and got.shape == (m, n)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
        value, jac = plan.value_and_jacobian(x)
        np.testing.assert_allclose(value, f(x), rtol=tol, atol=tol)
        np.testing.assert_array_equal(jac, got)


def test_cost_model_choices() -> None:
    dual = anydiff.DualBackend()
    assert [cheaper_mode(dual, n, m) for n, m in [(60, 59), (200, 199), (200, 20), (1, 1)]] == [
        "forward",
        "forward",
        "reverse",
        "forward",
    ]
    assert cheaper_mode(anydiff.JaxBackend("reverse"), 1, 100) == "reverse"
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="vjp_cost"):
            _core.pick_mode(3, 2, bad)


def test_blocked_dual_jacobian_equals_one_call() -> None:
    f, x = dense(9, 7), RNG.standard_normal(9)
    whole = anydiff.prepare_jacobian(anydiff.DualBackend(), f, x)(x)
    for mode in ("forward", "reverse"):
        plan = anydiff.prepare_jacobian(anydiff.DualBackend(), f, x, batch_size=2)
        plan.mode = mode
        np.testing.assert_allclose(plan(x), whole, rtol=1e-14, atol=1e-15)


# --- DualBackend: traces owned by plans ----------------------------------------------------


def _live_traces() -> int:
    gc.collect()
    return sum(isinstance(o, TracedFunction) for o in gc.get_objects())


def test_dropped_plans_leave_no_trace() -> None:
    backend, x = anydiff.DualBackend(), np.linspace(0.1, 1.0, 4)
    before = _live_traces()
    for i in range(50):
        for prepare in (anydiff.prepare_jacobian, anydiff.prepare_pushforward):
            plan = prepare(backend, lambda v, i=i: np.sin(v) * (v[0] + i), x)
            del plan
        batch = anydiff.BatchPlan("jacobian", backend, lambda v, i=i: np.sin(v) * i, x[None])
        del batch
    assert _live_traces() == before
    assert not [k for k in vars(backend) if k.startswith("_")]  # the backend keeps nothing


def test_sparse_preparation_traces_f_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """SparseBackend(DualBackend(), TracerDetector()): one trace serves detection and the
    entries; f runs once on numbers (the value's layout) and once on tracers."""
    import anydiff.backends.dual._traced as traced_module
    import anydiff.ir._compile as compile_module

    traces = []
    original = compile_module.trace

    def counting(*args: Any, **kwargs: Any) -> Any:
        traces.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(traced_module, "trace", counting)
    monkeypatch.setattr(compile_module, "trace", counting)
    calls = {"numbers": 0, "traced": 0}

    def f(u: Any) -> Any:
        calls["numbers" if isinstance(u, np.ndarray) else "traced"] += 1
        return u * np.roll(u, 1) - 2.0 * u + np.roll(u, -1)

    x = RNG.standard_normal(16)
    for frontend, detector in (("auto", "auto"), ("numpy", "numpy"), ("numpy", "auto")):
        traces.clear()
        calls.update(numbers=0, traced=0)
        backend = anydiff.SparseBackend(
            anydiff.DualBackend(frontend=frontend), detector=anydiff.TracerDetector(detector)
        )
        plan = anydiff.prepare_jacobian(backend, f, x)
        assert len(traces) == 1 and calls == {"numbers": 1, "traced": 1}
        assert plan.entrywise  # type: ignore[attr-defined]
        want = np.diag(np.roll(x, 1) - 2.0) + np.diag(x[1:], -1)
        want[0, -1] += x[0]
        want += np.eye(16, k=1) + np.eye(16, k=-15)
        np.testing.assert_allclose(plan(x).toarray(), want, rtol=1e-15)
    traces.clear()
    hplan = anydiff.prepare_hessian(
        anydiff.SparseBackend(anydiff.DualBackend(), detector=anydiff.TracerDetector()),
        lambda u: np.sum(u * np.roll(u, 1)),
        x,
    )
    assert len(traces) == 1
    np.testing.assert_allclose(
        hplan(x).toarray(), np.roll(np.eye(16), 1, 1) + np.roll(np.eye(16), -1, 1), rtol=1e-15
    )


# --- DualBackend: JAX code, every operator against JAX ------------------------------------


def test_jax_code_with_at_set_on_jax_inputs() -> None:
    def f(x: Any) -> Any:
        return x.at[1:].set(x[:2] ** 2) * x[2]

    def g(x: Any) -> Any:
        return jnp.sum(f(x) ** 2)

    x = jnp.array([0.7, -1.3, 2.1])
    b = anydiff.DualBackend()
    np.testing.assert_allclose(anydiff.jacobian(b, f, x), jax.jacfwd(f)(x), rtol=1e-14)
    value, jac = anydiff.value_and_jacobian(b, f, x)
    assert isinstance(jac, jax.Array)
    np.testing.assert_allclose(value, f(x), rtol=1e-15)
    np.testing.assert_allclose(anydiff.gradient(b, g, x), jax.grad(g)(x), rtol=1e-14)
    np.testing.assert_allclose(anydiff.hessian(b, g, x), jax.hessian(g)(x), rtol=1e-13)
    X = jnp.stack([x, 2 * x])
    np.testing.assert_allclose(
        anydiff.batch_jacobian(b, f, X), jax.vmap(jax.jacfwd(f))(X), rtol=1e-14
    )


@pytest.mark.parametrize("frontend", ["auto", "jax"])
def test_jax_code_with_at_set_on_numpy_inputs(frontend: str) -> None:
    """JAX code given numpy inputs runs on JAX copies of them at preparation."""

    def f(x: Any) -> Any:
        return x.at[1:].set(x[:2] ** 2) * x[2]

    def g(x: Any) -> Any:
        return jnp.sum(f(x) ** 2)

    x = np.array([0.7, -1.3, 2.1])
    b = anydiff.DualBackend(frontend=frontend)
    jac = anydiff.jacobian(b, f, x)
    assert isinstance(jac, np.ndarray) and jac.dtype == np.float64
    np.testing.assert_allclose(jac, jax.jacfwd(f)(jnp.asarray(x)), rtol=1e-14)
    np.testing.assert_allclose(anydiff.hessian(b, g, x), jax.hessian(g)(jnp.asarray(x)), rtol=1e-13)
    sparse = anydiff.jacobian(anydiff.SparseBackend(b), f, x)
    np.testing.assert_allclose(sparse.toarray(), jac, rtol=1e-15)

    def broken(x: Any) -> Any:
        raise ZeroDivisionError("the user's own error")

    with pytest.raises(ZeroDivisionError, match="the user's own error"):
        anydiff.jacobian(b, broken, x)


def test_every_dual_operator_against_jax_with_a_changing_parameter() -> None:
    need("jax")
    b = anydiff.DualBackend()

    def f(x: Any, p: Any) -> Any:
        return jnp.sin(x) * p + jnp.sum(x**2)

    def g(x: Any, p: Any) -> Any:
        return jnp.sum(jnp.exp(x * p) * x)

    x, v = RNG.standard_normal(4), RNG.standard_normal(4)
    for p in (1.5, -0.5):
        args = (x, anydiff.Constant(p))
        jf, jg = (lambda x, p=p: f(x, p)), (lambda x, p=p: g(x, p))
        np.testing.assert_allclose(
            anydiff.pushforward_function(b, f, *args)(v), jax.jvp(jf, (x,), (v,))[1], rtol=1e-13
        )
        np.testing.assert_allclose(
            anydiff.pullback_function(b, f, *args)(v), jax.vjp(jf, x)[1](v)[0], rtol=1e-13
        )
        np.testing.assert_allclose(
            anydiff.hvp(b, g, args, v), jax.jvp(jax.grad(jg), (x,), (v,))[1], rtol=1e-13
        )
        value, grad, hess = anydiff.value_gradient_and_hessian(b, g, *args)
        np.testing.assert_allclose(value, jg(x), rtol=1e-14)
        np.testing.assert_allclose(grad, jax.grad(jg)(x), rtol=1e-13)
        np.testing.assert_allclose(hess, jax.hessian(jg)(x), rtol=1e-13)
        lazy = anydiff.lazy_jacobian(b, f, *args)
        np.testing.assert_allclose(lazy @ v, jax.jacfwd(jf)(x) @ v, rtol=1e-13)
        np.testing.assert_allclose(v @ lazy, v @ jax.jacfwd(jf)(x), rtol=1e-13)


@pytest.mark.parametrize("t", [0.0, 0.4, -1.2])
def test_dual_second_derivative_of_several_outputs(t: float) -> None:
    def f(s: Any) -> Any:
        return (jnp.sin(s) * jnp.array([1.0, 2.0]), s**3 + jnp.exp(s))

    b = anydiff.DualBackend()
    value, d, dd = anydiff.value_derivative_and_second_derivative(b, f, np.float64(t))
    want_d, want_dd = jax.jacfwd(f)(t), jax.jacfwd(jax.jacfwd(f))(t)
    for got, want in zip((*value, *d, *dd), (*f(t), *want_d, *want_dd)):
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(anydiff.second_derivative(b, f, np.float64(t))[0], want_dd[0])
