"""GPU benchmarks of anydiff's wgpu engine against JAX on the same GPU, in one run.

Made for a machine with a GPU, Python, JAX and numpy but no Rust and no network: it takes a
prebuilt anydiff wheel (abi3, built with ``maturin build --release``) and, where the
machine lacks a Vulkan loader, the loader packages (``shared/gpu/vulkan-loader-debs.sh``),
installs both, and writes JSON with the adapter and JAX device that gave each figure.
Runs on any Vulkan adapter, lavapipe included (there only the throughput is of interest).

Figures:

* Lotka-Volterra Jacobian at ``--points`` points (10^7 by default), f32 and f64:
  anydiff with points and results resident on the GPU / jax.jit(jax.vmap(jax.jacfwd)) on
  device arrays (target <= 2), and anydiff including the transfers, with the share of the
  time spent moving data.
* Brusselator sparse Jacobian (N = 512): anydiff on the GPU, when the program can run
  there, against jax.jit(asdex.jacobian) on the same GPU (target <= 2).

Usage (on the GPU machine, from the repository root or anywhere):
    python benches/gpu/bench_gpu.py --wheel anydiff-*.whl --debs DIR [--points N] [--out F]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "results" / "gpu.json"
NVIDIA_ICD = "/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json"


def install(wheel: str | None, debs: str | None) -> list[str]:
    """Unpacks the Vulkan loader packages and installs the wheel; returns what was done."""
    done = []
    if debs:
        for deb in sorted(glob.glob(os.path.join(debs, "*.deb"))):
            subprocess.run(["dpkg", "-x", deb, "/"], check=True)
            done.append(f"unpacked {os.path.basename(deb)}")
        subprocess.run(["ldconfig"], check=False)
    if "VK_DRIVER_FILES" not in os.environ and os.path.exists(NVIDIA_ICD):
        os.environ["VK_DRIVER_FILES"] = NVIDIA_ICD
        done.append(f"VK_DRIVER_FILES={NVIDIA_ICD}")
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    if wheel:
        cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--force-reinstall", wheel]
        subprocess.run(cmd, check=True, capture_output=True)
        done.append(f"installed {os.path.basename(wheel)}")
    return done


def best(call: Callable[[], Any], repeats: int) -> float:
    """Fewest seconds of ``repeats`` calls (after one warm-up call)."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def lotka_volterra(z: Any, xp: Any) -> Any:
    x, y, a, b, c, d = z[0], z[1], z[2], z[3], z[4], z[5]
    return xp.stack([a * x - b * x * y, c * x * y - d * y])


def lv_figures(points: int, repeats: int) -> dict[str, Any]:
    """LV Jacobians: anydiff resident, anydiff with transfers, JAX on device arrays."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from anydiff import _core
    from anydiff.ir._compile import TracedProgram, trace

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    host64 = rng.uniform(0.5, 1.5, (points, 6))
    graph, is_param = trace(lambda xs, cs: lotka_volterra(xs[0], np), (host64[0],), (), "numpy")
    program = TracedProgram(graph, is_param).program
    native = jax.jit(jax.vmap(jax.jacfwd(lambda z: lotka_volterra(z, jnp))))

    def measure(dtype: str) -> dict[str, Any]:
        host = host64.astype(dtype)
        empty = np.zeros(0, dtype)
        kernel = _core.GpuKernel(program, dtype)
        row: dict[str, Any] = {"points": points}
        try:
            resident = kernel.resident(host, empty, empty)
            row["anydiff_resident_s"] = best(resident.run, repeats)
        except (ValueError, RuntimeError) as err:  # more points than one dispatch holds
            row["anydiff_resident_error"] = str(err)
        row["anydiff_with_transfers_s"] = best(lambda: kernel.run(host, empty, empty), repeats)
        device = jax.device_put(host)
        row["jax_s"] = best(lambda: native(device).block_until_ready(), repeats)
        _, jac = kernel.run(host[:1000], empty, empty)
        want = np.asarray(native(jax.device_put(host[:1000])))
        row["max_abs_diff_vs_jax"] = float(np.abs(jac - want).max())
        if "anydiff_resident_s" in row:
            row["ratio_resident_vs_jax"] = row["anydiff_resident_s"] / row["jax_s"]
            moving = row["anydiff_with_transfers_s"] - row["anydiff_resident_s"]
            row["transfer_share"] = max(moving, 0.0) / row["anydiff_with_transfers_s"]
        seconds = {k[:-2]: v for k, v in row.items() if k.endswith("_s")}
        row["ns_per_point"] = {k: v / points * 1e9 for k, v in seconds.items()}
        return row

    out = {dtype: measure(dtype) for dtype in ("float32", "float64")}
    return out


def brusselator_figures(n_grid: int, repeats: int) -> dict[str, Any]:
    """Sparse Brusselator Jacobian on the GPU: anydiff (if it runs there) and jitted asdex."""
    import jax
    import jax.numpy as jnp

    import anydiff
    from anydiff.bench.problems import brusselator_init, brusselator_rhs

    row: dict[str, Any] = {"n_grid": n_grid, "states": 2 * n_grid**2}
    x = brusselator_init(n_grid)
    try:
        import asdex

        xj = jnp.asarray(x)
        fj = lambda u: brusselator_rhs(u, n_grid, 0.0, "jax")  # noqa: E731
        native = jax.jit(asdex.jacobian(fj, xj))
        row["asdex_s"] = best(lambda: jax.block_until_ready(native(xj)), repeats)
    except ImportError as err:
        row["asdex_error"] = str(err)
    try:
        backend = anydiff.SparseBackend(
            anydiff.DualBackend(device="gpu"), detector=anydiff.TracerDetector()
        )
        fn = lambda u: brusselator_rhs(u, n_grid, 0.0, "numpy")  # noqa: E731
        plan = anydiff.prepare_jacobian(backend, fn, x)
        row["anydiff_s"] = best(lambda: plan(x), repeats)
        if "asdex_s" in row:
            row["ratio_vs_asdex"] = row["anydiff_s"] / row["asdex_s"]
    except (ValueError, RuntimeError) as err:
        row["anydiff_error"] = str(err)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", help="anydiff wheel to install first")
    parser.add_argument("--debs", help="directory of Vulkan loader .debs to unpack first")
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--grid", type=int, default=512, help="Brusselator N")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()
    steps = install(args.wheel, args.debs)
    import jax

    from anydiff import _core

    adapter = _core.gpu_adapter()
    result: dict[str, Any] = {
        "machine": {
            "anydiff_adapter": adapter,
            "jax_devices": [str(d) for d in jax.devices()],
            "python": platform.python_version(),
            "host": platform.node(),
        },
        "setup": steps,
        "lotka_volterra": lv_figures(args.points, args.repeats),
        "brusselator": brusselator_figures(args.grid, args.repeats),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
