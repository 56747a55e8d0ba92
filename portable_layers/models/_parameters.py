"""The models' parameter container: ``params`` and ``state`` (running statistics),
``reg``, the structure key ``signature``, on one namespace, dtype and device."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _compat
from .. import _validate as check
from .._types import Array


def _resolve(func: str, xp: Any, dtype: Any) -> tuple[Any, Any]:
    """Namespace and floating dtype for a model's parameters."""
    xp = _compat.get_namespace("numpy" if xp is None else xp)
    if dtype is None:
        dtype = xp.float64 if _compat.supports_float64(xp) else xp.float32
    elif isinstance(dtype, str):
        if dtype not in ("float32", "float64"):
            raise ValueError(f"{func}: dtype must be 'float32' or 'float64', got {dtype!r}")
        dtype = getattr(xp, dtype)
    if dtype == xp.float64 and not _compat.supports_float64(xp):
        msg = (f"{func}: float64 on JAX needs x64 enabled "
               "(jax.config.update('jax_enable_x64', True))")
        raise ValueError(msg)
    return xp, dtype


class _Parameters:
    """The parameter container: ``params`` and ``state`` (running statistics), ``reg``,
    the structure :meth:`signature`, on one namespace, dtype and device.

    A subclass creates its parameters with :meth:`_setup`, :meth:`_weights` and
    :meth:`_finish`.
    """

    bn_params: list[dict[str, Any]]
    dropout_param: dict[str, Any]

    def _setup(self, weight_scale: Any, reg: Any, xp: Any, dtype: Any, seed: int | None,
               device: Any = None) -> None:
        func = type(self).__name__
        self._scale = check.non_negative(func, "weight_scale", weight_scale)
        self.reg = reg
        self.xp, self.dtype = _resolve(func, xp, dtype)
        self.device = device
        self._rng = np.random.default_rng(seed)
        self._params: dict[str, Array] = {}
        self.bn_params, self.dropout_param = [], {"p": 1.0}
        self._calls = 0

    def _array(self, host: np.ndarray) -> Array:
        return _compat.from_numpy(host, self.xp, dtype=self.dtype, device=self.device)

    def _weights(self, i: int, w_shape: tuple[int, ...], size: int) -> None:
        """``W{i}`` (normal, ``weight_scale``) and ``b{i}`` (zeros, ``size``)."""
        self._params[f"W{i}"] = self._array(self._scale * self._rng.standard_normal(w_shape))
        self._params[f"b{i}"] = self._array(np.zeros(size))

    def _finish(self) -> None:
        self._shapes = {k: tuple(v.shape) for k, v in self._params.items()}
        self._dropout_base = int(self._rng.integers(2**31))
        del self._rng

    @property
    def reg(self) -> float:
        """L2 regularisation strength."""
        return self._reg

    @reg.setter
    def reg(self, value: float) -> None:
        self._reg = check.non_negative(type(self).__name__, "reg", value)

    @property
    def params(self) -> dict[str, Array]:
        """The parameters (``W1 b1 ...``); assign a dict of same-shaped arrays to replace."""
        return self._params

    @params.setter
    def params(self, new: dict[str, Array]) -> None:
        func = f"{type(self).__name__}.params"
        if not isinstance(new, dict) or set(new) != set(self._shapes):
            got = sorted(new) if isinstance(new, dict) else type(new).__name__
            raise ValueError(f"{func}: expected a dict with keys {sorted(self._shapes)}, got {got}")
        for k, v in new.items():
            _compat.array_namespace(func, **{k: v})
            check.shape(func, k, v, self._shapes[k])
        self._params = dict(new)

    # -- state -----------------------------------------------------------------------------

    @property
    def state(self) -> dict[str, Array]:
        """Running statistics ``{"running_mean1": ..., "running_var1": ...}`` (batchnorm only)."""
        return {f"{key}{i}": bn[key] for i, bn in enumerate(self.bn_params, start=1)
                if "running_mean" in bn for key in ("running_mean", "running_var")}

    @state.setter
    def state(self, new: dict[str, Array]) -> None:
        func = f"{type(self).__name__}.state"
        current = self.state
        if not isinstance(new, dict) or set(new) != set(current):
            got = sorted(new) if isinstance(new, dict) else type(new).__name__
            raise ValueError(f"{func}: expected a dict with keys {sorted(current)}, got {got}")
        for k, v in new.items():
            _compat.array_namespace(func, **{k: v})
            check.shape(func, k, v, tuple(current[k].shape))
        self._store(new)

    def _store(self, new_state: dict[str, Any]) -> None:
        """Replace the running statistics in ``bn_params`` (the dict entries, never the arrays)."""
        for i, bn in enumerate(self.bn_params, start=1):
            for key in ("running_mean", "running_var"):
                value = new_state.get(f"{key}{i}")
                if value is not None:
                    bn[key] = value

    def signature(self) -> tuple[Any, ...]:
        """What determines the model's computation (not its values): a hashable key.

        The class, backend, parameter names, shapes and dtypes, and every plain
        attribute (sizes, ``reg``, normalization, dropout keep ratio, layer options).
        Compiled training steps are cached by it, so a second model of the same
        structure reuses them.
        """
        def plain(v: Any) -> Any:
            if isinstance(v, dict):
                return tuple(sorted((str(k), plain(x)) for k, x in v.items()
                                    if not _compat.is_array_api_obj(x)))
            if isinstance(v, (list, tuple)):
                return tuple(plain(x) for x in v)
            if v is None or isinstance(v, (bool, int, float, str)):
                return v
            return type(v).__name__
        shapes = tuple((k, tuple(v.shape), str(v.dtype)) for k, v in self._params.items())
        values = ("_params", "_calls", "_dropout_base", "_scale")  # used before training only
        attrs = plain({k: v for k, v in vars(self).items() if k not in values})
        return (type(self), _compat.backend_name(self.xp), shapes, attrs)
