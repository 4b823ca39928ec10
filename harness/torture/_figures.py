"""The torture report: figures and verdicts per section, written as JSON, Markdown, HTML, JUnit.

A section result holds counts (``figures``), the expectations it checked (each held or not,
with the evidence when not) and a verdict: ``held`` (every expectation held), ``broken`` (one
did not) or ``unknown`` (the section itself crashed: never counted as held).
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.table import Table

Verdict = Literal["held", "broken", "unknown", "not applicable"]
Figure = int | float


@dataclass
class Expectation:
    name: str
    held: bool
    evidence: str = ""


@dataclass
class SectionResult:
    """One section on one database."""

    section: str
    database: str
    title: str = ""
    figures: dict[str, Figure] = field(default_factory=dict)
    expectations: list[Expectation] = field(default_factory=list)
    error: str | None = None
    duration_s: float = 0.0
    applicable: bool = True

    def figure(self, name: str, value: Figure) -> Figure:
        self.figures[name] = value
        return value

    def add(self, name: str, delta: Figure = 1) -> None:
        self.figures[name] = self.figures.get(name, 0) + delta

    def expect(self, name: str, held: bool, evidence: object = "") -> bool:
        """Record one expectation; ``evidence`` (first failing example) is kept when broken."""
        self.expectations.append(Expectation(name, bool(held), "" if held else str(evidence)))
        return bool(held)

    @property
    def verdict(self) -> Verdict:
        if not self.applicable:
            return "not applicable"
        if self.error is not None:
            return "unknown"
        if not self.expectations:
            return "unknown"  # a section that checked nothing proves nothing
        return "held" if all(e.held for e in self.expectations) else "broken"

    @property
    def failures(self) -> list[Expectation]:
        return [e for e in self.expectations if not e.held]


@dataclass
class TortureReport:
    command: str
    scale: str
    started_at: str = field(
        default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    )
    environment: dict[str, str] = field(default_factory=dict)
    results: list[SectionResult] = field(default_factory=list)

    @property
    def held(self) -> bool:
        ran = [r for r in self.results if r.applicable]
        return bool(ran) and all(r.verdict == "held" for r in ran)

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "scale": self.scale,
            "started_at": self.started_at,
            "environment": self.environment,
            "held": self.held,
            "sections": [{**asdict(r), "verdict": r.verdict} for r in self.results],
        }


def _figures_text(figures: dict[str, Figure]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in figures.items())


def _fmt(value: Figure) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def rich_table(report: TortureReport) -> Table:
    table = Table(title=f"nodouble torture ({report.scale})", show_lines=True)
    table.add_column("section")
    table.add_column("database")
    table.add_column("figures")
    table.add_column("verdict")
    table.add_column("seconds", justify="right")
    colour = {"held": "green", "broken": "red", "unknown": "yellow", "not applicable": "dim"}
    for r in report.results:
        verdict = f"[{colour[r.verdict]}]{r.verdict}[/]"
        detail = _figures_text(r.figures)
        for failure in r.failures[:3]:
            detail += f"\n[red]✗ {failure.name}: {html.escape(failure.evidence)[:300]}[/]"
        if r.error:
            detail += f"\n[yellow]{r.error[:300]}[/]"
        table.add_row(r.section, r.database, detail, verdict, f"{r.duration_s:.1f}")
    return table


def print_table(report: TortureReport, console: Console | None = None) -> None:
    (console or Console()).print(rich_table(report))


def markdown(report: TortureReport) -> str:
    lines = [
        "# nodouble torture report",
        "",
        f"- command: `{report.command}`",
        f"- scale: {report.scale}",
        f"- started: {report.started_at}",
        f"- verdict: **{'held' if report.held else 'BROKEN'}**",
        "",
        "| section | database | verdict | figures | seconds |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in report.results:
        lines.append(
            f"| {r.section} | {r.database} | {r.verdict} | {_figures_text(r.figures)} "
            f"| {r.duration_s:.1f} |"
        )
    broken = [r for r in report.results if r.verdict in ("broken", "unknown")]
    if broken:
        lines += ["", "## Evidence", ""]
        for r in broken:
            for failure in r.failures:
                lines.append(f"- {r.section}/{r.database}: {failure.name}: {failure.evidence}")
            if r.error:
                lines.append(f"- {r.section}/{r.database}: section crashed: {r.error}")
    lines += ["", "## Environment", ""]
    lines += [f"- {k}: {v}" for k, v in report.environment.items()]
    return "\n".join(lines) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.4rem .6rem;vertical-align:top}
.held{color:#16794c;font-weight:bold}.broken{color:#b00020;font-weight:bold}
.unknown{color:#a86b00;font-weight:bold}.na{color:#888}code{background:#f4f4f4}"""


