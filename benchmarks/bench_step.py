"""A two-layer training step against hand-written NumPy, PyTorch and JAX autodiff.

TwoLayerPerceptron-shaped problem: N=256, D=3072, H=512, C=10, float32, softmax loss
(unless said otherwise).  Every comparison is measured in the same run, interleaved,
and reported as a ratio of medians (this machine is shared and noisy).

a. loss and all gradients on NumPy: portable_layers against the same computation
   hand-written in plain NumPy doing the same work (no dX for the first layer);
b. a full training step (forward, backward, adam) on JAX compiled with jax.jit, against
   PyTorch eager with autograd and torch.optim.Adam on the same net and batch;
c. the jitted hand-written backward against jax.value_and_grad of the same forward;
d. the roofline: the NumPy step and the jitted JAX step against the matrix products
   they must do, timed alone with the same library;
e. a small batch (N=8, D=64, H=32) on NumPy: the cost of dispatch and checks;
f. step time as the batch grows from 32 to 4096, on NumPy and JAX.

Every jitted side returns its outputs and blocks on all of them.

    python benchmarks/bench_step.py --repeats 7 --out step.json   # --only ab: some parts
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import numpy as np
from array_api_compat import array_namespace
from harness import figure, interleaved, parse, parser, print_table, summary, write_json

import portable_layers as pl
from portable_layers import optim

N, D, H, C = 256, 3072, 512, 10
SMALL = (8, 64, 32)  # part e: N, D, H
SIZES = [32, 64, 128, 256, 512, 1024, 2048, 4096]  # part f, relative to N
CALLS = 200  # part e: calls per timed repetition


def make_data(n: int, d: int, c: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32), rng.integers(0, c, size=n)


def numpy_model(d: int, h: int, c: int) -> pl.TwoLayerPerceptron:
    return pl.TwoLayerPerceptron(d, h, c, weight_scale=1e-2, dtype="float32", seed=0)


def handwritten_loss_grads(p: dict[str, np.ndarray], X: np.ndarray,
                           y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """The two-layer loss and gradients in plain NumPy, the way one writes them by hand."""
    n = X.shape[0]
    hidden = X @ p["W1"] + p["b1"]
    relu = np.maximum(hidden, 0)
    scores = relu @ p["W2"] + p["b2"]
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(n), y].mean()
    dscores = np.exp(log_probs)
    dscores[np.arange(n), y] -= 1
    dscores /= n
    dW2, db2 = relu.T @ dscores, dscores.sum(axis=0)
    dhidden = (dscores @ p["W2"].T) * (hidden > 0)
    dW1, db1 = X.T @ dhidden, dhidden.sum(axis=0)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def bench_a(repeats: int) -> dict[str, Any]:
    model = numpy_model(D, H, C)
    X, y = make_data(N, D, C)
    p = model.params
    rows = summary(interleaved({
        "portable (numpy)": lambda: model.loss(X, y),
        "hand-written numpy": lambda: handwritten_loss_grads(p, X, y),
    }, repeats), "hand-written numpy")
    print_table("a. loss + gradients on NumPy (goal <= 1.10)", rows, "hand-written")
    return rows


def jax_step(model: pl.TwoLayerPerceptron) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The jitted training step (loss, hand-written gradients, adam) and adam's state."""
    import jax

    configs = {k: optim.init_config("adam", w, {"learning_rate": 1e-3})
               for k, w in model.params.items()}

    def step(params: dict[str, Any], configs: dict[str, Any], X: Any, y: Any) -> Any:
        loss, grads = model.loss(X, y, params=params)
        new_params, new_configs = {}, {}
        for k in params:
            new_params[k], new_configs[k] = optim.adam(params[k], grads[k], configs[k])
        return loss, new_params, new_configs

    return jax.jit(step, donate_argnums=(0, 1)), configs


def jax_runner(X: np.ndarray, y: np.ndarray) -> tuple[Callable[[], None], dict[str, Any]]:
    """A call that runs the jitted step on a fresh JAX model, and the state it carries
    (the parameters and adam's configs, donated and replaced at every call)."""
    import jax
    import jax.numpy as jnp

    model = pl.TwoLayerPerceptron(D, H, C, weight_scale=1e-2, xp="jax", dtype="float32", seed=0)
    jX, jy = jnp.asarray(X), jnp.asarray(y)
    step, configs = jax_step(model)
    state = {"params": model.params, "configs": configs}

    def run() -> None:
        loss, state["params"], state["configs"] = step(state["params"], state["configs"], jX, jy)
        jax.block_until_ready((loss, state["params"], state["configs"]))  # every output

    return run, state


def bench_b(repeats: int) -> dict[str, Any]:
    import torch

    X, y = make_data(N, D, C)
    run_jax, _ = jax_runner(X, y)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.ReLU(), torch.nn.Linear(H, C))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()

    def run_torch() -> None:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(tX), ty)
        loss.backward()
        opt.step()

    rows = summary(interleaved({"portable jitted step (jax)": run_jax,
                                "torch eager + autograd + Adam": run_torch}, repeats),
                   "torch eager + autograd + Adam")
    print_table("b. full training step: JAX jit against PyTorch eager (goal <= 1.0)", rows,
                "torch")
    return rows


