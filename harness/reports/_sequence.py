"""A scenario run as a sequence diagram: inline SVG, readable without JavaScript, printable.

Three lanes, time flowing down: the **customer** (the API clients and browser tabs of the
run), the **checkout**, the **provider**. Each request is an arrow from the customer to the
checkout when it was sent and an arrow back when its answer came; an answer that never
came (a timeout, a dropped connection) is a dashed red arrow ending in a cross. What the
provider saw is an arrow from the checkout to the provider: a call a provider fault fired
on, and every ledger row, a dot at the moment the provider wrote it, labelled with the
client step behind it (:mod:`harness.reports._cause`). Charges of an order charged more than
once are red, as is their label. A fault *armed* is a hollow diamond, a fault that *fired*
a filled one, and a fault that was armed and never fired a red dashed diamond that says so.

Events are drawn one row each in time order, with the milliseconds since the run started
in the left margin: rows keep labels readable where a proportional axis would pile a burst
of twenty requests onto one pixel. Past the cap, ordinary rows are left out first: a row
that matters (a double charge, a fault that fired or never fired, an answer that never
came, or an operation or ledger row a violated invariant names as evidence: the lost
payment, the lie) is always drawn, and the last line says how many rows were left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from harness.reports._cause import explain
from harness.reports._model import ScenarioRun
from harness.reports._story import charges_by_order

LANES = {"customer": 130, "checkout": 350, "provider": 570}
CSS = "".join(
    f"svg.seq {rule}"
    for rule in (
        "text{font:11px ui-monospace,Menlo,Consolas,monospace;fill:#1d2433}",
        ".lane{stroke:#c5cbd4;stroke-dasharray:3 3}",
        ".send,svg.seq .answer{stroke:#1d2433}",
        ".answer{stroke-dasharray:2 2}",
        ".h{fill:#1d2433}",
        ".m{text-anchor:middle}",
        ".lost{stroke:#b3261e;stroke-dasharray:5 3}",
        ".fault{fill:#9a6700}",
        ".armed{fill:#fff;stroke:#9a6700;stroke-width:1.5}",
        ".unfired{fill:#fff;stroke:#b3261e;stroke-width:2;stroke-dasharray:3 2}",
        ".call{stroke:#6b7280}",
        ".charge{fill:#0a7a3d}",
        ".twice{fill:#b3261e}",
        ".ledger{fill:#6b7280}",
        "text.bad{fill:#b3261e;font-weight:700}",
    )
)
"""The diagrams' style, once in the page rather than in each of its (many) drawings."""
ROW = 22
TOP = 46
WIDTH = 980
MAX_ROWS = 240
"""More events than this: ordinary ones are left out (and counted), so a report stays small."""
PASSED_ROWS = 60
"""The cap for a run that passed: its whole history is in report.json and history.jsonl."""
QUIET = {"ledger_read", "error", "reconcile_wait"}
"""Harness bookkeeping, not part of the story."""


@dataclass(frozen=True)
class Event:
    at: float
    """Seconds since the run's history started."""
    kind: str
    """``send``, ``answer``, ``lost``, ``armed``, ``fault``, ``unfired``, ``call``,
    ``charge``, ``twice``, ``ledger``."""
    label: str
    lane: str = "customer"
    """Where a fault is drawn; for a ``call``: the call (method and path)."""
    ref: str = ""
    """``op:<index>`` or ``row:<ledger id>``: what a violation's evidence may name."""
    matters: bool = False
    """Never left out (see the module docstring)."""


def _label(text: str, limit: int = 46) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _request_events(op: dict[str, Any], start_ns: int) -> Event | None:
    value = op.get("value") or {}
    at = (op.get("time_ns", 0) - start_ns) / 1e9
    who = str(op.get("process", ""))
    f = str(op.get("f", ""))
    key = f" key {value['key']}" if value.get("key") else ""
    ref = f"op:{op.get('index')}"
    if op.get("type") == "invoke":
        return Event(at, "send", _label(f"#{op.get('index')} {who}: {f}{key}"), ref=ref)
    response = value.get("response") if isinstance(value.get("response"), dict) else None
    status = response.get("status") if response else None
    if op.get("type") == "info" and status is None:
        error = str(value.get("error") or "no answer")
        return Event(at, "lost", _label(f"{f}: {error}"), ref=ref, matters=True)
    state = value.get("page_state") or value.get("outcome") or ""
    shown = f"HTTP {status}" if status is not None else str(op.get("type"))
    return Event(at, "answer", _label(f"{f}: {shown} {state}".strip()), ref=ref)


