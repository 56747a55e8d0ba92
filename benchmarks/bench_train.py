"""Training the digits MLP: the Solver on NumPy, PyTorch and JAX against idiomatic loops.

Digits (8x8, 1797 images; 1500 train, 297 validation, centred by the training mean),
an MLP 64-100-10, adam with learning rate 1e-2, 20 epochs, batch 100 (indices drawn
with replacement, 15 batches per epoch), float32, validation accuracy once per epoch.
Contenders, each building its model and optimiser afresh on every run:

* ``solver_numpy``, ``solver_torch``, ``solver_jax``: ``pl.Solver`` with
  ``TwoLayerPerceptron`` and its defaults otherwise;
* ``torch_loop``: ``nn.Linear`` layers, ``torch.optim.Adam``, a Python loop;
* ``optax_step``: jax + optax, one jitted step per minibatch in a Python loop;
* ``optax_scan``: jax + optax, one jitted ``lax.scan`` per epoch.

The same work on every side: after every epoch each contender measures the validation
accuracy and estimates the training accuracy on 1000 rows drawn without replacement,
as the Solver's defaults (CS231n's) do.  The Solver also checks both after the first
iteration, as CS231n's does; the contenders skip that check, so the Solver does
slightly more work than they do (21 checks to their 20).

Cold: the first run in a fresh interpreter (imports excluded, compilation included).
Warm: the median of later runs in one process, interleaved, each with a new model
and optimiser (as a user re-running a cell).  Every contender's final validation
accuracy is reported.
"""

from __future__ import annotations

import functools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from harness import interleaved, parser, write_json

LR, EPOCHS, BATCH, HIDDEN, SCALE = 1e-2, 20, 100, 100, 0.1
TRAIN_SAMPLES = 1000  # rows of each training-accuracy estimate (the Solver's default)


def digits() -> dict[str, np.ndarray]:
    from portable_layers.data import load_digits

    X, y = load_digits()
    X = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], np.asarray(y)[order].astype(np.int64)
    X = X - X[:1500].mean(axis=0)
    return {"X_train": X[:1500], "y_train": y[:1500], "X_val": X[1500:], "y_val": y[1500:]}


def batches(n: int, epochs: int, seed: int = 0) -> list[np.ndarray]:
    """Each epoch's minibatch indices (batches x BATCH), drawn with replacement."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n, size=(n // BATCH, BATCH)) for _ in range(epochs)]


def train_sample(rng: np.random.Generator, n: int) -> np.ndarray:
    """The rows of one training-accuracy estimate (the Solver's ``num_train_samples``)."""
    return rng.choice(n, TRAIN_SAMPLES, replace=False)


def init(d: int, c: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"W1": (SCALE * rng.standard_normal((d, HIDDEN))).astype(np.float32),
            "b1": np.zeros(HIDDEN, np.float32),
            "W2": (SCALE * rng.standard_normal((HIDDEN, c))).astype(np.float32),
            "b2": np.zeros(c, np.float32)}


# -- contenders: each returns the final validation accuracy -------------------------------


def solver(backend: str, data: dict[str, np.ndarray], epochs: int) -> float:
    import portable_layers as pl

    model = pl.TwoLayerPerceptron(64, HIDDEN, 10, weight_scale=SCALE, xp=backend,
                                  dtype="float32", seed=0)
    s = pl.Solver(model, data, update_rule="adam", optim_config={"learning_rate": LR},
                  num_epochs=epochs, batch_size=BATCH, verbose=False, seed=0)
    s.train()
    return float(s.val_acc_history[-1])


def torch_loop(data: dict[str, np.ndarray], epochs: int) -> float:
    import torch

    Xt, yt = torch.from_numpy(data["X_train"]), torch.from_numpy(data["y_train"])
    Xv, yv = torch.from_numpy(data["X_val"]), torch.from_numpy(data["y_val"])
    p = init(64, 10)
    net = torch.nn.Sequential(torch.nn.Linear(64, HIDDEN), torch.nn.ReLU(),
                              torch.nn.Linear(HIDDEN, 10))
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(p["W1"].T.copy()))
        net[0].bias.zero_()
        net[2].weight.copy_(torch.from_numpy(p["W2"].T.copy()))
        net[2].bias.zero_()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    acc = 0.0
    for idx in batches(len(Xt), epochs):
        for rows in torch.from_numpy(idx):
            opt.zero_grad()
            loss = loss_fn(net(Xt[rows]), yt[rows])
            loss.backward()
            opt.step()
            loss.item()  # the loss history, as the Solver keeps
        with torch.no_grad():
            sample = torch.from_numpy(train_sample(rng, len(Xt)))
            float((net(Xt[sample]).argmax(dim=1) == yt[sample]).float().mean())
            acc = float((net(Xv).argmax(dim=1) == yv).float().mean())
    return acc


