"""The seed notebook's walkthrough, on any backend.

The notebook (tests/data/seed_notebook.txt) checks the affine layer, ReLU and the two
losses against finite differences.  This script draws the same inputs (the
notebook's ``np.random.seed(231)``, here as ``RandomState(231)``), moves them to the
chosen backend, runs portable_layers there and prints what the notebook printed::

    python examples/seed_walkthrough.py --backend torch

Arrays are printed through NumPy so the text matches the notebook's.  The
finite-difference errors come from portable_layers.gradient_check, which never
writes into its input (so JAX arrays work); their last digits depend on the
machine's floating-point kernels (see docs/guide/seed-notebook.md).
"""

from __future__ import annotations

import argparse

import numpy as np

import portable_layers as pl
from portable_layers import _compat
from portable_layers.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)


def show(a: object) -> np.ndarray:
    return _compat.to_numpy(a)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backend", default="numpy", choices=_compat.installed_backends())
    backend = p.parse_args().backend
    if backend == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)  # the notebook works in float64
    xp = _compat.get_namespace(backend)

    def to(a: np.ndarray) -> object:
        return _compat.from_numpy(a, xp)

    perceptron = pl.TwoLayerPerceptron(xp=backend)

    rs = np.random.RandomState(231)  # the notebook's np.random.seed(231), as a generator
    x = rs.randn(10, 2, 3)
    print("Inputs of shape: ", x.reshape((x.shape[0], -1)).shape)
    print(x.reshape((x.shape[0], -1)))
    w = rs.randn(6, 5)
    print("Weights of shape: ", w.shape)
    print(w)
    b = rs.randn(5)
    print("Bias of shape: ", b.shape)
    print(b)
    dout = to(rs.randn(10, 5))

    scores, (x, w, b) = perceptron.affine_forward(to(x), to(w), to(b))
    print("Scores of shape : ", tuple(scores.shape))
    print(show(scores))

    dx, dw, db = perceptron.affine_backward(dout, cache=(x, w, b))
    print("Input gradient of shape: ", tuple(dx.shape))
    print(show(dx))
    print("Weights gradient of shape: ", tuple(dw.shape))
    print(show(dw))
    print("Biases gradient of shape: ", tuple(db.shape))
    print(show(db))

    dx_num = eval_numerical_gradient_array(lambda x: perceptron.affine_forward(x, w, b)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda w: perceptron.affine_forward(x, w, b)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda b: perceptron.affine_forward(x, w, b)[0], b, dout)
    print("Testing affine_backward function:")
    print("dx error: ", rel_error(dx_num, dx))
    print("dw error: ", rel_error(dw_num, dw))
    print("db error: ", rel_error(db_num, db))

    rs = np.random.RandomState(231)
    x = to(rs.randn(10, 5))
    dout = to(rs.randn(10, 5))
    dx_num = eval_numerical_gradient_array(lambda x: perceptron.relu_forward(x)[0], x, dout)
    print("scores of shape", tuple(x.shape))
    print(show(x))
    scores_after_activation, x = perceptron.relu_forward(x)
    print("Scores after activation :", tuple(scores_after_activation.shape))
    print(show(scores_after_activation))
    dx = perceptron.relu_backward(dout, x)
    print("Testing relu_backward function:")
    print("dx error: ", rel_error(dx_num, dx))

    rs = np.random.RandomState(231)
    num_classes, num_inputs = 10, 50
    x = to(0.001 * rs.randn(num_inputs, num_classes))
    y = to(rs.randint(num_classes, size=num_inputs))
    for title, loss_fn in (("svm_loss", perceptron.svm_loss),
                           ("softmax_loss", perceptron.softmax_loss)):
        dx_num = eval_numerical_gradient(lambda x, f=loss_fn: f(x, y)[0], x, verbose=False)
        loss, dx = loss_fn(x, y)
        print(f"\nTesting {title}:")
        print("loss: ", float(loss))
        print("dx error: ", rel_error(dx_num, dx))


if __name__ == "__main__":
    main()
