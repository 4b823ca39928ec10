"""The run report model: what one ``nodouble`` run found, versioned (``schema_version``).

The JSON form is documented in ``docs/reports.md``; pydantic validates it on load, so a
report from another version fails with a message naming the field.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.checkers._base import CheckResult
from harness.types import ScenarioStatus, Severity, Validity

SCHEMA_VERSION: Literal["1"] = "1"
THREAT_MODEL = "docs/threat-model.md"
Cell = Literal["caught", "unrelated", "passed", "n/a", "error"]
"""``caught``: one of the invariants docs/flaws.md names for the flaw was violated in one of
the scenarios it names; ``unrelated``: the scenario failed, but not that way (another
invariant, or a scenario not named for the flaw); ``error``: the scenario broke or could
not decide. Only ``caught`` counts as catching the flaw."""
FlawVerdict = Literal["caught", "caught_too_rarely", "caught_unrelated", "not_caught", "not_run"]
"""A flaw's verdict in the matrix; only ``caught`` passes the gate."""


def threat_link(threat_id: str) -> str:
    """The link to a threat's section, e.g. ``T3`` → ``docs/threat-model.md#t3``."""
    anchor = re.sub(r"[^a-z0-9]+", "-", threat_id.lower()).strip("-")
    return f"{THREAT_MODEL}#{anchor}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckOutcome(_Model):
    """A :class:`~harness.checkers.CheckResult` as stored in the report."""

    name: str
    severity: Severity = "money"
    valid: Validity
    counts: dict[str, int] = Field(default_factory=dict)
    first: dict[str, Any] | None = None
    worst: dict[str, Any] | None = None
    message: str = ""

    @classmethod
    def of(cls, result: CheckResult) -> CheckOutcome:
        return cls.model_validate(result.to_json())


class Target(_Model):
    name: str
    base_url: str
    profile: str | None = None
    """The profile file the run used (``None``: the embedded reference checkout)."""
    """Redacted of credentials before it is stored."""


class Environment(_Model):
    python: str
    platform: str
    chromium: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)


class ScenarioRun(_Model):
    scenario_id: str
    title: str
    group: str = "nodouble"
    threat_id: str
    threat_link: str = ""
    repeat: int = 0
    status: ScenarioStatus
    reason: str | None = None
    """Why the scenario was not applicable, or what went wrong for ``error``."""
    failure: Severity | None = None
    """For ``failed``: ``money`` when a money invariant was violated, else ``hygiene``."""
    hygiene: list[str] = Field(default_factory=list)
    """Hygiene invariants violated (reported whether or not the gate includes hygiene)."""
    duration_s: float = 0.0
    checks: list[CheckOutcome] = Field(default_factory=list)
    history: list[dict[str, Any]] = Field(default_factory=list)
    """``Op.to_json()`` of every operation, values redacted."""
    ledger: list[dict[str, Any]] = Field(default_factory=list)
    """The provider's ledger rows for this run's business keys."""
    business_keys: list[str] = Field(default_factory=list)
    screenshots: list[str] = Field(default_factory=list)
    """Paths relative to the report directory."""
    started_wall: float | None = None
    """Unix time at which the history's clock (``time_ns``) started, to line operations up
    with the provider's ledger (``created``)."""

    def model_post_init(self, context: Any, /) -> None:
        if not self.threat_link:
            self.threat_link = threat_link(self.threat_id)

    @property
    def case_name(self) -> str:
        return f"{self.scenario_id}#{self.repeat}" if self.repeat else self.scenario_id

    @property
    def violated(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.valid is False]


class FlawRate(_Model):
    """How often a racy flaw was caught over repeated runs of the scenarios that catch it."""

    caught: int
    runs: int
    scenarios: list[str] = Field(default_factory=list)
    """The scenarios repeated; a repeat catches the flaw if any of them failed."""
    per_scenario: dict[str, list[int]] = Field(default_factory=dict)
    """``[caught, runs]`` per repeated scenario."""

    @property
    def rate(self) -> float:
        return self.caught / self.runs if self.runs else 0.0


class FlawEvidence(_Model):
    """One scenario that failed (or broke) against a flaw: what it found."""

    scenario: str
    violated: list[str]
    message: str = ""
    first: dict[str, Any] | None = None
    cell: Cell = "caught"
    """``caught`` (a named invariant), ``unrelated`` (only others) or ``error``."""


