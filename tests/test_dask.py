"""Dask: every layer lazy on batch-chunked arrays, full-batch gradients, streamed Solver data.

The layer and full-batch tests are Dask-specific (they compare Dask with NumPy); the
Solver test takes ``xp`` for the model's backend and streams Dask data into it.

Dask and ``distributed`` are imported plainly: the ``tests-dask`` session names this
file, and fails (never skips) when either is missing.  Sessions that install no Dask
do not collect the file (``collect_ignore`` in ``conftest.py``).
"""

from __future__ import annotations

import threading
from typing import Any

import dask
import dask.array as da
import distributed
import numpy as np
import pytest
from dask.base import is_dask_collection
from helpers import assert_array, assert_close, base_namespace

from portable_layers import _compat
from portable_layers.cases import CASES, LayerCase
from portable_layers.distributed import dask_take_rows, full_batch_loss_and_grads
from portable_layers.models import TwoLayerPerceptron
from portable_layers.solver import Solver

BATCH_INPUTS = ("x", "y")  # the case inputs with a batch axis; parameters stay one chunk
RTOL, ATOL = 1e-12, 1e-13  # float64 rounding: a different order of sums at most


class ComputeCounter(dask.callbacks.Callback):
    """Counts the graphs the local schedulers run while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def _start(self, dsk: Any) -> None:
        self.count += 1


def by_rows(a: np.ndarray) -> Any:
    """``a`` as a Dask array with several chunks along axis 0 and one along the others."""
    rows = max(1, a.shape[0] // 2)
    return da.from_array(a, chunks=(rows, *a.shape[1:]))


def leaves(tree: Any) -> list[Any]:
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in leaves(item)]
    return [tree]


def dask_inputs(case: LayerCase, host: tuple[np.ndarray, ...]) -> tuple[Any, ...]:
    return tuple(by_rows(a) if name in BATCH_INPUTS else da.from_array(a)
                 for name, a in zip(case.names, host, strict=True))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_case_is_lazy_on_dask_and_equals_numpy(case: LayerCase) -> None:
    npx = _compat.get_namespace("numpy")
    host = case.inputs(npx, "float64")
    inputs = dask_inputs(case, host)
    expected_out = case.forward(*host)
    with ComputeCounter() as counter:
        out = case.forward(*inputs)
        if case.backward is None:  # a loss: (loss, dx)
            expected, actual = leaves(expected_out), leaves(out)
        else:
            dout = np.random.default_rng(1).standard_normal(expected_out[0].shape)
            grads = case.backward(by_rows(dout), out[1])
            expected = leaves((expected_out[0], case.backward(dout, expected_out[1])))
            actual = leaves((out[0], grads))
    assert counter.count == 0, f"{case.name} computed {counter.count} graphs eagerly"
    assert all(is_dask_collection(a) for a in actual), [type(a) for a in actual]
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert tuple(a.shape) == tuple(e.shape) and a.dtype == e.dtype
        assert_close(a, e, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("loss_name", ["svm_loss", "softmax_loss"])
def test_bad_label_on_dask_is_nan_in_the_graph_not_an_eager_check(loss_name: str) -> None:
    case = next(c for c in CASES if c.name == loss_name)
    x = np.random.default_rng(0).standard_normal((6, 5))
    y = np.array([0, 1, 7, 2, 3, 4])  # 7 is outside [0, 5)
    with pytest.raises(ValueError, match=rf"{loss_name}: y must hold labels in \[0, 5\)"):
        case.forward(x, y)
    with ComputeCounter() as counter:
        loss, _ = case.forward(by_rows(x), by_rows(y))
    assert counter.count == 0
    assert np.isnan(float(loss.compute()))
    good_loss, _ = case.forward(by_rows(x), by_rows(y % 5))
    assert np.isfinite(float(good_loss.compute()))


# ---------------------------------------------------------------------------
# Full-batch loss and gradients
# ---------------------------------------------------------------------------

N, D, H, C, CHUNK = 230, 12, 7, 5, 40


CALLS: list[tuple[int, int]] = []  # module-level: tasks are pickled even in-process


def seeded_rows(block_id: Any = None, block_info: Any = None, record: bool = False) -> Any:
    """One chunk of features from a generator seeded by the chunk's index."""
    info = block_info[None]
    (start, stop), *_ = info["array-location"]
    if record:
        CALLS.append((start, stop))
    rng = np.random.default_rng([7, block_id[0]])
    return rng.standard_normal(info["chunk-shape"])


