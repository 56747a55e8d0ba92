"""The ``xp`` fixture comes from portable_layers' own pytest plugin
(``portable_layers/pytest_plugin.py``, registered through the ``pytest11`` entry point),
the same one users get: every test that takes ``xp`` runs once per backend selected by
``--backend`` or ``PORTABLE_LAYERS_BACKENDS`` (the noxfile sets it per session).
"""

import importlib.util

import pytest

pytest_plugins = ["pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--xp-only", action="store_true",
        help="run only the tests that take the xp fixture: the others do not depend on the "
             "backend, so the noxfile runs them in one backend session (tests-numpy) and "
             "passes --xp-only to the other backend sessions")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--xp-only"):
        return
    keep = [item for item in items if "xp" in getattr(item, "fixturenames", ())]
    dropped = [item for item in items if "xp" not in getattr(item, "fixturenames", ())]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep

# tests/test_dask.py imports dask and distributed plainly, so the tests-dask session, which
# names the file on its command line (explicit paths are never ignored), fails without
# them; a session that installs no Dask does not collect it at all (it names no Dask).
collect_ignore = [] if importlib.util.find_spec("dask") else ["test_dask.py"]

# Hypothesis profiles (tests/test_properties.py): "ci", loaded by default, runs 50 examples
# per property, parametrization and backend; "dev" (pytest --hypothesis-profile=dev) 5.
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", max_examples=50)
settings.register_profile("dev", max_examples=5)
settings.load_profile("ci")
