"""Assertions and input makers shared by the tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from portable_layers import _compat


def base_namespace(xp: Any) -> Any:
    """The namespace arrays made by ``xp`` report (the read-only NumPy maps to NumPy)."""
    return _compat.array_namespace("test", a=xp.asarray(0.0))


def asxp(xp: Any, a: Any, dtype: str | None = None) -> Any:
    """A host array as an array of ``xp``, optionally cast to ``dtype`` (``"float32"``...)."""
    a = np.asarray(a)
    if dtype is not None:
        a = a.astype(dtype)
    return xp.asarray(a)


def randn(xp: Any, *shape: int, seed: int = 0, dtype: str = "float64", scale: float = 1.0) -> Any:
    """Standard normal values from a seeded host generator, as an ``xp`` array."""
    rng = np.random.default_rng(seed)
    return asxp(xp, scale * rng.standard_normal(shape), dtype)


def assert_array(x: Any, xp: Any, shape: tuple[int, ...], dtype: Any) -> None:
    """``x`` is an array of ``xp``'s library with the given shape and dtype."""
    assert _compat.array_namespace("test", x=x) is base_namespace(xp), type(x)
    assert tuple(x.shape) == tuple(shape), (tuple(x.shape), shape)
    assert x.dtype == dtype, (x.dtype, dtype)


def assert_close(actual: Any, expected: Any, rtol: float = 1e-12, atol: float = 0.0) -> None:
    """Values equal within tolerance, compared on the host."""
    np.testing.assert_allclose(
        _compat.to_numpy(actual), _compat.to_numpy(expected), rtol=rtol, atol=atol
    )


def train_command_val_accuracy(model: str, xp: Any, capsys: Any) -> tuple[float, str]:
    """Run ``python -m portable_layers train --model MODEL`` (its digits defaults) on
    ``xp``'s backend in this process; the validation accuracy it prints, and the output."""
    from portable_layers import cli

    backend = _compat.backend_name(base_namespace(xp))
    assert cli.main(["train", "--model", model, "--quiet", "--backend", backend]) == 0
    out = capsys.readouterr().out
    return float(out.split("val accuracy: ")[1].split()[0]), out


def check_model_gradients(model: Any, X: Any, y: Any, samples: int,
                          oracles: tuple[str, ...]) -> Any:
    """``check_layer`` over ``model.loss(X, y, params=...)`` as a function of all its
    parameters (sampled mode): the hand-written backward through the whole net against
    ``oracles``.  Inside the oracles the data follows the parameters' namespace."""
    from portable_layers.gradient_check import check_layer

    names = list(model.params)
    X_host, y_host = _compat.to_numpy(X), _compat.to_numpy(y)

    def forward(*ws: Any) -> tuple[Any, tuple[Any, ...]]:
        ns = _compat.array_namespace("test", w=ws[0])  # the autodiff oracle moves ws to JAX
        Xs, ys = ns.asarray(X_host, dtype=ws[0].dtype), ns.asarray(y_host)
        loss, grads = model.loss(Xs, ys, params=dict(zip(names, ws, strict=True)))
        return loss, tuple(grads[k] for k in names)

    return check_layer(forward, None, tuple(model.params.values()), names=names,
                       mode="sampled", samples=samples, oracles=oracles)