def html_page(report: TortureReport) -> str:
    rows = []
    for r in report.results:
        css = {"held": "held", "broken": "broken", "unknown": "unknown"}.get(r.verdict, "na")
        figures = "<br>".join(
            f"{html.escape(k)}: <b>{html.escape(_fmt(v))}</b>" for k, v in r.figures.items()
        )
        evidence = "".join(
            f"<li>{html.escape(f.name)}: {html.escape(f.evidence)}</li>" for f in r.failures
        )
        if r.error:
            evidence += f"<li>section crashed: {html.escape(r.error)}</li>"
        rows.append(
            f"<tr><td>{html.escape(r.section)}</td><td>{html.escape(r.database)}</td>"
            f"<td class={css}>{html.escape(r.verdict)}</td><td>{figures}</td>"
            f"<td><ul>{evidence}</ul></td><td>{r.duration_s:.1f}</td></tr>"
        )
    env = "".join(
        f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in report.environment.items()
    )
    verdict = "held" if report.held else "broken"
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>nodouble torture</title>"
        f"<style>{_CSS}</style></head><body><h1>nodouble torture</h1>"
        f"<p>Command: <code>{html.escape(report.command)}</code><br>Scale: "
        f"{html.escape(report.scale)}<br>Started: {html.escape(report.started_at)}<br>"
        f"Verdict: <span class={verdict}>{verdict}</span></p>"
        "<table><tr><th>section</th><th>database</th><th>verdict</th><th>figures</th>"
        f"<th>evidence</th><th>seconds</th></tr>{''.join(rows)}</table>"
        f"<h2>Environment</h2><ul>{env}</ul></body></html>\n"
    )


def junit_xml(report: TortureReport) -> str:
    suite = ET.Element(
        "testsuite",
        name="nodouble-torture",
        tests=str(len(report.results)),
        failures=str(sum(r.verdict == "broken" for r in report.results)),
        errors=str(sum(r.verdict == "unknown" for r in report.results)),
        skipped=str(sum(not r.applicable for r in report.results)),
        time=f"{sum(r.duration_s for r in report.results):.3f}",
    )
    for r in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"torture.{r.database}",
            name=r.section,
            time=f"{r.duration_s:.3f}",
        )
        ET.SubElement(case, "system-out").text = _figures_text(r.figures)
        if not r.applicable:
            ET.SubElement(case, "skipped", message="not applicable to this database")
        elif r.error is not None:
            ET.SubElement(case, "error", message=r.error[:500]).text = r.error
        elif r.verdict != "held":
            text = "\n".join(f"{f.name}: {f.evidence}" for f in r.failures)
            ET.SubElement(
                case, "failure", message=r.failures[0].name if r.failures else ""
            ).text = text
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


def write(report: TortureReport, directory: Path) -> Path:
    """Write the four files into ``directory`` (created); return it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "torture.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    (directory / "torture.md").write_text(markdown(report))
    (directory / "torture.html").write_text(html_page(report))
    (directory / "junit.xml").write_text(junit_xml(report))
    return directory


def counts_line(results: Iterable[SectionResult]) -> str:
    verdicts = [r.verdict for r in results]
    return ", ".join(f"{v}: {verdicts.count(v)}" for v in sorted(set(verdicts)))
