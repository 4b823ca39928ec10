"""What a report says first: the verdict, the money, and one plain sentence per failure.

An auditor opening a report wants to know, before any table, whether the gate held, how
much money moved, and for each failing scenario what went wrong in words ("order ord_1
was charged twice: le_1 ... by the confirm with key k1 (op #6); ..."), with the command
that reproduces it, and which threats were tested and which were not (the coverage matrix).
This module turns a :class:`RunReport` into those sentences and rows; it reads only the
report, so a report rendered again later says the same.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from harness.reports._cause import causes, fault_hits, order_of
from harness.reports._model import RunReport, ScenarioRun


ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
"""Currencies whose smallest unit is the unit itself (Stripe's zero-decimal list)."""
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())


def amount_words(amount: int, currency: str) -> str:
    """``2500, "usd"`` as ``25.00 USD``; an amount under no currency stays in minor units."""
    if not currency:
        return f"{amount} (minor units, no currency)"
    places = 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2
    sign, whole = ("-" if amount < 0 else ""), abs(amount)
    shown = f"{whole // 10**places}.{whole % 10**places:0{places}d}" if places else str(whole)
    return f"{sign}{shown} {currency.upper()}"


@dataclass(frozen=True)
class Money:
    """What the provider's ledger shows for some scenario runs."""

    charges: int = 0
    charged: tuple[tuple[str, int], ...] = ()
    """Amount charged per currency (lower-case code, ``""`` when a row names none), in the
    smallest unit, sorted by currency: amounts in different currencies are never added."""
    refunds: int = 0
    double_charged: int = 0
    """Orders with more than one charge within one run."""

    def amount(self) -> str:
        """``50.00 USD``, ``25.00 USD + 300 JPY``, or ``0`` when nothing was charged."""
        return " + ".join(amount_words(n, c) for c, n in self.charged) or "0"

    def as_words(self) -> str:
        twice = (
            f", {self.double_charged} order(s) charged more than once"
            if self.double_charged
            else ""
        )
        total = f"{self.charges} charge(s) of {self.amount()} in total"
        return f"{total}, {self.refunds} refund(s){twice}"


def _amount(row: dict[str, Any]) -> int:
    amount = row.get("amount")
    return amount if isinstance(amount, int) and not isinstance(amount, bool) else 0


def charges_by_order(run: ScenarioRun) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in run.ledger:
        if row.get("kind") == "charge":
            found[order_of(row, run.business_keys)].append(row)
    return dict(found)


def money(runs: list[ScenarioRun]) -> Money:
    charges = refunds = twice = 0
    charged: Counter[str] = Counter()
    for run in runs:
        for row in run.ledger:
            if row.get("kind") == "charge":
                charges += 1
                charged[str(row.get("currency") or "").lower()] += _amount(row)
            elif row.get("kind") == "refund":
                refunds += 1
        per_order = Counter({k: len(v) for k, v in charges_by_order(run).items() if k})
        twice += sum(1 for n in per_order.values() if n > 1)
    return Money(charges, tuple(sorted(charged.items())), refunds, twice)


def clock(ts: Any) -> str:
    """``12:01:02.120`` (UTC) for a unix time, or ``?``."""
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return "?"
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S.%f")[:-3]


def _rows_words(run: ScenarioRun, rows: list[dict[str, Any]]) -> str:
    """``le_1 at 12:01:02.120 by the confirm with key k1 (op #6); ...``: charges and causes."""
    return "; ".join(
        f"{row.get('id')} at {clock(row.get('created'))} {why}"
        for row, why in zip(rows, causes(run, rows), strict=True)
    )


def _fired_faults(run: ScenarioRun) -> list[str]:
    found = [hit.effect for hit in fault_hits(run)]
    for op in run.history:
        value = op.get("value") or {}
        network = value.get("fault") == "network" and value.get("fired")
        if op.get("f") == "fault_report" and op.get("type") == "ok" and network:
            found.append(f"{value.get('action')} on {value.get('method')} {value.get('path')}")
    return found


NUMBER = {2: "twice", 3: "three times", 4: "four times"}


def finding(run: ScenarioRun) -> str:
    """One sentence, in plain words, of why ``run`` did not pass."""
    if run.status == "passed":
        return "passed"
    if run.status == "not_applicable":
        return f"not applicable: {run.reason}"
    doubles = {k: rows for k, rows in charges_by_order(run).items() if len(rows) > 1}
    if doubles:
        order, rows = next(iter(doubles.items()))
        times = NUMBER.get(len(rows), f"{len(rows)} times")
        who = f"order {order}" if order else "a payment under no order of the run"
        more = f" ({len(doubles) - 1} more order(s) too)" if len(doubles) > 1 else ""
        words = _rows_words(run, rows)
        return f"{who} was charged {times}: {words}{more}."
    faults = _fired_faults(run)
    after = f", after {faults[0]}" if faults else ""
    violated = [c for c in run.checks if c.valid is False]
    if violated:
        first = violated[0]
        message = first.message.rstrip(".") or "violated"
        charges = [r for r in run.ledger if r.get("kind") == "charge"]
        paid = ""
        if first.severity == "money" and charges:  # whose payment it was, in words
            shown = _rows_words(run, charges[:2])
            others = f" and {len(charges) - 2} more" if len(charges) > 2 else ""
            paid = f"; the charge: {shown}{others}"
        return f"{first.name} ({first.severity}): {message}{after}{paid}."
    return f"{run.status}: {run.reason or 'no reason recorded'}."


