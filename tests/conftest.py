"""The ``xp`` fixture comes from portable_layers' own pytest plugin
(``portable_layers/pytest_plugin.py``, registered through the ``pytest11`` entry point),
the same one users get: every test that takes ``xp`` runs once per backend selected by
``--backend`` or ``PORTABLE_LAYERS_BACKENDS`` (the noxfile sets it per session).
"""

import importlib.util

pytest_plugins = ["pytester"]

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
