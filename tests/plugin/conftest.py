"""Tests of the pytest plugin use ``pytester``.

``pytest_plugins = ["pytester"]`` is only allowed in the rootdir's conftest; this folder
loads the plugin when its conftest is registered instead, which works both for
``pytest tests/plugin`` and for the whole suite.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
