"""The ``xp`` fixture comes from portable_layers' own pytest plugin
(``portable_layers/pytest_plugin.py``, registered through the ``pytest11`` entry point),
the same one users get: every test that takes ``xp`` runs once per backend selected by
``--backend`` or ``PORTABLE_LAYERS_BACKENDS`` (the noxfile sets it per session).
"""

pytest_plugins = ["pytester"]
