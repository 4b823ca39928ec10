"""Checkers: pure functions of a history and the provider's ledger.

Each module holds one checker, ``check(history, ledger, ctx) -> CheckResult``, named by
its public invariant id (the name scenarios list). :func:`run_checkers` runs several and
turns a crash into ``valid="unknown"``: a checker that cannot finish never says "valid".

Money invariants (read the ledger):
``at_most_one_charge``, ``success_means_one_charge``, ``no_orphan_charge``,
``no_lost_payment``, ``told_the_truth``, ``charge_matches_order``.
Protocol invariants: ``replays_identical``, ``problem_on_5xx``.
Browser invariants (flaws that endanger users without charging twice yet):
``no_post_on_success_load``, ``no_store_on_payment_pages``, ``post_redirect_get``,
``pay_click_sends_one_post``.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.checkers import (
    at_most_one_charge,
    changed_body_refused,
    charge_matches_order,
    forged_webhooks_rejected,
    keys_user_scoped,
    missing_key_refused,
    no_lost_payment,
    no_orphan_charge,
    no_post_on_success_load,
    no_repost_on_navigation,
    no_store_on_payment_pages,
    pay_click_sends_one_post,
    post_redirect_get,
    problem_on_5xx,
    replays_identical,
    success_means_one_charge,
    told_the_truth,
    webhooks_accepted,
)
from harness.checkers._base import UNKNOWN, CheckContext, Checker, CheckResult
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Severity, Validity

__all__ = [
    "CHECKERS",
    "SEVERITIES",
    "CheckContext",
    "CheckResult",
    "Checker",
    "combined",
    "get_checker",
    "run_checkers",
    "severity_of",
]

_MODULES = (
    at_most_one_charge,
    success_means_one_charge,
    replays_identical,
    no_orphan_charge,
    no_lost_payment,
    told_the_truth,
    problem_on_5xx,
    no_post_on_success_load,
    no_store_on_payment_pages,
    post_redirect_get,
    changed_body_refused,
    missing_key_refused,
    keys_user_scoped,
    webhooks_accepted,
    forged_webhooks_rejected,
    no_repost_on_navigation,
    pay_click_sends_one_post,
    charge_matches_order,
)
CHECKERS: dict[str, Checker] = {module.NAME: module.check for module in _MODULES}
SEVERITIES: dict[str, Severity] = {module.NAME: module.SEVERITY for module in _MODULES}
"""Invariant id → ``money`` (double charge, lost payment, a lie, another customer's
answer) or ``hygiene`` (good practice whose absence costs no money by itself)."""


def severity_of(name: str) -> Severity:
    """An unknown invariant counts as money: never let a typo lower the gate."""
    return SEVERITIES.get(name, "money")


def get_checker(name: str) -> Checker:
    """The checker with this invariant id; ``KeyError`` naming the known ones otherwise."""
    try:
        return CHECKERS[name]
    except KeyError:
        known = ", ".join(sorted(CHECKERS))
        raise KeyError(f"no checker named {name!r}; known: {known}") from None


def _run_one(name: str, history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    try:
        checker = get_checker(name)
    except KeyError as exc:
        return CheckResult(name, UNKNOWN, message=str(exc.args[0]), severity=severity_of(name))
    try:
        result = checker(history, ledger, ctx)
    except Exception as exc:
        message = f"checker crashed: {type(exc).__name__}: {exc}"
        return CheckResult(name, UNKNOWN, message=message, severity=severity_of(name))
    if not isinstance(result, CheckResult) or not (  # a checker that lies about its type
        result.valid is True or result.valid is False or result.valid == UNKNOWN
    ):
        message = f"checker returned {result!r}"
        return CheckResult(name, UNKNOWN, message=message, severity=severity_of(name))
    result.name = name
    result.severity = severity_of(name)
    return result


def run_checkers(
    names: Iterable[str], history: History, ledger: LedgerView, ctx: CheckContext
) -> list[CheckResult]:
    """Run the named checkers; never raises, never lets a crash pass as valid.

    A history with no completed operation means the scenario did not run: every checker
    is then unknown.
    """
    names = list(names)
    if not any(not op.is_invoke for op in history.ops):
        message = "the history holds no completed operation: the scenario did not run"
        return [
            CheckResult(name, UNKNOWN, message=message, severity=severity_of(name))
            for name in names
        ]
    return [_run_one(name, history, ledger, ctx) for name in names]


def combined(results: Iterable[CheckResult]) -> Validity:
    """False if any result is False, else unknown if any is unknown, else True."""
    values = [r.valid for r in results]
    if False in values:
        return False
    if UNKNOWN in values or not values:
        return UNKNOWN
    return True
