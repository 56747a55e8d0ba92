"""The course's layer cells (FullyConnectedNets, BatchNormalization, Dropout,
ConvolutionalNetworks notebooks) through ``portable_layers.cs231n`` on every backend.

Inputs, seeds and expected values are the published cells'; the thresholds are the
errors the cells say to expect.  Inputs are drawn on the host exactly as the cells
draw them, then moved to the backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import assert_array, base_namespace

from portable_layers import _compat
from portable_layers.cs231n.fast_layers import (
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
)
from portable_layers.cs231n.gradient_check import eval_numerical_gradient, rel_error
from portable_layers.cs231n.gradient_check import eval_numerical_gradient_array as num_array
from portable_layers.cs231n.layer_utils import (
    affine_relu_backward,
    affine_relu_forward,
    conv_bn_relu_backward,
    conv_bn_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
)
from portable_layers.cs231n.layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    conv_backward_naive,
    conv_forward_naive,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    max_pool_backward_naive,
    max_pool_forward_naive,
    relu_backward,
    relu_forward,
    softmax_loss,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
    svm_loss,
)
from portable_layers.cs231n.optim import adam, rmsprop, sgd, sgd_momentum


def host(a: Any) -> np.ndarray:
    return np.asarray(_compat.to_numpy(a))


def err(a: Any, b: Any) -> float:
    """The notebooks' rel_error, on host copies (the arrays may be of two libraries)."""
    return rel_error(host(a), host(b))


def lin(lo: float, hi: float, shape: tuple[int, ...]) -> np.ndarray:
    return np.linspace(lo, hi, num=int(np.prod(shape))).reshape(shape)


def test_affine_forward_cell(xp: Any) -> None:
    x = xp.asarray(lin(-0.1, 0.5, (2, 4, 5, 6)))
    w = xp.asarray(lin(-0.2, 0.3, (120, 3)))
    b = xp.asarray(np.linspace(-0.3, 0.1, num=3))
    out, _ = affine_forward(x, w, b)
    correct_out = np.array([[1.49834967, 1.70660132, 1.91485297],
                            [3.25553199, 3.5141327, 3.77273342]])
    assert_array(out, xp, (2, 3), base_namespace(xp).float64)
    assert err(out, correct_out) < 2e-9  # "The error should be around e-9 or less"


def test_affine_relu_backward_cells(xp: Any) -> None:
    np.random.seed(231)
    x, w, b = (xp.asarray(np.random.randn(*s)) for s in ((10, 2, 3), (6, 5), (5,)))
    dout = xp.asarray(np.random.randn(10, 5))
    dx_num = num_array(lambda x: affine_forward(x, w, b)[0], x, dout)
    dw_num = num_array(lambda w: affine_forward(x, w, b)[0], w, dout)
    db_num = num_array(lambda b: affine_forward(x, w, b)[0], b, dout)
    _, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(dout, cache)
    assert tuple(dx.shape) == (10, 2, 3)
    # "The error should be around e-10"; the published run: 1.09e-10, 2.18e-10, 7.7e-12
    assert max(err(dx_num, dx), err(dw_num, dw), err(db_num, db)) < 1e-9

    x = xp.asarray(np.linspace(-0.5, 0.5, num=12).reshape(3, 4))
    out, _ = relu_forward(x)
    correct_out = np.array([[0.0, 0.0, 0.0, 0.0],
                            [0.0, 0.0, 0.04545455, 0.13636364],
                            [0.22727273, 0.31818182, 0.40909091, 0.5]])
    assert err(out, correct_out) < 6e-8  # "around 5e-8" (the expected values' rounding)

    np.random.seed(231)
    x = xp.asarray(np.random.randn(10, 10))
    dout = xp.asarray(np.random.randn(10, 10))
    dx_num = num_array(lambda x: relu_forward(x)[0], x, dout)
    assert err(dx_num, relu_backward(dout, relu_forward(x)[1])) < 1e-11  # "around 3e-12"

    np.random.seed(231)
    x, w, b = (xp.asarray(np.random.randn(*s)) for s in ((2, 3, 4), (12, 10), (10,)))
    dout = xp.asarray(np.random.randn(2, 10))
    out, cache = affine_relu_forward(x, w, b)
    dx, dw, db = affine_relu_backward(dout, cache)
    dx_num = num_array(lambda x: affine_relu_forward(x, w, b)[0], x, dout)
    dw_num = num_array(lambda w: affine_relu_forward(x, w, b)[0], w, dout)
    db_num = num_array(lambda b: affine_relu_forward(x, w, b)[0], b, dout)
    assert max(err(dx_num, dx), err(dw_num, dw), err(db_num, db)) < 1e-9


