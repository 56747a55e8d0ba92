"""Element-wise activations, each forward beside its backward.

Every forward returns ``(out, cache)`` and every backward takes ``(dout, cache)`` and
returns ``dx``.  The derivatives at the kinks are conventions: ReLU and leaky ReLU
use the derivative of the right-hand piece only for ``x > 0`` (so 0 at ``x == 0`` for
ReLU, ``alpha`` for leaky ReLU); autodiff and finite differences give other values
there, which is why gradient checks must use inputs away from 0.
"""

from __future__ import annotations

from typing import Any

from .. import _validate as check
from .._compat import array_namespace, beside
from .._types import Array


def _setup(func: str, x: Array) -> Any:
    xp = check.trusted()
    if xp is not None:  # validated at the caller's boundary (_validate.skipped)
        return xp
    xp = array_namespace(func, x=x)
    check.floating(func, "x", x, xp)
    return xp


def _backward_setup(func: str, dout: Array, x: Array) -> Any:
    xp = check.trusted()
    if xp is not None:  # validated at the caller's boundary (_validate.skipped)
        return xp
    xp = array_namespace(func, dout=dout, cache=x)
    check.dout_like(func, dout, x.shape)
    return xp


def relu_forward(x: Array) -> tuple[Array, Array]:
    """ReLU, ``max(x, 0)``.

    Parameters
    ----------
    x : floating array of any shape

    Returns
    -------
    out : array like ``x``
    cache : array
        ``x`` itself (the seed calls ``relu_backward(dout, x)``).

    Raises
    ------
    TypeError
        If ``x`` is not a floating array.

    Examples
    --------
    >>> import numpy as np
    >>> relu_forward(np.array([-1.0, 2.0]))[0]
    array([0., 2.])
    """
    xp = _setup("relu_forward", x)
    return xp.maximum(x, xp.zeros((), dtype=x.dtype, **beside(x))), x


def relu_backward(dout: Array, cache: Array) -> Array:
    """Gradient of ReLU: ``dout`` where ``x > 0``, else 0.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([-1.0, 2.0])
    >>> relu_backward(np.array([5.0, 5.0]), relu_forward(x)[1])
    array([0., 5.])
    """
    x = cache
    xp = _backward_setup("relu_backward", dout, x)
    return xp.where(x > 0, dout, xp.zeros((), dtype=dout.dtype, **beside(dout)))


def leaky_relu_forward(x: Array, alpha: float = 0.01) -> tuple[Array, tuple[Array, float]]:
    """Leaky ReLU, ``x`` where ``x > 0`` else ``alpha * x``.

    Returns
    -------
    out : array like ``x``
    cache : tuple ``(x, alpha)``

    Raises
    ------
    TypeError
        If ``x`` is not floating or ``alpha`` is not a real number.

    Examples
    --------
    >>> import numpy as np
    >>> leaky_relu_forward(np.array([-1.0, 2.0]))[0]
    array([-0.01,  2.  ])
    """
    xp = _setup("leaky_relu_forward", x)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        msg = f"leaky_relu_forward: alpha must be a real number, got {type(alpha).__name__}"
        raise TypeError(msg)
    return xp.where(x > 0, x, alpha * x), (x, float(alpha))


def leaky_relu_backward(dout: Array, cache: tuple[Array, float]) -> Array:
    """Gradient of leaky ReLU: ``dout`` where ``x > 0``, else ``alpha * dout``.

    Examples
    --------
    >>> import numpy as np
    >>> _, cache = leaky_relu_forward(np.array([-1.0, 2.0]))
    >>> leaky_relu_backward(np.array([1.0, 1.0]), cache)
    array([0.01, 1.  ])
    """
    x, alpha = cache
    xp = _backward_setup("leaky_relu_backward", dout, x)
    return xp.where(x > 0, dout, alpha * dout)


def sigmoid_forward(x: Array) -> tuple[Array, Array]:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, without overflow for any finite ``x``.

    Uses ``z = exp(-|x|)`` (never above 1): ``1 / (1 + z)`` for ``x >= 0`` and
    ``z / (1 + z)`` otherwise.

    Returns
    -------
    out : array like ``x``, in (0, 1)
    cache : array, ``out`` (the backward needs only the output)

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = sigmoid_forward(np.array([-1e4, 0.0, 1e4]))
    >>> out, sigmoid_backward(np.ones(3), cache)
    (array([0. , 0.5, 1. ]), array([0.  , 0.25, 0.  ]))
    """
    xp = _setup("sigmoid_forward", x)
    z = xp.exp(-xp.abs(x))
    out = xp.where(x >= 0, 1 / (1 + z), z / (1 + z))
    return out, out


def sigmoid_backward(dout: Array, cache: Array) -> Array:
    """Gradient of the sigmoid: ``dout * s * (1 - s)`` with ``s`` the forward output
    (the example of :func:`sigmoid_forward` runs both passes)."""
    s = cache
    _backward_setup("sigmoid_backward", dout, s)
    return dout * s * (1 - s)


def tanh_forward(x: Array) -> tuple[Array, Array]:
    """Hyperbolic tangent.

    Returns
    -------
    out : array like ``x``, in [-1, 1]
    cache : array, ``out``

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = tanh_forward(np.array([0.0]))
    >>> out, tanh_backward(np.array([2.0]), cache)
    (array([0.]), array([2.]))
    """
    xp = _setup("tanh_forward", x)
    out = xp.tanh(x)
    return out, out


def tanh_backward(dout: Array, cache: Array) -> Array:
    """Gradient of tanh: ``dout * (1 - t**2)`` with ``t`` the forward output (the
    example of :func:`tanh_forward` runs both passes)."""
    t = cache
    _backward_setup("tanh_backward", dout, t)
    return dout * (1 - t * t)


_GELU_C = 0.7978845608028654  # sqrt(2 / pi)
_GELU_A = 0.044715


def gelu_forward(x: Array) -> tuple[Array, tuple[Array, Array]]:
    """GELU, tanh approximation: ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3)))``.

    This is PyTorch's ``gelu(approximate="tanh")`` (the Array API standard has no
    ``erf``, so the exact GELU is out of reach of a portable layer).

    Parameters
    ----------
    x : floating array of any shape

    Returns
    -------
    out : array like ``x``
    cache : tuple ``(x, t)``
        ``t = tanh(sqrt(2/pi) * (x + 0.044715 * x**3))``.

    Raises
    ------
    TypeError
        If ``x`` is not a floating array.

    Examples
    --------
    >>> import numpy as np
    >>> np.round(gelu_forward(np.array([-1.0, 0.0, 1.0]))[0], 4)
    array([-0.1588,  0.    ,  0.8412])
    """
    xp = _setup("gelu_forward", x)
    t = xp.tanh(_GELU_C * (x + _GELU_A * (x * x * x)))
    return 0.5 * x * (1 + t), (x, t)


def gelu_backward(dout: Array, cache: tuple[Array, Array]) -> Array:
    """Gradient of :func:`gelu_forward`.

    ``d/dx = 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * sqrt(2/pi) * (1 + 3 * 0.044715 * x**2)``.

    Examples
    --------
    >>> import numpy as np
    >>> _, cache = gelu_forward(np.array([0.0]))
    >>> gelu_backward(np.array([1.0]), cache)
    array([0.5])
    """
    x, t = cache
    _backward_setup("gelu_backward", dout, x)
    local = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (_GELU_C * (1 + 3 * _GELU_A * (x * x)))
    return dout * local
