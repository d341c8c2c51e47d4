"""Figures of issue #16 (batches beyond one memory and one process), Lotka-Volterra
Jacobians with ``DualBackend``:

* Dask: ``--dask-points`` points (default 10^7) as a dask.array on a LocalCluster of two
  worker processes vs ``batch_jacobian`` on the numpy array in this process, same run;
  overhead = dask time / single-process time - 1 (target <= 25%).
* Streaming: ``--stream-points`` points (default 2x10^7) from a memmap into a memmap,
  ``--chunk`` points at a time: throughput against the in-memory figure (target >= 80%)
  and the peak RSS growth (the run's high-water mark, reset before the call) against one
  in-memory chunk's.

``python benches/bench_scale.py [--dask-points N] [--stream-points N] [--chunk N]``
writes ``benches/results/scale.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import anydiff as ad

RESULTS = Path(__file__).parent / "results" / "scale.json"


def lotka_volterra(z: Any) -> Any:
    """Right-hand side (a x - b x y, c x y - d y) of z = (x, y, a, b, c, d)."""
    x, y, a, b, c, d = z[0], z[1], z[2], z[3], z[4], z[5]
    return np.stack([a * x - b * x * y, c * x * y - d * y])


def _status(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def dask_figures(n: int, chunk: int) -> dict[str, Any]:
    import dask.array as da
    import distributed

    X = np.random.default_rng(0).random((n, 6))
    b = ad.DualBackend()
    ad.batch_jacobian(b, lotka_volterra, X[:chunk])  # compile here
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.run(ad.batch_jacobian, b, lotka_volterra, X[:10])  # workers import, compile
        D = da.from_array(X, chunks=(chunk, 6)).persist()  # points already on the workers
        distributed.wait(D)
        t = time.perf_counter()
        expected = ad.batch_jacobian(b, lotka_volterra, X)
        single = time.perf_counter() - t
        del expected
        t = time.perf_counter()
        total = ad.batch_jacobian(b, lotka_volterra, D).sum().compute()
        on_dask = time.perf_counter() - t
    del total
    return {
        "points": n,
        "chunk": chunk,
        "single_process_s": single,
        "dask_2_workers_s": on_dask,
        "overhead": on_dask / single - 1,
        "target_overhead": 0.25,
        "note": "the Dask time sums the result on the workers (no gather of the Jacobians)",
    }


def streaming_figures(n: int, chunk: int) -> dict[str, Any]:
    b = ad.DualBackend()
    folder = tempfile.mkdtemp()
    try:
        path_x, path_j = os.path.join(folder, "x.npy"), os.path.join(folder, "j.npy")
        X = np.lib.format.open_memmap(path_x, "w+", np.float64, (n, 6))
        rng = np.random.default_rng(0)
        for s in range(0, n, chunk):
            X[s : s + chunk] = rng.random((min(chunk, n - s), 6))
        X.flush()
        del X
        X = np.load(path_x, mmap_mode="r")
        out = np.lib.format.open_memmap(path_j, "w+", np.float64, (n, 2, 6))
        in_memory = np.array(X[: 10 * chunk])
        ad.batch_jacobian(b, lotka_volterra, in_memory[:chunk])
        gc.collect()
        _reset_peak()
        base = _status("VmRSS")
        t = time.perf_counter()
        ad.batch_jacobian(b, lotka_volterra, in_memory[:chunk])
        chunk_s = time.perf_counter() - t
        working_set = _status("VmHWM") - base
        t = time.perf_counter()
        ad.batch_jacobian(b, lotka_volterra, in_memory)
        in_memory_rate = len(in_memory) / (time.perf_counter() - t)
        del in_memory
        gc.collect()
        _reset_peak()
        base = _status("VmRSS")
        t = time.perf_counter()
        ad.batch_jacobian(b, lotka_volterra, X, out=out, chunk_size=chunk)
        stream_s = time.perf_counter() - t
        streamed = _status("VmHWM") - base
        del out, X
    finally:
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        os.rmdir(folder)
    rate = n / stream_s
    return {
        "points": n,
        "chunk": chunk,
        "one_chunk_in_memory_s": chunk_s,
        "chunk_working_set_bytes": working_set,
        "stream_peak_rss_growth_bytes": streamed,
        "peak_over_working_set": streamed / working_set,
        "total_bytes_in_and_out": n * 18 * 8,
        "stream_points_per_s": rate,
        "in_memory_points_per_s": in_memory_rate,
        "throughput_ratio": rate / in_memory_rate,
        "target_throughput_ratio": 0.8,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dask-points", type=int, default=10**7)
    parser.add_argument("--stream-points", type=int, default=2 * 10**7)
    parser.add_argument("--chunk", type=int, default=10**6)
    opts = parser.parse_args()
    figures = {
        "streaming": streaming_figures(opts.stream_points, opts.chunk),
        "dask": dask_figures(opts.dask_points, opts.chunk),
    }
    print(json.dumps(figures, indent=2))
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
