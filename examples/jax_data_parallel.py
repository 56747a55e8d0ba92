"""Data-parallel training on JAX: the batch split over a 1-D device mesh, params replicated.

Run::

    python examples/jax_data_parallel.py              # train with Solver(mesh=...), then time
    python examples/jax_data_parallel.py --devices 4 --batch 1024 --repeats 7

On a CPU-only machine JAX sees one device; this script asks XLA for ``--devices``
host devices (``XLA_FLAGS=--xla_force_host_platform_device_count=N``, which must be
set before JAX is imported).  On a machine with several GPUs or TPUs drop that and
``data_parallel_mesh()`` takes every accelerator.

The layer code and the jitted training step are unchanged: ``jax.jit`` partitions the
step from the inputs' shardings (rows of the batch over the ``"batch"`` axis,
parameters replicated) and all-reduces the gradients.  Host "devices" share the same
CPU cores, so on CPU the timings show the overhead of partitioning rather than a
speed-up; on real devices each holds 1/k of the batch.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=4, help="host devices to create on CPU")
    p.add_argument("--batch", type=int, default=512, help="minibatch rows (divisible by 4)")
    p.add_argument("--dim", type=int, default=3072, help="input features")
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--repeats", type=int, default=7, help="interleaved timing repetitions")
    p.add_argument("--steps", type=int, default=10, help="steps per timed repetition")
    p.add_argument("--out", help="write the timings as JSON here")
    args = p.parse_args()
    if "jax" in sys.modules:
        raise SystemExit("set XLA_FLAGS before jax is imported")
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = (
            f"{flags} --xla_force_host_platform_device_count={args.devices}".strip())

    import jax
    import numpy as np

    from portable_layers import Solver, TwoLayerPerceptron, optim
    from portable_layers.distributed import data_parallel_mesh, replicate, shard_batch

    print(f"JAX devices: {jax.devices()}")

    # 1. Training with the Solver: mesh= is the only change from single-device code.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 32)).astype(np.float32)
    w_true = rng.standard_normal((32, 10))
    y = np.argmax(X @ w_true, axis=1)
    data = {"X_train": X[:1600], "y_train": y[:1600], "X_val": X[1600:], "y_val": y[1600:]}
    model = TwoLayerPerceptron(32, 64, 10, weight_scale=0.1, xp="jax", dtype="float32", seed=0)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                    batch_size=200, num_epochs=5, verbose=False, seed=0,
                    mesh=len(jax.devices()))
    solver.train()
    print(f"Solver on {solver.mesh.devices.size} devices: loss {solver.loss_history[0]:.3f} -> "
          f"{solver.loss_history[-1]:.3f}, val acc {solver.best_val_acc:.3f}")

    # 2. One jitted step (loss, grads, sgd update), timed on 1, 2, 4, ... devices.
    model = TwoLayerPerceptron(args.dim, args.hidden, 10, xp="jax", dtype="float32", seed=0)

    def step(params, X, y):
        loss, grads = model.loss(X, y, params=params)
        new = {k: optim.sgd(w, grads[k], {"learning_rate": 1e-3})[0] for k, w in params.items()}
        return loss, new

    jitted = jax.jit(step)
    Xb = rng.standard_normal((args.batch, args.dim)).astype(np.float32)
    yb = rng.integers(0, 10, size=args.batch)
    counts = [k for k in (1, 2, 4, 8) if k <= len(jax.devices()) and args.batch % k == 0]
    candidates = {}
    for k in counts:
        mesh = data_parallel_mesh(k)
        Xs, ys = shard_batch(mesh, jax.numpy.asarray(Xb), jax.numpy.asarray(yb))
        params = replicate(mesh, model.params)

        def run(params=params, Xs=Xs, ys=ys):
            for _ in range(args.steps):
                loss, _ = jitted(params, Xs, ys)
            loss.block_until_ready()

        candidates[f"{k} device{'s' if k > 1 else ''}"] = run
    sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
    import harness

    times = harness.interleaved(candidates, repeats=args.repeats)
    per_step = {name: [t / args.steps for t in ts] for name, ts in times.items()}
    rows = harness.summary(per_step, next(iter(per_step)))
    harness.print_table(f"jitted step, batch {args.batch} x {args.dim}, hidden {args.hidden} "
                        f"(time per step, {os.cpu_count()} CPU cores)", rows,
                        next(iter(per_step)))
    harness.write_json(args.out, {"benchmark": "jax_data_parallel", "batch": args.batch,
                                  "dim": args.dim, "hidden": args.hidden,
                                  "step_time": rows})


if __name__ == "__main__":
    main()
