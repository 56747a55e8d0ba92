"""VisionTransformer: shapes, the hand-written backward (both oracles), Solver, digits."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
from helpers import (
    assert_array,
    base_namespace,
    check_model_gradients,
    randn,
    train_command_val_accuracy,
)

from portable_layers import _compat
from portable_layers.models.vit import POS_SCALE, VisionTransformer
from portable_layers.solver import Solver

ORACLES = ("numerical", "autodiff") if importlib.util.find_spec("jax") else ("numerical",)

SHAPE = (2, 4, 4)


def make(xp: Any, dtype: str = "float64", **kw: Any) -> VisionTransformer:
    args = {"patch_size": 2, "embed_dim": 8, "depth": 2, "num_heads": 2, "num_classes": 3,
            "xp": base_namespace(xp), "dtype": dtype, "seed": 0, **kw}
    return VisionTransformer(SHAPE, **args)


def test_shapes_and_attributes(xp: Any) -> None:
    model = make(xp)
    shapes = {k: tuple(v.shape) for k, v in model.params.items()}
    assert shapes["W1"] == (8, 8) and shapes["pos"] == (4, 8) and shapes["W2"] == (8, 3)
    assert shapes["W_qkv2"] == (8, 24) and shapes["W_mlp_in1"] == (8, 16)
    assert shapes["W_mlp_out1"] == (16, 8) and shapes["gamma_attn1"] == (8,)
    assert len(shapes) == 3 + 12 * 2 + 4
    assert (model.input_shape, model.input_dim, model.num_classes) == (SHAPE, 32, 3)
    default = VisionTransformer(xp=base_namespace(xp), dtype="float32", seed=0)
    assert tuple(default.params["W1"].shape) == (4, 32)
    assert tuple(default.params["W_mlp_in2"].shape) == (32, 64)
    X = randn(xp, 5, *SHAPE, dtype="float32")
    f32 = base_namespace(xp).float32
    assert_array(make(xp, "float32").loss(X), xp, (5, 3), f32)
    assert tuple(make(xp, "float32").predict(X).shape) == (5,)
    maps = make(xp, "float32").attention_maps(X)
    assert len(maps) == 2
    assert_array(maps[0], xp, (5, 2, 4, 4), f32)
    np.testing.assert_allclose(np.sum(_compat.to_numpy(maps[1]), axis=-1), 1.0, rtol=1e-5)


def test_initialisation(xp: Any) -> None:
    """1/sqrt(fan_in) weights (or weight_scale), zero biases, unit norms, pos at POS_SCALE."""
    big = VisionTransformer(embed_dim=64, depth=1, num_heads=4, xp=base_namespace(xp), seed=1)
    p = {k: _compat.to_numpy(v) for k, v in big.params.items()}
    assert np.std(p["W_qkv1"]) == pytest.approx(1 / 8, rel=0.05)
    assert np.std(p["W_mlp_out1"]) == pytest.approx(1 / np.sqrt(128), rel=0.05)
    assert np.std(p["pos"]) == pytest.approx(POS_SCALE, rel=0.1)
    assert not np.any(p["b_qkv1"]) and np.all(p["gamma"] == 1) and not np.any(p["beta_mlp1"])
    fixed = VisionTransformer(embed_dim=64, depth=1, weight_scale=1e-2, xp=base_namespace(xp),
                              seed=1)
    assert np.std(_compat.to_numpy(fixed.params["W_qkv1"])) == pytest.approx(1e-2, rel=0.05)


def test_gradients_check_layer(xp: Any) -> None:
    """The hand-written backward through the whole net, against both oracles."""
    model = make(xp, reg=0.3)
    X, y = randn(xp, 3, *SHAPE, seed=1), xp.asarray(np.array([0, 2, 1]))
    result = check_model_gradients(model, X, y, 4, ORACLES)
    assert result.ok, str(result)
    assert {c.oracle for c in result.checks} == set(ORACLES)


def test_reg_covers_weight_matrices_only(xp: Any) -> None:
    X, y = randn(xp, 3, *SHAPE, seed=1), xp.asarray(np.array([0, 2, 1]))
    plain, regd = make(xp), make(xp, reg=0.5)
    (l0, g0), (l1, g1) = plain.loss(X, y), regd.loss(X, y)
    p = {k: _compat.to_numpy(v) for k, v in plain.params.items()}
    weights = [k for k in p if k.startswith("W")]
    assert len(weights) == 2 + 4 * 2
    expected = 0.25 * sum(np.sum(p[k] ** 2) for k in weights)
    assert float(l1) - float(l0) == pytest.approx(expected, rel=1e-10)
    for k in p:
        extra = 0.5 * p[k] if k in weights else 0.0
        np.testing.assert_allclose(_compat.to_numpy(g1[k]) - _compat.to_numpy(g0[k]), extra,
                                   atol=1e-12)


def test_wrong_image_shape_is_a_clear_value_error(xp: Any) -> None:
    with pytest.raises(ValueError, match=r"VisionTransformer.loss: X must have shape "
                                         r"\(N, 2, 4, 4\) \(images N, C, H, W\), got \(3, 32\)"):
        make(xp).loss(randn(xp, 3, 32))


def test_constructor_errors(xp: Any) -> None:
    ns = base_namespace(xp)
    with pytest.raises(TypeError, match=r"VisionTransformer: num_heads must be an int, got 2\.0"):
        VisionTransformer(num_heads=2.0, xp=ns)
    with pytest.raises(ValueError, match="num_heads must divide embed_dim = 32, got 3"):
        VisionTransformer(num_heads=3, xp=ns)
    with pytest.raises(ValueError, match="patch_size must divide H = 8 and W = 8, got 3"):
        VisionTransformer(patch_size=3, xp=ns)
    with pytest.raises(ValueError, match="input_dim must be a tuple"):
        VisionTransformer(64, xp=ns)
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        VisionTransformer(depth=0, xp=ns)


def test_old_path_is_a_shim_and_pickles_still_load(xp: Any) -> None:
    """``portable_layers.vit`` re-exports the model moved into ``models/``; the class keeps
    its recorded ``__module__``, so a reference pickled before the move still loads."""
    import pickle

    import portable_layers.vit as old

    assert old.VisionTransformer is VisionTransformer and old.POS_SCALE == POS_SCALE
    assert VisionTransformer.__module__ == "portable_layers.vit"
    pickled = pickle.dumps(VisionTransformer)  # what a pickled config records: the path
    assert b"portable_layers.vit" in pickled and pickle.loads(pickled) is VisionTransformer
    assert type(make(xp)) is old.VisionTransformer


def test_trains_with_solver(xp: Any) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, *SHAPE))
    y = (np.mean(X[:, 0, :2], axis=(1, 2)) > 0).astype(np.int64)
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    model = make(xp, "float32", num_classes=2)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                    num_epochs=10, batch_size=20, verbose=False, seed=0)
    solver.train()
    assert solver.loss_history[-1] < solver.loss_history[0]
    assert_array(model.params["W1"], xp, (8, 8), base_namespace(xp).float32)
    assert solver.best_val_acc > 0.8


@pytest.mark.slow
def test_digits_reach_97_percent(xp: Any, capsys: Any) -> None:
    """``train --model vit``: the documented recipe (adam 3e-3, batch 100, 30 epochs)."""
    pytest.importorskip("sklearn")
    val, out = train_command_val_accuracy("vit", xp, capsys)
    assert val >= 0.97, out


def test_attention_on_image_is_each_patch_mean_received_weight(xp: Any) -> None:
    pytest.importorskip("matplotlib")
    from portable_layers import plotting

    model = make(xp)
    image = randn(xp, *SHAPE, seed=3)
    maps = plotting.attention_on_image(model, image)
    assert maps.shape == (2, 2, 2, 2)
    probs = _compat.to_numpy(model.attention_maps(base_namespace(xp).expand_dims(image, axis=0))[1])
    np.testing.assert_allclose(maps[1, 0].ravel(), probs[0, 0].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(maps.sum(axis=(2, 3)), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match=r"attention_on_image: image must have shape \(2, 4, 4\)"):
        plotting.attention_on_image(model, randn(xp, 1, 4, 4))
    with pytest.raises(TypeError, match="attention_on_image: model must be a VisionTransformer"):
        plotting.attention_on_image(object(), image)


def test_plot_attention_command(tmp_path: Any, capsys: Any) -> None:
    """``plot attention``: a saved VisionTransformer's maps on a validation digit, as a PNG."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    from matplotlib.image import imread

    from portable_layers import cli, save_checkpoint

    path = tmp_path / "vit.npz"
    save_checkpoint(path, VisionTransformer(dtype="float32", seed=1))
    out = tmp_path / "attention.png"
    args = ["plot", "attention", "--checkpoint", str(path), "--index", "3", "--out", str(out)]
    assert cli.main(args) == 0
    assert imread(out).shape[0] > 100
    assert cli.main(["plot", "attention", "--checkpoint", str(path), "--index", "999",
                     "--out", str(out)]) == 2
    assert "--index must be in [0, 397)" in capsys.readouterr().err


def test_train_command_vit_with_plot(tmp_path: Any, capsys: Any) -> None:
    """``train --model vit`` takes the recipe's defaults; ``--plot`` draws W1 as patches."""
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from portable_layers import cli
    from portable_layers.cli import recipes

    out = tmp_path / "vit.png"
    args = ["train", "--model", "vit", "--epochs", "1", "--quiet", "--plot", str(out)]
    assert cli.main(args) == 0
    assert "trained VisionTransformer on numpy" in capsys.readouterr().out
    assert out.stat().st_size > 0
    assert recipes.defaults("digits", "vit")["learning_rate"] == 3e-3
