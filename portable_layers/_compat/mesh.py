"""JAX device meshes: the library-specific half of data parallelism on JAX
(``portable_layers.distributed``'s mesh functions and the Solver's placement).
``jax`` is imported only when one of these is called."""

from __future__ import annotations

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
        chosen = list(devices)
        if not chosen:
            raise ValueError(f"{func}: devices must not be empty")
    return Mesh(np.array(chosen), (axis_name,))


def jax_shard_rows(func: str, x: Array, mesh: Any) -> Array:
    """``x`` split along axis 0 over the (1-D) mesh; its length must divide evenly."""
    jax = _check_mesh(func, mesh)
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


def jax_replicate(tree: Any, mesh: Any, func: str = "replicate") -> Any:
    """Every array of the pytree ``tree`` copied onto each device of ``mesh``."""
    jax = _check_mesh(func, mesh)
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
