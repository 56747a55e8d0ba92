"""The seed notebook, run against portable_layers, prints the seed's numbers.

``tests/data/seed_notebook.txt`` is a verbatim copy of the notebook this project grew
from (``shared/seed/000_517f6e6b0b23b93e.txt``).  Its cells are located by line
number below (the file's hash pins the copy) and run with one change, the import
line; the IPython magics (``%matplotlib``, ``%autoreload``) are dropped since plain
Python cannot run them.

What "the same numbers" means:

* inputs, scores, gradients and losses: the printed text is identical (where the
  seed's own text is cut short, the printed text starts with it);
* finite-difference error lines (``dx error: ...``): these measure rounding noise at
  1e-10 and depend on the machine's floating-point kernels, not on the layers: the
  seed's affine digits come back exactly with a sequential, non-FMA matrix product,
  while this machine's BLAS uses fused multiply-adds.  They must agree with the
  seed's value within a factor of 10 and stay under the bound the seed states.

On the other backends the same computations run with the seed's inputs converted to
that backend and portable_layers' own gradient-check helpers; every printed number
must match within its printed precision.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import asxp

import portable_layers as pl
from portable_layers import _compat
from portable_layers.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)

SEED = Path(__file__).parent / "data" / "seed_notebook.txt"
SEED_SHA256 = "b62fc0d05a982b276de460b794923f9d35ba0ff6158365d276a8d696588ea894"
LINES = SEED.read_text().splitlines()

# (label, code lines, output lines or None, output cut short in the seed), 1-based inclusive.
CELLS = [
    ("In [2]", (6, 12), None, False),
    ("In [3]", (15, 26), None, False),
    ("In [6]", (29, 29), None, False),
    ("In [9]", (34, 45), (47, 62), True),
    ("In [10]", (67, 69), (71, 81), False),
    ("In [14]", (87, 95), (97, 111), True),
    ("In [15]", (116, 141), None, False),
    ("In [18]", (144, 157), (159, 162), False),
    ("In [25]", (169, 182), (184, 201), True),
    ("In [27]", (221, 250), None, False),
    ("In [29]", (253, 272), (274, 280), False),
]
ERROR_LINE = re.compile(r"^(d[xwb]) error:\s+(\S+)$")


def _text(span: tuple[int, int]) -> list[str]:
    return LINES[span[0] - 1 : span[1]]


def _code(span: tuple[int, int]) -> str:
    lines = [ln for ln in _text(span) if not ln.lstrip().startswith("%")]
    code = "\n".join(lines)
    return code.replace(
        "from two_layer_perceptron import TwoLayerPerceptron",
        "from portable_layers import TwoLayerPerceptron",
    )


def test_seed_copy_is_verbatim() -> None:
    assert hashlib.sha256(SEED.read_bytes()).hexdigest() == SEED_SHA256


def _run_seed_cells() -> list[tuple[str, list[str], list[str], bool]]:
    """Run every cell in one namespace; (label, printed lines, seed lines, cut short)."""
    namespace: dict[str, Any] = {"__name__": "seed_notebook"}
    results = []
    for label, code_span, out_span, cut in CELLS:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(_code(code_span), f"<seed {label}>", "exec"), namespace)
        expected = _text(out_span) if out_span else []
        results.append((label, buffer.getvalue().splitlines(), expected, cut))
    return results


def test_seed_cells_print_the_seed_numbers_on_numpy() -> None:
    """The notebook's own cells, on NumPy arrays, with only the import line changed."""
    pytest.importorskip("matplotlib", reason="the seed's first cell imports matplotlib")
    for label, printed, expected, cut in _run_seed_cells():
        if cut:
            # The seed's text stops mid-line: all complete lines equal, the last a prefix.
            assert printed[: len(expected) - 1] == expected[:-1], label
            assert printed[len(expected) - 1].startswith(expected[-1]), label
            continue
        assert len(printed) == len(expected), (label, printed)
        for got, want in zip(printed, expected, strict=True):
            match_got, match_want = ERROR_LINE.match(got), ERROR_LINE.match(want)
            if match_want and match_got:
                assert_same_order(float(match_got.group(2)), float(match_want.group(2)), label)
            else:
                assert got == want, label


