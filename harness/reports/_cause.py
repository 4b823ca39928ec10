"""Which client step caused each charge: a ledger row tied to an operation of the history.

A finding that says "order ord_1 was charged twice: le_1 and le_2" tells an auditor *that*
money moved twice; what they want next is *who asked for it*. This module answers from
what the report holds, and nothing else:

- the client steps: every operation of a customer (an API client, a browser tab) with
  its invocation and completion times, its order (``order_id``) and key (``key``);
- the ledger row: when the provider wrote it (``created``, on the clock of
  ``started_wall``), its order (``counted_as`` or its metadata) and its provider key;
- the provider faults' hits: the request each one fired on (its provider key, when it
  arrived, whether it charged) and what the fault did to it.

A row is tied to the client step of its order that was *in flight* when the provider
wrote it (invoked, not yet answered, give or take :data:`SLACK_S`). When no step was in
flight but an earlier step of the order never got its answer, the row is said to come
after that step, with the fact that nobody was waiting: the checkout charged on its own.
Anything else (no wall clock, several steps in flight, no step at all) is said in words,
never guessed. Pure: it reads a :class:`ScenarioRun` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.reports._model import ScenarioRun

SLACK_S = 0.05
"""Seconds of clock slack between the harness's clock and the provider's, allowed only when
no step was in flight at the row's very time."""
BACKGROUND = {"nemesis", "harness"}
"""Processes that are not the customer."""
UNTIED = "by a request the harness cannot tie to a client step"


@dataclass(frozen=True)
class ClientStep:
    """One client operation: its invocation and, if it came, its completion."""

    index: int
    """The invocation's op index (``op #N`` in the words and the report's timeline)."""
    process: str
    f: str
    start: float
    """Seconds since the history started."""
    end: float | None
    """``None``: never completed."""
    order: str
    key: str
    lost: str
    """Why its answer never came (``info``), else ``""``."""
    retry: bool
    """An earlier step of the same process sent the same ``f`` with the same key."""
    what: str = ""
    """What a browser step did, in words (``the Pay click in tab-1``); ``""``: its ``f``."""
    quiet: bool = False
    """A browser step that sent no POST (its completion lists none) and is no navigation:
    a wait for a page state, a click a guard swallowed. It asked for no money, so a charge
    written while it was open is not put down to it."""

    def words(self) -> str:
        if self.key:
            return f"the {'retry' if self.retry else self.f} with key {self.key} (op #{self.index})"
        return f"{self.what or f'the {self.f} of {self.process}'} (op #{self.index})"

    def in_flight(self, at: float, width: float = 0.0, slack: float = 0.0) -> bool:
        """Whether the step was open at some moment of ``[at, at + width]``, give or take
        ``slack`` seconds."""
        return self.start - slack <= at + width and (self.end is None or at <= self.end + slack)


def order_of(row: dict[str, Any], orders: list[str]) -> str:
    """The run's order a ledger row counts under: its ``counted_as``, else the first of
    the run's orders its metadata names (any field: the report does not know the profile's
    business key), else ``""``."""
    if row.get("counted_as"):
        return str(row["counted_as"])
    metadata = row.get("metadata")
    if isinstance(metadata, dict):
        for value in metadata.values():
            if str(value) in orders:
                return str(value)
    return ""


def _what(f: str, process: str, value: dict[str, Any]) -> str:
    """A browser step in words, from the marks the browser driver leaves on it."""
    count = value.get("count")
    many = isinstance(count, int) and count > 1
    n, clicks = (f"{count} ", "clicks") if many else ("", "click")
    if f != "click":
        return f"the {f.replace('_', ' ')} in {process}" if value.get("url_before") else ""
    if value.get("hosted") == "provider_pay":
        return f"the {n}Pay {clicks} on the provider's hosted page in {process}"
    if value.get("challenge"):
        asked = value.get("outcome_asked") or "challenge"
        return f"the {n}3-D Secure {asked} {clicks} in {process}"
    if value.get("pay"):
        return f"the {n}Pay {clicks} in {process}"
    return f"the {n}{clicks} on {value.get('selector') or 'the page'} in {process}"