@functools.cache
def _optax_parts() -> tuple[Any, Any, Any]:
    """The optimiser, step and jitted accuracy, built once per process (warm runs reuse
    their compilations, as a notebook that defines them once does)."""
    import jax
    import jax.numpy as jnp
    import optax

    opt = optax.adam(LR)

    def loss(p: Any, X: Any, y: Any) -> Any:
        h = jax.nn.relu(X @ p["W1"] + p["b1"])
        logits = h @ p["W2"] + p["b2"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def step(p: Any, s: Any, X: Any, y: Any) -> Any:
        value, grads = jax.value_and_grad(loss)(p, X, y)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, value

    @jax.jit
    def accuracy(p: Any, X: Any, y: Any) -> Any:
        h = jax.nn.relu(X @ p["W1"] + p["b1"])
        return jnp.mean(jnp.argmax(h @ p["W2"] + p["b2"], axis=1) == y)

    @jax.jit
    def sampled_accuracy(p: Any, X: Any, y: Any, rows: Any) -> Any:
        return accuracy(p, X[rows], y[rows])

    return opt, step, (accuracy, sampled_accuracy)


def _checks(accuracy: Any, p: Any, X: Any, y: Any, Xv: Any, yv: Any,
            rng: np.random.Generator) -> float:
    """An epoch's accuracy checks (training estimate and validation, as the Solver's)."""
    full, sampled = accuracy
    float(sampled(p, X, y, train_sample(rng, X.shape[0])))
    return float(full(p, Xv, yv))


@functools.cache
def _jitted_step() -> Any:
    import jax

    return jax.jit(_optax_parts()[1])


@functools.cache
def _jitted_epoch() -> Any:
    import jax

    step = _optax_parts()[1]

    @jax.jit
    def epoch(p: Any, s: Any, X: Any, y: Any, idx: Any) -> Any:
        def body(carry: Any, rows: Any) -> Any:
            p, s = carry
            p, s, value = step(p, s, X[rows], y[rows])
            return (p, s), value

        (p, s), values = jax.lax.scan(body, (p, s), idx)
        return p, s, values

    return epoch


def optax_step(data: dict[str, np.ndarray], epochs: int) -> float:
    import jax.numpy as jnp

    opt, _, accuracy = _optax_parts()
    jstep = _jitted_step()
    X, y = jnp.asarray(data["X_train"]), jnp.asarray(data["y_train"])
    Xv, yv = jnp.asarray(data["X_val"]), jnp.asarray(data["y_val"])
    p = {k: jnp.asarray(v) for k, v in init(64, 10).items()}
    s = opt.init(p)
    rng = np.random.default_rng(0)
    acc = 0.0
    for idx in batches(len(X), epochs):
        for rows in jnp.asarray(idx):
            p, s, value = jstep(p, s, X[rows], y[rows])
            float(value)
        acc = _checks(accuracy, p, X, y, Xv, yv, rng)
    return acc


def optax_scan(data: dict[str, np.ndarray], epochs: int) -> float:
    import jax.numpy as jnp

    opt, _, accuracy = _optax_parts()
    epoch = _jitted_epoch()

    X, y = jnp.asarray(data["X_train"]), jnp.asarray(data["y_train"])
    Xv, yv = jnp.asarray(data["X_val"]), jnp.asarray(data["y_val"])
    p = {k: jnp.asarray(v) for k, v in init(64, 10).items()}
    s = opt.init(p)
    rng = np.random.default_rng(0)
    acc = 0.0
    for idx in batches(len(X), epochs):
        p, s, values = epoch(p, s, X, y, jnp.asarray(idx))
        np.asarray(values)  # the loss history
        acc = _checks(accuracy, p, X, y, Xv, yv, rng)
    return acc


CONTENDERS: dict[str, Callable[[dict[str, np.ndarray], int], float]] = {
    "solver_numpy": lambda d, e: solver("numpy", d, e),
    "solver_torch": lambda d, e: solver("torch", d, e),
    "solver_jax": lambda d, e: solver("jax", d, e),
    "torch_loop": torch_loop,
    "optax_step": optax_step,
    "optax_scan": optax_scan,
}


def _import_for(name: str) -> None:
    """Import a contender's libraries before the clock starts (cold excludes imports)."""
    import portable_layers  # noqa: F401

    if "torch" in name:
        _torch_threads()
    if "jax" in name or "optax" in name:
        import jax  # noqa: F401
        import optax  # noqa: F401


def _torch_threads() -> None:
    """One intra-op thread for both PyTorch contenders (tiny matrices; on a shared machine
    more threads only contend)."""
    import torch

    torch.set_num_threads(1)


def cold(name: str, epochs: int) -> tuple[float, float]:
    """Seconds and accuracy of ``name``'s first run in a fresh interpreter."""
    here = Path(__file__).parent
    code = (f"import sys, json, time; sys.path.insert(0, {str(here)!r}); import bench_train as b\n"
            f"b._import_for({name!r}); d = b.digits(); t = time.perf_counter()\n"
            f"acc = b.CONTENDERS[{name!r}](d, {epochs}); "
            "print(json.dumps([time.perf_counter() - t, acc]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    seconds, acc = json.loads(out.stdout.strip().splitlines()[-1])
    return float(seconds), float(acc)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    if "--smoke" not in p._option_string_actions:  # the shared parser may grow it
        p.add_argument("--smoke", action="store_true", help="tiny run, one repeat")
    args = p.parse_args()
    epochs = 2 if args.smoke else EPOCHS
    repeats = 1 if args.smoke else args.repeats
    _torch_threads()
    data = digits()
    colds: dict[str, float] = {}
    accuracy: dict[str, float] = {}
    for name in CONTENDERS:
        if args.smoke:  # no fresh interpreters: the first in-process run stands in
            t = time.perf_counter()
            accuracy[name] = CONTENDERS[name](data, epochs)
            colds[name] = time.perf_counter() - t
        else:
            colds[name], accuracy[name] = cold(name, epochs)
        print(f"  cold {name}: {colds[name]:.3f} s, val acc {accuracy[name]:.3f}", flush=True)
    runs = {name: (lambda f=f: f(data, epochs)) for name, f in CONTENDERS.items()}
    times = interleaved(runs, repeats=repeats, warmup=0 if args.smoke else 1)
    warm = {name: statistics.median(t) for name, t in times.items()}
    print(f"\ndigits MLP 64-{HIDDEN}-10, adam {LR}, {epochs} epochs, batch {BATCH}, float32")
    print(f"  {'contender':14} {'cold s':>8} {'warm s':>8} {'warm range s':>18} {'val acc':>8}")
    for name in CONTENDERS:
        lo, hi = min(times[name]), max(times[name])
        print(f"  {name:14} {colds[name]:8.3f} {warm[name]:8.3f} {lo:8.3f} - {hi:7.3f} "
              f"{accuracy[name]:8.3f}")

    def figure(key: str, what: str, a: float, b: float, vs: str, goal: float) -> dict[str, Any]:
        return {"id": f"bench_train.{key}", "what": what, "compared_with": vs,
                "ratio": a / b, "goal": goal}

    figures = [
        figure("jax_warm", "Solver on JAX, warm", warm["solver_jax"], warm["optax_scan"],
               "jax + optax, one lax.scan per epoch, warm", 1.2),
        figure("jax_cold", "Solver on JAX, cold (fresh process)", colds["solver_jax"],
               colds["optax_scan"], "jax + optax, one lax.scan per epoch, cold", 1.5),
        figure("torch_warm", "Solver on PyTorch, warm", warm["solver_torch"],
               warm["torch_loop"], "plain PyTorch loop (nn.Linear, torch.optim.Adam)", 1.2),
        figure("numpy_warm", "Solver on NumPy, warm", warm["solver_numpy"], warm["torch_loop"],
               "plain PyTorch loop (nn.Linear, torch.optim.Adam)", 1.0),
        figure("jax_vs_step_loop", "Solver on JAX, warm", warm["solver_jax"],
               warm["optax_step"], "jax + optax, jitted step in a Python loop, warm", None),
    ]
    for f in figures:
        goal = "" if f["goal"] is None else f" (goal <= {f['goal']})"
        print(f"  {f['id']}: {f['ratio']:.2f}{goal}")
    write_json(args.out, {"benchmark": "bench_train", "smoke": bool(args.smoke),
                          "epochs": epochs, "cold_s": colds, "warm_s": warm,
                          "warm_runs_s": times, "val_accuracy": accuracy,
                          "figures": figures})


if __name__ == "__main__":
    main()
