"""The digits table: every model's validation accuracy and training time per backend.

Each model is trained exactly as ``python -m portable_layers train --model M --backend B``
trains it (the command's digits defaults: 1400 train / 397 validation images, float32,
seed 0), once per backend in this process, and the final validation accuracy and the
wall time of ``Solver.train()`` are recorded (on JAX the time includes compilation:
every model is compiled once, in the first run of its shapes in this process).
scikit-learn's ``MLPClassifier`` on the same split is the reference accuracy.

These are results, not ratios: the README renders them as facts, each with its value
in every run of the suite.

    python benchmarks/bench_digits.py [--out results.json] [--smoke]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from typing import Any

from harness import fact, parse, parser, write_json

from portable_layers import _compat
from portable_layers.cli import recipes
from portable_layers.cli import train as training

MODELS = {"two_layer": "TwoLayerPerceptron", "convnet": "ThreeLayerConvNet",
          "vit": "VisionTransformer"}


def train(model: str, backend: str, epochs: int | None) -> tuple[float, float]:
    """(validation accuracy, seconds) of the ``train`` command's recipe for ``model``."""
    p = argparse.ArgumentParser()
    training.add_arguments(p)
    argv = ["--model", model, "--backend", backend, "--quiet"]
    argv += ["--epochs", str(epochs)] if epochs else []
    args = p.parse_args(argv)
    opts = training.options(args)
    data = recipes.load_split(args.dataset, args.root, args.seed)
    net = training._model(args, opts, data["X_train"])
    solver = training._solver(net, data, opts, args)
    start = time.perf_counter()
    solver.train()
    seconds = time.perf_counter() - start
    return float(solver.check_accuracy(data["X_val"], data["y_val"])), seconds


def sklearn_reference(smoke: bool) -> float:
    """Validation accuracy of scikit-learn's MLPClassifier (128 hidden units) on the split."""
    from sklearn.neural_network import MLPClassifier

    split = recipes.load_split("digits")
    X, Xv = (split[k].reshape(split[k].shape[0], -1) for k in ("X_train", "X_val"))
    clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=20 if smoke else 500, random_state=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning in the smoke run
        clf.fit(X, split["y_train"])
    return float(clf.score(Xv, split["y_val"]))


def main() -> None:
    args = parse(parser(__doc__.splitlines()[0]))
    choices = {a.dest: a.choices for a in _parser_actions()}["model"]
    models = [m for m in MODELS if m in choices]
    backends = [b for b in ("numpy", "jax", "torch", "array_api_strict")
                if b in _compat.installed_backends()]
    if args.smoke:
        backends = backends[:1]
    facts = []
    for model in models:
        for backend in backends:
            acc, seconds = train(model, backend, 1 if args.smoke else None)
            print(f"  {MODELS[model]:<20} {backend:<17} val acc {acc:.4f}  {seconds:6.2f} s",
                  flush=True)
            facts.append(fact(f"digits.{model}.{backend}.acc",
                              f"{MODELS[model]}, {backend}: validation accuracy",
                              f"{100 * acc:.2f}%"))
            facts.append(fact(f"digits.{model}.{backend}.seconds",
                              f"{MODELS[model]}, {backend}: seconds to train"
                              + (" (incl. compile)" if backend == "jax" else ""),
                              f"{seconds:.2f}"))
    if importlib.util.find_spec("sklearn"):
        acc = sklearn_reference(args.smoke)
        print(f"  MLPClassifier(128)   scikit-learn      val acc {acc:.4f}")
        facts.append(fact("digits.sklearn.acc",
                          "scikit-learn MLPClassifier (128 hidden units): validation accuracy",
                          f"{100 * acc:.2f}%"))
    write_json(args.out, {"benchmark": "digits", "figures": [], "facts": facts,
                          "config": {"smoke": args.smoke, "models": models,
                                     "backends": backends}})


def _parser_actions() -> list[Any]:
    p = argparse.ArgumentParser()
    training.add_arguments(p)
    return list(p._actions)


if __name__ == "__main__":
    sys.exit(main())