NAVIGATIONS = frozenset({"page_load", "reload", "back", "forward"})
"""Browser steps that load a page with GET: a checkout may charge on one, so a navigation
stays a possible cause even when it sent no POST."""


def _seconds(op: dict[str, Any]) -> float:
    value = op.get("time_ns")
    return value / 1e9 if isinstance(value, int | float) else 0.0


def client_steps(run: ScenarioRun) -> list[ClientStep]:
    """Every customer operation of the run, in the order it was invoked."""
    done = {op.get("invoke_index"): op for op in run.history if op.get("type") != "invoke"}
    steps: list[ClientStep] = []
    seen: set[tuple[str, str, str]] = set()
    for op in run.history:
        process = str(op.get("process", ""))
        if op.get("type") != "invoke" or process in BACKGROUND:
            continue
        value = op.get("value") or {}
        end = done.get(op.get("index"))
        end_value = (end or {}).get("value") or {}
        lost = ""
        if end is not None and end.get("type") == "info":
            lost = str(end_value.get("error") or "no answer")
        key, f = str(value.get("key") or ""), str(op.get("f", ""))
        step = ClientStep(
            index=int(op.get("index", 0)),
            process=process,
            f=f,
            start=_seconds(op),
            end=_seconds(end) if end is not None else None,
            order=str(value.get("order_id") or end_value.get("order_id") or ""),
            key=key,
            lost=lost,
            retry=bool(key) and (process, f, key) in seen,
            what=_what(f, process, value),
            quiet=end_value.get("posts") == [] and f not in NAVIGATIONS,
        )
        seen.add((process, f, key))
        steps.append(step)
    return steps


@dataclass(frozen=True)
class Hit:
    """A provider fault that fired on a request: what it did, when, under which key."""

    at: float
    """Seconds since the history started."""
    effect: str
    key: str
    charged: bool


def fault_hits(run: ScenarioRun) -> list[Hit]:
    """The provider faults' hits of the run that did something, on the history's clock
    (earliest first; a hit with no time, or a run with no wall clock, sorts first at -1)."""
    found = []
    for op in run.history:
        value = op.get("value") or {}
        if op.get("f") != "fault_report" or op.get("type") != "ok":
            continue
        for hit in value.get("hits") or []:
            if not isinstance(hit, dict) or not hit.get("effect"):
                continue
            when, at = hit.get("at"), -1.0
            if isinstance(when, int | float) and run.started_wall is not None:
                at = when - run.started_wall
            found.append(
                Hit(
                    at=at,
                    effect=f"{hit.get('method')} {hit.get('path')}: {hit['effect']}",
                    key=str(hit.get("idempotency_key") or ""),
                    charged=bool(hit.get("charged")),
                )
            )
    return sorted(found, key=lambda h: h.at)


def _hit_on(row: dict[str, Any], at: float, hits: list[Hit], charges: list[float]) -> Hit | None:
    """The fault hit on the provider call that wrote ``row``: the hit says it charged and
    carries the row's provider key; with no key on either, the row must be the first
    charge written after the hit arrived, and no other charging hit arrived in between."""
    key = str(row.get("idempotency_key") or "")
    charging = [h for h in hits if h.charged and h.at <= at + SLACK_S]
    if key:
        keyed = [h for h in charging if h.key == key]
        return keyed[-1] if keyed else None
    for hit in reversed(charging):
        if hit.key:
            continue
        later = [h for h in charging if hit.at < h.at]
        first_charge = min((c for c in charges if c >= hit.at - SLACK_S), default=None)
        return hit if not later and first_charge == at else None
    return None


def _before(step: ClientStep, steps: list[ClientStep], hits: list[Hit]) -> str:
    """What went wrong just before ``step`` was sent: the lost answer of the previous step
    of its order, and the provider faults that fired since that step was sent."""
    earlier = [s for s in steps if s.index < step.index and s.order == step.order and s.f == step.f]
    if not earlier:
        return ""
    previous = earlier[-1]
    parts = []
    fired = [h.effect for h in hits if previous.start - SLACK_S <= h.at <= step.start]
    if fired:
        parts.append(f"the provider fault {fired[0]}")
    if previous.lost:
        parts.append(f"the answer to op #{previous.index} was lost ({previous.lost})")
    return f" after {' and '.join(parts)}" if parts else ""


