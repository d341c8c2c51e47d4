"""DualBackend(device="gpu"): the wgpu engine against the CPU engine (float64 to 1e-13,
float32 to 1e-5), its resident kernels, and its errors. Runs on any Vulkan adapter, Mesa's
lavapipe in CI; tests marked ``gpu`` need a real GPU."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import anydiff
from anydiff import _core
from conftest import gpu_adapter

ADAPTER = gpu_adapter()
pytestmark = pytest.mark.skipif(ADAPTER is None, reason="no GPU adapter (Vulkan)")


def lotka_volterra(z):
    x, y, a, b, c, d = z[0], z[1], z[2], z[3], z[4], z[5]
    return np.stack([a * x - b * x * y, c * x * y - d * y])


def mixed(x, w):
    """Elementwise functions, a reduction, a matrix product and a where."""
    h = np.tanh(w @ x) + np.exp(-(x[:3] ** 2))
    return np.concatenate(
        [np.where(h > 0.2, np.sqrt(1 + h * h), np.log1p(h * h)), h.sum(keepdims=True)]
    )


POINTS = np.random.default_rng(0).uniform(0.5, 1.5, (2000, 6))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lotka_volterra_batch_jacobian_matches_the_cpu_engine(dtype: str) -> None:
    gpu = anydiff.batch_jacobian(
        anydiff.DualBackend(device="gpu", dtype=dtype), lotka_volterra, POINTS
    )
    pts = POINTS.astype(dtype)
    cpu = anydiff.batch_jacobian(anydiff.DualBackend(), lotka_volterra, pts)
    assert gpu.dtype == np.dtype(dtype) and gpu.shape == (len(POINTS), 2, 6)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-13 if dtype == "float64" else 1e-5, atol=1e-6)


def test_float32_inputs_pick_float32_kernels() -> None:
    x = POINTS[:10].astype(np.float32)
    jac = anydiff.batch_jacobian(anydiff.DualBackend(device="gpu"), lotka_volterra, x)
    assert jac.dtype == np.float32


def test_jacobian_pushforward_and_batch_gradient_match_the_cpu_engine() -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(size=(3, 70)) / 8  # 70 inputs: more lanes than one kernel (64) carries
    x = rng.uniform(-1, 1, 70)
    gpu, cpu = anydiff.DualBackend(device="gpu"), anydiff.DualBackend()
    f = lambda x: mixed(x, w)  # noqa: E731
    np.testing.assert_allclose(
        anydiff.jacobian(gpu, f, x), anydiff.jacobian(cpu, f, x), rtol=1e-13, atol=1e-15
    )
    v = rng.normal(size=70)
    np.testing.assert_allclose(
        anydiff.jvp(gpu, f, x, v), anydiff.jvp(cpu, f, x, v), rtol=1e-13, atol=1e-15
    )
    g = lambda x: np.sum(np.sin(x) * x[::-1])  # noqa: E731
    xs = rng.uniform(-2, 2, (50, 4))
    np.testing.assert_allclose(
        anydiff.batch_gradient(gpu, g, xs), anydiff.batch_gradient(cpu, g, xs), rtol=1e-13
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_brusselator_sparse_jacobian_runs_as_an_array_program(dtype: str) -> None:
    from anydiff.bench.problems import brusselator_init, brusselator_rhs

    n_grid = 48  # 4608 states: too large for a per-point kernel, one dispatch per op
    x = brusselator_init(n_grid)

    def fn(u):
        return brusselator_rhs(u, n_grid, 0.0, "numpy")

    def sparse(device: str, **kw) -> anydiff.SparseBackend:
        inner = anydiff.DualBackend(device=device, **kw)
        return anydiff.SparseBackend(inner, detector=anydiff.TracerDetector())

    cpu = anydiff.jacobian(sparse("cpu"), fn, x)
    gpu = anydiff.jacobian(sparse("gpu", dtype=dtype), fn, x)
    assert gpu.nnz == cpu.nnz == 6 * len(x)
    tol = 1e-13 if dtype == "float64" else 1e-5
    assert abs(gpu - cpu).max() <= tol * abs(cpu).max()


def test_parameters_reach_the_kernel() -> None:
    def f(z, k):
        return np.sin(k[0] * z) * k[1]

    k = np.array([2.0, -3.0])
    gpu = anydiff.prepare_jacobian(
        anydiff.DualBackend(device="gpu"), f, np.ones(4), anydiff.Constant(k)
    )
    x = np.linspace(0.1, 0.9, 4)
    np.testing.assert_allclose(
        gpu(x, anydiff.Constant(k)), np.diag(k[0] * k[1] * np.cos(k[0] * x)), rtol=1e-13
    )
    k2 = np.array([0.5, 4.0])
    np.testing.assert_allclose(
        gpu(x, anydiff.Constant(k2)), np.diag(k2[0] * k2[1] * np.cos(k2[0] * x)), rtol=1e-13
    )


def test_resident_kernel_keeps_points_on_the_gpu() -> None:
    from anydiff.ir._compile import TracedProgram, trace

    graph, is_param = trace(lambda xs, cs: lotka_volterra(xs[0]), (POINTS[0],), (), "numpy")
    prog = TracedProgram(graph, is_param).program
    kernel = _core.GpuKernel(prog, "float64")
    empty = np.zeros(0)
    values, jac = kernel.run(POINTS, empty, empty)
    resident = kernel.resident(POINTS, empty, empty)
    resident.run()
    rv, rj = resident.read()
    np.testing.assert_array_equal(rv, values)
    np.testing.assert_array_equal(rj, jac)
    assert "fn main" in kernel.source and kernel.lanes == 6


def test_batch_plan_keeps_points_resident() -> None:
    backend = anydiff.DualBackend(device="gpu")
    plan = anydiff.BatchPlan("jacobian", backend, lotka_volterra, POINTS)
    on_gpu = plan.resident(POINTS)
    on_gpu.run()
    np.testing.assert_array_equal(on_gpu.read(), plan(POINTS))
    g = anydiff.BatchPlan("gradient", backend, lambda z: np.sum(z * z), POINTS)
    on_gpu = g.resident(POINTS)
    on_gpu.run()
    np.testing.assert_allclose(on_gpu.read(), 2 * POINTS, rtol=1e-15)
    cpu_plan = anydiff.BatchPlan("jacobian", anydiff.DualBackend(), lotka_volterra, POINTS)
    with pytest.raises(TypeError, match="device='gpu'"):
        cpu_plan.resident(POINTS)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="dtype"):
        anydiff.DualBackend(device="gpu", dtype="float16")
    with pytest.raises(ValueError, match="device='gpu'"):
        anydiff.DualBackend(dtype="float32")
    with pytest.raises(ValueError, match="erf"):
        import jax.numpy as jnp
        from jax.scipy.special import erf

        anydiff.jacobian(
            anydiff.DualBackend(device="gpu", dtype="float64", frontend="jax"),
            lambda x: erf(x) * jnp.ones(2),
            np.ones(2),
        )
    from anydiff.ir._compile import TracedProgram, trace

    graph, is_param = trace(lambda xs, cs: np.sin(xs[0]), (np.ones(3),), (), "numpy")
    with pytest.raises(ValueError, match="at most 64"):
        _core.GpuArrayKernel(TracedProgram(graph, is_param).program, "float64", 65)
    with pytest.raises(anydiff.ShapeError if hasattr(anydiff, "ShapeError") else ValueError):
        from anydiff.ir._compile import TracedProgram, trace

        graph, is_param = trace(lambda xs, cs: lotka_volterra(xs[0]), (POINTS[0],), (), "numpy")
        _core.GpuKernel(TracedProgram(graph, is_param).program, "float64").run(
            np.ones((3, 5)), np.zeros(0), np.zeros(0)
        )


def test_no_adapter_is_a_clear_error() -> None:
    code = "import anydiff; anydiff.DualBackend(device='gpu')"
    env = {**os.environ, "ANYDIFF_WGPU_ADAPTER": "no-such-adapter-anywhere"}
    env.pop("ANYDIFF_REQUIRE_GPU", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert "GpuUnavailable" in out.stderr and "no-such-adapter-anywhere" in out.stderr


def test_float64_without_shader_f64_is_a_clear_error() -> None:
    """ANYDIFF_WGPU_NO_F64=1 opens the device without shader-f64, as on an adapter that
    lacks it: float64 raises GpuUnavailable saying so, float32 still runs."""
    code = (
        "import numpy as np, anydiff\n"
        "f = lambda z: np.stack([z[2] * z[0] - z[3] * z[0] * z[1], z[1] * z[4]])\n"
        "x = np.random.default_rng(0).uniform(0.5, 1.5, (40, 6))\n"
        "j = anydiff.batch_jacobian(anydiff.DualBackend(device='gpu'), f, x.astype(np.float32))\n"
        "want = anydiff.batch_jacobian(anydiff.DualBackend(), f, x)\n"
        "assert np.allclose(j, want, rtol=1e-5, atol=1e-6), 'float32 differs'\n"
        "print('float32 ok', flush=True)\n"
        "anydiff.batch_jacobian(anydiff.DualBackend(device='gpu', dtype='float64'), f, x)\n"
    )
    env = {**os.environ, "ANYDIFF_WGPU_NO_F64": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "float32 ok" in out.stdout, out.stderr
    assert out.returncode != 0
    assert "GpuUnavailable" in out.stderr and "shader-f64" in out.stderr, out.stderr


@pytest.mark.gpu
def test_real_gpu_runs_ten_million_points() -> None:
    x = np.random.default_rng(2).uniform(0.5, 1.5, (10_000_000, 6)).astype(np.float32)
    jac = anydiff.batch_jacobian(anydiff.DualBackend(device="gpu"), lotka_volterra, x)
    cpu = anydiff.batch_jacobian(anydiff.DualBackend(), lotka_volterra, x[:1000])
    np.testing.assert_allclose(jac[:1000], cpu, rtol=1e-5, atol=1e-6)
