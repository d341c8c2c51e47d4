"""Streaming batches: ``batch_*(..., out=, chunk_size=)``, memmaps and iterators of chunks,
with peak memory bounded by the chunk (measured in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import anydiff as ad


def lotka_volterra(z: Any) -> Any:
    x, y, a, b, c, d = z[0], z[1], z[2], z[3], z[4], z[5]
    return np.stack([a * x - b * x * y, c * x * y - d * y])


def energy(z: Any) -> Any:
    return (z * z).sum() * z[0]


X = np.random.default_rng(3).random((1000, 6))


@pytest.mark.parametrize("backend", [ad.DualBackend(), ad.FiniteDifferences()])
def test_out_and_chunk_size_give_the_in_memory_result(backend: Any) -> None:
    expected = ad.batch_jacobian(backend, lotka_volterra, X)
    out = np.empty_like(expected)
    assert ad.batch_jacobian(backend, lotka_volterra, X, out=out, chunk_size=128) is out
    assert np.array_equal(out, expected)
    chunked = ad.batch_jacobian(backend, lotka_volterra, X, chunk_size=300)
    assert np.array_equal(chunked, expected)


@pytest.mark.parametrize("operator", ["gradient", "hessian"])
def test_every_batch_operator_streams(operator: str) -> None:
    fn = getattr(ad, f"batch_{operator}")
    expected = fn(ad.DualBackend(), energy, X)
    chunks = (X[i : i + 250] for i in range(0, len(X), 250))
    assert np.array_equal(fn(ad.DualBackend(), energy, chunks), expected)


def test_memmap_in_and_out(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, X)
    Xm = np.load(path, mmap_mode="r")
    out = np.lib.format.open_memmap(tmp_path / "j.npy", "w+", np.float64, (len(X), 2, 6))
    ad.batch_jacobian(ad.DualBackend(), lotka_volterra, Xm, out=out, chunk_size=97)
    out.flush()
    again = np.load(tmp_path / "j.npy")
    assert np.array_equal(again, ad.batch_jacobian(ad.DualBackend(), lotka_volterra, X))


def test_an_iterator_of_chunks_fills_out() -> None:
    out = np.empty((len(X), 2, 6))
    chunks = iter([X[:10], X[10:700], X[700:]])
    ad.batch_jacobian(ad.DualBackend(), lotka_volterra, chunks, out=out)
    assert np.array_equal(out, ad.batch_jacobian(ad.DualBackend(), lotka_volterra, X))


def test_bad_out_and_chunks_are_refused_clearly() -> None:
    b = ad.DualBackend()
    with pytest.raises(ValueError, match=r"out must have shape \(1000, 2, 6\); got \(999, 2, 6\)"):
        ad.batch_jacobian(b, lotka_volterra, X, out=np.empty((999, 2, 6)))
    with pytest.raises(TypeError, match="out must have dtype float64; got float32"):
        ad.batch_jacobian(b, lotka_volterra, X, out=np.empty((1000, 2, 6), np.float32))
    with pytest.raises(ValueError, match="chunk_size must be a positive int; got 0"):
        ad.batch_jacobian(b, lotka_volterra, X, chunk_size=0)
    with pytest.raises(ValueError, match="out holds 1000 points; the chunks gave 500"):
        ad.batch_jacobian(b, lotka_volterra, iter([X[:500]]), out=np.empty((1000, 2, 6)))
    with pytest.raises(ValueError, match="out holds 10 points; chunk 1 brings the count to 20"):
        ad.batch_jacobian(b, lotka_volterra, iter([X[:10], X[:10]]), out=np.empty((10, 2, 6)))
    with pytest.raises(ValueError, match="gave no chunk"):
        ad.batch_jacobian(b, lotka_volterra, iter([]))
    with pytest.raises(TypeError, match=r"X must be an array, a dask\.array or an iterator"):
        ad.batch_jacobian(b, lotka_volterra, 3.0)


def test_a_failing_chunk_is_named() -> None:
    chunks = iter([X[:10], X[:10, :5]])
    with pytest.raises(ValueError, match=r"chunk 1 \(points 10 to 19\)"):
        ad.batch_jacobian(ad.DualBackend(), lotka_volterra, chunks)


_PEAK_RSS = """
import gc, json, os, sys, tempfile
import numpy as np
import anydiff as ad

n, chunk = int(sys.argv[1]), int(sys.argv[2])

def lotka_volterra(z):
    x, y, a, b, c, d = z[0], z[1], z[2], z[3], z[4], z[5]
    return np.stack([a * x - b * x * y, c * x * y - d * y])

def status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) * 1024

def reset_peak():
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")

folder = tempfile.mkdtemp(dir=sys.argv[3])
X = np.lib.format.open_memmap(os.path.join(folder, "x.npy"), "w+", np.float64, (n, 6))
rng = np.random.default_rng(0)
for s in range(0, n, chunk):
    X[s : s + chunk] = rng.random((min(chunk, n - s), 6))
X.flush()
del X
X = np.load(os.path.join(folder, "x.npy"), mmap_mode="r")
out = np.lib.format.open_memmap(os.path.join(folder, "j.npy"), "w+", np.float64, (n, 2, 6))
b = ad.DualBackend()
ad.batch_jacobian(b, lotka_volterra, np.array(X[:chunk]))  # compiles the kernel
gc.collect()
reset_peak()
base = status("VmRSS")
ad.batch_jacobian(b, lotka_volterra, np.array(X[:chunk]))
working_set = status("VmHWM") - base
gc.collect()
reset_peak()
base = status("VmRSS")
ad.batch_jacobian(b, lotka_volterra, X, out=out, chunk_size=chunk)
streamed = status("VmHWM") - base
ok = bool(np.array_equal(out[-3:], ad.batch_jacobian(b, lotka_volterra, np.array(X[-3:]))))
print(json.dumps({"working_set": working_set, "streamed": streamed, "ok": ok}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_streaming_peak_memory_follows_the_chunk_not_the_batch(tmp_path: Path) -> None:
    n, chunk = 2_000_000, 100_000
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, str(n), str(chunk), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if "clear_refs" in done.stderr and "Permission" in done.stderr:
        pytest.skip("this kernel does not let a process reset its peak RSS")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    total = n * (6 + 12) * 8  # the points and their Jacobians
    assert figures["ok"]
    # the in-memory peak can read near zero when its pages were already resident: the
    # chunk's own data (points and Jacobians) is the floor of its working set
    working_set = max(figures["working_set"], total // (n // chunk))
    assert figures["streamed"] < 3 * working_set, figures
    assert figures["streamed"] < total / 4, figures
