"""The logic behind :mod:`harness.pytest_plugin` (kept apart so the plugin stays thin).

- :mod:`._servers`: the ``fake_provider`` and ``reference_app`` fixtures' processes;
- :mod:`._session`: one target per pytest session, running scenarios, keeping reports
  of failures only;
- :mod:`._catalog`: the scenario catalog as pytest items (``--nodouble-target``).

Nothing here is imported until a ``--nodouble-*`` option or a nodouble fixture is used.
"""
