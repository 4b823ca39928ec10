"""What a scenario is: an id, the threat it covers, its steps and its invariants."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.types import Capability
from scenarios.steps import BrowserCheckout, Confirm, NetworkFault, Step

DEFAULT_INVARIANTS: tuple[str, ...] = (
    "at_most_one_charge",
    "success_means_one_charge",
    "replays_identical",
    "told_the_truth",
    "no_lost_payment",
    "no_orphan_charge",
    "problem_on_5xx",
)
"""Every scenario is judged by these; a scenario adds its own on top. Every scenario reads
its orders back after a ``Reconcile`` step, so "charged but shown unpaid" is judged too."""

RECOVERY_INVARIANTS: tuple[str, ...] = tuple(
    i for i in DEFAULT_INVARIANTS if i != "replays_identical"
)
"""For scenarios that break something and let the target recover (a replay may then
differ from the first answer, which was lost or was an error)."""

BROWSER_INVARIANTS: tuple[str, ...] = (
    "no_post_on_success_load",
    "no_repost_on_navigation",
    "no_store_on_payment_pages",
    "post_redirect_get",
)
"""The browser-level invariants; each browser scenario picks those that apply to it."""


@dataclass(frozen=True)
class Scenario:
    id: str
    """Dotted id, ``<group>.<name>``; the group is the JUnit class name."""
    title: str
    threat: str
    """Anchor of the threat in docs/threat-model.md (e.g. ``retry-after-timeout``)."""
    steps: tuple[Step, ...]
    invariants: tuple[str, ...] = DEFAULT_INVARIANTS
    tags: tuple[str, ...] = ()
    extra_needs: tuple[Capability, ...] = ()
    rounds: int = 1
    """Run the steps this many times within one scenario run (racy scenarios)."""
    pays: bool = True
    """The story ends with the customer charged: a run whose ledger shows no charge proves
    nothing about double charging (every confirm refused, a wrong profile) and is an error.
    ``False`` for stories where a refusal is as correct as a payment."""
    description: str = field(default="", compare=False)

    @property
    def group(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def needs(self) -> frozenset[Capability]:
        needed: set[Capability] = set(self.extra_needs)
        for step in self.steps:
            needed.update(step.needs)  # type: ignore[arg-type]
            if isinstance(step, BrowserCheckout) and step.spa:
                needed.add("browser_spa")
            if isinstance(step, Confirm | NetworkFault) and _on_capture(step):
                needed.add("capture")
        return frozenset(needed)

    def missing(self, capabilities: frozenset[str]) -> list[str]:
        """The needs the target does not declare, sorted (empty: applicable)."""
        return sorted(set(self.needs) - set(capabilities))


def _on_capture(step: Confirm | NetworkFault) -> bool:
    """A confirm that only authorises, or a network fault aimed at the capture request."""
    return step.manual_capture if isinstance(step, Confirm) else step.on == "capture"
