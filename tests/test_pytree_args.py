"""Pytrees (dicts, lists, tuples of arrays, nested) as differentiated arguments, against
JAX's own transforms (x64): the gradient has the argument's structure (``jax.grad``), the
Jacobian of each output is a tree over the input (``jax.jacfwd``), the Hessian a tree of
trees (``jax.hessian``); pushforward/pullback/hvp take and give trees likewise."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import anydiff
from anydiff import Constant, PreparationMismatchError
from conftest import HAS_JAX, HAS_TORCH, ns, to_numpy

pytestmark = pytest.mark.skipif(not HAS_JAX, reason="needs jax (the reference)")

if HAS_JAX:
    import jax
    import jax.numpy as jnp


def _params(dtype: Any = np.float64) -> dict:
    """Mixed shapes: a vector, a scalar and a matrix in a nested tuple, a list."""
    return {
        "w": np.array([0.3, 0.7, -1.2], dtype),
        "b": (np.array(0.5, dtype), np.array([[1.0, 2.0], [3.0, -1.0]], dtype)),
        "c": [np.array([0.25, -0.5], dtype)],
    }


def loss(p: Any) -> Any:
    m = ns(p["w"])
    return (
        m.sum(m.sin(p["w"]) * p["b"][0])
        + m.sum(p["b"][1] * p["b"][1]) * p["w"][0]
        + m.sum(m.exp(p["c"][0]) * p["w"][1:])
    )


def two_outputs(p: Any) -> Any:
    m = ns(p["w"])
    return m.sin(p["w"]) * p["b"][0], m.reshape(p["b"][1], (4,)) * p["c"][0][0]


def _as(kind: str, tree: Any) -> Any:
    if kind == "jax":
        return jax.tree_util.tree_map(jnp.asarray, tree)
    if kind == "torch":
        import torch

        return jax.tree_util.tree_map(torch.as_tensor, tree)
    return tree


def assert_tree_close(got: Any, want: Any, rtol: float, path: str = "") -> None:
    """Same containers (dict keys, list/tuple types and lengths), shapes and values."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), f"{path}: {type(got)}"
        for k in want:
            assert_tree_close(got[k], want[k], rtol, f"{path}[{k!r}]")
    elif isinstance(want, (list, tuple)):
        assert type(got) is type(want) and len(got) == len(want), f"{path}: {type(got)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_tree_close(g, w, rtol, f"{path}[{i}]")
    else:
        g, w = to_numpy(got), np.asarray(want)
        assert g.shape == w.shape, f"{path}: shape {g.shape}, expected {w.shape}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol, err_msg=path)


BACKENDS: dict[str, tuple[Callable[[], Any], str, float]] = {
    "jax-fwd": (lambda: anydiff.JaxBackend("forward"), "jax", 1e-12),
    "jax-rev": (lambda: anydiff.JaxBackend("reverse"), "jax", 1e-12),
    "dual": (lambda: anydiff.DualBackend(), "numpy", 1e-12),
    "dual-jaxpr": (lambda: anydiff.DualBackend(frontend="jax"), "jax", 1e-12),
    "fd": (lambda: anydiff.FiniteDifferences(), "numpy", 1e-4),
    "torch-fwd": (lambda: anydiff.TorchBackend("forward"), "torch", 1e-12),
    "torch-rev": (lambda: anydiff.TorchBackend("reverse"), "torch", 1e-12),
}


def _backend(name: str) -> tuple[Any, str, float]:
    make, kind, rtol = BACKENDS[name]
    if kind == "torch" and not HAS_TORCH:
        pytest.skip("needs torch")
    return make(), kind, rtol


@pytest.mark.parametrize("name", list(BACKENDS))
def test_gradient_jacobian_hessian_of_a_dict(name: str) -> None:
    b, kind, rtol = _backend(name)
    p = _params()
    pj = _as("jax", p)
    x = _as(kind, p)
    assert_tree_close(anydiff.gradient(b, loss, x), jax.grad(loss)(pj), rtol)
    value, grad = anydiff.value_and_gradient(b, loss, x)
    np.testing.assert_allclose(to_numpy(value), loss(pj), rtol=1e-12)
    assert_tree_close(grad, jax.grad(loss)(pj), rtol)
    assert_tree_close(anydiff.jacobian(b, two_outputs, x), jax.jacfwd(two_outputs)(pj), rtol)
    if name != "fd":  # finite differences of finite differences: looser, checked below
        assert_tree_close(anydiff.hessian(b, loss, x), jax.hessian(loss)(pj), rtol)
        _, g, h = anydiff.value_gradient_and_hessian(b, loss, x)
        assert_tree_close(g, jax.grad(loss)(pj), rtol)
        assert_tree_close(h, jax.hessian(loss)(pj), rtol)


