"""``history.jsonl``: a run's histories and ledger rows as JSON Lines (schema in docs/reports.md).

One JSON object per line, so that ``jq``, ``grep`` or a log pipeline can follow a run
without loading the whole ``report.json``. Every line says what it is in ``record``:

- ``op``: one operation of a scenario run's history (``Op.to_json()`` fields);
- ``ledger``: one ledger row the run owns;
- ``unowned``: one ledger row no scenario run could own.

``op`` and ``ledger`` lines carry ``run`` (the position of the scenario run in the report),
``scenario_id`` and ``repeat``. Lines keep the report's order: runs in order, each run's
operations, then its ledger rows; the unowned rows come last.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.reports._model import RunReport


def records(report: RunReport) -> Iterator[dict[str, Any]]:
    for position, run in enumerate(report.runs):
        where = {"run": position, "scenario_id": run.scenario_id, "repeat": run.repeat}
        for op in run.history:
            yield {"record": "op", **where, **op}
        for row in run.ledger:
            yield {"record": "ledger", **where, **row}
    for row in report.unattributed:
        yield {"record": "unowned", **row}


def write_jsonl(report: RunReport, path: Path) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for record in records(report):
            out.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
    tmp.replace(path)  # never a half-written file under the real name
    return path
