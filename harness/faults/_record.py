"""Recording nemesis operations into a history (or nowhere, when there is none)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.history import History, Op

NEMESIS = "nemesis"


def record(
    history: History | None,
    process: str,
    f: str,
    value: dict[str, Any],
    action: Callable[[], dict[str, Any]],
) -> Op | None:
    """Invoke, run ``action`` and complete ``ok`` with what it returned.

    An exception from ``action`` completes the operation as ``info`` (we do not know
    whether the fault took effect) and is raised again: a nemesis that cannot do its job
    must stop the run, not be silently ignored.
    """
    invocation = history.invoke(process, f, value) if history is not None else None
    try:
        result = action()
    except Exception as exc:
        if history is not None and invocation is not None:
            history.info(invocation, {"error": f"{type(exc).__name__}: {exc}"})
        raise
    if history is None or invocation is None:
        return None
    return history.ok(invocation, result)