def test_finite_difference_hessian_of_a_dict() -> None:
    p = _params()
    H = anydiff.hessian(anydiff.FiniteDifferences(), loss, p)
    assert_tree_close(H, jax.hessian(loss)(_as("jax", p)), 1e-3)


@pytest.mark.parametrize("name", ["jax-rev", "dual", "torch-rev"])
def test_products_take_and_give_trees(name: str) -> None:
    b, kind, rtol = _backend(name)
    p, pj = _params(), _as("jax", _params())
    t = jax.tree_util.tree_map(lambda a: np.cos(3 * a + 1), p)
    tj = _as("jax", t)
    x, tx = _as(kind, p), _as(kind, t)
    # pushforward: a tangent tree in, f's output structure out
    jvp = anydiff.pushforward_function(b, two_outputs, x)(tx)
    assert_tree_close(jvp, jax.jvp(two_outputs, (pj,), (tj,))[1], rtol)
    # pullback: f's output structure in, a tree out
    w = (np.array([1.0, -2.0, 0.5]), np.array([0.1, 0.2, 0.3, 0.4]))
    _, vjp_j = jax.vjp(two_outputs, pj)
    vjp = anydiff.pullback_function(b, two_outputs, x)(_as(kind, w))
    assert_tree_close(vjp, vjp_j(_as("jax", w))[0], rtol)
    # batched pullback: each leaf of the result with the batch axis leading
    wb = tuple(np.stack([a, 2 * a]) for a in w)
    batched = anydiff.pullback_function(b, two_outputs, x)(_as(kind, wb), batched=True)
    want = jax.vmap(lambda c: vjp_j(c)[0])(_as("jax", wb))
    assert_tree_close(batched, want, rtol)
    # hvp: a tree in, a tree out
    hv = anydiff.hvp(b, loss, (x,), tx)
    assert_tree_close(hv, jax.jvp(jax.grad(loss), (pj,), (tj,))[1], rtol)


def test_list_nested_tuple_and_several_arguments() -> None:
    def f(a: Any, x: Any, s: Any) -> Any:
        return (a[0] * x + a[1][0] ** 2 * a[1][1]) * s

    a = [np.array([1.0, 2.0]), (np.array(3.0), np.array([0.5, -0.5]))]
    x, s = np.array([0.1, 0.2]), np.array(1.5)
    want = jax.jacfwd(f, argnums=(0, 1))(_as("jax", a), jnp.asarray(x), jnp.asarray(s))
    for b in (anydiff.JaxBackend("reverse"), anydiff.DualBackend()):
        J = anydiff.jacobian(b, f, a, x, Constant(s))
        assert isinstance(J, tuple) and len(J) == 2
        assert_tree_close(J, want, 1e-12)


def test_float32_tree_stays_float32() -> None:
    p = _params(np.float32)
    for b in (anydiff.JaxBackend("reverse"), anydiff.DualBackend()):
        g = anydiff.gradient(b, loss, p)
        for leaf in jax.tree_util.tree_leaves(g):
            assert leaf.dtype == np.float32
        assert_tree_close(g, jax.grad(loss)(_as("jax", _params())), 1e-5)


def test_mixed_float32_float64_leaves() -> None:
    p = {"a": np.array([0.3, 0.4], np.float32), "b": np.array([1.5])}
    f = lambda q: np.sum(np.sin(q["a"])) * q["b"][0]  # noqa: E731
    g = anydiff.gradient(anydiff.DualBackend(), f, p)
    want = jax.grad(lambda q: jnp.sum(jnp.sin(q["a"])) * q["b"][0])(_as("jax", p))
    assert_tree_close(g, want, 1e-6)


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch")
def test_torch_tensors_in_a_dict() -> None:
    import torch

    lin = torch.nn.Linear(3, 2).double()
    params = {k: v.detach() for k, v in lin.named_parameters()}
    x = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)

    def f(p: dict, x: Any) -> Any:
        return torch.func.functional_call(lin, p, (x,)).pow(2).sum()

    for mode in ("forward", "reverse"):
        g = anydiff.gradient(anydiff.TorchBackend(mode), f, params, Constant(x))
        want = torch.func.grad(f)(params, x)
        assert isinstance(g, dict) and list(g) == list(params)
        for k in params:
            assert isinstance(g[k], torch.Tensor)
            np.testing.assert_allclose(to_numpy(g[k]), to_numpy(want[k]), rtol=1e-12)


