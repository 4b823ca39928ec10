"""A scenario run as a sequence diagram: inline SVG, readable without JavaScript, printable.

Three lanes, time flowing down: the **customer** (the API clients and browser tabs of the
run), the **checkout**, the **provider**. Each request is an arrow from the customer to the
checkout when it was sent and an arrow back when its answer came; an answer that never
came (a timeout, a dropped connection) is a dashed red arrow ending in a cross. Faults the
nemesis armed and what they did sit on the provider lane (or between customer and checkout
for network faults), and every ledger row is a dot on the provider lane, at the moment the
provider wrote it. Charges of an order charged more than once are red, as is their label.

Events are drawn one row each in time order, with the milliseconds since the run started
in the left margin: rows keep labels readable where a proportional axis would pile a burst
of twenty requests onto one pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from harness.reports._model import ScenarioRun
from harness.reports._story import charges_by_order

LANES = {"customer": 130, "checkout": 350, "provider": 570}
ROW = 22
TOP = 46
WIDTH = 980
MAX_ROWS = 240
"""More events than this are summarised in one line, so a report stays small."""
PASSED_ROWS = 60
"""The cap for a run that passed: its whole history is in report.json and history.jsonl."""
QUIET = {"ledger_read", "error", "reconcile_wait"}
"""Harness bookkeeping, not part of the story."""


@dataclass(frozen=True)
class Event:
    at: float
    """Seconds since the run's history started."""
    kind: str
    """``send``, ``answer``, ``lost``, ``fault``, ``charge``, ``twice``, ``ledger``, ``note``."""
    label: str
    lane: str = "customer"


def _label(text: str, limit: int = 46) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _request_events(op: dict[str, Any], start_ns: int) -> Event | None:
    value = op.get("value") or {}
    at = (op.get("time_ns", 0) - start_ns) / 1e9
    who = str(op.get("process", ""))
    f = str(op.get("f", ""))
    key = f" key {value['key']}" if value.get("key") else ""
    if op.get("type") == "invoke":
        return Event(at, "send", _label(f"{who}: {f}{key}"))
    response = value.get("response") if isinstance(value.get("response"), dict) else None
    status = response.get("status") if response else None
    if op.get("type") == "info" and status is None:
        error = str(value.get("error") or "no answer")
        return Event(at, "lost", _label(f"{f}: {error}"))
    state = value.get("page_state") or value.get("outcome") or ""
    shown = f"HTTP {status}" if status is not None else str(op.get("type"))
    return Event(at, "answer", _label(f"{f}: {shown} {state}".strip()))


def _fault_events(op: dict[str, Any], start_ns: int, started_wall: float | None) -> list[Event]:
    value = op.get("value") or {}
    at = (op.get("time_ns", 0) - start_ns) / 1e9
    if op.get("f") != "fault_report":
        if op.get("type") == "invoke":
            return [Event(at, "fault", _label(f"nemesis: {op.get('f')}"), "checkout")]
        return []
    if op.get("type") == "invoke":
        return []
    if value.get("fault") == "network":
        fired = int(value.get("fired") or 0)
        text = f"network {value.get('action')}: fired on {fired} request(s)"
        return [Event(at, "fault", _label(text), "checkout")]
    events = []
    for hit in value.get("hits") or []:
        if not isinstance(hit, dict):
            continue
        when = hit.get("at")
        hit_at = when - started_wall if isinstance(when, int | float) and started_wall else at
        text = f"{value.get('mode')}: {hit.get('effect') or 'still acting'}"
        events.append(Event(hit_at, "fault", _label(text, 60), "provider"))
    if not events:
        events.append(Event(at, "fault", _label(f"{value.get('mode')}: never fired"), "provider"))
    return events


