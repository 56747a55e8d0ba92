"""Full-dataset loss and gradients, and minibatch training, over Dask arrays.

Run::

    python examples/dask_full_batch.py                          # a LocalCluster here
    python examples/dask_full_batch.py --address tcp://host:8786  # a running cluster
    python examples/dask_full_batch.py --rows 1000000           # ~12 GB, never in memory

1. ``full_batch_loss_and_grads(model, X, y)``: each chunk of rows of ``X`` is
   generated (or read) on a worker, run through ``model.loss`` there and reduced to
   its unnormalised sums; only those sums (the size of the parameters) travel, and a
   tree reduction adds them up.  The same code runs on a laptop's LocalCluster or a
   real cluster: only the ``Client`` differs.  (On a real cluster the workers need
   ``portable-layers`` installed, and the data should come from storage every worker
   can read, e.g. ``da.from_zarr("s3://...")``, or be generated as here.)
2. ``Solver(model, {"X_train": X, ...})`` with Dask data: each minibatch computes
   only its rows and converts them to the model's backend (here from chunks kept in
   the workers' memory with ``persist()``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def lazy_cifar_like(rows: int, dim: int, chunk_rows: int, seed: int = 0):
    """Float32 features and labels, generated per chunk by a seeded generator.

    Labels depend on the first 10 features, so the problem is learnable.
    """
    import dask.array as da

    X = da.random.default_rng(seed).standard_normal((rows, dim), dtype=np.float32,
                                                    chunks=(chunk_rows, dim))
    y = da.argmax(X[:, :10], axis=1)
    return X, y


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--address", help="scheduler address, e.g. tcp://host:8786 "
                   "(default: start a LocalCluster with 2 in-process workers)")
    p.add_argument("--rows", type=int, default=50_000)
    p.add_argument("--dim", type=int, default=3072)
    p.add_argument("--chunk-rows", type=int, default=5_000)
    args = p.parse_args()

    from distributed import Client, LocalCluster

    from portable_layers import Solver, TwoLayerPerceptron
    from portable_layers.distributed import full_batch_loss_and_grads

    if args.address:
        client = Client(args.address)
    else:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                               dashboard_address=None)
        client = Client(cluster)
    print(client)

    X, y = lazy_cifar_like(args.rows, args.dim, args.chunk_rows)
    print(f"X: {X.shape} {X.dtype}, {X.nbytes / 1e9:.2f} GB in {X.numblocks[0]} chunks (lazy)")

    # 1. full-batch loss and gradients
    model = TwoLayerPerceptron(args.dim, 100, 10, weight_scale=1e-2, reg=1e-3,
                               dtype="float32", seed=0)
    start = time.perf_counter()
    loss, grads = full_batch_loss_and_grads(model, X, y)
    seconds = time.perf_counter() - start
    print(f"full-batch loss {float(loss):.5f} over {args.rows} rows in {seconds:.1f} s "
          f"({args.rows / seconds:,.0f} rows/s)")
    for k, g in grads.items():
        print(f"  |d{k}| = {float(np.linalg.norm(g)):.4e}")

    # a full-batch gradient step is then an ordinary update
    model.params = {k: w - 0.5 * grads[k] for k, w in model.params.items()}
    print(f"after one full-batch step: {float(full_batch_loss_and_grads(model, X, y)[0]):.5f}")

    # 2. minibatch training, streaming from Dask.  A random minibatch touches most
    # chunks, and a generated chunk is regenerated whenever it is read: persist() keeps
    # the chunks in the workers' memory (on a real cluster, spread over its machines).
    rows = min(20_000, args.rows)
    Xt, yt = X[:rows].persist(), y[:rows].persist()
    n_val = rows // 5
    data = {"X_train": Xt[n_val:], "y_train": yt[n_val:], "X_val": Xt[:n_val],
            "y_val": yt[:n_val]}
    model = TwoLayerPerceptron(args.dim, 100, 10, weight_scale=1e-2, dtype="float32", seed=0)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    batch_size=200, num_epochs=1, num_train_samples=1000,
                    num_val_samples=1000, print_every=50, verbose=False, seed=0)
    start = time.perf_counter()
    solver.train()
    print(f"Solver: {len(solver.loss_history)} minibatches streamed from Dask in "
          f"{time.perf_counter() - start:.1f} s; loss {solver.loss_history[0]:.3f} -> "
          f"{solver.loss_history[-1]:.3f}, val acc {solver.best_val_acc:.3f}")
    client.close()


if __name__ == "__main__":
    main()
