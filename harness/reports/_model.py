"""The run report model: what one ``nodouble`` run found, versioned (``schema_version``).

The JSON form is documented in ``docs/reports.md``; pydantic validates it on load, so a
report from another version fails with a message naming the field.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.checkers._base import CheckResult
from harness.types import ScenarioStatus, Validity

SCHEMA_VERSION: Literal["1"] = "1"
THREAT_MODEL = "docs/threat-model.md"
Cell = Literal["caught", "passed", "n/a"]


def threat_link(threat_id: str) -> str:
    """The link to a threat's section, e.g. ``T3`` → ``docs/threat-model.md#t3``."""
    anchor = re.sub(r"[^a-z0-9]+", "-", threat_id.lower()).strip("-")
    return f"{THREAT_MODEL}#{anchor}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckOutcome(_Model):
    """A :class:`~harness.checkers.CheckResult` as stored in the report."""

    name: str
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
    duration_s: float = 0.0
    checks: list[CheckOutcome] = Field(default_factory=list)
    history: list[dict[str, Any]] = Field(default_factory=list)
    """``Op.to_json()`` of every operation, values redacted."""
    ledger: list[dict[str, Any]] = Field(default_factory=list)
    """The provider's ledger rows for this run's business keys."""
    business_keys: list[str] = Field(default_factory=list)
    screenshots: list[str] = Field(default_factory=list)
    """Paths relative to the report directory."""

    def model_post_init(self, context: Any, /) -> None:
        if not self.threat_link:
            self.threat_link = threat_link(self.threat_id)

    @property
    def case_name(self) -> str:
        return f"{self.scenario_id}#{self.repeat}" if self.repeat else self.scenario_id

    @property
    def violated(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.valid is False]


class FlawMatrix(_Model):
    """Which scenario caught which seeded flaw (filled by the flaw-matrix run)."""

    flaws: list[str]
    scenarios: list[str]
    cells: dict[str, dict[str, Cell]]
    """``cells[flaw][scenario]``; a missing cell reads as ``n/a``."""

    def cell(self, flaw: str, scenario: str) -> Cell:
        return self.cells.get(flaw, {}).get(scenario, "n/a")

    def catch_rate(self, flaw: str) -> float | None:
        """Share of applicable scenarios that caught this flaw; None if none applied."""
        cells = [self.cell(flaw, s) for s in self.scenarios]
        applicable = [c for c in cells if c != "n/a"]
        return applicable.count("caught") / len(applicable) if applicable else None


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
    flaw_matrix: FlawMatrix | None = None

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
