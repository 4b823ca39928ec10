"""``report.json``: the run report as versioned JSON (schema in ``docs/reports.md``)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from harness.reports._model import SCHEMA_VERSION, RunReport


class ReportError(ValueError):
    """A report file that cannot be read; the message names the file and the field."""


def dumps(report: RunReport) -> str:
    return report.model_dump_json(indent=2) + "\n"


def write_json(report: RunReport, path: Path) -> Path:
    path.write_text(dumps(report), encoding="utf-8")
    return path


def load_report(path: str | Path) -> RunReport:
    """Read and validate a ``report.json``; :class:`ReportError` on anything wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such report") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: not a readable JSON report: {exc}") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        raise ReportError(
            f"{path}: schema_version {version!r} is not supported (this nodouble reads "
            f"{SCHEMA_VERSION!r})"
        )
    try:
        return RunReport.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ReportError(f"{path}: {loc}: {err['msg']}") from None
