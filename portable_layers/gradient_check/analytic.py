"""The run under check: arguments checked, the pair run once, the scales errors are judged on.

:func:`run_pair` checks :func:`~portable_layers.gradient_check.check_layer`'s
arguments (errors name the argument), runs the forward (and the backward) once and
keeps what every oracle compares against: the hand-written gradients on the host in
float64, each input's root mean square and the size of the function's value.
:meth:`Run.floor` is the smallest scale a gradient is judged on (see
:meth:`Run.scale`): the rule that makes an entry of 1e-17 against 0 agreement.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import _compat
from .. import _validate as check
from .._compat import device, from_numpy, to_numpy
from .differences import _is_float

__all__ = ["NOISE", "ROUNDING", "Run", "run_pair"]

_TINY = float(np.finfo(np.float64).tiny)
_EPS64 = float(np.finfo(np.float64).eps)
#: Rounding allowed in a hand-written gradient, in units of its dtype's eps times the
#: layer's largest sensitivity (``max_j max|dinput_j| * rms(input_j)``, the loss's scale).
ROUNDING = 16.0
#: Rounding allowed in one central difference, in units of ``eps64 * sum|out * dout| / h``.
NOISE = 4.0


@dataclasses.dataclass
class Run:
    """A forward/backward run: everything the oracles compare against."""

    value: Callable[..., Any]
    inputs: tuple[Any, ...]
    names: tuple[str, ...]
    float_idx: list[int]
    dout: Any
    grads: dict[int, np.ndarray]
    dtypes: dict[int, Any]
    xp: Any
    forward_ok: bool
    problems: tuple[str, ...]
    rms: dict[int, float] = dataclasses.field(default_factory=dict)
    magnitude: float = 0.0  # sum |out * dout| in float64: the size of the function's value
    cache: dict[str, Any] = dataclasses.field(default_factory=dict)  # the value at the point

    def floor(self, i: int, tol: float, oracle: str, h: float | None) -> float:
        """The smallest scale input ``i``'s gradient is judged on.

        An absolute error up to ``atol`` always passes, ``atol`` being what rounding
        leaves in an exact gradient: ``ROUNDING * eps(dtype)`` times the layer's
        largest sensitivity ``L = max_j max|dinput_j| rms(input_j)`` (the change of
        the loss when an input moves by its own size) divided by ``rms(input_i)``, plus,
        against central differences with step ``h``, ``NOISE * eps64 *
        sum|out * dout| / h``.  As a scale: ``atol / tol``.
        """
        largest = max((float(np.max(np.abs(g), initial=0.0)) * self.rms[j]
                       for j, g in self.grads.items()), default=0.0)
        eps = float(np.finfo(np.dtype(_compat.dtype_name(self.dtypes[i]))).eps)
        atol = ROUNDING * eps * largest / self.rms[i]
        if oracle == "numerical" and h:
            atol += NOISE * _EPS64 * self.magnitude / h
        return atol / tol if tol > 0 else math.inf

    def scale(self, i: int, compared: np.ndarray, tol: float, oracle: str,
              h: float | None) -> float:
        """What input ``i``'s differences are divided by: the larger of the whole
        hand-written gradient's and the compared oracle values' largest entry, and
        :meth:`floor`."""
        own = max(float(np.max(np.abs(self.grads[i]), initial=0.0)),
                  float(np.max(np.abs(compared), initial=0.0)))
        return max(own, self.floor(i, tol, oracle, h), _TINY)


def _not_array(func: str, what: str, value: Any) -> TypeError:
    kind = type(value).__name__
    if isinstance(value, (list, tuple, int, float, complex)):
        return TypeError(f"{func}: {what} is a Python {kind}, not an array; wrap it with "
                         f"xp.asarray (xp the array library you use)")
    return TypeError(f"{func}: {what} must be an array, got {kind}")


def _positive_finite(func: str, name: str, value: Any) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.floating))
            or not 0 < value < math.inf):
        raise ValueError(f"{func}: {name} must be a positive finite number, got {value!r}")
    return float(value)


def check_options(func: str, tol: Any, h: Any, seed: Any, name: Any) -> None:
    """``tol``, ``h``, ``seed`` and ``name`` of check_layer, with errors naming each."""
    if isinstance(tol, Mapping):
        for key, value in tol.items():
            _positive_finite(func, f"tol[{key!r}]", value)
    elif tol is not None:
        _positive_finite(func, "tol", tol)
    if h is not None:
        _positive_finite(func, "h", h)
    check.integer(func, "seed", seed, want="a non-negative integer")
    if not isinstance(name, str):
        raise TypeError(f"{func}: name must be a str, got {type(name).__name__}")


def _inputs(func: str, inputs: Any, names: Sequence[str] | None
            ) -> tuple[tuple[Any, ...], tuple[str, ...], tuple[str, ...] | None]:
    """(inputs, names, keywords): a mapping's keys name its values and become keywords."""
    keys: tuple[str, ...] | None = None
    if isinstance(inputs, Mapping):
        keys = tuple(str(k) for k in inputs)
        values = tuple(inputs.values())
    elif isinstance(inputs, (tuple, list)):
        values = tuple(inputs)
    elif _compat.is_array_api_obj(inputs):
        raise TypeError(f"{func}: inputs must be a sequence (or dict) of arrays, got one "
                        f"array; write (x,)")
    else:
        raise _not_array(func, "inputs", inputs)
    for k, v in enumerate(values):
        if not _compat.is_array_api_obj(v):
            raise _not_array(func, f"inputs[{keys[k]!r}]" if keys else f"inputs[{k}]", v)
    if names is None:
        names = keys if keys is not None else _default_names(len(values))
    else:
        names = tuple(names)
        if len(names) != len(values) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{func}: names must be {len(values)} strings, one per input, "
                             f"got {names!r}")
    return values, tuple(names), keys


