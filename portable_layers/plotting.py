"""Figures with matplotlib (the optional ``plot`` extra), written as PNG files.

matplotlib is imported inside the functions, and figures are made with
:class:`matplotlib.figure.Figure` directly (no pyplot, no global state, no GUI
backend).  Every PNG is written atomically: to a temporary file in the target's
folder, then moved over the target with :func:`os.replace`, so a failure never
leaves a half-written file behind.  Figures only: the ``plot`` command that draws them
is :mod:`portable_layers.cli.plot`.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import _compat
from . import _validate as check
from . import layers as L

__all__ = [
    "activation_curves",
    "attention_on_image",
    "plot_activations",
    "plot_attention",
    "save_training_figure",
    "weight_grid",
]


#: name -> (forward, backward) of the activations :func:`activation_curves` draws.
ACTIVATIONS = {
    "sigmoid": (L.sigmoid_forward, L.sigmoid_backward),
    "tanh": (L.tanh_forward, L.tanh_backward),
    "relu": (L.relu_forward, L.relu_backward),
    "leaky_relu": (L.leaky_relu_forward, L.leaky_relu_backward),
}

#: A local gradient below this (but above 0) counts as vanishing in the figure.
VANISHING = 1e-2


def _figure(func: str, **kwargs: Any) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        msg = f"{func} needs matplotlib; install it with pip install 'portable-layers[plot]'"
        raise ImportError(msg) from None
    return Figure(**kwargs)


def _save_png(func: str, fig: Any, path: str | Path) -> None:
    """Write ``fig`` as a PNG to ``path`` atomically (temp file + os.replace)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{func}: the folder of {path} does not exist")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png")
        umask = os.umask(0)  # mkstemp makes 0600 files; give the usual permissions
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _series(func: str, name: str, values: Any) -> np.ndarray:
    """A 1-D float64 host array from an array of any backend or a list of numbers/0-d arrays."""
    if _compat.is_array_api_obj(values):
        out = np.asarray(_compat.to_numpy(values), dtype=np.float64)
    else:
        try:
            items = [_compat.to_numpy(v) if _compat.is_array_api_obj(v) else v for v in values]
            out = np.asarray(items, dtype=np.float64)
        except (TypeError, ValueError):
            msg = f"{func}: {name} must be a sequence of numbers, got {type(values).__name__}"
            raise TypeError(msg) from None
    if out.ndim != 1:
        raise ValueError(f"{func}: {name} must be one-dimensional, got shape {out.shape}")
    return out