class FlawMatrix(_Model):
    """Which scenario caught which seeded flaw (filled by ``nodouble flaws``)."""

    flaws: list[str]
    scenarios: list[str]
    cells: dict[str, dict[str, Cell]]
    """``cells[flaw][scenario]``; a missing cell reads as ``n/a``."""
    baseline: dict[str, ScenarioStatus] = Field(default_factory=dict)
    """Status of each scenario against the checkout with no flaw."""
    guards: dict[str, str] = Field(default_factory=dict)
    """Flaw → the guard it removes (one line)."""
    racy: list[str] = Field(default_factory=list)
    rates: dict[str, FlawRate] = Field(default_factory=dict)
    """Racy flaws: how often they were caught over ``repeat`` runs."""
    required_rate: float = 0.95
    evidence: dict[str, list[FlawEvidence]] = Field(default_factory=dict)
    wall_s: dict[str, float] = Field(default_factory=dict)
    """Flaw (or ``baseline``) → wall time of its run, seconds."""
    command: str = ""
    expected: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    """Flaw → scenario → the invariants whose violation there catches it (docs/flaws.md)."""
    verdicts: dict[str, FlawVerdict] = Field(default_factory=dict)
    """Flaw → its verdict, as :meth:`verdict` computed it when the matrix was built."""

    def cell(self, flaw: str, scenario: str) -> Cell:
        return self.cells.get(flaw, {}).get(scenario, "n/a")

    def caught_by(self, flaw: str) -> list[str]:
        return [s for s in self.scenarios if self.cell(flaw, s) == "caught"]

    def failed_unrelated(self, flaw: str) -> list[str]:
        """Scenarios that failed against the flaw, but not on an invariant named for it."""
        return [s for s in self.scenarios if self.cell(flaw, s) == "unrelated"]

    def verdict(self, flaw: str) -> FlawVerdict:
        if self.caught_by(flaw):
            return "caught" if self.rate_ok(flaw) else "caught_too_rarely"
        if self.failed_unrelated(flaw):
            return "caught_unrelated"
        named = self.expected.get(flaw)
        if named is not None and not any(self.cell(flaw, s) != "n/a" for s in named):
            return "not_run"
        return "not_caught"

    def rate_ok(self, flaw: str) -> bool:
        """A racy flaw must be caught in at least ``required_rate`` of its repeats."""
        rate = self.rates.get(flaw)
        if rate is None:
            return flaw not in self.racy
        return rate.runs > 0 and rate.caught >= math.ceil(self.required_rate * rate.runs - 1e-9)

    def flaw_caught(self, flaw: str) -> bool:
        return bool(self.caught_by(flaw)) and self.rate_ok(flaw)

    def baseline_passed(self) -> bool:
        statuses = list(self.baseline.values())
        applicable = [s for s in statuses if s != "not_applicable"]
        return bool(applicable) and all(s == "passed" for s in applicable)

    def gate(self) -> bool:
        """Exit 0 only if the baseline passed and every flaw was caught (reliably)."""
        return self.baseline_passed() and all(self.flaw_caught(f) for f in self.flaws)

    def catch_rate(self, flaw: str) -> float | None:
        """Share of applicable scenarios that caught this flaw; None if none applied."""
        cells = [self.cell(flaw, s) for s in self.scenarios]
        applicable = [c for c in cells if c != "n/a"]
        return applicable.count("caught") / len(applicable) if applicable else None


class Threat(_Model):
    """A threat of the threat model, as the run knew it (see ``harness/reports/_threats.py``)."""

    id: str
    text: str = ""
    """Its section of docs/threat-model.md on one line, embedded so the report travels."""
    scenarios: list[str] = Field(default_factory=list)
    """The catalog's scenarios for it, whether this run ran them or not."""


class Summary(_Model):
    passed: int
    failed: int
    not_applicable: int
    error: int
    charges: int


class RunReport(_Model):
    schema_version: Literal["1"] = SCHEMA_VERSION
    tool_version: str
    started: datetime
    finished: datetime
    target: Target
    seed: int | None = None
    environment: Environment
    runs: list[ScenarioRun] = Field(default_factory=list)
    unattributed: list[dict[str, Any]] = Field(default_factory=list)
    """Ledger rows written during the run that no scenario run can own (after every
    scenario ended, under no order the harness created): the gate fails on them."""
    flaw_matrix: FlawMatrix | None = None
    threats: list[Threat] = Field(default_factory=list)
    """Every threat of the threat model and the catalog, run or not: the coverage matrix
    lists the ones no scenario ran as not run. Empty in reports written before it existed
    (the matrix then lists the threats of the runs only)."""

    def summary(self) -> Summary:
        count = {
            s: sum(1 for r in self.runs if r.status == s)
            for s in ("passed", "failed", "not_applicable", "error")
        }
        charge_ids = {
            str(row.get("id"))
            for run in self.runs
            for row in run.ledger
            if row.get("kind") == "charge"
        }
        return Summary(**count, charges=len(charge_ids))