def bench_c(repeats: int) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    model = pl.TwoLayerPerceptron(D, H, C, weight_scale=1e-2, xp="jax", dtype="float32", seed=0)
    X, y = make_data(N, D, C)
    jX, jy = jnp.asarray(X), jnp.asarray(y)
    p = model.params
    hand = jax.jit(lambda p, X, y: model.loss(X, y, params=p))

    def forward_loss(p: dict[str, Any], X: Any, y: Any) -> Any:
        return pl.softmax_loss(model.loss(X, params=p), y)[0]

    auto = jax.jit(jax.value_and_grad(forward_loss))
    rows = summary(interleaved({
        "hand-written backward (jit)": lambda: jax.block_until_ready(hand(p, jX, jy)),
        "jax.value_and_grad (jit)": lambda: jax.block_until_ready(auto(p, jX, jy)),
    }, repeats), "jax.value_and_grad (jit)")
    print_table("c. hand-written backward against autodiff, both jitted (goal <= 1.0)", rows,
                "value_and_grad")
    return rows


def _products(xp_matmul: Callable[[Any, Any], Any], X: Any, p: dict[str, Any], n: int) -> Any:
    """The matrix products one step must do (same shapes as the step's)."""
    hidden = xp_matmul(X, p["W1"])
    ds = xp_matmul(hidden, p["W2"])
    dW2 = xp_matmul(hidden.T, ds)
    dh = xp_matmul(ds, p["W2"].T)
    dW1 = xp_matmul(X.T, dh)
    return dW1, dW2


def _solver_step(model: pl.TwoLayerPerceptron) -> tuple[Callable[..., Any], list[Any]]:
    """The step the Solver runs for ``model`` with adam, and its state (in a list, for
    the caller to renew): on NumPy the Solver owns its parameters and adam's buffers,
    validates its data once, and updates in place."""
    from portable_layers._placement import Placement
    from portable_layers.train_step import init_train_state

    place = Placement(model, array_namespace(model.params["W1"]), "adam", None)
    state = init_train_state(model, "adam", {"learning_rate": 1e-3})
    return place.step, [state._replace(params=place.own(state.params))]


def bench_d(repeats: int) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    model = numpy_model(D, H, C)
    X, y = make_data(N, D, C)
    p = model.params
    configs = {k: optim.init_config("adam", w, {"learning_rate": 1e-3}) for k, w in p.items()}

    def numpy_step() -> None:
        _, grads = model.loss(X, y)
        for k in p:
            optim.adam(p[k], grads[k], configs[k])

    solver_step, solver_state = _solver_step(model)

    def solver_numpy_step() -> None:
        solver_state[0] = solver_step(solver_state[0], X, y)[1]

    rows_np = summary(interleaved({
        "portable step with adam (numpy)": numpy_step,
        "the Solver's step with adam (numpy)": solver_numpy_step,
        "portable loss + gradients (numpy)": lambda: model.loss(X, y),
        "its matrix products (numpy)": lambda: _products(np.matmul, X, p, N),
    }, repeats), "its matrix products (numpy)")
    print_table("d. roofline, NumPy eager step (goal <= 1.3)", rows_np, "products")

    run_jax, state = jax_runner(X, y)
    jX = jnp.asarray(X)
    products = jax.jit(lambda X, p: _products(jnp.matmul, X, p, N))
    rows_jax = summary(interleaved({
        "portable jitted step with adam (jax)": run_jax,
        "its matrix products (jax jit)": lambda: jax.block_until_ready(
            products(jX, state["params"])),
    }, repeats), "its matrix products (jax jit)")
    print_table("d. roofline, JAX jitted step (goal <= 1.15)", rows_jax, "products")
    return {"numpy": rows_np, "jax": rows_jax}