def weight_grid(weights: Any, image_shape: Sequence[int], padding: int = 1) -> np.ndarray:
    """Tile the columns of ``weights`` (D, H), each reshaped to ``image_shape``, into one image.

    Each tile is scaled to [0, 1] by its own minimum and maximum; the gaps are 1 (white).

    Parameters
    ----------
    weights : array (D, H) of any backend, D = prod(image_shape)
    image_shape : (C, height, width), C = 1 (grey) or 3 (RGB)

    Returns
    -------
    grid : ndarray, (rows, cols) for C = 1 or (rows, cols, 3) for C = 3, values in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> weight_grid(np.arange(8.0).reshape(4, 2), (1, 2, 2)).shape
    (2, 5)
    """
    func = "weight_grid"
    padding = check.integer(func, "padding", padding)
    w = np.asarray(_compat.to_numpy(weights), dtype=np.float64)
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise ValueError(f"{func}: image_shape must be (C, H, W) with C 1 or 3, got {shape}")
    if w.ndim != 2 or w.shape[0] != math.prod(shape):
        msg = (
            f"{func}: weights must have shape ({math.prod(shape)}, H) for image_shape "
            f"{shape}, got {w.shape}"
        )
        raise ValueError(msg)
    tiles = np.moveaxis(w.T.reshape(-1, *shape), 1, -1)  # (H, h, w, C)
    low = tiles.min(axis=(1, 2, 3), keepdims=True)
    span = tiles.max(axis=(1, 2, 3), keepdims=True) - low
    tiles = (tiles - low) / np.where(span > 0, span, 1.0)
    n, (c, h, wd) = tiles.shape[0], shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.ones((rows * (h + padding) - padding, cols * (wd + padding) - padding, c))
    for k in range(n):  # grid is a fresh host array, so writing into it is fine
        top, left = (h + padding) * (k // cols), (wd + padding) * (k % cols)
        grid[top : top + h, left : left + wd] = tiles[k]
    return grid[..., 0] if c == 1 else grid


def save_training_figure(
    path: str | Path,
    *,
    loss_history: Any,
    train_acc_history: Any,
    val_acc_history: Any,
    weights: Any = None,
    image_shape: Sequence[int] | None = None,
) -> None:
    """Save the loss curve, accuracies per epoch and (optionally) first-layer weights as a PNG.

    Parameters
    ----------
    path : str or Path
        The PNG file to write (atomically; its folder must exist).
    loss_history : sequence of numbers, or a 1-D array of any backend
        The loss per iteration (e.g. ``Solver.loss_history``; 0-d arrays are fine).
    train_acc_history, val_acc_history : sequence of numbers, or 1-D arrays
        Accuracies per epoch, of equal length; entry k is drawn at epoch k, so the
        Solver's first entry (after one iteration) is epoch 0, as its console says.
    weights : array (D, H), optional
        First-layer weights of any backend, e.g. ``model.params["W1"]``; each column is
        drawn as an image of ``image_shape``, scaled to [0, 1].
    image_shape : (C, H, W), optional
        Required with ``weights``: ``(3, 32, 32)`` for CIFAR-10, ``(1, 8, 8)`` for digits.

    Raises
    ------
    ImportError
        Without matplotlib (the ``plot`` extra).
    ValueError
        For histories that are not 1-D or of unequal length, or weights that do not fit
        ``image_shape``.

    Examples
    --------
    >>> save_training_figure("train.png", loss_history=[2.3, 1.9, 1.7],
    ...     train_acc_history=[0.2, 0.4], val_acc_history=[0.2, 0.3])  # doctest: +SKIP
    """
    func = "save_training_figure"
    loss = _series(func, "loss_history", loss_history)
    train = _series(func, "train_acc_history", train_acc_history)
    val = _series(func, "val_acc_history", val_acc_history)
    if train.shape != val.shape:
        msg = (
            f"{func}: train_acc_history and val_acc_history must have equal lengths, "
            f"got {train.size} and {val.size}"
        )
        raise ValueError(msg)
    if (weights is None) != (image_shape is None):
        raise ValueError(f"{func}: weights and image_shape must be given together")
    grid = None if weights is None else weight_grid(weights, image_shape)  # type: ignore[arg-type]
    fig = _figure(func, figsize=(15 if grid is not None else 10, 4.5), layout="constrained")
    axes = fig.subplots(1, 3 if grid is not None else 2)
    axes[0].plot(np.arange(loss.size), loss, ".", markersize=3, alpha=0.6)
    axes[0].set(title="Training loss", xlabel="iteration", ylabel="loss")
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    epochs = np.arange(train.size)  # 0: after the first iteration, as the console's "Epoch 0"
    axes[1].plot(epochs, train, "o-", label="train")
    axes[1].plot(epochs, val, "o-", label="val")
    axes[1].set(title="Classification accuracy", xlabel="epoch", ylabel="accuracy")
    axes[1].xaxis.get_major_locator().set_params(integer=True)
    axes[1].legend()
    if grid is not None:
        axes[2].imshow(grid, cmap="gray", interpolation="nearest", vmin=0.0, vmax=1.0)
        axes[2].set_title(f"First-layer weights ({np.shape(_compat.to_numpy(weights))[1]} units)")
        axes[2].axis("off")
    _save_png(func, fig, path)


def activation_curves(
    backend: Any = "numpy", *, lo: float = -10.0, hi: float = 10.0, num: int = 401
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Values and local gradients of each activation, from the library's own layers.

    Runs ``*_forward(x)`` and ``*_backward(ones, cache)`` of sigmoid, tanh, relu and
    leaky_relu (alpha 0.01) on ``backend``, over ``num`` evenly spaced points in
    ``[lo, hi]``.

    Parameters
    ----------
    backend : str or namespace
        A backend name (``"numpy"``, ``"jax"``, ``"torch"``, ``"array_api_strict"``,
        ``"dask"``) or an array namespace.  float64 where the backend has it.
    lo, hi : float
        The range of inputs, ``lo < hi``.
    num : int
        Number of points, at least 2.

    Returns
    -------
    curves : dict
        ``{name: (x, y, dy)}``, host NumPy arrays of shape (num,): the inputs, the
        activation and its derivative.

    Examples
    --------
    >>> curves = activation_curves(lo=-1.0, hi=1.0, num=3)
    >>> curves["relu"][2], curves["sigmoid"][2][1]
    (array([0., 0., 1.]), np.float64(0.25))
    """
    func = "activation_curves"
    xp = _compat.get_namespace(backend)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{func}: need finite lo < hi, got lo={lo!r}, hi={hi!r}")
    num = check.integer(func, "num", num, low=2)
    x = np.linspace(lo, hi, num)
    dtype = xp.float64 if _compat.supports_float64(xp) else xp.float32
    xa = _compat.from_numpy(x, xp, dtype=dtype)
    ones = _compat.from_numpy(np.ones(num), xp, dtype=dtype)
    curves = {}
    for name, (forward, backward) in ACTIVATIONS.items():
        y, cache = forward(xa)
        dy = backward(ones, cache)
        curves[name] = (x, _compat.to_numpy(y), _compat.to_numpy(dy))
    return curves


_TITLES = {"sigmoid": "Sigmoid", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "Leaky ReLU (0.01)"}


def _gradient_note(name: str, x: np.ndarray, dy: np.ndarray) -> str:
    """A short verdict on where the local gradient vanishes or dies, read off the curve."""
    peak = f"max f' = {dy.max():.2g}"
    dead = dy == 0
    small = (dy > 0) & (dy < VANISHING)
    if dead.any():
        return f"{peak}\nf' = 0 for x ≤ {x[dead].max():.3g}:\ndead, no gradient flows"
    if small.any():
        edge = np.abs(x[small]).min()
        return f"{peak}\nf' < {VANISHING:g} for |x| > {edge:.2g}:\nsaturates, gradient vanishes"
    return f"{peak}\nf' ≥ {dy.min():.2g} everywhere:\nsmall for x < 0, never 0"


def plot_activations(
    path: str | Path,
    backend: Any = "numpy",
    *,
    lo: float = -10.0,
    hi: float = 10.0,
    num: int = 401,
) -> None:
    """Save a PNG of each activation (top row) and its local gradient (bottom row).

    Answers the seed notebook's question of which activations stop gradient flow:
    regions where the gradient is exactly 0 (ReLU for x < 0: dead units) are shaded red,
    regions where it is below :data:`VANISHING` (sigmoid and tanh saturating for large
    |x|) orange; leaky ReLU keeps slope 0.01 everywhere left of 0.  The curves come from
    :func:`activation_curves` on ``backend``.

    Parameters
    ----------
    path : str or Path
        The PNG file to write (atomically; its folder must exist).
    backend, lo, hi, num
        As for :func:`activation_curves`.

    Examples
    --------
    >>> plot_activations("activations.png", backend="numpy")  # doctest: +SKIP
    """
    func = "plot_activations"
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{func}: path must be a str or os.PathLike, got {type(path).__name__}")
    curves = activation_curves(backend, lo=lo, hi=hi, num=num)
    fig = _figure(func, figsize=(16, 7.5), layout="constrained")
    axes = fig.subplots(2, len(curves), sharex=True)
    for col, (name, (x, y, dy)) in enumerate(curves.items()):
        top, bottom = axes[0, col], axes[1, col]
        top.plot(x, y, color="C0")
        top.set_title(_TITLES[name])
        bottom.plot(x, dy, color="C1")
        bottom.set_ylim(-0.05, 1.1)
        bottom.set_xlabel("x")
        for ax in (top, bottom):
            ax.axhline(0, color="0.6", linewidth=0.8)
            ax.axvline(0, color="0.6", linewidth=0.8)
            shade = {"transform": ax.get_xaxis_transform(), "linewidth": 0}
            ax.fill_between(x, 0, 1, where=dy == 0, color="red", alpha=0.12, **shade)
            ax.fill_between(x, 0, 1, where=(dy > 0) & (dy < VANISHING), color="orange",
                            alpha=0.2, **shade)
        box = {"facecolor": "white", "alpha": 0.85, "edgecolor": "0.7"}
        bottom.text(0.03, 0.8, _gradient_note(name, x, dy), transform=bottom.transAxes,
                    va="top", fontsize=8.5, bbox=box)
    axes[0, 0].set_ylabel("f(x)")
    axes[1, 0].set_ylabel("local gradient f'(x)")
    name = _compat.backend_name(_compat.get_namespace(backend))
    fig.suptitle(
        "Which activations stop gradient flow?  red: f' = 0 (dead ReLU units), "
        f"orange: 0 < f' < {VANISHING:g} (saturation)   [computed on {name}]"
    )
    _save_png(func, fig, path)


def attention_on_image(model: Any, image: Any) -> np.ndarray:
    """How much attention each patch of ``image`` receives, per block and head.

    Runs :meth:`VisionTransformer.attention_maps` on the one image and averages each
    map over the queries: entry ``[block, head, r, c]`` is the mean weight that the T
    tokens give to the patch in grid row ``r``, column ``c`` (each ``[block, head]``
    sums to 1 over the grid, as every query's weights do).

    Parameters
    ----------
    model : VisionTransformer
    image : array of shape (C, H, W), any backend (converted to the model's)

    Returns
    -------
    maps : host array of shape (depth, num_heads, H // P, W // P)

    Examples
    --------
    >>> import numpy as np
    >>> from portable_layers import VisionTransformer
    >>> model = VisionTransformer(embed_dim=8, depth=1, num_heads=2, seed=0)
    >>> maps = attention_on_image(model, np.ones((1, 8, 8)))
    >>> maps.shape, np.round(maps.sum(axis=(2, 3)), 6)
    ((1, 2, 4, 4), array([[1., 1.]]))
    """
    func = "attention_on_image"
    if not callable(getattr(model, "attention_maps", None)):
        msg = f"{func}: model must be a VisionTransformer, got {type(model).__name__}"
        raise TypeError(msg)
    host = np.asarray(_compat.to_numpy(image) if _compat.is_array_api_obj(image) else image)
    if host.shape != tuple(model.input_shape):
        raise ValueError(f"{func}: image must have shape {tuple(model.input_shape)}, "
                         f"got {host.shape}")
    X = _compat.from_numpy(host[None], model.xp, dtype=model.dtype)
    p = model.patch_param["patch_size"]
    grid = (host.shape[1] // p, host.shape[2] // p)
    maps = [np.asarray(_compat.to_numpy(m), dtype=np.float64)[0] for m in model.attention_maps(X)]
    return np.stack([m.mean(axis=1).reshape(m.shape[0], *grid) for m in maps])


def plot_attention(path: str | Path, model: Any, image: Any, *, title: str = "",
                   background: Any = None) -> None:
    """Save a PNG of a VisionTransformer's attention maps on one image.

    One row per block: the image, then one panel per head with the image in grey and
    the attention each patch receives (:func:`attention_on_image`) laid over it.

    Parameters
    ----------
    path : str or Path
        The PNG file to write (atomically; its folder must exist).
    model : VisionTransformer
    image : array of shape (C, H, W)
    title : str
        Put above the figure (e.g. the label and the prediction).
    background : array of shape (C, H, W), optional
        What to draw under the maps, e.g. the image before mean subtraction;
        ``image`` itself by default.

    Examples
    --------
    >>> plot_attention("attention.png", model, X_val[0])  # doctest: +SKIP
    """
    func = "plot_attention"
    maps = attention_on_image(model, image)
    shown = image if background is None else background
    host = np.asarray(_compat.to_numpy(shown) if _compat.is_array_api_obj(shown) else shown)
    gray = host.mean(axis=0)
    p = model.patch_param["patch_size"]
    depth, heads = maps.shape[:2]
    fig = _figure(func, figsize=(2.2 * (heads + 1), 2.3 * depth + 0.6), layout="constrained")
    axes = np.asarray(fig.subplots(depth, heads + 1, squeeze=False))
    for b in range(depth):
        axes[b, 0].imshow(gray, cmap="gray", interpolation="nearest")
        axes[b, 0].set_title(f"block {b + 1}: input", fontsize=9)
        for h in range(heads):
            ax = axes[b, h + 1]
            ax.imshow(gray, cmap="gray", interpolation="nearest")
            up = np.kron(maps[b, h], np.ones((p, p)))
            ax.imshow(up, cmap="inferno", alpha=0.6, interpolation="nearest")
            ax.set_title(f"head {h + 1} (max {maps[b, h].max():.2f})", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(title or "Attention each patch receives (mean over queries)")
    _save_png(func, fig, path)