def lazy_dataset(record: bool = False) -> tuple[Any, Any]:
    rows = (CHUNK,) * (N // CHUNK) + (N % CHUNK,)
    X = da.map_blocks(seeded_rows, record=record, chunks=(rows, (3,), (2,), (2,)),
                      dtype=np.float64, meta=np.empty((0, 0, 0, 0)))
    y = da.from_array(np.random.default_rng(1).integers(0, C, size=N), chunks=50)
    return X, y


def model(dtype: str = "float64") -> TwoLayerPerceptron:
    return TwoLayerPerceptron(D, H, C, weight_scale=0.3, reg=0.05, dtype=dtype, seed=0)


def test_full_batch_on_local_cluster_equals_numpy_and_streams_each_chunk_once() -> None:
    X, y = lazy_dataset(record=True)
    Xn, yn = X.compute(), y.compute()
    CALLS.clear()
    m = model()
    expected_loss, expected = m.loss(Xn, yn)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        loss, grads = full_batch_loss_and_grads(m, X, y, split_every=3)
    assert sorted(CALLS) == [(s, min(s + CHUNK, N)) for s in range(0, N, CHUNK)]
    assert_array(loss, np, (), np.float64)
    assert_close(loss, expected_loss, rtol=RTOL)
    assert list(grads) == list(m.params)
    for k, g in grads.items():
        assert_array(g, np, tuple(m.params[k].shape), np.float64)
        assert_close(g, expected[k], rtol=RTOL, atol=ATOL)


def test_full_batch_threaded_lazy_float32_and_errors() -> None:
    X, y = lazy_dataset()
    m = model("float32")
    delayed = full_batch_loss_and_grads(m, X, y, compute=False)
    assert is_dask_collection(delayed)
    loss, grads = delayed.compute()
    expected_loss, expected = m.loss(X.compute().astype(np.float32), y.compute())
    assert loss.dtype == np.float32 and grads["W1"].dtype == np.float32
    assert_close(loss, expected_loss, rtol=1e-5)
    for k in grads:
        assert_close(grads[k], expected[k], rtol=1e-4, atol=1e-6)
    bad = da.from_array(np.full(N, C), chunks=50)
    with pytest.raises(ValueError, match=r"softmax_loss: y must hold labels in \[0, 5\)"):
        full_batch_loss_and_grads(m, X, bad)
    with pytest.raises(ValueError, match=r"full_batch_loss_and_grads: y must have shape \(230,\)"):
        full_batch_loss_and_grads(m, X, y[:10])
    with pytest.raises(ValueError, match="split_every must be an integer >= 2, got 1"):
        full_batch_loss_and_grads(m, X, y, split_every=1)


def test_full_batch_model_on_each_backend(xp: Any) -> None:
    """Blocks run on the model's backend; results come back there."""
    X, y = lazy_dataset()
    ns = base_namespace(xp)
    m = TwoLayerPerceptron(D, H, C, weight_scale=0.3, reg=0.05, xp=ns, dtype="float64", seed=0)
    expected_loss, expected = model().loss(X.compute(), y.compute())
    loss, grads = full_batch_loss_and_grads(m, X, y)
    assert_array(loss, xp, (), ns.float64)
    assert_close(loss, expected_loss, rtol=RTOL)
    for k in grads:
        assert_array(grads[k], xp, tuple(m.params[k].shape), ns.float64)
        assert_close(grads[k], expected[k], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("hidden", [[H], [H, 5]])
def test_full_batch_with_batchnorm_is_the_whole_batchs(xp: Any, hidden: list[int]) -> None:
    """Batch normalization over Dask blocks uses the statistics of all N rows
    (SyncBatchNorm): the loss and gradients equal ``model.apply`` over the whole batch in
    memory, where per-block statistics would be off (dW1 by 1.25 relative).  The running
    statistics are never changed by a gradient computation, and a bad label raises."""
    from portable_layers.models import FullyConnectedNet

    X, y = lazy_dataset()
    ns = base_namespace(xp)
    m = FullyConnectedNet(hidden, D, C, normalization="batchnorm", weight_scale=0.3, reg=0.05,
                          xp=ns, dtype="float64", seed=0)
    Xn, yn = ns.asarray(X.compute()), ns.asarray(y.compute())
    (want, want_grads), _ = m.apply(Xn, yn, state={})
    for inputs in ((X, y), (Xn, yn)):
        loss, grads = full_batch_loss_and_grads(m, *inputs)
        assert_array(loss, xp, (), ns.float64)
        assert_close(loss, want, rtol=RTOL)
        for k in grads:
            assert_array(grads[k], xp, tuple(m.params[k].shape), ns.float64)
            assert_close(grads[k], want_grads[k], rtol=1e-10, atol=1e-12)
    # what the blocks' own statistics would give is measurably different (the test can fail)
    starts = range(0, N, CHUNK)
    per_block = sum(_compat.to_numpy(m.apply(Xn[i:min(i + CHUNK, N), ...], yn[i:min(i + CHUNK, N)],
                                             state={})[0][1]["W1"]) * min(CHUNK, N - i)
                    for i in starts)
    assert not np.allclose(per_block / N, _compat.to_numpy(want_grads["W1"]), rtol=1e-3)
    delayed = full_batch_loss_and_grads(m, X, y, compute=False)
    assert is_dask_collection(delayed)
    assert_close(delayed.compute()[0], want, rtol=RTOL)
    assert_close(m.state["running_mean1"], np.zeros(H))
    assert_close(m.state["running_var1"], np.zeros(H))
    with pytest.raises(ValueError, match=r"full_batch_loss_and_grads: y must hold class "
                                         rf"labels in \[0, {C}\)"):
        full_batch_loss_and_grads(m, X, y + C)


# ---------------------------------------------------------------------------
# Solver streaming minibatches from Dask
# ---------------------------------------------------------------------------


def test_solver_streams_dask_data_into_the_models_backend(xp: Any) -> None:
    X, y = lazy_dataset()
    Xn, yn = X.compute(), y.compute()
    ns = base_namespace(xp)

    def run(data: dict[str, Any]) -> Solver:
        m = TwoLayerPerceptron(D, H, C, weight_scale=0.3, xp=ns, dtype="float64", seed=0)
        solver = Solver(m, data, update_rule="adam", num_epochs=2, batch_size=50,
                        num_train_samples=60, verbose=False, seed=0)
        solver.train()
        return solver

    lazy = {"X_train": X, "y_train": y, "X_val": X[:70], "y_val": y[:70]}
    streamed = run(lazy)
    assert is_dask_collection(streamed.X_train) and is_dask_collection(streamed.y_val)
    in_memory = run({"X_train": Xn, "y_train": yn, "X_val": Xn[:70], "y_val": yn[:70]})
    np.testing.assert_allclose(streamed.loss_history, in_memory.loss_history, rtol=RTOL)
    assert streamed.val_acc_history == in_memory.val_acc_history
    assert streamed.train_acc_history == in_memory.train_acc_history
    for k, w in streamed.model.params.items():
        assert_array(w, xp, tuple(w.shape), ns.float64)
        assert_close(w, in_memory.model.params[k], rtol=1e-10, atol=1e-12)
    bad = {**lazy, "y_val": y[:70] + C}
    with pytest.raises(ValueError, match=r"Solver: y_val must hold labels in \[0, 5\)"):
        run(bad)


def test_dask_take_rows_keeps_order_and_repeats() -> None:
    a = np.arange(40.0).reshape(20, 2)
    idx = np.array([17, 3, 3, 0, 12])
    got = dask_take_rows(da.from_array(a, chunks=6), idx)
    np.testing.assert_array_equal(got, a[idx])


def test_compute_counter_sees_threads() -> None:
    """The counter in these tests does see a compute (guards against a vacuous pass)."""
    with ComputeCounter() as counter:
        by_rows(np.ones((4, 2))).sum().compute()
    assert counter.count == 1 and threading.active_count() >= 1


@pytest.mark.parametrize("normalization", [None, "batchnorm"])
def test_full_batch_with_dropout_is_reproducible_with_a_seed(normalization: Any) -> None:
    """Issue 21: dropout made two calls differ; ``seed=`` fixes the masks (in memory they
    are ``apply``'s for ``dropout_seed=seed``), and a bad seed is refused by name."""
    from portable_layers.models import FullyConnectedNet

    model = FullyConnectedNet([6], 4, 3, dropout_keep_ratio=0.5, normalization=normalization,
                              seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 4)), rng.integers(0, 3, 12)
    Xd, yd = da.from_array(X, chunks=4), da.from_array(y, chunks=4)
    for inputs in ((X, y), (Xd, yd)):
        first, again = (full_batch_loss_and_grads(model, *inputs, seed=7) for _ in range(2))
        assert float(first[0]) == float(again[0])
        for k in model.params:
            np.testing.assert_array_equal(first[1][k], again[1][k])
        other = full_batch_loss_and_grads(model, *inputs, seed=8)
        assert float(other[0]) != float(first[0])  # the seed does pick the masks
    (ref_loss, ref_grads), _ = model.apply(X, y, dropout_seed=7, state={})
    loss, grads = full_batch_loss_and_grads(model, X, y, seed=7)
    assert_close(loss, ref_loss, rtol=RTOL, atol=ATOL)
    assert_close(grads["W1"], ref_grads["W1"], rtol=RTOL, atol=ATOL)
    if normalization == "batchnorm":  # one graph over all rows: apply's masks exactly
        assert_close(full_batch_loss_and_grads(model, Xd, yd, seed=7)[0], ref_loss,
                     rtol=RTOL, atol=ATOL)
    for bad in (-1, 2.5, "0", True):
        with pytest.raises(ValueError, match="full_batch_loss_and_grads: seed must be a "
                           "non-negative integer"):
            full_batch_loss_and_grads(model, X, y, seed=bad)
    with pytest.raises(TypeError, match="full_batch_loss_and_grads: X must be an array"):
        full_batch_loss_and_grads(model, X.tolist(), y)
