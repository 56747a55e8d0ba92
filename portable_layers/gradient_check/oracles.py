"""The oracles: independent computations of a VJP, in one table.

Each oracle computes ``d/d(input) sum(fn(*inputs) * dout)`` for every floating
input, in float64, and hands back host arrays; :data:`ORACLE_FUNCTIONS` maps its name
to that function and :data:`REQUIRES` to the library it needs.  :func:`check_layer`
and the ``check`` command both choose their oracles through :func:`default_oracles`
and :func:`require`, so they agree on what runs when a library is missing.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _compat
from .._compat import device, float64_context, from_numpy, to_numpy
from .._types import Array
from .differences import _is_float, numerical_vjp

__all__ = [
    "DEFAULT_ORACLES",
    "ORACLES",
    "ORACLE_FUNCTIONS",
    "REQUIRES",
    "autodiff_vjp",
    "available",
    "default_oracles",
    "require",
    "torch_vjp",
]

HostGrads = tuple[np.ndarray | None, ...]


def autodiff_vjp(
    fn: Callable[..., Array], inputs: Sequence[Any], dout: Any
) -> tuple[Array | None, ...]:
    """Gradients of ``sum(fn(*inputs) * dout)`` by JAX autodiff, in float64.

    The independent oracle: the inputs (from any backend) are moved to JAX, floating
    ones promoted to float64, with ``jax.enable_x64`` on for the call whatever the
    process setting; ``fn`` is differentiated with ``jax.vjp`` and the gradients are
    moved back to the inputs' namespace, dtype and device.

    ``fn`` must be written against the Array API (as every layer here is) and take
    every array it uses as an argument: arrays captured in a closure are not moved.

    Returns
    -------
    tuple
        One gradient per input; ``None`` for inputs that are not floating arrays.

    Raises
    ------
    ImportError
        If JAX is not installed (install ``portable-layers[jax]``).

    Examples
    --------
    >>> import numpy as np
    >>> x, w = np.array([[1.0, 2.0]]), np.array([[3.0], [4.0]])
    >>> autodiff_vjp(lambda x, w: x @ w, (x, w), np.ones((1, 1)))  # doctest: +SKIP
    (array([[3., 4.]]), array([[1.], [2.]]))
    """
    return _back_to_inputs("autodiff_vjp", inputs, _autodiff_host(fn, inputs, dout))


def _autodiff_host(fn: Callable[..., Array], inputs: Sequence[Any], dout: Any) -> HostGrads:
    """:func:`autodiff_vjp`'s gradients as float64 NumPy arrays."""
    jax = _compat.import_jax("autodiff_vjp")
    import jax.numpy as jnp

    floats = [i for i, x in enumerate(inputs) if _is_float(x)]
    with _compat.jax_x64():
        moved = [_to_jax(x, jnp) for x in inputs]
        jdout = _to_jax(dout, jnp)

        def f(*float_args: Any) -> Any:
            args = list(moved)
            for i, a in zip(floats, float_args, strict=True):
                args[i] = a
            return fn(*args)

        out, pullback = jax.vjp(f, *(moved[i] for i in floats))
        _check_dout("autodiff_vjp", jnp.shape(jdout), tuple(out.shape))
        cotangent = jnp.broadcast_to(jnp.asarray(jdout, dtype=out.dtype), out.shape)
        jgrads = pullback(cotangent)
        host: list[np.ndarray | None] = [None] * len(inputs)
        for i, g in zip(floats, jgrads, strict=True):
            host[i] = np.array(g, dtype=np.float64)
    return tuple(host)


def torch_vjp(
    fn: Callable[..., Array], inputs: Sequence[Any], dout: Any
) -> tuple[Array | None, ...]:
    """Gradients of ``sum(fn(*inputs) * dout)`` by ``torch.autograd``, in float64.

    A third oracle, like :func:`autodiff_vjp`: the inputs (from any backend) become
    float64 CPU tensors, ``fn`` runs on them and ``torch.autograd.grad`` gives the
    gradients, moved back to the inputs' namespace, dtype and device.

    Raises
    ------
    ImportError
        If PyTorch is not installed (install ``portable-layers[torch]``).

    Examples
    --------
    >>> import numpy as np
    >>> torch_vjp(lambda v: v * v, (np.array([1.0, 2.0]),), np.ones(2))  # doctest: +SKIP
    (array([2., 4.]),)
    """
    if not callable(fn):
        raise TypeError(f"torch_vjp: fn must be callable, got {type(fn).__name__}")
    return _back_to_inputs("torch_vjp", inputs, _torch_host(fn, inputs, dout))


def _torch_host(fn: Callable[..., Array], inputs: Sequence[Any], dout: Any) -> HostGrads:
    """:func:`torch_vjp`'s gradients as float64 NumPy arrays."""
    torch = _compat.import_torch("torch_vjp")
    floats = [i for i, x in enumerate(inputs) if _is_float(x)]
    moved: list[Any] = []
    for i, x in enumerate(inputs):
        if not _compat.is_array_api_obj(x):
            moved.append(x)
            continue
        host = to_numpy(x)
        if i in floats:
            moved.append(torch.tensor(host, dtype=torch.float64, requires_grad=True))
        else:
            moved.append(torch.as_tensor(np.array(host, copy=True)))
    out = fn(*moved)
    weights = to_numpy(dout) if _compat.is_array_api_obj(dout) else dout
    _check_dout("torch_vjp", np.shape(weights), tuple(out.shape))
    cotangent = torch.as_tensor(np.broadcast_to(
        np.asarray(weights, dtype=np.float64), tuple(out.shape)).copy())
    grads = torch.autograd.grad(out, [moved[i] for i in floats], grad_outputs=cotangent,
                                allow_unused=True)
    host_grads: list[np.ndarray | None] = [None] * len(inputs)
    for i, g in zip(floats, grads, strict=True):
        host_grads[i] = (np.zeros(tuple(inputs[i].shape)) if g is None
                         else g.detach().cpu().numpy().astype(np.float64))
    return tuple(host_grads)