def bench_e(repeats: int) -> dict[str, Any]:
    n, d, h = SMALL
    model = numpy_model(d, h, C)
    X, y = make_data(n, d, C)
    p = model.params

    def many(fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(CALLS):
                fn()
        return run

    rows = summary(interleaved({
        "portable, the Solver's path (numpy)": many(
            lambda: model.apply(X, y, params=p, checked=False)),
        "portable, public model.loss (numpy)": many(lambda: model.loss(X, y)),
        "hand-written numpy": many(lambda: handwritten_loss_grads(p, X, y)),
    }, repeats), "hand-written numpy")
    print_table("e. small batch N=8, D=64, H=32 on NumPy, 200 calls (goal <= 1.5)", rows,
                "hand-written")
    return rows


def bench_f(repeats: int) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    result: dict[str, Any] = {}
    sizes = SIZES
    model = numpy_model(D, H, C)
    jmodel = pl.TwoLayerPerceptron(D, H, C, weight_scale=1e-2, xp="jax", dtype="float32", seed=0)
    jloss = jax.jit(lambda p, X, y: jmodel.loss(X, y, params=p))
    print(f"\nf. step time (loss + gradients) against batch size; per-sample time relative "
          f"to N={N}")
    for name in ("numpy", "jax"):
        per_sample = {}
        for n in sizes:
            X, y = make_data(n, D, C, seed=n)
            if name == "numpy":
                def fn(X: Any = X, y: Any = y) -> Any:
                    return model.loss(X, y)
            else:
                jX, jy = jnp.asarray(X), jnp.asarray(y)

                def fn(jX: Any = jX, jy: Any = jy) -> Any:
                    return jax.block_until_ready(jloss(jmodel.params, jX, jy))
            times = interleaved({"step": fn}, max(3, repeats // 2))["step"]
            per_sample[n] = statistics.median(times) / n
        base = per_sample[N]
        result[name] = {n: {"median_s": per_sample[n] * n, "per_sample_vs_base": t / base}
                        for n, t in per_sample.items()}
        cells = "  ".join(f"{n}:{per_sample[n] / base:.2f}" for n in sizes)
        print(f"  {name:5s} {cells}")
    return result


def figures(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The contract's figures from the parts that ran."""
    shape = f"N={N}, D={D}, H={H}, C={C}, float32"
    out = []
    if "a" in doc:
        out.append(figure("step.a", f"a. loss + all gradients, portable on NumPy ({shape})",
                          "the same computation hand-written in NumPy",
                          doc["a"]["portable (numpy)"]["ratio"], 1.10))
    if "b" in doc:
        out.append(figure("step.b", "b. full step (forward, hand-written backward, adam) on "
                          "JAX under jax.jit", "PyTorch eager, autograd, torch.optim.Adam",
                          doc["b"]["portable jitted step (jax)"]["ratio"], 1.0))
    if "c" in doc:
        out.append(figure("step.c", "c. hand-written backward, jitted",
                          "jax.value_and_grad of the same forward, jitted",
                          doc["c"]["hand-written backward (jit)"]["ratio"], 1.0))
    if "d" in doc:
        jx, nx = doc["d"]["jax"], doc["d"]["numpy"]
        out += [
            figure("step.d_jax", "d. JAX jitted step with adam", "its matrix products alone, "
                   "jitted", jx["portable jitted step with adam (jax)"]["ratio"], 1.15),
            figure("step.d_numpy_loss", "d. NumPy loss + gradients",
                   "its matrix products alone, NumPy",
                   nx["portable loss + gradients (numpy)"]["ratio"], 1.3),
            figure("step.d_numpy_step", "d. NumPy step with adam",
                   "its matrix products alone, NumPy",
                   nx["portable step with adam (numpy)"]["ratio"], 1.3),
            figure("step.d_numpy_solver", "d. the Solver's NumPy step with adam (its own "
                   "buffers updated in place, data validated once)",
                   "its matrix products alone, NumPy",
                   nx["the Solver's step with adam (numpy)"]["ratio"], 1.5)]
    if "e" in doc:
        n, d, h = SMALL
        out += [
            figure("step.e", f"e. small batch N={n}, D={d}, H={h}, NumPy, {CALLS} calls of "
                   "the Solver's loss + gradients (layers unchecked: the Solver validated "
                   "its data once)", "hand-written NumPy",
                   doc["e"]["portable, the Solver's path (numpy)"]["ratio"], 1.5),
            figure("step.e_public", "e. the same with the public model.loss (every "
                   "argument checked on every call)", "hand-written NumPy",
                   doc["e"]["portable, public model.loss (numpy)"]["ratio"], None)]
    if "f" in doc:
        for name in ("numpy", "jax"):
            worst = max(r["per_sample_vs_base"] for n, r in doc["f"][name].items() if n >= N)
            out.append(figure(f"step.f_{name}", f"f. worst per-sample step time, {name}, "
                              f"N={N} to {SIZES[-1]}", f"per-sample time at N={N}", worst, 1.2))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    global N, D, H, SMALL, SIZES, CALLS
    p = parser(__doc__ or "")
    p.add_argument("--only", default="abcdef", help="which parts to run, e.g. 'ab'")
    args = parse(p, argv)
    if args.smoke:
        N, D, H, SMALL, SIZES, CALLS = 16, 32, 16, (4, 8, 4), [8, 16, 32], 2
    parts = {"a": bench_a, "b": bench_b, "c": bench_c, "d": bench_d, "e": bench_e, "f": bench_f}
    doc: dict[str, Any] = {k: parts[k](args.repeats) for k in args.only}
    doc["figures"] = figures(doc)
    doc.update(benchmark="step", config={**vars(args), "N": N, "D": D, "H": H, "C": C})
    write_json(args.out, doc)
    return doc


if __name__ == "__main__":
    main()