def _fault_events(op: dict[str, Any], start_ns: int, started_wall: float | None) -> list[Event]:
    value = op.get("value") or {}
    at = (op.get("time_ns", 0) - start_ns) / 1e9
    if op.get("f") != "fault_report":
        if op.get("type") != "invoke" or op.get("f") in ("stop_fault", "webhook_wait"):
            return []
        if op.get("f") == "start_fault" and value.get("fault") == "proxy":  # armed, between
            aim = f"{value.get('action')} on {value.get('method')} {value.get('path')}"
            return [Event(at, "armed", _label(f"armed network {aim}"), "checkout")]
        if op.get("f") in ("start_fault", "webhook_listen"):  # armed: it acts later, or never
            text = f"armed {value.get('mode')} on {value.get('endpoint')}"
            if op.get("f") == "webhook_listen":
                text = "armed a webhook listener"
            return [Event(at, "armed", _label(text), "provider")]
        lane = "checkout" if value.get("fault") == "process" else "provider"
        return [Event(at, "fault", _label(f"nemesis: {op.get('f')}"), lane, matters=True)]
    if op.get("type") == "invoke":
        return []
    if value.get("fault") == "network":
        fired = int(value.get("fired") or 0)
        action = f"network {value.get('action')} on {value.get('method')} {value.get('path')}"
        if not fired:
            return [
                Event(at, "unfired", _label(f"NEVER FIRED: {action}", 60), "checkout", "", True)
            ]
        text = f"{action}: fired on {fired} request(s)"
        return [Event(at, "fault", _label(text, 60), "checkout", matters=True)]
    events = []
    for hit in value.get("hits") or []:
        if not isinstance(hit, dict):
            continue
        when = hit.get("at")
        hit_at = when - started_wall if isinstance(when, int | float) and started_wall else at
        text = f"{value.get('mode')}: {hit.get('effect') or 'still acting'}"
        call = f"{hit.get('method')} {hit.get('path')}"
        events.append(Event(hit_at, "call", _label(text, 60), call, matters=True))
    if not events:
        optional = " (optional)" if value.get("optional") else ""
        text = f"NEVER FIRED: {value.get('mode')} on {value.get('endpoint')}{optional}"
        events.append(Event(at, "unfired", _label(text, 60), "provider", matters=True))
    return events


def _evidence(run: ScenarioRun) -> set[str]:
    """``op:`` and ``row:`` refs the violated invariants' first and worst examples name."""
    refs: set[str] = set()

    def walk(item: Any, name: str = "") -> None:
        if isinstance(item, dict):
            for key, inner in item.items():
                walk(inner, str(key))
        elif isinstance(item, list):
            for inner in item:
                walk(inner, name)
        elif isinstance(item, int) and (name in ("op", "invoke") or name.endswith("ops")):
            refs.add(f"op:{item}")
        elif isinstance(item, str) and name in ("charges", "refunds", "charge", "row", "id"):
            refs.add(f"row:{item}")

    for check in run.violated:
        walk([check.first, check.worst])
    return refs


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
    for row, (step, _) in zip(run.ledger, explain(run, run.ledger), strict=True):
        created = row.get("created")
        if isinstance(created, int | float) and run.started_wall:
            at = created - run.started_wall
        else:
            at = found[-1].at if found else 0.0
        kind = (
            "twice" if id(row) in twice else ("charge" if row.get("kind") == "charge" else "ledger")
        )
        order = row.get("counted_as") or next(iter((row.get("metadata") or {}).values()), "")
        by = (
            f" ← op #{step}"
            if step is not None
            else (" ← ?" if row.get("kind") == "charge" else "")
        )
        text = f"{row.get('kind')} {row.get('id')} {row.get('amount')} {order}"
        found.append(
            Event(
                at, kind, _label(text, 52) + by, "provider", f"row:{row.get('id')}", kind == "twice"
            )
        )
    evidence = _evidence(run)
    found = [_mark(e) if e.ref in evidence else e for e in found]
    return sorted(found, key=lambda e: e.at)


def _mark(event: Event) -> Event:
    return Event(event.at, event.kind, event.label, event.lane, event.ref, True)


def keep(drawn: list[Event], cap: int) -> tuple[list[Event], int]:
    """At most ``cap`` events, leaving out ordinary ones first (the latest first); an event
    that matters is always kept, even past the cap. Returns the events and how many were left
    out."""
    if len(drawn) <= cap:
        return drawn, 0
    room = max(0, cap - sum(1 for e in drawn if e.matters))
    ordinary = [id(e) for e in drawn if not e.matters][:room]
    kept = [e for e in drawn if e.matters or id(e) in set(ordinary)]
    return kept, len(drawn) - len(kept)


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
    """The diagram as an ``<svg>`` element (no script, no external reference): at most
    ``max_rows`` events drawn, or more when more than that matter (:func:`keep`)."""
    drawn, hidden = keep(events(run), max_rows)
    height = TOP + ROW * (len(drawn) + (2 if hidden else 1))
    name = escape(run.case_name, {'"': "&quot;"})
    out = [
        f'<svg class="seq" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="sequence of {name}">',
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
        elif event.kind in ("fault", "armed", "unfired"):
            x = LANES.get(event.lane, checkout)
            bad = ' class="bad"' if event.kind == "unfired" else ""
            out.append(f'<path d="M{x},{y - 7}l7,7l-7,7l-7,-7z" class="{event.kind}"/>')
            out.append(f'<text x="{x + 12}" y="{y + 4}"{bad}>{escape(event.label)}</text>')
        elif event.kind == "call":  # a provider call a fault fired on
            out.append(_arrow(y, checkout, provider, "call", _label(event.lane, 30)))
            out.append(f'<path d="M{provider},{y - 7}l7,7l-7,7l-7,-7z" class="fault"/>')
            out.append(f'<text x="{provider + 12}" y="{y + 4}">{escape(event.label)}</text>')
        else:  # a ledger row: what the provider wrote, after a call from the checkout
            css = event.kind
            bad = ' class="bad"' if css == "twice" else ""
            out.append(f'<line x1="{checkout}" y1="{y}" x2="{provider}" y2="{y}" class="call"/>')
            out.append(f'<circle cx="{provider}" cy="{y}" r="5" class="{css}"/>')
            out.append(f'<text x="{provider + 10}" y="{y + 4}"{bad}>{escape(event.label)}</text>')
    if hidden:
        y = TOP + len(drawn) * ROW
        out.append(
            f'<text x="4" y="{y + 4}">… {hidden} ordinary event(s) left out (every row that '
            "matters is drawn): report.json and history.jsonl have them all</text>"
        )
    out.append("</svg>")
    return "".join(out)
