"""``nodouble diff OLD NEW``: what changed between two runs, and whether it is a regression.

Runs are compared per scenario id. A scenario's *outcome* in one run folds its repeats:
the worst status any repeat had (a money failure, then a hygiene failure, then an error,
then passed, then not applicable), and the money the provider moved for it: charges,
the amount charged, refunds, and orders charged more than once.

A **regression** is what a CI gate must stop on: a scenario that passed (or was not
applicable) and now fails or cannot be judged; a hygiene failure that became a money
failure; a scenario that ran and is now not applicable (coverage lost: the threat it
proved is no longer tested, and a failure that turns into "not applicable" must not read as
a fix); a new scenario that fails on money; more orders charged twice; or more ledger
rows that no scenario could own. A scenario that went the other way is an improvement,
except that a scenario that now runs again is only a change (it was not broken, untested).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.reports._json import ReportError, load_report
from harness.reports._model import RunReport, ScenarioRun
from harness.reports._story import Money, money

Outcome = Literal["money", "hygiene", "error", "passed", "not_applicable"]
RANK: dict[Outcome, int] = {"not_applicable": 0, "passed": 1, "error": 2, "hygiene": 3, "money": 4}
"""Worse outcomes rank higher; an ``error`` is worse than a pass because it proves nothing."""


def outcome_of(run: ScenarioRun) -> Outcome:
    if run.status == "failed":
        return "money" if run.failure == "money" else "hygiene"
    return run.status


@dataclass(frozen=True)
class ScenarioOutcome:
    scenario_id: str
    outcome: Outcome
    runs: int
    money: Money
    reason: str | None = None
    """The reason of the worst run, when it did not pass."""


def summarise(report: RunReport) -> dict[str, ScenarioOutcome]:
    by_id: dict[str, list[ScenarioRun]] = {}
    for run in report.runs:
        by_id.setdefault(run.scenario_id, []).append(run)
    result = {}
    for sid, runs in by_id.items():
        worst = max(runs, key=lambda r: RANK[outcome_of(r)])
        outcome = outcome_of(worst)
        reason = worst.reason if outcome != "passed" else None
        result[sid] = ScenarioOutcome(sid, outcome, len(runs), money(runs), reason)
    return result


ChangeKind = Literal[
    "regression", "improvement", "changed", "coverage_lost", "new", "removed", "money"
]


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    scenario_id: str
    old: Outcome | None
    new: Outcome | None
    detail: str
    regression: bool


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)
    old_unowned: int = 0
    new_unowned: int = 0
    unchanged: int = 0

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regression]

    def to_json(self) -> dict[str, Any]:
        return {
            "regression": self.regressed,
            "unowned": {"old": self.old_unowned, "new": self.new_unowned},
            "unchanged": self.unchanged,
            "changes": [
                {
                    "kind": c.kind,
                    "scenario_id": c.scenario_id,
                    "old": c.old,
                    "new": c.new,
                    "detail": c.detail,
                    "regression": c.regression,
                }
                for c in self.changes
            ],
        }

    @property
    def regressed(self) -> bool:
        return bool(self.regressions) or self.new_unowned > self.old_unowned


def _status_change(sid: str, old: ScenarioOutcome, new: ScenarioOutcome) -> Change | None:
    if old.outcome == new.outcome:
        return None
    worse = RANK[new.outcome] > RANK[old.outcome]
    if new.outcome == "not_applicable":  # it ran, and proves nothing now: a regression
        why = f": {new.reason}" if new.reason else ""
        detail = f"no longer runs (not applicable{why}); was {old.outcome}: coverage lost"
        return Change("coverage_lost", sid, old.outcome, new.outcome, detail, regression=True)
    if old.outcome == "not_applicable" and new.outcome == "passed":  # coverage gained
        return Change("changed", sid, old.outcome, new.outcome, "now runs", regression=False)
    kind: ChangeKind = "regression" if worse else "improvement"
    detail = (new.reason or "") if worse else f"was: {old.reason or old.outcome}"
    return Change(kind, sid, old.outcome, new.outcome, detail, regression=worse)


def _money_change(sid: str, old: ScenarioOutcome, new: ScenarioOutcome) -> Change | None:
    a, b = old.money, new.money
    if (a.charges, a.charged, a.refunds, a.double_charged) == (
        b.charges,
        b.charged,
        b.refunds,
        b.double_charged,
    ):
        return None
    # different numbers of repeats move the sums; only more orders charged twice is alarming
    more_twice = b.double_charged > a.double_charged and old.runs == new.runs
    detail = f"{a.as_words()} -> {b.as_words()}"
    if old.runs != new.runs:
        detail += f" ({old.runs} run(s) -> {new.runs})"
    return Change("money", sid, old.outcome, new.outcome, detail, regression=more_twice)


def diff(old: RunReport, new: RunReport) -> Diff:
    before, after = summarise(old), summarise(new)
    result = Diff(old_unowned=len(old.unattributed), new_unowned=len(new.unattributed))
    for sid in sorted(before.keys() | after.keys()):
        a, b = before.get(sid), after.get(sid)
        if a is None and b is not None:
            bad = b.outcome in ("money", "error")
            why = f": {b.reason}" if b.reason else ""
            result.changes.append(Change("new", sid, None, b.outcome, f"{b.outcome}{why}", bad))
        elif b is None and a is not None:
            gone = Change("removed", sid, a.outcome, None, "not in the new run", False)
            result.changes.append(gone)
        elif a is not None and b is not None:
            found = [c for c in (_status_change(sid, a, b), _money_change(sid, a, b)) if c]
            result.changes.extend(found)
            if not found:
                result.unchanged += 1
    return result


def load(path: str | Path) -> RunReport:
    """A report from a run directory (``reports/latest`` too) or a ``report.json`` path."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    if not path.exists():
        raise ReportError(f"{path}: no such report (give a run directory or a report.json)")
    return load_report(path)


def render(result: Diff) -> list[str]:
    """Plain lines, one per change, unwrapped: for a terminal or a CI log."""
    lines = []
    for change in result.changes:
        mark = "REGRESSION" if change.regression else change.kind
        arrow = f"{change.old or '-'} -> {change.new or '-'}"
        lines.append(f"{mark:<11} {change.scenario_id}: {arrow}; {change.detail}".rstrip("; "))
    if result.new_unowned != result.old_unowned:
        mark = "REGRESSION" if result.new_unowned > result.old_unowned else "improvement"
        lines.append(
            f"{mark:<11} unowned ledger rows: {result.old_unowned} -> {result.new_unowned}"
        )
    verdict = "regressed" if result.regressed else "no regression"
    lines.append(
        f"{verdict}: {len({c.scenario_id for c in result.regressions})} scenario(s) regressed, "
        f"{len(result.changes)} change(s), "
        f"{result.unchanged} scenario(s) unchanged"
    )
    return lines
