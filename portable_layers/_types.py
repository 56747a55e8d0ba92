"""Type aliases shared by every module (one place instead of one ``Array = Any`` per module).

The Array API standard has no common array type a checker could use: arrays of NumPy,
JAX, PyTorch, array_api_strict and Dask are all ``Array`` here, and their namespaces
(what :func:`array_api_compat.array_namespace` returns) are ``Namespace``.
"""

from __future__ import annotations

from typing import Any

Array = Any
Namespace = Any

__all__ = ["Array", "Namespace"]