def explain(run: ScenarioRun, rows: list[dict[str, Any]]) -> list[tuple[int | None, str]]:
    """For each row, the op index of the client step behind it (``None``: not tied) and
    :func:`cause` in words; a row tied to the step an earlier row was tied to says so (one
    client request, several provider writes: the checkout called the provider again)."""
    named: set[int] = set()
    found = []
    for row in rows:
        index, words = _cause(run, row)
        if index is not None and index in named:
            words = f"again by op #{index}, within the same client request"
        if index is not None:
            named.add(index)
        found.append((index, words))
    return found


def causes(run: ScenarioRun, rows: list[dict[str, Any]]) -> list[str]:
    """:func:`explain`, in words only."""
    return [words for _, words in explain(run, rows)]


def cause(run: ScenarioRun, row: dict[str, Any]) -> str:
    """``by the retry with key k1 (op #14) after ...``: what made the provider write ``row``,
    or :data:`UNTIED` with the reason."""
    return _cause(run, row)[1]


def _cause(run: ScenarioRun, row: dict[str, Any]) -> tuple[int | None, str]:
    created = row.get("created")
    if run.started_wall is None or not isinstance(created, int | float):
        return None, f"{UNTIED} (the report has no clock to line the ledger up with the history)"
    at = created - run.started_wall
    order = order_of(row, run.business_keys)
    steps = [s for s in client_steps(run) if not s.order or not order or s.order == order]
    hits = [h for h in fault_hits(run) if h.at >= 0]
    charges = sorted(
        float(r["created"]) - run.started_wall
        for r in run.ledger
        if r.get("kind") == row.get("kind") and isinstance(r.get("created"), int | float)
    )
    hit = _hit_on(row, at, hits, charges)
    then = f", whose provider call then met the fault {hit.effect}" if hit else ""
    # a provider's time in whole seconds (Stripe's created) stands for the second it names
    width = 1.0 if isinstance(created, int) else 0.0
    flying = [s for s in steps if s.in_flight(at, width)]
    if not flying:  # only then allow for the two clocks' slack
        flying = [s for s in steps if s.in_flight(at, width, SLACK_S)]
    waiting = [s for s in flying if s.quiet]
    flying = [s for s in flying if not s.quiet]
    if waiting and not flying:  # only steps that asked for nothing: say so, guess nothing
        asked = [s for s in steps if s.start <= at and not s.quiet]
        prior = (
            f"; the last step that could have, {asked[-1].words()}, "
            + (f"had lost its answer ({asked[-1].lost})" if asked[-1].lost else "was answered")
            if asked
            else ""
        )
        return None, (
            f"{UNTIED}: only {waiting[-1].words()} was open, which sent no POST{prior}{then}"
        )
    if len(flying) == 1:
        step = flying[0]
        return step.index, f"by {step.words()}{_before(step, steps, hits)}{then}"
    if flying:
        names = ", ".join(f"op #{s.index}" for s in flying[:6])
        more = f" and {len(flying) - 6} more" if len(flying) > 6 else ""
        alike = {(s.f, s.key) for s in flying}
        kind = "client steps"
        if len(alike) == 1 and flying[0].key:  # a burst: one request sent many times
            kind = f"{flying[0].f}s with key {flying[0].key}"
        return None, (
            f"by one of {len(flying)} {kind} in flight ({names}{more}); "
            f"the harness cannot tell which{then}"
        )
    sent = [s for s in steps if s.start <= at and not s.quiet]
    if sent and sent[-1].lost:
        step = sent[-1]
        return None, (
            f"{UNTIED}: none was in flight; the last, {step.words()}, had lost its answer "
            f"({step.lost}), so the checkout charged with no client waiting{then}"
        )
    if sent:
        last = sent[-1].index
        return None, f"{UNTIED}: none was in flight; the last, op #{last}, was answered{then}"
    return None, f"{UNTIED}: no client step of the order had been sent yet{then}"