def test_zero_size_leaves() -> None:
    p = {"w": np.array([0.5, 2.0]), "empty": np.zeros((0, 3))}
    f = lambda q: np.sum(q["w"] ** 3) + np.sum(q["empty"])  # noqa: E731
    for b in (anydiff.JaxBackend("reverse"), anydiff.DualBackend(), anydiff.FiniteDifferences()):
        g = anydiff.gradient(b, f, p)
        assert to_numpy(g["empty"]).shape == (0, 3)
        np.testing.assert_allclose(to_numpy(g["w"]), 3 * p["w"] ** 2, rtol=1e-6)
    H = anydiff.hessian(anydiff.DualBackend(), f, p)
    assert H["empty"]["w"].shape == (0, 3, 2) and H["w"]["empty"].shape == (2, 0, 3)
    np.testing.assert_allclose(H["w"]["w"], np.diag(6 * p["w"]))


def test_non_array_leaves_and_other_structures_are_clear_errors() -> None:
    b = anydiff.DualBackend()
    f = lambda q: np.sum(q["w"])  # noqa: E731
    with pytest.raises(TypeError, match=r"argument 0\['name'\] is a str; the leaves"):
        anydiff.gradient(b, f, {"w": np.ones(2), "name": "layer"})
    with pytest.raises(TypeError, match=r"argument 0\['n'\] must be floating point"):
        anydiff.gradient(b, f, {"w": np.ones(2), "n": np.arange(3)})
    with pytest.raises(TypeError, match=r"argument 0\['w'\]\[1\] is a NoneType"):
        anydiff.gradient(b, lambda q: np.sum(q["w"][0]), {"w": [np.ones(2), None]})
    plan = anydiff.prepare_gradient(b, f, {"w": np.ones(2)})
    with pytest.raises(PreparationMismatchError, match="MISMATCH"):
        plan({"w": np.ones(3)})
    with pytest.raises(PreparationMismatchError, match="MISMATCH"):
        plan({"v": np.ones(2)})
    with pytest.raises(ValueError, match="must have the structure of the argument"):
        anydiff.pushforward_function(b, f, {"w": np.ones(2)})({"w": np.ones(3)})


def test_operators_without_tree_support_refuse() -> None:
    f = lambda q: np.sin(q["w"])  # noqa: E731
    p = {"w": np.ones(3)}
    with pytest.raises(TypeError, match="sparse jacobian"):
        anydiff.jacobian(anydiff.SparseBackend(anydiff.DualBackend()), f, p)
    with pytest.raises(TypeError, match="LazyJacobian"):
        anydiff.lazy_jacobian(anydiff.DualBackend(), f, p)
    cb = anydiff.CallbackBackend(jacobian=lambda x: np.diag(np.cos(x)))
    with pytest.raises(TypeError, match="CallbackBackend"):
        anydiff.jacobian(cb, f, p)


def test_plan_reuse_and_flat_arrays_unchanged() -> None:
    b = anydiff.DualBackend()
    plan = anydiff.prepare_gradient(b, loss, _params())
    q = jax.tree_util.tree_map(lambda a: a + 0.25, _params())
    assert_tree_close(plan(q), jax.grad(loss)(_as("jax", q)), 1e-12)
    # a list of plain numbers is still one array, as before
    J = anydiff.jacobian(b, np.sin, [1.0, 2.0])
    np.testing.assert_allclose(J, np.diag(np.cos([1.0, 2.0])), rtol=1e-14)


def tree_out(p: Any) -> Any:
    m = ns(p["w"])
    return {"a": m.sin(p["w"]) * p["b"][0], "n": (p["b"][1] * 2.0, m.sum(p["w"] * p["w"]))}


@pytest.mark.parametrize("name", ["jax-rev", "dual", "dual-jaxpr", "fd", "torch-rev"])
def test_tree_outputs(name: str) -> None:
    """A dict/nested output: values, Jacobians nested output-first (``jax.jacfwd``), JVPs
    of the output's structure, cotangents of the output's structure."""
    b, kind, rtol = _backend(name)
    p, pj = _params(), _as("jax", _params())
    x = _as(kind, p)
    value, J = anydiff.value_and_jacobian(b, tree_out, x)
    assert_tree_close(value, tree_out(pj), 1e-12)
    assert_tree_close(J, jax.jacfwd(tree_out)(pj), rtol)
    t = jax.tree_util.tree_map(lambda a: np.cos(3 * a + 1), p)
    jvp = anydiff.pushforward_function(b, tree_out, x)(_as(kind, t))
    assert_tree_close(jvp, jax.jvp(tree_out, (pj,), (_as("jax", t),))[1], rtol)
    w = {"a": np.array([1.0, -2.0, 0.5]), "n": (np.full((2, 2), 0.3), np.array(-1.5))}
    vjp = anydiff.pullback_function(b, tree_out, x)(_as(kind, w))
    assert_tree_close(vjp, jax.vjp(tree_out, pj)[1](_as("jax", w))[0], rtol)
    with pytest.raises(ValueError, match="structure of f's output"):
        anydiff.pullback_function(b, tree_out, x)(_as(kind, {"a": w["a"]}))
