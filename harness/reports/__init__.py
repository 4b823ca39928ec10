"""Reports of a run: ``report.json`` (machines), ``junit.xml`` (CI), ``report.html`` (people),
``history.jsonl`` (the histories and ledger rows as JSON Lines, for log tools).

:func:`write_reports` writes all four into a run directory and points ``latest`` in its
parent at it; :func:`render_html` rebuilds the HTML from a ``report.json``
(``nodouble report DIR``). The JSON schema is documented in ``docs/reports.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness._redact import redact, redact_text
from harness.reports._html import to_html, write_html
from harness.reports._json import ReportError, load_report, write_json
from harness.reports._jsonl import write_jsonl
from harness.reports._junit import to_xml, write_junit
from harness.reports._model import (
    SCHEMA_VERSION,
    CheckOutcome,
    Environment,
    FlawMatrix,
    RunReport,
    ScenarioRun,
    Summary,
    Target,
    threat_link,
)

__all__ = [
    "SCHEMA_VERSION",
    "CheckOutcome",
    "Environment",
    "FlawMatrix",
    "ReportError",
    "RunReport",
    "ScenarioRun",
    "Summary",
    "Target",
    "load_report",
    "redact",
    "redact_text",
    "render_html",
    "threat_link",
    "to_html",
    "to_xml",
    "update_latest",
    "write_reports",
]


def _redacted(report: RunReport) -> RunReport:
    runs = [
        run.model_copy(update={"history": redact(run.history), "ledger": redact(run.ledger)})
        for run in report.runs
    ]
    target = report.target.model_copy(update={"base_url": redact_text(report.target.base_url)})
    return report.model_copy(update={"runs": runs, "target": target})


def update_latest(directory: Path) -> Path:
    """Point ``<parent>/latest`` at ``directory``; write ``latest.txt`` if links fail."""
    parent, link = directory.parent, directory.parent / "latest"
    tmp = parent / f".latest.{os.getpid()}"
    try:
        if link.exists() and not link.is_symlink():
            raise OSError(f"{link} exists and is not a symlink")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(directory.name, target_is_directory=True)
        os.replace(tmp, link)
        return link
    except OSError:
        tmp.unlink(missing_ok=True)
        text = parent / "latest.txt"
        text.write_text(directory.name + "\n", encoding="utf-8")
        return text


def write_reports(report: RunReport, directory: str | Path) -> dict[str, Path]:
    """Write report.json, junit.xml, report.html and history.jsonl into ``directory``
    (secrets redacted)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    clean = _redacted(report)
    paths = {
        "json": write_json(clean, directory / "report.json"),
        "junit": write_junit(clean, directory / "junit.xml"),
        "html": write_html(clean, directory / "report.html"),
        "jsonl": write_jsonl(clean, directory / "history.jsonl"),
    }
    paths["latest"] = update_latest(directory)
    return paths


def render_html(report_json_path: str | Path) -> Path:
    """Rebuild ``report.html`` next to a ``report.json`` (a directory is accepted too)."""
    path = Path(report_json_path)
    if path.is_dir():
        path = path / "report.json"
    return write_html(load_report(path), path.parent / "report.html")