def _numerical_host(fn: Callable[..., Array], inputs: Sequence[Any], dout: Any, h: float,
                    xp: Any) -> HostGrads:
    """Central differences on the inputs' backend, promoted to float64."""
    with float64_context(xp):
        promoted = promote(inputs, xp)
        grads = numerical_vjp(fn, promoted, promote((dout,), xp)[0], h=h)
        return tuple(None if g is None else np.asarray(to_numpy(g), dtype=np.float64)
                     for g in grads)


def _back_to_inputs(func: str, inputs: Sequence[Any],
                    host: Sequence[np.ndarray | None]) -> tuple[Array | None, ...]:
    grads: list[Array | None] = []
    for x, g in zip(inputs, host, strict=True):
        if g is None:
            grads.append(None)
            continue
        xp = _compat.array_namespace(func, x=x)
        grads.append(from_numpy(g, xp, dtype=x.dtype, device=device(x)))
    return tuple(grads)


def _check_dout(func: str, dout_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
    if tuple(dout_shape) not in ((), tuple(out_shape)):
        msg = (f"{func}: dout must have the shape of fn's output {tuple(out_shape)} "
               f"(or be a scalar), got {tuple(dout_shape)}")
        raise ValueError(msg)


def _to_jax(x: Any, jnp: Any) -> Any:
    """A JAX array of ``x``; floating values as float64 (call inside jax_x64)."""
    if not _compat.is_array_api_obj(x):
        return jnp.asarray(x, dtype=jnp.float64) if isinstance(x, float) else x
    host = to_numpy(x)
    if np.issubdtype(host.dtype, np.floating):
        host = host.astype(np.float64)
    return jnp.asarray(host)


def promote(values: Sequence[Any], xp: Any) -> tuple[Any, ...]:
    """Floating arrays as float64 copies in ``xp`` (call within float64_context for JAX)."""
    out = []
    for v in values:
        if _is_float(v):
            out.append(from_numpy(to_numpy(v).astype(np.float64), xp, dtype=xp.float64,
                                  device=device(v)))
        else:
            out.append(v)
    return tuple(out)


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

#: Oracle name -> ``(fn, inputs, dout, h, xp) -> host float64 gradients`` (None: no gradient).
ORACLE_FUNCTIONS: dict[str, Callable[[Callable[..., Any], Sequence[Any], Any, float, Any],
                                     HostGrads]] = {
    "numerical": _numerical_host,
    "autodiff": lambda fn, inputs, dout, h, xp: _autodiff_host(fn, inputs, dout),
    "torch": lambda fn, inputs, dout, h, xp: _torch_host(fn, inputs, dout),
}
ORACLES = tuple(ORACLE_FUNCTIONS)
DEFAULT_ORACLES = ("numerical", "autodiff")

#: Oracle name -> (module it imports, library name, pip extra) for those that need one.
REQUIRES = {"autodiff": ("jax", "JAX", "jax"), "torch": ("torch", "PyTorch", "torch")}


def _known(func: str, oracle: Any) -> None:
    if not isinstance(oracle, str):
        raise TypeError(f"{func}: oracle must be a str, one of {ORACLES}, got "
                        f"{type(oracle).__name__}")
    if oracle not in ORACLES:
        raise ValueError(f"{func}: unknown oracle {oracle!r}; choose from {ORACLES}")


def available(oracle: str) -> bool:
    """Whether ``oracle``'s library can be imported (a module blocked in sys.modules cannot)."""
    _known("available", oracle)
    if oracle not in REQUIRES:
        return True
    module = REQUIRES[oracle][0]
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(func: str, oracle: str) -> None:
    """Raise ImportError naming the library and the extra when ``oracle`` cannot run."""
    _known(func, oracle)
    if not available(oracle):
        _, lib, extra = REQUIRES[oracle]
        msg = (f"{func}: the {oracle} oracle needs {lib}; "
               f"install it with pip install 'portable-layers[{extra}]'")
        raise ImportError(msg)


def default_oracles() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The oracles run when none are named, and notes on those left out.

    :data:`DEFAULT_ORACLES` minus the ones whose library is missing: without JAX,
    finite differences alone, with a note saying so.

    Examples
    --------
    >>> oracles, notes = default_oracles()
    >>> oracles[0]
    'numerical'
    """
    chosen, notes = [], []
    for oracle in DEFAULT_ORACLES:
        if available(oracle):
            chosen.append(oracle)
        else:
            _, lib, extra = REQUIRES[oracle]
            notes.append(f"{lib} is not installed: {oracle} oracle skipped "
                         f"(pip install 'portable-layers[{extra}]')")
    return tuple(chosen), tuple(notes)