def _pair(func: str, result: Any, loss: bool) -> tuple[Any, Any]:
    want = "(loss, grads) when backward is None" if loss else "(out, cache)"
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        got = (f"a {type(result).__name__} of length {len(result)}"
               if isinstance(result, (tuple, list)) else type(result).__name__)
        raise TypeError(f"{func}: forward must return a pair {want}, got {got}")
    return result[0], result[1]


def run_pair(
    func: str,
    forward: Callable[..., Any],
    backward: Callable[[Any, Any], Any] | None,
    inputs: Any,
    dout: Any,
    names: Sequence[str] | None,
    seed: int,
) -> Run:
    """Run the pair once and collect the hand-written gradients on the host."""
    if not callable(forward):
        raise TypeError(f"{func}: forward must be callable, got {type(forward).__name__}")
    if backward is not None and not callable(backward):
        raise TypeError(f"{func}: backward must be callable or None, got "
                        f"{type(backward).__name__}")
    values, names, keys = _inputs(func, inputs, names)
    if dout is not None and not _compat.is_array_api_obj(dout) and not (
            backward is None and isinstance(dout, (int, float)) and not isinstance(dout, bool)):
        raise _not_array(func, "dout", dout)
    float_idx = [i for i, x in enumerate(values) if _is_float(x)]
    if not float_idx:
        found = ", ".join(str(x.dtype) for x in values)
        raise TypeError(f"{func}: inputs must include at least one floating array, got "
                        f"dtypes {found or 'none'}")
    first = values[float_idx[0]]
    xp = _compat.array_namespace(func, x=first)
    call = forward if keys is None else (lambda *a: forward(**dict(zip(keys, a, strict=True))))
    if backward is None:
        out, analytic = _pair(func, call(*values), loss=True)
        if isinstance(analytic, Mapping):
            analytic = tuple(analytic[n] if n in analytic else None
                             for i, n in enumerate(names) if i in float_idx)
        dout = 1.0 if dout is None else dout
        weight = float(to_numpy(dout)) if _compat.is_array_api_obj(dout) else float(dout)
        analytic = tuple(g if g is None else g * weight for g in _as_tuple(analytic))
    else:
        out, cache = _pair(func, call(*values), loss=False)
        if dout is None:  # a stream of its own, apart from inputs drawn with the same seed
            rng = np.random.default_rng((seed, 0xD0))
            dout = from_numpy(rng.standard_normal(tuple(out.shape)), xp, dtype=out.dtype,
                              device=device(out))
        analytic = _as_tuple(backward(dout, cache))
    problems: list[str] = []
    forward_ok = _forward_ok(func, out, first, xp, problems)
    grads: dict[int, np.ndarray] = {}
    if len(analytic) != len(float_idx):
        problems.append(
            f"backward returned {len(analytic)} gradients for {len(float_idx)} floating inputs"
        )
    else:
        for i, g in zip(float_idx, analytic, strict=True):
            if g is None or not _compat.is_array_api_obj(g):
                problems.append(f"d{names[i]} is {type(g).__name__}, not an array")
            elif tuple(g.shape) != tuple(values[i].shape) or g.dtype != values[i].dtype:
                problems.append(
                    f"d{names[i]} has shape {tuple(g.shape)} and dtype {g.dtype}, "
                    f"but {names[i]} has {tuple(values[i].shape)} and {values[i].dtype}"
                )
            else:
                grads[i] = np.asarray(to_numpy(g), dtype=np.float64)

    def value(*args: Any) -> Any:
        return _pair(func, call(*args), loss=backward is None)[0]

    host_out = np.asarray(to_numpy(out), dtype=np.float64)
    weights = to_numpy(dout) if _compat.is_array_api_obj(dout) else dout
    magnitude = float(np.sum(np.abs(host_out * np.asarray(weights, dtype=np.float64))))
    dtypes = {i: values[i].dtype for i in float_idx}
    return Run(value, values, names, float_idx, dout, grads, dtypes, xp, forward_ok,
               tuple(problems), input_rms(values), magnitude)


def input_rms(inputs: Sequence[Any]) -> dict[int, float]:
    """Floating input ``i`` -> its root mean square; an all-zero input (a bias at
    initialization) gets that of all floating inputs together, or 1."""
    hosts = {i: np.asarray(to_numpy(x), dtype=np.float64) for i, x in enumerate(inputs)
             if _is_float(x)}
    total = sum(a.size for a in hosts.values())
    overall = math.sqrt(sum(float(np.sum(a * a)) for a in hosts.values()) / max(total, 1))
    out = {}
    for i, a in hosts.items():
        rms = math.sqrt(float(np.mean(a * a))) if a.size else 0.0
        out[i] = rms if rms > 0 else overall if overall > 0 else 1.0
    return out


def _default_names(n: int) -> tuple[str, ...]:
    base = ("x", "w", "b", "y")
    return tuple(base[i] if i < len(base) else f"input{i}" for i in range(n))


def _as_tuple(grads: Any) -> tuple[Any, ...]:
    return tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)


def _forward_ok(func: str, out: Any, first: Any, xp: Any, problems: list[str]) -> bool:
    if not _compat.is_array_api_obj(out):
        problems.append(f"forward's first result is a {type(out).__name__}, not an array")
        return False
    if _compat.array_namespace(func, out=out) is not xp:
        problems.append("forward output is in another namespace than the inputs")
        return False
    if out.dtype != first.dtype:
        problems.append(f"forward output has dtype {out.dtype}, inputs {first.dtype}")
        return False
    if not bool(np.all(np.isfinite(to_numpy(out)))):
        problems.append("forward output is not finite")
        return False
    return True
