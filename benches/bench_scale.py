"""Figures of issue #16 (batches beyond one memory and one process), Lotka-Volterra
Jacobians with ``DualBackend``:

* Dask: ``--dask-points`` points (default 10^7) as a dask.array of ``--dask-chunk``-point
  blocks (default 2.5x10^6: two blocks of about 0.1 s per worker, above Dask's per-block
  cost of about 10 ms) on a LocalCluster of two worker processes vs ``batch_jacobian`` on the numpy
  array in this process, same run, same cores; overhead = dask time / single-process
  time - 1 (target <= 25%), with the phases (see ``dask_figures``).
* Streaming: ``--stream-points`` points (default 2x10^7) from a memmap into a memmap,
  ``--chunk`` points at a time: throughput against the in-memory figure (target >= 80%)
  and the peak RSS growth (the run's high-water mark, reset before the call) against one
  in-memory chunk's.

``python benches/bench_scale.py [--dask-points N] [--dask-chunk N] [--repeats N]
[--stream-points N] [--chunk N] [--only dask|streaming]`` updates
``benches/results/scale.json``.
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


def _median(values: list[float]) -> float:
    return float(np.median(values))


def dask_figures(n: int, chunk: int, repeats: int) -> dict[str, Any]:
    """Dask on two worker processes against one process, both on the same cores: each
    worker runs one task at a time on one engine thread (``threads_per_worker=1``,
    ``RAYON_NUM_THREADS=1`` in the workers' environment), the single process runs the
    engine's threads on every core. Phases, medians of ``repeats`` runs: building the
    lazy graph (with the caller's probe plan), the tasks' compute on the busiest worker
    (Dask's task stream; the first block there prepares the worker's plan), Dask's own
    floor (a no-op ``map_blocks`` over the same blocks, reduced the same way), and the
    whole call and ``.sum().compute()`` (results stay on the workers; the single process
    sums its result too); and the CPU
    seconds each side used (this process's, for Dask plus the workers'), which the
    machine's other load does not inflate as it does wall-clock times."""
    import dask.array as da
    import distributed
    import psutil

    X = np.random.default_rng(0).random((n, 6))
    b = ad.DualBackend()
    ad.batch_jacobian(b, lotka_volterra, X[:chunk])  # compile here
    t = time.perf_counter()
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"RAYON_NUM_THREADS": "1"},
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        cluster_start = time.perf_counter() - t
        client.run(ad.batch_jacobian, b, lotka_volterra, X[:10])  # workers import, compile
        t = time.perf_counter()
        D = da.from_array(X, chunks=(chunk, 6)).persist()  # points already on the workers
        distributed.wait(D)
        scatter = time.perf_counter() - t
        phases: dict[str, list[float]] = {
            k: [] for k in ("single_process_s", "graph_s", "busiest_worker_compute_s", "noop_s")
        }
        phases["dask_2_workers_s"] = []
        for key in ("single_process_cpu_s", "dask_cpu_s", "dask_workers_cpu_s", "noop_cpu_s"):
            phases[key] = []
        workers = [psutil.Process(pid) for pid in client.run(os.getpid).values()]
        client.get_task_stream()  # the scheduler records the task stream from now on
        for _ in range(repeats):
            cpu = time.process_time()
            t = time.perf_counter()
            ad.batch_jacobian(b, lotka_volterra, X).sum()  # the same work as Dask's below
            phases["single_process_s"].append(time.perf_counter() - t)
            phases["single_process_cpu_s"].append(time.process_time() - cpu)
            cpu, workers_cpu = time.process_time(), _cpu(workers)
            t = time.perf_counter()
            lazy = ad.batch_jacobian(b, lotka_volterra, D)
            phases["graph_s"].append(time.perf_counter() - t)
            started = time.time()
            lazy.sum().compute()
            phases["dask_2_workers_s"].append(time.perf_counter() - t)
            workers_cpu = _cpu(workers) - workers_cpu
            phases["dask_workers_cpu_s"].append(workers_cpu)
            phases["dask_cpu_s"].append(workers_cpu + time.process_time() - cpu)
            phases["busiest_worker_compute_s"].append(_busiest(client, started))
            noop = D.map_blocks(_noop, chunks=(D.chunks[0], (1,)), dtype=X.dtype)
            cpu, workers_cpu = time.process_time(), _cpu(workers)
            t = time.perf_counter()
            noop.sum().compute()
            phases["noop_s"].append(time.perf_counter() - t)
            phases["noop_cpu_s"].append(_cpu(workers) - workers_cpu + time.process_time() - cpu)
    figures = {key: _median(values) for key, values in phases.items()}
    return {
        "points": n,
        "chunk": chunk,
        "repeats": repeats,
        "cluster_start_s": cluster_start,
        "scatter_s": scatter,
        **figures,
        "overhead": figures["dask_2_workers_s"] / figures["single_process_s"] - 1,
        "overheads": [
            d / s - 1 for d, s in zip(phases["dask_2_workers_s"], phases["single_process_s"])
        ],
        "target_overhead": 0.25,
        "load_average": os.getloadavg(),
        "note": "both sides sum the Jacobians (Dask on the workers: no gather to the client)",
    }


def _cpu(processes: list[Any]) -> float:
    """CPU seconds (user and system, every thread) the processes used so far."""
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def _noop(block: np.ndarray) -> np.ndarray:
    return np.zeros((len(block), 1), block.dtype)


def _busiest(client: Any, since: float) -> float:
    """The most compute time one worker spent on tasks since ``since`` (Dask's task
    stream: the blocks, fused with their sums, and the sums' aggregation)."""
    per_worker: dict[str, float] = {}
    for task in client.get_task_stream(start=since):
        for part in task["startstops"]:
            if part["action"] == "compute":
                elapsed = part["stop"] - part["start"]
                per_worker[task["worker"]] = per_worker.get(task["worker"], 0.0) + elapsed
    return max(per_worker.values(), default=0.0)


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
        _copy_through(X, out, chunk)  # the output file's pages exist for both timings
        out.flush()
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
        out.flush()
        io_s = _copy_through(X, out, chunk)
        out.flush()
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
        "io_floor_points_per_s": n / io_s,
        "throughput_over_io_floor": rate / (n / io_s),
    }


def _copy_through(X: Any, out: Any, chunk: int) -> float:
    """Seconds to read every chunk of ``X`` and write as many bytes into ``out`` with no
    derivative computed: the memmaps' own floor for the streaming figure (both timed
    on an output whose pages exist, after a flush, without flushing)."""
    t = time.perf_counter()
    for s in range(0, len(X), chunk):
        block = np.asarray(X[s : s + chunk])
        out[s : s + chunk, 0] = block
        out[s : s + chunk, 1] = block
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dask-points", type=int, default=10**7)
    parser.add_argument("--stream-points", type=int, default=2 * 10**7)
    parser.add_argument("--chunk", type=int, default=10**6)
    parser.add_argument("--dask-chunk", type=int, default=2_500_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["dask", "streaming"], default=None)
    opts = parser.parse_args()
    figures = {}
    if opts.only != "dask":
        figures["streaming"] = streaming_figures(opts.stream_points, opts.chunk)
    if opts.only != "streaming":
        figures["dask"] = dask_figures(opts.dask_points, opts.dask_chunk, opts.repeats)
    print(json.dumps(figures, indent=2))
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**kept, **figures}, indent=2) + "\n")


if __name__ == "__main__":
    main()