def events(run: ScenarioRun) -> list[Event]:
    ops = run.history
    # time_ns counts from the history's start, the moment started_wall names: keep that
    # origin so that ledger rows (wall clock) and operations share one axis
    start_ns = 0 if run.started_wall else min((op.get("time_ns", 0) for op in ops), default=0)
    found: list[Event] = []
    for op in ops:
        process = str(op.get("process", ""))
        if op.get("f") in QUIET or process == "harness":
            continue
        if process == "nemesis":
            found += _fault_events(op, start_ns, run.started_wall)
            continue
        event = _request_events(op, start_ns)
        if event is not None:
            found.append(event)
    twice = {id(r) for rows in charges_by_order(run).values() if len(rows) > 1 for r in rows}
    for row in run.ledger:
        created = row.get("created")
        if isinstance(created, int | float) and run.started_wall:
            at = created - run.started_wall
        else:
            at = found[-1].at if found else 0.0
        kind = (
            "twice" if id(row) in twice else ("charge" if row.get("kind") == "charge" else "ledger")
        )
        order = row.get("counted_as") or next(iter((row.get("metadata") or {}).values()), "")
        text = f"{row.get('kind')} {row.get('id')} {row.get('amount')} {order}"
        found.append(Event(at, kind, _label(text, 60), "provider"))
    return sorted(found, key=lambda e: e.at)


def _arrow(y: int, x1: int, x2: int, css: str, label: str, lost: bool = False) -> str:
    mid = (x1 + x2) // 2
    if lost:  # the line, then a cross where the answer should have arrived
        end = f'<path d="M{x2 - 5},{y - 5}l10,10m0,-10l-10,10" class="{css}"/>'
    else:
        tip = -7 if x2 > x1 else 7
        end = f'<path d="M{x2},{y}l{tip},-4v8z" class="h"/>'
    line = f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" class="{css}"/>'
    return f'{line}{end}<text x="{mid}" y="{y - 4}" class="m">{escape(label)}</text>'


def svg(run: ScenarioRun, max_rows: int = MAX_ROWS) -> str:
    """The diagram as an ``<svg>`` element (no script, no external reference), at most
    ``max_rows`` events drawn."""
    drawn = events(run)
    hidden = max(0, len(drawn) - max_rows)
    drawn = drawn[:max_rows]
    height = TOP + ROW * (len(drawn) + (2 if hidden else 1))
    name = escape(run.case_name, {'"': "&quot;"})
    out = [
        f'<svg class="seq" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="sequence of {name}">',
        "<style>text{font:11px ui-monospace,Menlo,Consolas,monospace;fill:#1d2433}"
        ".lane{stroke:#c5cbd4;stroke-dasharray:3 3}.send,.answer{stroke:#1d2433}"
        ".h{fill:#1d2433}.m{text-anchor:middle}.lost{stroke:#b3261e;stroke-dasharray:5 3}"
        ".fault{fill:#9a6700}.charge{fill:#0a7a3d}.twice{fill:#b3261e}.ledger{fill:#6b7280}"
        "text.bad{fill:#b3261e;font-weight:700}.answer{stroke-dasharray:2 2}</style>",
    ]
    for name, x in LANES.items():
        out.append(f'<text x="{x}" y="16" text-anchor="middle" font-weight="700">{name}</text>')
        out.append(f'<line x1="{x}" y1="24" x2="{x}" y2="{height - 6}" class="lane"/>')
    for row, event in enumerate(drawn):
        y = TOP + row * ROW
        out.append(f'<text x="4" y="{y + 4}">{event.at * 1000:.0f} ms</text>')
        customer, checkout, provider = LANES["customer"], LANES["checkout"], LANES["provider"]
        if event.kind == "send":
            out.append(_arrow(y, customer, checkout, "send", event.label))
        elif event.kind == "answer":
            out.append(_arrow(y, checkout, customer, "answer", event.label))
        elif event.kind == "lost":
            out.append(_arrow(y, checkout, customer, "lost", event.label, lost=True))
        elif event.kind == "fault":
            x = LANES.get(event.lane, checkout)
            out.append(f'<path d="M{x},{y - 7}l7,7l-7,7l-7,-7z" class="fault"/>')
            out.append(f'<text x="{x + 12}" y="{y + 4}">{escape(event.label)}</text>')
        else:
            css = event.kind
            bad = ' class="bad"' if css == "twice" else ""
            out.append(f'<circle cx="{provider}" cy="{y}" r="5" class="{css}"/>')
            out.append(f'<text x="{provider + 10}" y="{y + 4}"{bad}>{escape(event.label)}</text>')
    if hidden:
        y = TOP + len(drawn) * ROW
        out.append(
            f'<text x="4" y="{y + 4}">… {hidden} more event(s): report.json and history.jsonl have them all</text>'
        )
    out.append("</svg>")
    return "".join(out)
