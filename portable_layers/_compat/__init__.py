"""The one package that knows about particular array libraries.

Everything in ``portable_layers`` outside it is written against the Python Array API
standard (revision 2023.12 or later) and takes its namespace from its inputs.  Whatever
needs to know *which* library an array comes from lives here, one module per job:

* :mod:`.backends`: the one registry of short backend names, and the lazy imports of
  ``jax``, ``torch`` and ``dask`` (imported only in this package and in the
  gradient-check oracles; ``import portable_layers`` loads none of them);
* :mod:`.namespace`: namespace lookup from arrays, names (short or a dotted path) and
  namespace objects, the minimum revision, and the dtype policy;
* :mod:`.host`: host transfer (DLPack first, then what the standard allows);
* :mod:`.devices`: one device per call, and devices a backend really has;
* :mod:`.random`: host-drawn and JAX-keyed masks, derived seeds;
* :mod:`.tracing`: JAX's ``jit``, tracers and x64 switch;
* :mod:`.mesh`: JAX device meshes (the Solver's placement and ``distributed``).

The Dask graph helpers live in :mod:`portable_layers.distributed`.
"""

from __future__ import annotations

from array_api_compat import (
    device,
    is_array_api_obj,
    is_array_api_strict_namespace,
    is_dask_array,
    is_dask_namespace,
    is_jax_array,
    is_jax_namespace,
    is_lazy_array,
    is_numpy_array,
    is_numpy_namespace,
    is_torch_array,
    is_torch_namespace,
)

from .backends import (
    BACKENDS,
    CHECK_BACKENDS,
    REGISTRY,
    TEST_BACKENDS,
    Backend,
    import_dask,
    import_jax,
    import_torch,
    installed_backends,
    is_installed,
    require_module,
)
from .devices import beside
from .host import ELEMENT_LIMIT, from_numpy, to_float, to_numpy
from .mesh import jax_mesh, jax_replicate, jax_replicated, jax_shard_rows
from .namespace import (
    MIN_API_VERSION,
    array_namespace,
    backend_name,
    dtype_name,
    float64_context,
    forget_namespaces,
    get_namespace,
    is_array_namespace,
    is_floating,
    is_integral,
    isdtype,
    library_name,
    namespace_problem,
    require_revision,
    same_float_dtype,
    supports_float64,
)
from .random import bernoulli, derive_seed
from .tracing import is_concrete, is_traced, jax_x64, jit, x64_enabled

__all__ = [
    "BACKENDS",
    "CHECK_BACKENDS",
    "ELEMENT_LIMIT",
    "MIN_API_VERSION",
    "REGISTRY",
    "TEST_BACKENDS",
    "Backend",
    "array_namespace",
    "backend_name",
    "bernoulli",
    "beside",
    "derive_seed",
    "device",
    "dtype_name",
    "float64_context",
    "forget_namespaces",
    "from_numpy",
    "get_namespace",
    "import_dask",
    "import_jax",
    "import_torch",
    "installed_backends",
    "is_array_api_obj",
    "is_array_api_strict_namespace",
    "is_array_namespace",
    "is_concrete",
    "is_dask_array",
    "is_dask_namespace",
    "is_floating",
    "is_installed",
    "is_integral",
    "is_jax_array",
    "is_jax_namespace",
    "is_lazy_array",
    "is_numpy_array",
    "is_numpy_namespace",
    "is_torch_array",
    "is_torch_namespace",
    "is_traced",
    "isdtype",
    "jax_mesh",
    "jax_replicate",
    "jax_replicated",
    "jax_shard_rows",
    "jax_x64",
    "jit",
    "library_name",
    "namespace_problem",
    "require_module",
    "require_revision",
    "same_float_dtype",
    "supports_float64",
    "to_float",
    "to_numpy",
    "x64_enabled",
]
