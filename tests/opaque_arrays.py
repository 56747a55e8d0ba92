"""Two array libraries no test names otherwise, built here to stand for the unknown.

``opaque_arrays.eager`` and ``opaque_arrays.lazy`` are array namespaces (revision
2023.12) over NumPy whose arrays refuse DLPack export (``BufferError``, as the standard
allows) and have no ``__array__``, so their values leave only through the standard's
scalar conversions (``float(x[i])``).  The lazy one's arrays also refuse ``bool()`` and
``float()`` until ``compute()`` is called, which array-api-compat reads as lazy
(``is_lazy_array``).  Select them by name: ``--backend opaque_arrays.eager``.
"""

from __future__ import annotations

import operator
from typing import Any

import array_api_compat.numpy as _np
import numpy as np


class OpaqueArray:
    """A NumPy array behind the standard's array API and nothing else."""

    __slots__ = ("_a", "_ns")

    def __init__(self, a: Any, ns: Namespace) -> None:
        self._a, self._ns = np.asarray(a), ns

    def __array_namespace__(self, api_version: str | None = None) -> Namespace:
        return self._ns

    def __dlpack__(self, **kwargs: Any) -> Any:
        raise BufferError(f"{self._ns.__name__} arrays cannot be exported")

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)

    def compute(self) -> np.ndarray:
        """The values, as the lazy library's one way out (Dask's name for it)."""
        return np.array(self._a, copy=True)

    def _scalar(self, kind: Any) -> Any:
        if self._ns.lazy:
            raise TypeError(f"{self._ns.__name__}: a lazy array has no value; call compute()")
        return kind(self._a)

    def __bool__(self) -> bool:
        return bool(self._scalar(bool))

    def __float__(self) -> float:
        return float(self._scalar(float))

    def __int__(self) -> int:
        return int(self._scalar(int))

    def __index__(self) -> int:
        return operator.index(self._scalar(operator.index))

    def __complex__(self) -> complex:
        return complex(self._scalar(complex))

    @property
    def shape(self) -> tuple[int, ...]:
        return self._a.shape

    @property
    def dtype(self) -> Any:
        return self._a.dtype

    @property
    def ndim(self) -> int:
        return self._a.ndim

    @property
    def size(self) -> int:
        return self._a.size

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def T(self) -> OpaqueArray:
        return self._ns.wrap(self._a.T)

    @property
    def mT(self) -> OpaqueArray:
        return self._ns.wrap(np.swapaxes(self._a, -1, -2))

    def to_device(self, device: Any, stream: Any = None) -> OpaqueArray:
        return self

    def __getitem__(self, key: Any) -> OpaqueArray:
        return self._ns.wrap(self._a[unwrap(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[unwrap(key)] = unwrap(value)

    def __repr__(self) -> str:
        return f"OpaqueArray({self._a!r})"


def unwrap(obj: Any) -> Any:
    if isinstance(obj, OpaqueArray):
        return obj._a
    if isinstance(obj, (tuple, list)):
        return type(obj)(unwrap(o) for o in obj)
    return obj


def _binary(name: str) -> Any:
    def op(self: OpaqueArray, other: Any) -> Any:
        out = getattr(self._a, name)(unwrap(other))
        return NotImplemented if out is NotImplemented else self._ns.wrap(out)

    return op


def _inplace(name: str) -> Any:
    def op(self: OpaqueArray, other: Any) -> OpaqueArray:
        getattr(self._a, name)(unwrap(other))
        return self

    return op


for _op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
            "xor", "lshift", "rshift"):
    setattr(OpaqueArray, f"__{_op}__", _binary(f"__{_op}__"))
    setattr(OpaqueArray, f"__r{_op}__", _binary(f"__r{_op}__"))
    setattr(OpaqueArray, f"__i{_op}__", _inplace(f"__i{_op}__"))
for _op in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(OpaqueArray, f"__{_op}__", _binary(f"__{_op}__"))
for _op in ("neg", "pos", "abs", "invert"):
    setattr(OpaqueArray, f"__{_op}__",
            (lambda name: lambda self: self._ns.wrap(getattr(self._a, name)()))(f"__{_op}__"))


class Namespace:
    """array_api_compat.numpy's functions, taking and giving :class:`OpaqueArray`."""

    __array_api_version__ = "2023.12"

    def __init__(self, name: str, lazy: bool) -> None:
        self.__name__, self.lazy = name, lazy
        # an array type of its own, as a real library has (lookups go by type)
        self.Array = type("OpaqueArray", (OpaqueArray,), {"__slots__": ()})

    def wrap(self, out: Any) -> Any:
        if isinstance(out, (np.ndarray, np.generic)):
            return self.Array(out, self)
        if isinstance(out, tuple):
            return tuple(self.wrap(o) for o in out)
        if isinstance(out, list):
            return [self.wrap(o) for o in out]
        return out

    def asarray(self, obj: Any, dtype: Any = None, device: Any = None, copy: Any = None) -> Any:
        return self.Array(np.array(unwrap(obj), dtype=dtype, copy=bool(copy) or None), self)

    def __getattr__(self, name: str) -> Any:
        target = getattr(_np, name)
        if not callable(target) or isinstance(target, type) or name in ("isdtype", "finfo",
                                                                        "iinfo", "result_type"):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            kwargs = {k: unwrap(v) for k, v in kwargs.items()}
            return self.wrap(target(*unwrap(args), **kwargs))

        return call

    def __repr__(self) -> str:
        return f"<array namespace {self.__name__}>"


eager = Namespace("opaque_arrays.eager", lazy=False)
lazy = Namespace("opaque_arrays.lazy", lazy=True)
