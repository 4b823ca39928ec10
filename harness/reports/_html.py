"""``report.html``: one page for people (and auditors) to read offline.

The first screen says whether the gate held, how much money moved, what failed in one
sentence each (each charge tied to the client step behind it) with the command that
reproduces it, and the coverage matrix: every threat, run or not, by its scenarios by the
invariants judged, each linked to its evidence further down. Each scenario run then has a sequence diagram (inline SVG), its faults,
its verdicts, its timeline, exchanges and ledger rows. CSS is inline; screenshots of runs
that did not pass are embedded as ``data:`` URIs, the others are linked from the report
directory and loaded lazily. Jinja2 autoescaping escapes every value; secrets are
redacted again here, whatever the drivers already did.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from harness._redact import redact
from harness.reports._model import RunReport, ScenarioRun
from harness.reports._sequence import CSS, PASSED_ROWS, svg
from harness.reports._story import coverage, finding, money, reproduce, threat_anchor
from harness.reports._story import verdict as gate_verdict
from harness.reports._template import TEMPLATE

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
_ENV = jinja2.Environment(autoescape=True)


def _words(counts: dict[str, Any]) -> str:
    """``{"double_charged_keys": 0, "charges": 1}`` as ``double charged keys 0, charges 1``."""
    return ", ".join(f"{str(k).replace('_', ' ')} {v}" for k, v in counts.items())


_ENV.filters["words"] = _words


def _held(valid: Any) -> str:
    """An invariant's verdict in words: ``held``, ``violated`` or ``unknown``."""
    if valid is True:
        return "held"
    return "violated" if valid is False else "unknown"


_ENV.filters["held"] = _held


def _utc(moment: datetime) -> str:
    """``2026-12-02 05:20:36 UTC``: to the second, for people (the exact instant stays in
    the ``datetime`` attribute and in report.json)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


_ENV.filters["utc"] = _utc


def _pretty(data: Any) -> str:
    return data if isinstance(data, str) else json.dumps(data, indent=2, default=str)


def _exchange_text(part: dict[str, Any], first_line: str) -> str:
    headers = part.get("headers") or {}
    lines = [first_line]
    if isinstance(headers, dict):
        lines += [f"{k}: {v}" for k, v in headers.items()]
    if part.get("body") not in (None, ""):
        lines += ["", _pretty(part["body"])]
    return "\n".join(lines)


def _screenshot(report_dir: Path, rel: str, embed: bool) -> dict[str, str]:
    """A screenshot of the report directory: embedded as a ``data:`` URI for a run that did
    not pass (the evidence travels with the page), else linked and loaded lazily, which
    keeps a passing report small."""
    view = {"path": rel, "src": "", "problem": ""}
    path = (report_dir / rel).resolve()
    if not path.is_relative_to(report_dir.resolve()):
        view["problem"] = "not shown: outside the report directory"
    elif path.suffix.lower() not in _MIME:
        view["problem"] = f"not shown: {path.suffix or 'no'} extension is not an image"
    elif not path.is_file():
        view["problem"] = "missing from the report directory"
    elif embed:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        view["src"] = f"data:{_MIME[path.suffix.lower()]};base64,{data}"
    else:
        view["src"] = path.relative_to(report_dir.resolve()).as_posix()
    return view


def _fault_view(value: dict[str, Any]) -> dict[str, Any]:
    """One row of a run's fault table, from a ``fault_report`` completion."""
    raw = value.get("hits")
    hits: list[Any] = raw if isinstance(raw, list) else []
    effects = [
        f"{h.get('method')} {h.get('path')}: {h.get('effect') or 'still acting'}"
        for h in hits
        if isinstance(h, dict)
    ]
    if value.get("fault") == "network":
        aim = f"{value.get('method')} {value.get('path')}"
        fired = int(value.get("fired") or 0)
        effects = [f"{value.get('action')} on {fired} request(s)"] if fired else []
        return {"kind": "network", "mode": value.get("action"), "aim": aim,
                "fired": int(value.get("fired") or 0), "effects": effects}  # fmt: skip
    return {"kind": "provider", "mode": value.get("mode"), "aim": value.get("endpoint"),
            "fired": int(value.get("fired") or 0), "effects": effects}  # fmt: skip


