"""A small Vision Transformer built from the library's layers, with a hand-written backward.

The net (Dosovitskiy et al. 2021, pre-norm, without a class token)::

    patch embedding (P x P patches -> D)  +  learned position embedding
    depth x [ z = z + attention(layernorm(z));  z = z + W_mlp_out gelu(W_mlp_in layernorm(z)) ]
    final layernorm  ->  mean over the T tokens  ->  linear head  ->  softmax loss

It plugs into the models' base (:class:`~portable_layers.models.base.Model`) through
its one hook, ``_forward(X, params, mode, state, seed) -> (scores, backward)``, so
``loss``, ``apply``, ``predict``, the L2 term and the :class:`~portable_layers.Solver`
(jitted on JAX) work as for the other models.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _compat
from .. import _validate as check
from .. import layers as L
from .._types import Array
from .base import Model

__all__ = ["VisionTransformer"]

#: Standard deviation of the initial position embeddings: 1, the scale of the patch
#: embeddings they are added to (unit-variance entries for unit-variance pixels under the
#: 1/sqrt(fan_in) weights), so that where a patch sits counts from the first step.  ViT's
#: 0.02 measured 96.7% on digits with the recipe, below the 97% this model is held to.
POS_SCALE = 1.0


class VisionTransformer(Model):
    """A Vision Transformer for small images: patches, ``depth`` pre-norm blocks, mean pool.

    Parameters
    ----------
    input_dim : tuple of int
        ``(C, H, W)`` of the images, as for :class:`ThreeLayerConvNet`; ``X`` must have
        shape (N, C, H, W).  :attr:`input_shape` holds it; :attr:`input_dim` is C*H*W.
    patch_size : int
        P, dividing H and W; the images become ``T = (H // P) * (W // P)`` tokens.
    embed_dim : int
        D, the token width.
    depth : int
        The number of transformer blocks.
    num_heads : int
        Attention heads per block, dividing ``embed_dim``.
    mlp_ratio : int or float
        The MLP's hidden width is ``int(mlp_ratio * embed_dim)``.
    num_classes : int
        C.
    weight_scale : float or None
        None (the default) draws each weight matrix from a normal with standard
        deviation ``1 / sqrt(fan_in)``; a float sets that one standard deviation for all
        of them, as the other models do.  Biases and layernorm shifts start at 0,
        layernorm scales at 1, and the position embeddings (``pos``, shape (T, D))
        always from a standard normal (:data:`POS_SCALE`, the patch embeddings' scale).
    reg : float
        L2 strength over the weight matrices only (the parameters named ``W...``), not
        over biases, layernorm parameters or position embeddings.
    xp, dtype, seed
        As for :class:`TwoLayerPerceptron`.
    device : optional
        A device of ``xp`` for the parameters; ``xp``'s default device when None.

    Notes
    -----
    Parameters: ``W1, b1`` the patch embedding (C*P*P, D); ``pos`` (T, D); for block
    ``i``: ``gamma_attn{i}, beta_attn{i}, W_qkv{i}, b_qkv{i}, W_proj{i}, b_proj{i},
    gamma_mlp{i}, beta_mlp{i}, W_mlp_in{i}, b_mlp_in{i}, W_mlp_out{i}, b_mlp_out{i}``;
    then ``gamma, beta`` the final layernorm and ``W2, b2`` the head (D, C).

    With the defaults, ``Solver(model, data, update_rule="adam", optim_config=
    {"learning_rate": 3e-3}, batch_size=100, num_epochs=30)`` is the recipe for the
    8x8 digits (``python -m portable_layers train --model vit``).

    Raises
    ------
    TypeError
        If ``num_heads`` is not an int.
    ValueError
        For a bad size, ``patch_size`` not dividing H and W, or ``num_heads`` not
        dividing ``embed_dim``.

    Examples
    --------
    >>> import numpy as np
    >>> model = VisionTransformer((1, 8, 8), patch_size=2, embed_dim=8, depth=1, num_heads=2,
    ...                           seed=0)
    >>> model.loss(np.ones((3, 1, 8, 8))).shape
    (3, 10)
    >>> [m.shape for m in model.attention_maps(np.ones((3, 1, 8, 8)))]
    [(3, 2, 16, 16)]
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 8, 8),
        patch_size: int = 2,
        embed_dim: int = 32,
        depth: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 2,
        num_classes: int = 10,
        weight_scale: float | None = None,
        reg: float = 0.0,
        *,
        xp: Any = None,
        dtype: Any = None,
        seed: int | None = None,
        device: Any = None,
    ) -> None:
        func = "VisionTransformer"
        c, h, w = check.image_shape(func, input_dim)
        p = check.positive_int(func, "patch_size", patch_size)
        if h % p or w % p:
            msg = f"{func}: patch_size must divide H = {h} and W = {w}, got {p}"
            raise ValueError(msg)
        d = check.positive_int(func, "embed_dim", embed_dim)
        self.depth = check.positive_int(func, "depth", depth)
        heads = check.integer_type(func, "num_heads", num_heads)  # TypeError for 2.0
        heads = check.positive_int(func, "num_heads", heads)
        if d % heads:
            raise ValueError(f"{func}: num_heads must divide embed_dim = {d}, got {heads}")
        ratio = check.non_negative(func, "mlp_ratio", mlp_ratio)
        hidden = int(ratio * d)
        if hidden < 1:
            raise ValueError(f"{func}: mlp_ratio * embed_dim must be at least 1, got {ratio * d}")
        classes = check.positive_int(func, "num_classes", num_classes)
        self.input_shape = (c, h, w)
        self.patch_param = {"patch_size": p}
        self.attn_param = {"num_heads": heads}
        tokens = (h // p) * (w // p)

        self._setup(0.0 if weight_scale is None else weight_scale, reg, xp, dtype, seed, device)
        self._fixed_scale = weight_scale is not None

        self._matrix("W1", "b1", c * p * p, d)
        self._params["pos"] = self._normal("pos", (tokens, d), POS_SCALE)
        for i in range(1, self.depth + 1):
            self._norm(f"gamma_attn{i}", f"beta_attn{i}", d)
            self._matrix(f"W_qkv{i}", f"b_qkv{i}", d, 3 * d)
            self._matrix(f"W_proj{i}", f"b_proj{i}", d, d)
            self._norm(f"gamma_mlp{i}", f"beta_mlp{i}", d)
            self._matrix(f"W_mlp_in{i}", f"b_mlp_in{i}", d, hidden)
            self._matrix(f"W_mlp_out{i}", f"b_mlp_out{i}", hidden, d)
        self._norm("gamma", "beta", d)
        self._matrix("W2", "b2", d, classes)
        self._finish()

    # -- construction ------------------------------------------------------------------

    def _matrix(self, w: str, b: str, fan_in: int, fan_out: int) -> None:
        scale = self._scale if self._fixed_scale else 1.0 / math.sqrt(fan_in)
        self._params[w] = self._normal(w, (fan_in, fan_out), scale)
        self._params[b] = self._array(np.zeros(fan_out))

    def _norm(self, gamma: str, beta: str, size: int) -> None:
        self._params[gamma] = self._array(np.ones(size))
        self._params[beta] = self._array(np.zeros(size))

    @property
    def input_dim(self) -> int:
        """``C * H * W``, the number of features per image (see :attr:`input_shape`)."""
        return math.prod(self.input_shape)

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return self._shapes["b2"][0]

    # -- forward and backward ----------------------------------------------------------

    def _check_X(self, X: Array) -> None:
        check.images("VisionTransformer.loss", X, self.input_shape)

    def _block(self, z: Array, p: dict[str, Array], i: int) -> tuple[Array, tuple[Any, ...]]:
        a, c1 = L.layernorm_forward(z, p[f"gamma_attn{i}"], p[f"beta_attn{i}"], {})
        a, c2 = L.multihead_attention_forward(a, p[f"W_qkv{i}"], p[f"b_qkv{i}"],
                                              p[f"W_proj{i}"], p[f"b_proj{i}"], self.attn_param)
        z = z + a
        m, c3 = L.layernorm_forward(z, p[f"gamma_mlp{i}"], p[f"beta_mlp{i}"], {})
        m, c4 = L.temporal_affine_forward(m, p[f"W_mlp_in{i}"], p[f"b_mlp_in{i}"])
        m, c5 = L.gelu_forward(m)
        m, c6 = L.temporal_affine_forward(m, p[f"W_mlp_out{i}"], p[f"b_mlp_out{i}"])
        return z + m, (c1, c2, c3, c4, c5, c6)

    @staticmethod
    def _block_backward(dz: Array, caches: tuple[Any, ...], i: int,
                        grads: dict[str, Array]) -> Array:
        c1, c2, c3, c4, c5, c6 = caches
        dm, grads[f"W_mlp_out{i}"], grads[f"b_mlp_out{i}"] = L.temporal_affine_backward(dz, c6)
        dm = L.gelu_backward(dm, c5)
        dm, grads[f"W_mlp_in{i}"], grads[f"b_mlp_in{i}"] = L.temporal_affine_backward(dm, c4)
        dm, grads[f"gamma_mlp{i}"], grads[f"beta_mlp{i}"] = L.layernorm_backward(dm, c3)
        dz = dz + dm
        da, grads[f"W_qkv{i}"], grads[f"b_qkv{i}"], grads[f"W_proj{i}"], grads[f"b_proj{i}"] = (
            L.multihead_attention_backward(dz, c2))
        da, grads[f"gamma_attn{i}"], grads[f"beta_attn{i}"] = L.layernorm_backward(da, c1)
        return dz + da

    def _forward(self, X: Array, p: dict[str, Array], mode: str, state: dict[str, Array],
                 seed: Any) -> tuple[Array, Any]:
        self._check_X(X)
        xp = _compat.array_namespace("VisionTransformer.loss", X=X, W1=p["W1"])
        tokens, c_patch = L.patch_embed_forward(X, p["W1"], p["b1"], self.patch_param)
        z = tokens + p["pos"]
        blocks = []
        for i in range(1, self.depth + 1):
            z, caches = self._block(z, p, i)
            blocks.append(caches)
        f, c_norm = L.layernorm_forward(z, p["gamma"], p["beta"], {})
        t = f.shape[1]
        scores, c_head = L.affine_forward(xp.mean(f, axis=1), p["W2"], p["b2"])

        def backward(dscores: Array) -> dict[str, Array]:
            grads: dict[str, Array] = {}
            dpooled, grads["W2"], grads["b2"] = L.affine_backward(dscores, c_head)
            df = xp.broadcast_to(xp.expand_dims(dpooled / t, axis=1), tuple(f.shape))
            dz, grads["gamma"], grads["beta"] = L.layernorm_backward(df, c_norm)
            for i in range(self.depth, 0, -1):
                dz = self._block_backward(dz, blocks[i - 1], i, grads)
            grads["pos"] = xp.sum(dz, axis=0)
            _, grads["W1"], grads["b1"] = L.patch_embed_backward(dz, c_patch)
            return grads

        return scores, backward

    def attention_maps(self, X: Array, params: dict[str, Array] | None = None) -> list[Array]:
        """Each block's attention probabilities for images ``X``, a list of ``depth`` arrays.

        Returns
        -------
        list of arrays of shape (N, num_heads, T, T)
            Entry ``[n, head, t, s]`` is how much token ``t`` attends to token ``s``;
            tokens are the patches in row-major order over the ``(H/P, W/P)`` grid.
        """
        self._check_X(X)
        p = self._params if params is None else params
        tokens, _ = L.patch_embed_forward(X, p["W1"], p["b1"], self.patch_param)
        z, maps = tokens + p["pos"], []
        for i in range(1, self.depth + 1):
            z, caches = self._block(z, p, i)
            maps.append(caches[1].probs)
        return maps


# Its public path since before the move into models/: reprs, pickles and the docs name
# ``portable_layers.vit.VisionTransformer`` (that module re-exports this one).
VisionTransformer.__module__ = "portable_layers.vit"