def assert_same_order(got: float, seed: float, label: str) -> None:
    assert seed / 10 <= got <= seed * 10, f"{label}: error {got:.3e}, seed printed {seed:.3e}"


def _printed_array(span: tuple[int, int], cut: bool) -> np.ndarray:
    """The numbers of a printed NumPy matrix (complete rows only where the seed is cut)."""
    rows = _text(span)
    if cut:
        rows = rows[:-1]
    values = [[float(v) for v in re.findall(r"-?\d+\.\d*(?:e[-+]\d+)?", r)] for r in rows]
    return np.array(values)


def _seed_inputs() -> dict[str, np.ndarray]:
    """The notebook's random inputs, drawn exactly as its cells draw them."""
    rs = np.random.RandomState(231)
    affine = {"x": rs.randn(10, 2, 3), "w": rs.randn(6, 5), "b": rs.randn(5)}
    affine["dout"] = rs.randn(10, 5)
    rs = np.random.RandomState(231)
    relu_x = rs.randn(10, 5)
    relu_dout = rs.randn(10, 5)
    rs = np.random.RandomState(231)
    scores = 0.001 * rs.randn(50, 10)
    labels = rs.randint(10, size=50)
    return {**affine, "relu_x": relu_x, "relu_dout": relu_dout, "scores": scores, "y": labels}


def test_seed_numbers_on_every_backend(xp: Any) -> None:
    """The same computations on this backend reproduce every printed number."""
    s = {k: asxp(xp, v) for k, v in _seed_inputs().items()}
    model = pl.TwoLayerPerceptron(xp=_compat.backend_name(_compat.array_namespace("t", a=s["x"])))
    printed = 5e-9  # the seed prints 8 decimals

    scores, (x, w, b) = model.affine_forward(s["x"], s["w"], s["b"])
    np.testing.assert_allclose(_compat.to_numpy(x), _printed_array((48, 57), False), atol=printed)
    np.testing.assert_allclose(_compat.to_numpy(scores), _printed_array((72, 81), False),
                               atol=printed)
    dx, dw, db = model.affine_backward(s["dout"], cache=(x, w, b))
    assert tuple(dx.shape) == (10, 6)
    np.testing.assert_allclose(_compat.to_numpy(dx), _printed_array((98, 107), False),
                               atol=printed)
    np.testing.assert_allclose(_compat.to_numpy(dw)[:2], _printed_array((109, 111), True),
                               atol=printed)

    seed_errors = {"x": 1.0908199508708189e-10, "w": 2.1752635504596857e-10,
                   "b": 7.736978834487815e-12}
    for arg, value in (("x", x), ("w", w), ("b", b)):
        seed_error = seed_errors[arg]
        args = {"x": x, "w": w, "b": b}

        def f(v: Any, arg: str = arg, args: dict[str, Any] = args) -> Any:
            return model.affine_forward(**{**args, arg: v})[0]

        numeric = eval_numerical_gradient_array(f, value, s["dout"])
        analytic = {"x": dx, "w": dw, "b": db}[arg]
        assert_same_order(rel_error(numeric, analytic), seed_error, f"d{arg}")

    relu_out, cache = model.relu_forward(s["relu_x"])
    np.testing.assert_allclose(_compat.to_numpy(relu_out)[:5], _printed_array((196, 201), True),
                               atol=printed)
    numeric = eval_numerical_gradient_array(lambda v: model.relu_forward(v)[0], s["relu_x"],
                                            s["relu_dout"])
    assert rel_error(numeric, model.relu_backward(s["relu_dout"], cache)) < 1e-11

    seed_losses = (
        (model.svm_loss, 8.999602749096233, 1.4021566006651672e-09),
        (model.softmax_loss, 2.302545844500738, 9.483503037636722e-09),
    )
    for loss_fn, seed_loss, seed_error in seed_losses:
        loss, dscores = loss_fn(s["scores"], s["y"])
        assert float(loss) == pytest.approx(seed_loss, rel=1e-14, abs=0)
        numeric = eval_numerical_gradient(lambda v, fn=loss_fn: fn(v, s["y"])[0], s["scores"],
                                          verbose=False)
        assert_same_order(rel_error(numeric, dscores), seed_error, loss_fn.__name__)
