"""Classification losses: multiclass SVM (hinge) and softmax cross-entropy.

Both take scores ``x`` of shape (N, C) and integer labels ``y`` of shape (N,), and
return ``(loss, dx)``: the loss averaged over the N samples as a 0-d array of x's
namespace and dtype, and its gradient with respect to ``x``.

Labels become a one-hot mask by comparison (``y[:, None] == arange(C)``) instead of
fancy indexing, which every backend supports and ``jax.jit`` compiles.  A label
outside [0, C) raises a ValueError where the values are concrete; inside ``jax.jit``
the loss is NaN instead, since JAX would otherwise clamp the index silently.
"""

from __future__ import annotations

from typing import Any

from .. import _validate as check
from .._compat import array_namespace, beside
from .._types import Array


def _setup(func: str, x: Array, y: Array) -> tuple[Any, Array, Array | None]:
    """Namespace, boolean one-hot mask (N, C) and the labels-valid flag.

    The flag is None when the labels were checked here already (concrete values);
    for traced or lazy labels it is a 0-d boolean array folded into the loss.
    """
    xp = check.trusted()
    if xp is not None:  # validated at the caller's boundary (_validate.skipped)
        return xp, _onehot(xp, y, x.shape[1]), None
    xp = array_namespace(func, x=x, y=y)
    check.floating(func, "x", x, xp)
    check.ndim(func, "x", x, 2)
    n, c = x.shape
    check.nonempty(func, "x", x)
    try:
        checked = check.labels(func, y, n, c, xp)
    except NotImplementedError:  # PyTorch's uint16/32/64: no min, max or comparisons
        msg = (f"{func}: y has dtype {y.dtype}, which its library cannot compare or reduce; "
               "use int64 (or int32, uint8) labels")
        raise TypeError(msg) from None
    if checked:
        valid = None
    elif _fits(xp, y.dtype, c):
        valid = xp.all((y >= 0) & (y < c))
    else:  # every value of y's dtype is below c (and ``y < c`` may not even convert c)
        valid = xp.all(y >= 0)
    return xp, _onehot(xp, y, c), valid


def _fits(xp: Any, dtype: Any, c: int) -> bool:
    """Whether the labels' integer ``dtype`` holds every class index 0..c-1 (int64 and
    int32 labels, the common ones, without the dtype query: it costs microseconds)."""
    if dtype == xp.int64 or (dtype == xp.int32 and c <= 2**31):
        return True
    return int(xp.iinfo(dtype).max) >= c - 1


def _onehot(xp: Any, y: Array, c: int) -> Array:
    """Boolean (N, C) mask of the labels ``y``.

    The class indices are built in y's dtype when it holds them all, else in a wider
    one (uint8 labels and 300 classes: ``arange(300, dtype=uint8)`` would wrap around
    and match label 5 at index 261 too); one dtype query, no pass over the data.
    """
    if not _fits(xp, y.dtype, c):
        wide = xp.int32 if c - 1 <= 2**31 - 1 and xp.iinfo(y.dtype).bits < 32 else xp.int64
        y = xp.astype(y, wide)
    return y[:, None] == xp.arange(c, dtype=y.dtype, **beside(y))


def _nan_unless(xp: Any, valid: Array | None, loss: Array) -> Array:
    """``loss`` where every label was valid, NaN otherwise (traced or lazy labels only)."""
    if valid is None:
        return loss
    return xp.where(valid, loss, xp.asarray(xp.nan, dtype=loss.dtype, **beside(loss)))


def svm_loss(x: Array, y: Array) -> tuple[Array, Array]:
    """Multiclass SVM (hinge) loss with margin 1, averaged over the batch.

    ``loss = sum_i sum_{j != y_i} max(0, x_ij - x_iy_i + 1) / N``.  At a margin of
    exactly 0 the gradient takes the subgradient 0 for that term.

    Parameters
    ----------
    x : floating array of shape (N, C)
        Class scores.
    y : integer array of shape (N,)
        Labels in [0, C), of any integer dtype (uint8 labels with 300 classes too).

    Returns
    -------
    loss : 0-d array of x's dtype
    dx : array of shape (N, C)

    Raises
    ------
    TypeError
        If ``x`` is not floating or ``y`` not integer, or they mix libraries.
    ValueError
        If the shapes disagree, the batch is empty, a label is outside [0, C) or
        ``x`` and ``y`` are on two devices.

    Examples
    --------
    >>> import numpy as np
    >>> loss, dx = svm_loss(np.zeros((2, 3)), np.array([0, 2]))
    >>> float(loss)
    2.0
    """
    xp, onehot, valid = _setup("svm_loss", x, y)
    n = x.shape[0]
    zero = xp.zeros((), dtype=x.dtype, **beside(x))
    correct = xp.sum(xp.where(onehot, x, zero), axis=1, keepdims=True)
    margins = xp.where(onehot, zero, xp.maximum(x - correct + 1, zero))
    loss = xp.sum(margins) / n
    positive = xp.astype(margins > 0, x.dtype)
    num_positive = xp.sum(positive, axis=1, keepdims=True)
    dx = (positive - xp.astype(onehot, x.dtype) * num_positive) / n
    return _nan_unless(xp, valid, loss), dx


def softmax_loss(x: Array, y: Array) -> tuple[Array, Array]:
    """Softmax cross-entropy loss, averaged over the batch.

    Computed from log-probabilities after subtracting each row's maximum, so logits
    of any finite size (say +-1e4 in float32) give a finite loss and gradient.

    Parameters
    ----------
    x : floating array of shape (N, C)
        Class scores (logits).
    y : integer array of shape (N,)
        Labels in [0, C), of any integer dtype.

    Returns
    -------
    loss : 0-d array of x's dtype
    dx : array of shape (N, C), ``(softmax(x) - onehot(y)) / N``

    Raises
    ------
    TypeError, ValueError
        For the same inputs as :func:`svm_loss` (both share one check).

    Examples
    --------
    >>> import numpy as np
    >>> loss, dx = softmax_loss(np.zeros((2, 4)), np.array([0, 3]))
    >>> round(float(loss), 6)  # log(4)
    1.386294
    """
    xp, onehot, valid = _setup("softmax_loss", x, y)
    loss, dx = _softmax(xp, x, onehot)
    return _nan_unless(xp, valid, loss), dx


def _softmax(xp: Any, x: Array, onehot: Array) -> tuple[Array, Array]:
    n = x.shape[0]
    shifted = x - xp.max(x, axis=1, keepdims=True)
    exp = xp.exp(shifted)
    total = xp.sum(exp, axis=1, keepdims=True)
    # -log p(label) = log(total) - shifted[label], each row's label entry picked by the
    # mask (``where``, so a -inf score off the label adds nothing), summed in one pass.
    zero = xp.zeros((), dtype=x.dtype, **beside(x))
    loss = xp.sum(xp.where(onehot, xp.log(total) - shifted, zero)) / n
    dx = (exp / total - xp.astype(onehot, x.dtype)) / n
    return loss, dx
