"""Test support shared by this repository's tests and the pytest plugin.

Chromium and the database servers are real dependencies. Outside CI a missing one skips
the tests that need it; with ``CI=true`` a missing one fails them, never a silent skip.
"""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(what: str, why: str) -> None:
    """Skip outside CI; fail inside CI. Never returns."""
    message = f"{what} is not available: {why}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(message)