def reproduce(report: RunReport, run: ScenarioRun) -> str:
    """The command that runs this scenario again against the same target: as many times as
    this run did (a race may show in one repeat of twenty), under the same gate."""
    cmd = ["nodouble", "run"]
    if report.target.profile:
        cmd += ["--target", report.target.profile]
    if report.environment.extra.get("flaw"):
        cmd += ["--flaw", report.environment.extra["flaw"]]
    cmd += ["--scenario", run.scenario_id]
    times = sum(1 for r in report.runs if r.scenario_id == run.scenario_id)
    if times > 1:  # exactly that many, whatever the scenario's tags
        cmd += ["--repeat", str(times), "--race-repeat", "1"]
    if run.status == "failed" and run.failure == "hygiene":  # it failed only as gated
        cmd += ["--gate-hygiene"]
    if report.seed is not None:
        cmd += ["--seed", str(report.seed)]
    return shlex.join(cmd)


NO_CHROMIUM = "no Chromium"
"""How the reason of a browser scenario left out for want of Chromium begins."""


def left_out_in_ci(report: RunReport) -> list[ScenarioRun]:
    """Browser scenario runs left out for want of Chromium in a run made under ``CI=true``
    (``environment.extra["ci"]``): there they fail the gate, as a CI job that silently
    stopped testing the browser threats must not read as a pass."""
    if report.environment.extra.get("ci") != "true":
        return []
    return [
        r
        for r in report.runs
        if r.status == "not_applicable" and (r.reason or "").startswith(NO_CHROMIUM)
    ]


@dataclass(frozen=True)
class Verdict:
    held: bool
    headline: str
    detail: str


def verdict(report: RunReport) -> Verdict:
    """The gate, as the run's exit code judged it, in words."""
    runs = report.runs
    money_bad = [r for r in runs if r.status == "failed" and r.failure == "money"]
    hygiene_bad = [r for r in runs if r.status == "failed" and r.failure != "money"]
    errors = [r for r in runs if r.status == "error"]
    applicable = [r for r in runs if r.status != "not_applicable"]
    parts = []
    if money_bad:
        parts.append(f"{len(money_bad)} money failure(s)")
    if errors:
        parts.append(f"{len(errors)} scenario run(s) could not be judged")
    if hygiene_bad:
        parts.append(f"{len(hygiene_bad)} gated hygiene failure(s)")
    if report.unattributed:
        parts.append(f"{len(report.unattributed)} charge(s) no scenario owns")
    if not applicable:
        parts.append("no scenario applied to this target")
    if left_out := left_out_in_ci(report):
        parts.append(f"{len(left_out)} browser scenario run(s) left out under CI: no Chromium")
    held = not parts
    ran = {r.scenario_id for r in applicable}
    untested = [t.id for t in report.threats if not ran & set(t.scenarios)]
    gap = f"; {len(untested)} of {len(report.threats)} threat(s) not run" if untested else ""
    if held:
        # A pass speaks only for what ran: with threats left out, the headline says so.
        scope = f" in the {len(report.threats) - len(untested)} threat(s) tested" if untested else ""
        return Verdict(
            True,
            f"PASSED: no money lost or at risk{scope}",
            f"{len(applicable)} scenario run(s) judged, each with evidence{gap}",
        )
    headline = "FAILED: money lost or at risk" if money_bad else "FAILED"
    return Verdict(False, headline, "; ".join(parts) + gap)


@dataclass(frozen=True)
class Judged:
    """One invariant of one scenario's worst run: its verdict and where its evidence is."""

    name: str
    valid: str
    """``true``, ``false`` or ``unknown``."""
    anchor: str


@dataclass(frozen=True)
class Covered:
    """One scenario of a threat: its worst result in this run (``not run``: none)."""

    scenario: str
    status: str
    anchor: str
    """Of its worst run; ``""`` when it did not run."""
    invariants: list[Judged]


@dataclass(frozen=True)
class Coverage:
    threat: str
    text: str
    """The threat's text as the report embeds it (``""``: not known to this report)."""
    anchor: str
    """``threat-<id>``: the row of the matrix, what every link to the threat points at."""
    scenarios: list[Covered]

    @property
    def run(self) -> bool:
        return any(c.status not in ("not run", "not_applicable") for c in self.scenarios)


RANK = {"not run": -2, "not_applicable": -1, "passed": 0, "error": 2, "failed": 3}


def threat_anchor(threat: str) -> str:
    return "threat-" + re.sub(r"[^A-Za-z0-9_-]+", "-", threat)


def check_anchor(number: int, invariant: str) -> str:
    """The verdict row of ``invariant`` in run ``number`` (short: a report links hundreds)."""
    return f"v{number}-{invariant}"


def coverage(report: RunReport, anchors: dict[int, str]) -> list[Coverage]:
    """Every threat (the report's list, then any other a run names) by its scenarios (run
    or not) by the invariants judged, each pointing at its evidence in the page."""
    worst: dict[str, tuple[ScenarioRun, int]] = {}
    for index, run in enumerate(report.runs):
        seen = worst.get(run.scenario_id)
        if seen is None or RANK[run.status] > RANK[seen[0].status]:
            worst[run.scenario_id] = (run, index)
    threats = {t.id: (t.text, list(t.scenarios)) for t in report.threats}
    for run in report.runs:
        text, scenarios = threats.setdefault(run.threat_id, ("", []))
        if run.scenario_id not in scenarios:
            scenarios.append(run.scenario_id)
    found = []
    for threat, (text, scenarios) in threats.items():
        cells = []
        for sid in scenarios:
            if sid not in worst:
                cells.append(Covered(sid, "not run", "", []))
                continue
            run, index = worst[sid]
            judged = [
                Judged(c.name, str(c.valid).lower(), check_anchor(index, c.name))
                for c in run.checks
            ]
            cells.append(Covered(sid, run.status, anchors[index], judged))
        found.append(Coverage(threat, text, threat_anchor(threat), cells))
    return found
