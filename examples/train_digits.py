"""Train a two-layer perceptron on scikit-learn's digits with the Solver, on any backend.

    python examples/train_digits.py --backend jax

Needs the ``digits`` extra (scikit-learn); ``--plot PATH`` also the ``plot`` extra.
"""

from __future__ import annotations

import argparse

import portable_layers as pl
from portable_layers import _compat, data


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backend", default="numpy", choices=_compat.installed_backends())
    p.add_argument("--plot", help="save the loss, accuracy and first-layer weights as a PNG")
    args = p.parse_args()

    X, y = data.load_digits()                      # (1797, 1, 8, 8) in [0, 1], labels 0..9
    split = data.split_and_normalize(X, y, num_train=1400, num_val=397, seed=0)
    model = pl.TwoLayerPerceptron(input_dim=64, hidden_dim=100, num_classes=10,
                                  weight_scale=1e-2, xp=args.backend, dtype="float32", seed=0)
    solver = pl.Solver(model, split, update_rule="adam", optim_config={"learning_rate": 1e-2},
                       num_epochs=20, batch_size=100, verbose=False, seed=0)
    solver.train()                                 # on JAX the whole step is one jitted call
    print(f"{args.backend}: best validation accuracy {solver.best_val_acc:.4f}")
    if args.plot:
        from portable_layers import plotting

        plotting.save_training_figure(
            args.plot, loss_history=solver.loss_history,
            train_acc_history=solver.train_acc_history, val_acc_history=solver.val_acc_history,
            weights=model.params["W1"], image_shape=(1, 8, 8))


if __name__ == "__main__":
    main()
