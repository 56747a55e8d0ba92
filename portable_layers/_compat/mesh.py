"""JAX device meshes: the library-specific half of data parallelism on JAX
(``portable_layers.distributed``'s mesh functions and the Solver's placement).
``jax`` is imported only when one of these is called."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Any

import numpy as np

from .._types import Array
from .backends import import_jax

__all__ = ["jax_mesh", "jax_replicate", "jax_replicated", "jax_shard_rows"]


def jax_mesh(func: str, devices: Any = None, axis_name: str = "batch") -> Any:
    """A 1-D ``jax.sharding.Mesh`` over ``devices``.

    ``devices`` is None (every device of the default backend), an int k (its first
    k devices), a sequence of JAX devices, or a 1-D mesh (returned as it is).
    """
    jax = import_jax(f"{func}: a device mesh")
    Mesh = jax.sharding.Mesh

    if isinstance(devices, Mesh):
        if len(devices.axis_names) != 1:
            msg = f"{func}: mesh must have one axis, got axes {devices.axis_names}"
            raise ValueError(msg)
        return devices
    available = jax.devices()
    if devices is None:
        chosen = available
    elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            msg = (f"{func}: devices must be between 1 and the {len(available)} devices "
                   f"available, got {devices}")
            raise ValueError(msg)
        chosen = available[: int(devices)]
    else:
        chosen = _device_list(func, devices, jax.Device)
    if not isinstance(axis_name, str):
        raise TypeError(f"{func}: axis_name must be a str, got {type(axis_name).__name__}")
    return Mesh(np.array(chosen), (axis_name,))


def _device_list(func: str, devices: Any, device_type: type) -> list[Any]:
    """``devices`` as a non-empty list of JAX devices (TypeError naming what it holds)."""
    if isinstance(devices, (str, bytes)) or not isinstance(devices, Iterable):
        msg = (f"{func}: devices must be None, an int, a sequence of JAX devices or a Mesh, "
               f"got {type(devices).__name__}")
        raise TypeError(msg)
    chosen = list(devices)
    if not chosen:
        raise ValueError(f"{func}: devices must not be empty")
    wrong = [d for d in chosen if not isinstance(d, device_type)]
    if wrong:
        msg = (f"{func}: devices must be JAX devices (jax.devices()), got "
               f"{type(wrong[0]).__name__} {wrong[0]!r}")
        raise TypeError(msg)
    return chosen


def jax_shard_rows(func: str, x: Array, mesh: Any) -> Array:
    """``x`` split along axis 0 over the (1-D) mesh; its length must divide evenly."""
    jax = _check_mesh(func, mesh)
    if not hasattr(x, "shape") or not hasattr(x, "ndim"):
        msg = (f"{func}: arrays must be arrays, got {type(x).__name__}; wrap it with "
               f"xp.asarray")
        raise TypeError(msg)
    if x.ndim == 0:
        raise ValueError(f"{func}: arrays must have a batch axis, got a 0-d array")
    size = mesh.devices.size
    if x.shape[0] % size:
        msg = (f"{func}: the batch of {x.shape[0]} rows must divide evenly over the "
               f"{size} devices of the mesh")
        raise ValueError(msg)
    spec = jax.sharding.PartitionSpec(mesh.axis_names[0], *([None] * (x.ndim - 1)))
    return jax.device_put(x, jax.sharding.NamedSharding(mesh, spec))


def jax_replicated(mesh: Any) -> Any:
    """The sharding that puts a full copy of an array on every device of ``mesh``."""
    jax = import_jax("a replicated sharding")
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())


def jax_replicate(tree: Any, mesh: Any, func: str = "replicate", *,
                  arrays_only: bool = False) -> Any:
    """Every array of the pytree ``tree`` copied onto each device of ``mesh``;
    with ``arrays_only`` (a user's tree), a leaf that is not an array is a TypeError."""
    jax = _check_mesh(func, mesh)
    wrong = [leaf for leaf in jax.tree_util.tree_leaves(tree) if not hasattr(leaf, "shape")]
    if arrays_only and wrong:
        msg = (f"{func}: tree must hold arrays only (a params dict, say), got "
               f"{type(wrong[0]).__name__} {wrong[0]!r}; wrap it with xp.asarray")
        raise TypeError(msg)
    return jax.device_put(tree, jax_replicated(mesh))


def _check_mesh(func: str, mesh: Any) -> ModuleType:
    """``jax``, once ``mesh`` is known to be a ``jax.sharding.Mesh`` (TypeError naming
    ``func`` otherwise; ImportError saying what to install without JAX)."""
    jax = import_jax(f"{func}: a device mesh")
    if not isinstance(mesh, jax.sharding.Mesh):
        msg = (f"{func}: mesh must be a jax.sharding.Mesh (see data_parallel_mesh), "
               f"got {type(mesh).__name__}")
        raise TypeError(msg)
    return jax
