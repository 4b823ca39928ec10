"""``junit.xml``: one testcase per scenario and repeat, for CI dashboards.

``classname`` is the scenario group and ``name`` the scenario id (``id#repeat`` after the
first repeat). A failed scenario carries a ``<failure>`` whose message names the violated
invariants and whose text holds their evidence; ``not_applicable`` is ``<skipped>``,
``error`` is ``<error>``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.reports._model import CheckOutcome, FlawMatrix, RunReport, ScenarioRun


def _evidence(check: CheckOutcome) -> str:
    lines = [f"{check.name}: {check.message}", f"  counts: {json.dumps(check.counts)}"]
    if check.first is not None:
        lines.append(f"  first: {json.dumps(check.first, default=str)}")
    if check.worst is not None and check.worst != check.first:
        lines.append(f"  worst: {json.dumps(check.worst, default=str)}")
    return "\n".join(lines)


def _case(run: ScenarioRun) -> ET.Element:
    case = ET.Element(
        "testcase",
        classname=run.group,
        name=run.case_name,
        time=f"{run.duration_s:.3f}",
    )
    if run.status == "failed":
        violated = run.violated
        names = ", ".join(f"{c.name} ({c.severity})" for c in violated) or "scenario failed"
        kind = "MoneyInvariantViolated" if run.failure != "hygiene" else "HygieneInvariantViolated"
        failure = ET.SubElement(case, "failure", message=f"violated: {names}", type=kind)
        text = "\n".join(_evidence(c) for c in violated) or (run.reason or "")
        failure.text = f"threat {run.threat_id} ({run.threat_link})\n{text}"
    elif run.status == "passed" and run.hygiene:
        out = ET.SubElement(case, "system-out")
        out.text = f"hygiene findings, not gated: {', '.join(run.hygiene)}"
    elif run.status == "not_applicable":
        ET.SubElement(case, "skipped", message=f"not applicable: {run.reason or 'no reason given'}")
    elif run.status == "error":
        error = ET.SubElement(case, "error", message=run.reason or "error", type="ScenarioError")
        unknown = [c for c in run.checks if c.valid == "unknown"]
        error.text = "\n".join(_evidence(c) for c in unknown)
    return case


def _flaw_suite(matrix: FlawMatrix) -> ET.Element:
    """One testcase per seeded flaw: it passes when one of the invariants named for the flaw
    was violated in one of its named scenarios (and a racy flaw was caught often enough); it
    fails when the harness let the flaw through, or noticed it only through unrelated
    failures (``FlawCaughtUnrelated``: the failures are listed, but they do not count)."""
    missed = [f for f in matrix.flaws if not matrix.flaw_caught(f)]
    suite = ET.Element(
        "testsuite", name="nodouble flaws", tests=str(len(matrix.flaws)),
        failures=str(len(missed)), errors="0", skipped="0",
        time=f"{sum(v for k, v in matrix.wall_s.items() if k != 'baseline'):.3f}",
    )  # fmt: skip
    for flaw in matrix.flaws:
        case = ET.SubElement(
            suite, "testcase", classname="flaws", name=flaw,
            time=f"{matrix.wall_s.get(flaw, 0.0):.3f}",
        )  # fmt: skip
        caught = matrix.caught_by(flaw)
        rate = matrix.rates.get(flaw)
        rate_text = f"; caught in {rate.caught}/{rate.runs} repeats" if rate else ""
        verdict = matrix.verdict(flaw)
        named = _named(matrix, flaw)
        if verdict == "caught":
            out = ET.SubElement(case, "system-out")
            out.text = f"caught by {', '.join(caught)}{rate_text}; named: {named}"
            continue
        if verdict == "caught_too_rarely":
            failure = ET.SubElement(
                case, "failure", type="FlawCaughtUnreliably",
                message=f"caught too rarely{rate_text} (needed {matrix.required_rate:.0%})",
            )  # fmt: skip
        elif verdict == "caught_unrelated":
            failure = ET.SubElement(
                case, "failure", type="FlawCaughtUnrelated",
                message="only unrelated failures: no invariant named for this flaw was violated",
            )  # fmt: skip
        elif verdict == "not_run":
            failure = ET.SubElement(
                case, "failure", type="FlawNotRun",
                message="none of the scenarios named for this flaw ran",
            )  # fmt: skip
        else:
            failure = ET.SubElement(
                case, "failure", message="no scenario caught this flaw", type="FlawNotCaught"
            )
        lines = [f"guard removed: {matrix.guards.get(flaw, '?')}", f"named: {named}"]
        lines += [
            f"{e.scenario} ({e.cell}): {', '.join(e.violated) or e.message}"
            for e in matrix.evidence.get(flaw, [])
        ]
        failure.text = "\n".join(lines)
    return suite


def _named(matrix: FlawMatrix, flaw: str) -> str:
    """``scenario: invariant, invariant; ...`` as docs/flaws.md names them."""
    named = matrix.expected.get(flaw, {})
    return "; ".join(f"{s}: {', '.join(i)}" for s, i in named.items()) or "(none)"


def _unattributed(report: RunReport) -> ET.Element:
    """Charges no scenario run can own: a failure of the whole run, listed row by row."""
    case = ET.Element("testcase", classname="nodouble", name="every_charge_accounted_for")
    rows = report.unattributed
    failure = ET.SubElement(
        case, "failure", type="MoneyUnaccounted",
        message=f"{len(rows)} ledger row(s) written after every scenario ended, under no "
        "order the harness created",
    )  # fmt: skip
    failure.text = "\n".join(json.dumps(row, sort_keys=True, default=str) for row in rows)
    return case


def to_xml(report: RunReport) -> str:
    summary = report.summary()
    suites = ET.Element("testsuites", name="nodouble")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"nodouble {report.target.name}",
        tests=str(len(report.runs) + (1 if report.unattributed else 0)),
        failures=str(summary.failed + (1 if report.unattributed else 0)),
        errors=str(summary.error),
        skipped=str(summary.not_applicable),
        time=f"{sum(r.duration_s for r in report.runs):.3f}",
        timestamp=report.started.isoformat(),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("target", report.target.base_url),
        ("seed", "" if report.seed is None else str(report.seed)),
        ("tool_version", report.tool_version),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for run in report.runs:
        suite.append(_case(run))
    if report.unattributed:
        suite.append(_unattributed(report))
    if report.flaw_matrix is not None and report.flaw_matrix.baseline:
        # A matrix from `nodouble flaws` (it always has a baseline): one case per flaw.
        suites.append(_flaw_suite(report.flaw_matrix))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def write_junit(report: RunReport, path: Path) -> Path:
    path.write_text(to_xml(report), encoding="utf-8")
    return path