def test_loss_layers_cell(xp: Any) -> None:
    np.random.seed(231)
    num_classes, num_inputs = 10, 50
    x = xp.asarray(0.001 * np.random.randn(num_inputs, num_classes))
    y = xp.asarray(np.random.randint(num_classes, size=num_inputs))
    dx_num = eval_numerical_gradient(lambda x: svm_loss(x, y)[0], x, verbose=False)
    loss, dx = svm_loss(x, y)
    assert abs(float(loss) - 8.999602749096233) < 1e-12  # the cell's printed loss
    assert err(dx_num, dx) < 1e-8  # "dx error should be around the order of e-9"
    dx_num = eval_numerical_gradient(lambda x: softmax_loss(x, y)[0], x, verbose=False)
    loss, dx = softmax_loss(x, y)
    assert abs(float(loss) - 2.302545844500738) < 1e-12
    assert err(dx_num, dx) < 1e-7  # "dx error should be around e-8"


def _two_layer_activations(xp: Any, N: int, draw_x: bool = True) -> Any:
    """The BatchNormalization cells' simulated two-layer activations."""
    D1, D2, D3 = 50, 60, 3
    X = np.random.randn(N, D1) if draw_x else None
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    return X, W1, W2


def test_batchnorm_forward_cells(xp: Any) -> None:
    np.random.seed(231)
    X, W1, W2 = _two_layer_activations(xp, 200)
    a_host = np.maximum(0, X.dot(W1)).dot(W2)
    a = xp.asarray(a_host)
    np.testing.assert_allclose(a_host.mean(axis=0), [-2.3814598, -13.18038246, 1.91780462],
                               rtol=1e-8)
    np.testing.assert_allclose(a_host.std(axis=0), [27.18502186, 34.21455511, 37.68611762],
                               rtol=1e-8)
    a_norm, _ = batchnorm_forward(a, xp.ones(3, dtype=a.dtype), xp.zeros(3, dtype=a.dtype),
                                  {"mode": "train"})
    np.testing.assert_allclose(host(a_norm).mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(host(a_norm).std(axis=0), [0.99999999, 1.0, 1.0], atol=1e-8)
    gamma, beta = xp.asarray(np.asarray([1.0, 2.0, 3.0])), xp.asarray(np.asarray([11.0, 12, 13]))
    a_norm, _ = batchnorm_forward(a, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(host(a_norm).mean(axis=0), [11, 12, 13], rtol=1e-12)
    np.testing.assert_allclose(host(a_norm).std(axis=0), [0.99999999, 1.99999999, 2.99999999],
                               atol=1e-8)

    np.random.seed(231)  # the test-time cell: 50 training passes warm the running averages
    W1 = np.random.randn(50, 60)
    W2 = np.random.randn(60, 3)
    bn_param: dict[str, Any] = {"mode": "train"}
    ones, zeros = xp.asarray(np.ones(3)), xp.asarray(np.zeros(3))
    for _ in range(50):
        X = np.random.randn(200, 50)
        batchnorm_forward(xp.asarray(np.maximum(0, X.dot(W1)).dot(W2)), ones, zeros, bn_param)
    bn_param["mode"] = "test"
    X = np.random.randn(200, 50)
    a_norm, _ = batchnorm_forward(xp.asarray(np.maximum(0, X.dot(W1)).dot(W2)), ones, zeros,
                                  bn_param)
    np.testing.assert_allclose(host(a_norm).mean(axis=0), [-0.03927354, -0.04349152, -0.10452688],
                               atol=1e-8)
    np.testing.assert_allclose(host(a_norm).std(axis=0), [1.01531428, 1.01238373, 0.97819988],
                               atol=1e-8)


@pytest.mark.parametrize("norm", ["batchnorm", "layernorm"])
def test_batchnorm_and_layernorm_backward_cells(xp: Any, norm: str) -> None:
    forward, backward = {"batchnorm": (batchnorm_forward, batchnorm_backward),
                         "layernorm": (layernorm_forward, layernorm_backward)}[norm]
    np.random.seed(231)
    N, D = 4, 5
    x = xp.asarray(5 * np.random.randn(N, D) + 12)
    gamma, beta, dout = (xp.asarray(np.random.randn(*s)) for s in ((D,), (D,), (N, D)))
    param: dict[str, Any] = {"mode": "train"}
    dx_num = num_array(lambda x: forward(x, gamma, beta, param)[0], x, dout)
    da_num = num_array(lambda a: forward(x, a, beta, param)[0], gamma, dout)
    db_num = num_array(lambda b: forward(x, gamma, b, param)[0], beta, dout)
    _, cache = forward(x, gamma, beta, param)
    dx, dgamma, dbeta = backward(dout, cache)
    # "You should expect to see relative errors between 1e-13 and 1e-8"
    assert max(err(dx_num, dx), err(da_num, dgamma), err(db_num, dbeta)) < 1e-8
    if norm == "batchnorm":  # the alternative backward gives the same numbers
        for a, c in zip(batchnorm_backward_alt(dout, cache), (dx, dgamma, dbeta), strict=True):
            assert err(a, c) < 1e-12


def test_layernorm_forward_cell(xp: Any) -> None:
    np.random.seed(231)
    N, D1, D2, D3 = 4, 50, 60, 3
    X = np.random.randn(N, D1)
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    a = xp.asarray(np.maximum(0, X.dot(W1)).dot(W2))
    a_norm, _ = layernorm_forward(a, xp.asarray(np.ones(D3)), xp.asarray(np.zeros(D3)),
                                  {"mode": "train"})
    np.testing.assert_allclose(host(a_norm).mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(host(a_norm).std(axis=1), 1, atol=1e-6)
    a_norm, _ = layernorm_forward(a, xp.asarray(np.asarray([3.0, 3.0, 3.0])),
                                  xp.asarray(np.asarray([5.0, 5.0, 5.0])), {"mode": "train"})
    np.testing.assert_allclose(host(a_norm).mean(axis=1), 5, rtol=1e-12)
    np.testing.assert_allclose(host(a_norm).std(axis=1), 3, rtol=1e-6)


def test_dropout_cells(xp: Any) -> None:
    np.random.seed(231)
    x = xp.asarray(np.random.randn(500, 500) + 10)
    published = {0.25: (10.014059116977283, 0.749784), 0.4: (9.977917658761159, 0.600796),
                 0.7: (9.987811912159426, 0.30074)}
    for p, (mean, zeros) in published.items():
        out, _ = dropout_forward(x, {"mode": "train", "p": p})
        out_test, _ = dropout_forward(x, {"mode": "test", "p": p})
        assert abs(float(host(out).mean()) - mean) < 1e-12
        assert float((host(out) == 0).mean()) == zeros
        assert np.array_equal(host(out_test), host(x))

    np.random.seed(231)
    x = xp.asarray(np.random.randn(10, 10) + 10)
    dout = xp.asarray(np.random.randn(10, 10))
    dropout_param = {"mode": "train", "p": 0.2, "seed": 123}
    out, cache = dropout_forward(x, dropout_param)
    dx = dropout_backward(dout, cache)
    dx_num = num_array(lambda xx: dropout_forward(xx, dropout_param)[0], x, dout)
    assert err(dx, dx_num) < 1e-10  # "Error should be around e-10 or less"


CONV_OUT = np.array([[[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                      [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                      [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]],
                     [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                      [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                      [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]]])
POOL_OUT = np.array([[[[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
                      [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
                      [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]]],
                     [[[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
                      [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
                      [[0.32631579, 0.34105263], [0.38526316, 0.4]]]])
POOL = {"pool_width": 2, "pool_height": 2, "stride": 2}


def test_conv_and_pool_cells(xp: Any) -> None:
    x = xp.asarray(lin(-0.1, 0.5, (2, 3, 4, 4)))
    w = xp.asarray(lin(-0.2, 0.3, (3, 3, 4, 4)))
    b = xp.asarray(np.linspace(-0.1, 0.2, num=3))
    out, _ = conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    assert err(out, CONV_OUT) < 1e-7  # "difference should be around e-8"

    np.random.seed(231)
    x, w, b = (xp.asarray(np.random.randn(*s)) for s in ((4, 3, 5, 5), (2, 3, 3, 3), (2,)))
    dout = xp.asarray(np.random.randn(4, 2, 5, 5))
    conv_param = {"stride": 1, "pad": 1}
    dx_num = num_array(lambda x: conv_forward_naive(x, w, b, conv_param)[0], x, dout)
    dw_num = num_array(lambda w: conv_forward_naive(x, w, b, conv_param)[0], w, dout)
    db_num = num_array(lambda b: conv_forward_naive(x, w, b, conv_param)[0], b, dout)
    out, cache = conv_forward_naive(x, w, b, conv_param)
    dx, dw, db = conv_backward_naive(dout, cache)
    assert max(err(dx_num, dx), err(dw_num, dw), err(db_num, db)) < 1e-8  # "around e-8 or less"

    out, _ = max_pool_forward_naive(xp.asarray(lin(-0.3, 0.4, (2, 3, 4, 4))), POOL)
    assert err(out, POOL_OUT) < 1e-7  # "difference should be on the order of e-8"

    np.random.seed(231)
    x = xp.asarray(np.random.randn(3, 2, 8, 8))
    dout = xp.asarray(np.random.randn(3, 2, 4, 4))
    dx_num = num_array(lambda x: max_pool_forward_naive(x, POOL)[0], x, dout)
    dx = max_pool_backward_naive(dout, max_pool_forward_naive(x, POOL)[1])
    assert err(dx, dx_num) < 1e-11  # "around e-12 or less"


def test_fast_layers_match_naive_and_share_caches(xp: Any) -> None:
    np.random.seed(231)
    x, w, b = (xp.asarray(np.random.randn(*s)) for s in ((10, 3, 31, 31), (25, 3, 3, 3), (25,)))
    dout = xp.asarray(np.random.randn(10, 25, 16, 16))
    conv_param = {"stride": 2, "pad": 1}
    out_naive, cache_naive = conv_forward_naive(x, w, b, conv_param)
    out_fast, cache_fast = conv_forward_fast(x, w, b, conv_param)
    assert err(out_naive, out_fast) < 1e-11
    for a, c in zip(conv_backward_naive(dout, cache_naive), conv_backward_fast(dout, cache_fast),
                    strict=True):
        assert err(a, c) < 1e-11
    xs = xp.asarray(np.random.randn(10, 3, 32, 32))
    dpool = xp.asarray(np.random.randn(10, 3, 16, 16))
    out_naive, cache_naive = max_pool_forward_naive(xs, POOL)
    out_fast, cache_fast = max_pool_forward_fast(xs, POOL)
    assert err(out_naive, out_fast) == 0
    assert err(max_pool_backward_naive(dpool, cache_fast),
               max_pool_backward_fast(dpool, cache_naive)) == 0


def test_sandwich_conv_layers(xp: Any) -> None:
    np.random.seed(231)
    x, w, b = (xp.asarray(np.random.randn(*s)) for s in ((2, 3, 16, 16), (3, 3, 3, 3), (3,)))
    dout = xp.asarray(np.random.randn(2, 3, 8, 8))
    conv_param = {"stride": 1, "pad": 1}
    _, cache = conv_relu_pool_forward(x, w, b, conv_param, POOL)
    dx, dw, db = conv_relu_pool_backward(dout, cache)
    for i, g in enumerate((dx, dw, db)):
        args = [x, w, b]

        def f(v: Any, i: int = i, args: list[Any] = args) -> Any:
            return conv_relu_pool_forward(*args[:i], v, *args[i + 1:], conv_param, POOL)[0]

        assert err(num_array(f, args[i], dout), g) < 1e-8  # the cell's "around e-8 or less"
    gamma, beta = xp.asarray(np.random.randn(3)), xp.asarray(np.random.randn(3))
    x2 = xp.asarray(np.random.randn(2, 3, 4, 4))
    dout2 = xp.asarray(np.random.randn(2, 3, 4, 4))
    _, cache = conv_bn_relu_forward(x2, w, b, gamma, beta, conv_param, {"mode": "train"})
    grads = conv_bn_relu_backward(dout2, cache)
    dx_num = num_array(lambda v: conv_bn_relu_forward(v, w, b, gamma, beta, conv_param,
                                                      {"mode": "train"})[0], x2, dout2)
    dg_num = num_array(lambda v: conv_bn_relu_forward(x2, w, b, v, beta, conv_param,
                                                      {"mode": "train"})[0], gamma, dout2)
    assert err(dx_num, grads[0]) < 1e-6 and err(dg_num, grads[3]) < 1e-8


def test_spatial_norm_cells_integer_params(xp: Any) -> None:
    np.random.seed(231)
    N, C, H, W = 2, 3, 4, 5
    x = xp.asarray(4 * np.random.randn(N, C, H, W) + 10)
    out, _ = spatial_batchnorm_forward(x, xp.asarray(np.ones(C)), xp.asarray(np.zeros(C)),
                                       {"mode": "train"})
    np.testing.assert_allclose(host(out).mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(host(out).std(axis=(0, 2, 3)), 1, atol=1e-6)
    gamma, beta = xp.asarray(np.asarray([3, 4, 5])), xp.asarray(np.asarray([6, 7, 8]))
    out, _ = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})  # integer params
    assert_array(out, xp, (N, C, H, W), base_namespace(xp).float64)
    np.testing.assert_allclose(host(out).mean(axis=(0, 2, 3)), [6, 7, 8], rtol=1e-12)
    np.testing.assert_allclose(host(out).std(axis=(0, 2, 3)), [3, 4, 5], rtol=1e-6)

    np.random.seed(231)
    N, C, H, W = 2, 3, 4, 5
    x = xp.asarray(5 * np.random.randn(N, C, H, W) + 12)
    gamma, beta, dout = (xp.asarray(np.random.randn(*s)) for s in ((C,), (C,), (N, C, H, W)))
    bn_param: dict[str, Any] = {"mode": "train"}
    dx_num = num_array(lambda x: spatial_batchnorm_forward(x, gamma, beta, bn_param)[0], x, dout)
    da_num = num_array(lambda a: spatial_batchnorm_forward(x, a, beta, bn_param)[0], gamma, dout)
    _, cache = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    dx, dgamma, _ = spatial_batchnorm_backward(dout, cache)
    assert max(err(dx_num, dx), err(da_num, dgamma)) < 1e-6  # "between 1e-12 and 1e-06"

    np.random.seed(231)
    N, C, H, W, G = 2, 6, 4, 5, 2
    x = xp.asarray(4 * np.random.randn(N, C, H, W) + 10)
    ones = xp.asarray(np.ones((1, C, 1, 1), dtype=np.int64))
    out, _ = spatial_groupnorm_forward(x, ones, 0 * ones, G, {"mode": "train"})
    out_g = host(out).reshape((N * G, -1))
    np.testing.assert_allclose(out_g.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(out_g.std(axis=1), 1, atol=1e-6)
    np.random.seed(231)
    x = xp.asarray(5 * np.random.randn(N, C, H, W) + 12)
    gamma, beta = xp.asarray(np.random.randn(1, C, 1, 1)), xp.asarray(np.random.randn(1, C, 1, 1))
    dout = xp.asarray(np.random.randn(N, C, H, W))
    gn_param: dict[str, Any] = {}
    dx_num = num_array(lambda x: spatial_groupnorm_forward(x, gamma, beta, G, gn_param)[0], x, dout)
    _, cache = spatial_groupnorm_forward(x, gamma, beta, G, gn_param)
    assert err(dx_num, spatial_groupnorm_backward(dout, cache)[0]) < 1e-7


def test_integer_bias_cast_to_input_dtype(xp: Any) -> None:
    x = xp.asarray(np.ones((2, 2), dtype=np.float32))
    out, _ = affine_forward(x, xp.asarray(np.eye(2, dtype=np.float32)),
                            xp.asarray(np.array([0, 128])))
    assert_array(out, xp, (2, 2), base_namespace(xp).float32)
    np.testing.assert_array_equal(host(out), [[1, 129], [1, 129]])


def _optim_inputs(xp: Any, state: np.ndarray) -> tuple[Any, Any, Any]:
    N, D = 4, 5
    return (xp.asarray(lin(-0.4, 0.6, (N, D))), xp.asarray(lin(-0.6, 0.4, (N, D))),
            xp.asarray(state))


def test_update_rule_cells_write_config(xp: Any) -> None:
    w, dw, v = _optim_inputs(xp, lin(0.6, 0.9, (4, 5)))
    config = {"learning_rate": 1e-3, "velocity": v}
    next_w, _ = sgd_momentum(w, dw, config=config)
    expected_next_w = np.asarray([
        [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
        [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
        [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
        [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]])
    expected_velocity = np.asarray([
        [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
        [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
        [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
        [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]])
    assert err(next_w, expected_next_w) < 1e-8  # "errors less than 1e-8"
    assert err(expected_velocity, config["velocity"]) < 1e-8
    assert np.array_equal(host(v), lin(0.6, 0.9, (4, 5)))  # the old state is not written into

    w, dw, cache = _optim_inputs(xp, lin(0.6, 0.9, (4, 5)))
    config = {"learning_rate": 1e-2, "cache": cache}
    next_w, _ = rmsprop(w, dw, config=config)
    expected_next_w = np.asarray([
        [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
        [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
        [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
        [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619]])
    expected_cache = np.asarray([
        [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
        [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
        [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
        [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926]])
    assert err(expected_next_w, next_w) < 1e-7  # "errors less than 1e-7"
    assert err(expected_cache, config["cache"]) < 1e-7

    w, dw, m = _optim_inputs(xp, lin(0.6, 0.9, (4, 5)))
    config = {"learning_rate": 1e-2, "m": m, "v": xp.asarray(lin(0.7, 0.5, (4, 5))), "t": 5}
    next_w, _ = adam(w, dw, config=config)
    expected_next_w = np.asarray([
        [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
        [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
        [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
        [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459]])
    expected_v = np.asarray([
        [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
        [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
        [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
        [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966]])
    expected_m = np.asarray([
        [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
        [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
        [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
        [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85]])
    assert err(expected_next_w, next_w) < 1e-6  # "errors around e-7 or less"
    assert err(expected_v, config["v"]) < 1e-7 and err(expected_m, config["m"]) < 1e-7
    assert config["t"] == 6

    config = {"learning_rate": 0.5, "note": "kept"}  # unknown keys kept, as setdefault does
    next_w, out = sgd(w, dw, config)
    assert out is config and config["note"] == "kept"
    assert err(next_w, host(w) - 0.5 * host(dw)) < 1e-15
