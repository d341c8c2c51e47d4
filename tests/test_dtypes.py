"""dtypes, shapes and frameworks (issue #13): float32 in, float32 out on every backend and
operator (also when f upcasts), zero-size inputs, dtype arguments, JAX's x64 mode, torch
modules and containers, Python lists, negative strides, sparse + float16 (issue #18)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

import anydiff
from anydiff import Constant
from anydiff._modes import check_dtype
from conftest import HAS_JAX, HAS_TORCH

X32 = np.array([0.5, 1.0, 2.0], np.float32)


def np_upcast(x: Any) -> Any:
    return np.sin(x.astype(np.float64)) * x.astype(np.float64)


def np_scalar(x: Any) -> Any:
    return np.sum(np.sin(x.astype(np.float64)) ** 2)


def truth_jacobian(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return np.diag(np.cos(x) * x + np.sin(x))


def truth_gradient(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return 2 * np.sin(x) * np.cos(x)


def truth_hessian(x: np.ndarray) -> np.ndarray:
    return np.diag(2 * np.cos(2 * x.astype(np.float64)))


def backends() -> list[tuple[str, Any, Any, Any, Any]]:
    """(name, backend, f, scalar f, input) with f computing in float64 internally."""
    out: list[tuple[str, Any, Any, Any, Any]] = [
        ("fd", anydiff.FiniteDifferences(), np_upcast, np_scalar, X32),
        ("dual", anydiff.DualBackend(), np_upcast, np_scalar, X32),
        (
            "sparse",
            anydiff.SparseBackend(anydiff.DualBackend()),
            np_upcast,
            np_scalar,
            X32,
        ),
    ]
    if HAS_JAX:
        import jax.numpy as jnp

        def jf(x: Any) -> Any:
            return jnp.sin(x.astype(jnp.float64)) * x.astype(jnp.float64)

        def js(x: Any) -> Any:
            return jnp.sum(jnp.sin(x.astype(jnp.float64)) ** 2)

        for mode in ("forward", "reverse"):
            out.append((f"jax-{mode}", anydiff.JaxBackend(mode), jf, js, X32))
        jj = (anydiff.JaxBackend("forward"), anydiff.JaxBackend("reverse"))
        out.append(("higher-order", anydiff.HigherOrderBackend(jj), jf, js, X32))
    if HAS_TORCH:
        import torch

        def tf(x: Any) -> Any:
            return torch.sin(x.double()) * x.double()

        def ts(x: Any) -> Any:
            return torch.sum(torch.sin(x.double()) ** 2)

        for mode in ("forward", "reverse"):
            out.append((f"torch-{mode}", anydiff.TorchBackend(mode), tf, ts, torch.tensor(X32)))
    return out


def _dtype(a: Any) -> str:
    return str(getattr(a, "dtype", type(a))).removeprefix("torch.")


def _host(a: Any) -> np.ndarray:
    if hasattr(a, "toarray"):
        return a.toarray()
    return np.asarray(a.detach() if hasattr(a, "detach") else a, dtype=np.float64)


@pytest.mark.parametrize("name, b, f, s, x", backends(), ids=[c[0] for c in backends()])
def test_float32_in_float32_out_when_f_upcasts(name: str, b: Any, f: Any, s: Any, x: Any) -> None:
    ops = {
        "jacobian": (lambda: anydiff.jacobian(b, f, x), truth_jacobian(X32)),
        "value_and_jacobian": (lambda: anydiff.value_and_jacobian(b, f, x)[1], truth_jacobian(X32)),
        "jvp": (lambda: anydiff.jvp(b, f, x, x), truth_jacobian(X32) @ X32),
        "vjp": (lambda: anydiff.vjp(b, f, x, x), X32 @ truth_jacobian(X32)),
        "gradient": (lambda: anydiff.gradient(b, s, x), truth_gradient(X32)),
        "hessian": (lambda: anydiff.hessian(b, s, x), truth_hessian(X32)),
        "hvp": (lambda: anydiff.hvp(b, s, x, x), truth_hessian(X32) @ X32),
        "batch_jacobian": (
            lambda: anydiff.batch_jacobian(b, f, x[None]),
            truth_jacobian(X32)[None],
        ),
    }
    if name == "sparse":
        ops.pop("batch_jacobian")
    for op, (call, want) in ops.items():
        got = call()
        assert _dtype(got) == "float32" or "csr" in type(got).__name__, (op, _dtype(got))
        if "csr" in type(got).__name__:
            assert got.dtype == np.float32, op
        rtol = 1e-3 if name == "fd" else 1e-5
        np.testing.assert_allclose(_host(got), want, rtol=rtol, atol=rtol, err_msg=op)


@pytest.mark.parametrize("name, b, f, s, x", backends(), ids=[c[0] for c in backends()])
def test_zero_size_inputs_give_empty_results(name: str, b: Any, f: Any, s: Any, x: Any) -> None:
    empty = x[:0].double() if hasattr(x, "double") else x[:0].astype(np.float64)
    assert tuple(anydiff.jacobian(b, f, empty).shape) == (0, 0)
    assert tuple(anydiff.gradient(b, s, empty).shape) == (0,)
    assert tuple(anydiff.jvp(b, f, empty, empty).shape) == (0,)
    if name != "sparse":
        X = empty[None].repeat(2, 0) if hasattr(empty, "numpy") else np.zeros((2, 0))
        assert tuple(anydiff.batch_jacobian(b, f, X).shape) == (2, 0, 0)
        points = x[:0, None].repeat(1, 3) if hasattr(x, "numpy") else np.zeros((0, 3), X32.dtype)
        J = anydiff.batch_jacobian(b, f, points)
        assert tuple(J.shape) == (0, 3, 3) and _dtype(J) == "float32"


def test_batch_sized_by_user_input_is_memory_error_before_work() -> None:
    calls = []

    def f(x: Any) -> Any:
        calls.append(1)
        return np.tile(x, 100000)

    with pytest.raises(
        MemoryError, match=r"the batch of jacobians of shape \(10000000, 1000000, 10\)"
    ):
        anydiff.batch_jacobian(anydiff.FiniteDifferences(), f, np.zeros((10**7, 10)))
    assert len(calls) == 1  # f at the first point only (the output's shape), no products


def test_dtype_arguments_accept_what_np_dtype_accepts() -> None:
    for value in ("float32", np.float32, np.dtype("f4"), "f4"):
        assert check_dtype("dtype", value) == "float32"
    for value in ("float64", np.float64, float, "d"):
        assert check_dtype("dtype", value) == "float64"
    with pytest.raises(ValueError, match=r"one of 'float32', 'float64'; got 'int32' \(int32\)"):
        check_dtype("dtype", "int32")
    with pytest.raises(ValueError, match="got 'nonsense'"):
        check_dtype("dtype", "nonsense")
    with pytest.raises(ValueError, match=r"dtype=.*is for device='gpu'"):
        anydiff.DualBackend(dtype=np.float64)
    with pytest.raises(ValueError, match=r"float16"):
        anydiff.DualBackend(device="gpu", dtype=np.float16)


def test_python_list_input() -> None:
    J = anydiff.jacobian(anydiff.FiniteDifferences(), np.sin, [1.0, 2.0])
    np.testing.assert_allclose(J, np.diag(np.cos([1.0, 2.0])), rtol=1e-8)
    J = anydiff.jacobian(anydiff.DualBackend(), np.sin, [1.0, 2.0])
    np.testing.assert_allclose(J, np.diag(np.cos([1.0, 2.0])), rtol=1e-14)


def test_sparse_float16_refused_at_preparation() -> None:
    with pytest.raises(TypeError, match="must be float32 or float64; got float16"):
        anydiff.prepare_jacobian(
            anydiff.SparseBackend(anydiff.FiniteDifferences()), np.sin, np.ones(3, np.float16)
        )


def test_containers_of_arrays_are_differentiated_or_constants() -> None:
    # differentiated: a pytree argument (tests/test_pytree_args.py has the rest)
    J = anydiff.jacobian(anydiff.FiniteDifferences(), lambda p: 2 * p["w"], {"w": np.ones(2)})
    np.testing.assert_allclose(J["w"], 2 * np.eye(2), rtol=1e-8)
    J = anydiff.jacobian(
        anydiff.FiniteDifferences(), lambda x, p: p["w"] * x, np.ones(2), Constant({"w": 3.0})
    )
    np.testing.assert_allclose(J, 3 * np.eye(2), rtol=1e-8)


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch")
def test_torch_module_dtype_mismatch_and_strides() -> None:
    import torch

    lin = torch.nn.Linear(3, 2)
    with pytest.raises(TypeError, match=r"inputs are float64 but the torch module's parameters"):
        anydiff.jacobian(anydiff.TorchBackend("forward"), lin, np.ones(3))
    J = anydiff.jacobian(anydiff.TorchBackend("reverse"), lin, np.ones(3, np.float32))
    np.testing.assert_allclose(np.asarray(J), lin.weight.detach().numpy(), rtol=1e-6)
    flipped = np.arange(1.0, 5.0)[::-1]  # negative strides
    J = anydiff.jacobian(anydiff.TorchBackend("forward"), lambda x: x**2, flipped)
    np.testing.assert_allclose(np.asarray(J), np.diag(2 * flipped))
    t = torch.flip(torch.arange(1.0, 5.0, dtype=torch.float64), (0,))
    J = anydiff.jacobian(anydiff.TorchBackend("forward"), lambda x: x**2, t)
    np.testing.assert_allclose(J.numpy(), np.diag(2 * t.numpy()))
    J = anydiff.jacobian(
        anydiff.TorchBackend("reverse"),
        lambda x, p: p["w"] @ x,
        torch.ones(3),
        Constant({"w": torch.ones(2, 3)}),
    )
    assert J.dtype == torch.float32 and tuple(J.shape) == (2, 3)


@pytest.mark.skipif(not HAS_JAX, reason="needs jax")
def test_jax_x64_off_warns_once(tmp_path: Any) -> None:
    # a script file of its own: the warning must point at the user's call in it (line 7),
    # not inside anydiff
    script = tmp_path / "user_script.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, warnings
            import numpy as np, jax.numpy as jnp, anydiff
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                b = anydiff.JaxBackend("forward")
                J = anydiff.jacobian(b, jnp.sin, np.ones(3))
                anydiff.jacobian(b, jnp.cos, np.ones(4))
            hits = [i for i in w if "jax_enable_x64" in str(i.message)]
            where = [[i.filename, i.lineno] for i in hits]
            print(json.dumps([[str(i.message) for i in hits], where, str(J.dtype)]))
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}  # JAX's default
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
    )
    msgs, where, dtype = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(msgs) == 1 and "float32-accurate" in msgs[0], msgs
    assert where == [[str(script), 7]], where
    assert dtype == "float32"