def _run_view(run: ScenarioRun, report_dir: Path, number: int) -> dict[str, Any]:
    ops = [redact(op) for op in run.history]
    # the sequence diagram's origin: the history's start when the report knows it, so an
    # operation reads the same number of ms in the timeline and in the drawing
    start = 0 if run.started_wall else min((op.get("time_ns", 0) for op in ops), default=0)
    timeline, exchanges, shots = [], [], list(run.screenshots)
    faults: list[dict[str, Any]] = []
    for op in ops:
        value = op.get("value") or {}
        if op.get("f") == "fault_report" and op.get("type") == "ok":
            faults.append(_fault_view(value))
        response = value.get("response") if isinstance(value.get("response"), dict) else None
        request = value.get("request") if isinstance(value.get("request"), dict) else None
        timeline.append(
            {
                "index": op.get("index"),
                "ms": f"{(op.get('time_ns', 0) - start) / 1e6:.1f}",
                "type": op.get("type"),
                "process": op.get("process"),
                "f": op.get("f"),
                "order": value.get("order_id", ""),
                "status": response.get("status", "") if response else "",
                "outcome": value.get("outcome", value.get("page_state", "")),
            }
        )
        if op.get("type") != "invoke" and (request or response):
            req = request or {}
            method, url = req.get("method", ""), req.get("url", value.get("url", ""))
            exchanges.append(
                {
                    "index": op.get("index"),
                    "method": method,
                    "url": url,
                    "status": response.get("status", "no response") if response else "no response",
                    "request": _exchange_text(req, f"{method} {url}"),
                    "response": _exchange_text(response, f"HTTP {response.get('status')}")
                    if response
                    else str(value.get("error") or "no response"),
                }
            )
        if isinstance(value.get("screenshot"), str) and value["screenshot"] not in shots:
            shots.append(value["screenshot"])
    embed = run.status in ("failed", "error")
    if not embed:  # a run that passed keeps its detail in report.json and history.jsonl
        timeline, exchanges = [], []
    return {
        "operations": len(ops),
        "run": run,
        "anchor": anchor(run, number),
        "number": number,
        "threat_anchor": threat_anchor(run.threat_id),
        "timeline": timeline,
        "faults": faults,
        "exchanges": exchanges,
        "screenshots": [_screenshot(report_dir, s, embed) for s in shots],
        # every text in it was escaped by _sequence
        "sequence": Markup(svg(run) if embed else svg(run, PASSED_ROWS)),
    }


def anchor(run: ScenarioRun, number: int) -> str:
    return f"run-{number}-" + re.sub(r"[^A-Za-z0-9_-]+", "-", run.case_name)


def _findings(report: RunReport) -> list[dict[str, Any]]:
    """The first run of each scenario that did not pass, in words, with its command."""
    seen: set[str] = set()
    found = []
    for number, run in enumerate(report.runs):
        if run.status in ("passed", "not_applicable") or run.scenario_id in seen:
            continue
        seen.add(run.scenario_id)
        found.append(
            {
                "run": run,
                "anchor": anchor(run, number),
                "sentence": finding(run),
                "command": reproduce(report, run),
                "money": money([run]).as_words(),
            }
        )
    return found


def to_html(report: RunReport, report_dir: Path) -> str:
    matrix = report.flaw_matrix
    rows: list[dict[str, Any]] = []
    summary = ""
    if matrix is not None:
        glyphs = {"caught": "✖", "unrelated": "○", "passed": "·", "error": "!", "n/a": "-"}
        for flaw in matrix.flaws:
            share = matrix.catch_rate(flaw)
            caught = matrix.caught_by(flaw)
            applicable = [s for s in matrix.scenarios if matrix.cell(flaw, s) != "n/a"]
            verdict = (
                f"{len(caught)} of {len(applicable)} ({share:.0%})" if share is not None else "n/a"
            )
            word = matrix.verdict(flaw)
            if word != "caught":
                verdict = f"{word.replace('_', ' ').upper()} ({verdict})"
            named = matrix.expected.get(flaw, {})
            rate = matrix.rates.get(flaw)
            rows.append(
                {
                    "flaw": flaw,
                    "guard": matrix.guards.get(flaw, ""),
                    "ok": matrix.flaw_caught(flaw),
                    "verdict": verdict,
                    "rate": "" if rate is None else f"{rate.caught}/{rate.runs} ({rate.rate:.0%})",
                    "rate_ok": matrix.rate_ok(flaw),
                    "cells": [
                        {
                            "scenario": s,
                            "value": (c := matrix.cell(flaw, s)),
                            "glyph": glyphs[c],
                            "named": ", ".join(named[s]) if s in named else "",
                        }
                        for s in matrix.scenarios
                    ],
                    "named": [{"scenario": s, "invariants": list(i)} for s, i in named.items()],
                    "evidence": matrix.evidence.get(flaw, []),
                }
            )
        caught_n = sum(1 for f in matrix.flaws if matrix.flaw_caught(f))
        base = "passed" if matrix.baseline_passed() else "FAILED"
        unrelated = [f for f in matrix.flaws if matrix.verdict(f) == "caught_unrelated"]
        summary = (
            f"baseline {base if matrix.baseline else 'not run'}; {caught_n} of "
            f"{len(matrix.flaws)} flaw(s) caught"
            + (f"; caught only by unrelated failures: {', '.join(unrelated)}" if unrelated else "")
            + "".join(
                f"; {f} caught in {r.caught}/{r.runs} repeats" for f, r in matrix.rates.items()
            )
        )
    redacted = report.model_copy(
        update={
            "target": report.target.model_copy(update={"base_url": redact(report.target.base_url)})
        }
    )
    anchors = {i: anchor(run, i) for i, run in enumerate(report.runs)}
    matrix_rows = coverage(report, anchors)
    return _ENV.from_string(TEMPLATE).render(
        r=redacted,
        s=report.summary(),
        verdict=gate_verdict(report),
        money=money(report.runs),
        findings=_findings(report),
        coverage=matrix_rows,
        not_run=[c.threat for c in matrix_rows if not c.run],
        matrix=matrix,
        matrix_rows=rows,
        seq_css=Markup(CSS),
        matrix_summary=summary,
        runs=[_run_view(run, report_dir, i) for i, run in enumerate(report.runs)],
    )


def write_html(report: RunReport, path: Path) -> Path:
    path.write_text(to_html(report, path.parent), encoding="utf-8")
    return path
