"""Full-batch loss and gradients over a dataset larger than memory, on Dask.

A TwoLayerPerceptron's loss and gradients over ``--rows`` x ``--dim`` float32 inputs
(200,000 x 3072, 2.5 GB, by default; ``--full``: 1,000,000 x 3072, about 12 GB, a few
minutes), generated lazily per chunk by a seeded generator and never held in memory at
once, with
:func:`portable_layers.distributed.full_batch_loss_and_grads`.  Reported: wall time,
throughput (rows/s) and the peak resident memory of this process during that pass
(sampled with psutil, and ``getrusage``'s lifetime maximum), then, in the same run,
the in-memory NumPy path against the Dask path on a slice that fits
(``--numpy-rows``, interleaved repetitions), and the largest relative difference of
their results.

    python benchmarks/bench_dask.py                     # 200,000 rows (2.5 GB)
    python benchmarks/bench_dask.py --full              # the full 12 GB pass
    python benchmarks/bench_dask.py --scheduler distributed   # on a LocalCluster
"""

from __future__ import annotations

import resource
import threading
import time
from typing import Any

import harness
import numpy as np

from portable_layers import TwoLayerPerceptron
from portable_layers.distributed import full_batch_loss_and_grads


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 20 ms)."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRSS:
        self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def dataset(rows: int, dim: int, chunk_rows: int, seed: int = 0) -> tuple[Any, Any]:
    """Lazy float32 features and int labels, each chunk drawn from a seeded generator."""
    import dask.array as da

    rng = da.random.default_rng(seed)
    X = rng.standard_normal((rows, dim), dtype=np.float32, chunks=(chunk_rows, dim))
    y = da.random.default_rng(seed + 1).integers(0, 10, size=rows, chunks=chunk_rows)
    return X, y


def max_rel_diff(a: tuple[Any, dict], b: tuple[Any, dict]) -> float:
    err = abs(float(a[0]) - float(b[0])) / abs(float(b[0]))
    for k in a[1]:
        x, z = np.asarray(a[1][k], np.float64), np.asarray(b[1][k], np.float64)
        err = max(err, float(np.max(np.abs(x - z)) / np.max(np.abs(z))))
    return err


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = harness.parser(__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--full", action="store_true", help="1,000,000 rows (12 GB)")
    p.add_argument("--dim", type=int, default=3072)
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--chunk-rows", type=int, default=10_000)
    p.add_argument("--numpy-rows", type=int, default=20_000)
    p.add_argument("--scheduler", choices=["threads", "distributed"], default="threads")
    p.add_argument("--workers", type=int, default=2, help="threads or in-process workers")
    args = harness.parse(p, argv)
    args.repeats = min(args.repeats, 5) if args.repeats == 7 else args.repeats
    if args.full:
        args.rows = 1_000_000
    if args.smoke:
        args.rows, args.dim, args.hidden, args.chunk_rows, args.numpy_rows = 2000, 32, 8, 500, 1000

    import dask

    client = None
    if args.scheduler == "distributed":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=False,
                               dashboard_address=None)
        client = Client(cluster)
    dask.config.set(num_workers=args.workers)

    model = TwoLayerPerceptron(args.dim, args.hidden, 10, weight_scale=1e-2, reg=1e-3,
                               dtype="float32", seed=0)
    X, y = dataset(args.rows, args.dim, args.chunk_rows)
    gb = args.rows * args.dim * 4 / 1e9
    print(f"dataset: {args.rows} x {args.dim} float32 = {gb:.2f} GB, lazily in "
          f"{len(X.chunks[0])} chunks of {args.chunk_rows} rows; scheduler {args.scheduler} "
          f"with {args.workers} workers")

    with PeakRSS() as mem:
        start = time.perf_counter()
        loss, _ = full_batch_loss_and_grads(model, X, y)
        full_s = time.perf_counter() - start
    ru_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"full pass: {full_s:.1f} s, {args.rows / full_s:,.0f} rows/s, loss {float(loss):.5f}, "
          f"peak RSS {mem.peak / 2**30:.2f} GiB (sampled), {ru_peak / 2**30:.2f} GiB (getrusage)")

    m = min(args.numpy_rows, args.rows)
    Xs, ys = X[:m], y[:m]
    start = time.perf_counter()
    Xn, yn = Xs.compute(), ys.compute()
    gen_s = time.perf_counter() - start
    numpy_result = model.loss(Xn, yn)
    dask_result = full_batch_loss_and_grads(model, Xs, ys)
    diff = max_rel_diff(dask_result, numpy_result)
    times = harness.interleaved({
        "numpy_in_memory": lambda: model.loss(Xn, yn),
        "dask_lazy_same_rows": lambda: full_batch_loss_and_grads(model, Xs, ys),
    }, repeats=args.repeats)
    rows = harness.summary(times, "numpy_in_memory")
    harness.print_table(f"{m} rows (numpy: data already in memory; dask: generated per chunk)",
                        rows, "numpy_in_memory")
    for name, r in rows.items():
        r["rows_per_s"] = m / r["median_s"]
        print(f"  {name}: {r['rows_per_s']:,.0f} rows/s")
    print(f"  generating {m} rows alone: {m / gen_s:,.0f} rows/s; "
          f"max relative difference dask vs numpy: {diff:.2e}")
    budget = 4 * 2**30
    data = f"{args.rows:,} x {args.dim} float32, {gb:.1f} GB"
    figures = [
        harness.figure("dask.peak_rss", f"peak resident memory of the full pass ({data}, "
                       "generated lazily)", "4 GiB", mem.peak / budget, 1.0),
        harness.figure("dask.slice", f"Dask path, rows generated per chunk ({m:,} rows)",
                       "in-memory NumPy path, same rows, same run",
                       rows["dask_lazy_same_rows"]["ratio"], None),
        harness.figure("dask.generate", f"generating those {m:,} rows alone",
                       "in-memory NumPy path, same rows",
                       gen_s / rows["numpy_in_memory"]["median_s"], None),
    ]
    facts = [
        harness.fact("dask.full_rows_per_s", f"full pass ({data}), rows/s",
                     round(args.rows / full_s)),
        harness.fact("dask.peak_rss_gib", "peak resident memory, GiB (sampled every 20 ms)",
                     round(mem.peak / 2**30, 2)),
        harness.fact("dask.max_rel_diff", "largest relative difference, Dask against NumPy",
                     float(f"{diff:.1e}")),
    ]
    doc = {
        "benchmark": "dask", "rows": args.rows, "dim": args.dim,
        "hidden": args.hidden, "chunk_rows": args.chunk_rows, "scheduler": args.scheduler,
        "workers": args.workers, "full_pass_s": full_s, "full_rows_per_s": args.rows / full_s,
        "peak_rss_bytes_sampled": mem.peak, "peak_rss_bytes_getrusage_before_slice": ru_peak,
        "slice_rows": m, "slice": rows, "generate_rows_per_s": m / gen_s,
        "max_rel_diff_vs_numpy": diff, "figures": figures, "facts": facts,
    }
    harness.write_json(args.out, doc)
    if client is not None:
        client.close()
        cluster.close()
    return doc


if __name__ == "__main__":
    main()
