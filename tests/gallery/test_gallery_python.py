"""The gallery's Python checkouts under ``nodouble run``: the verdict each variant must get.

Five small Starlette checkouts, none shaped like reference_app (see each ``app.py``):

- ``two_step``: create the PaymentIntent, then confirm it (two provider calls);
- ``renamed``: ``PUT /v2/baskets/{basket}/payment``, ``X-Request-Key``, ``basket_ref``;
- ``other_key``: its own test API key, and authorise-then-capture (money moves on /capture);
- ``plain_errors``: ``{"error": ...}`` bodies, 5xx included (hygiene, never money);
- ``order_keyed``: no idempotency header at all, one payment per order.

Each correct variant runs the whole applicable catalog (no browser) and must exit 0 with
no money invariant violated. Each broken variant double charges (or shows a paid order
unpaid, or leaks another customer's answer) for real, runs the few scenarios aimed at its
bug and must exit 1 with the named money invariant violated in at least one scenario run.
Every passed scenario must also show that each fault it armed fired. Each row is a real
``nodouble run`` subprocess against a real checkout process and a fresh fake provider.

Correct variants run racy scenarios once (``--race-repeat 1``) to keep the gallery within
its time budget, and so does ``fresh_key_on_409``, whose overlap the provider's delay
forces; ``check_then_set``, a true race, keeps the default repeat. ``recreate_order`` runs
with the defaults (repeats side by side): its extra charges carry basket refs no run
created, so while several runs pay at once the harness cannot say whose they are, runs the
scenario again alone, and fails it on that run's evidence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _gallery import GALLERY, RunResult, Variant, VerdictPool, run_variant

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

OTHER_KEY = "sk_test_gallery_other"
CORRECT_ARGS = ("--race-repeat", "1")


@dataclass(frozen=True)
class Row:
    """One line of the gallery table: a variant, what to run, the verdict it must get."""

    checkout: str
    variant: str
    """``""`` is the correct checkout."""
    scenarios: tuple[str | None, ...]
    """``--scenario`` globs, one ``nodouble run`` each; ``None`` is the whole catalog."""
    code: int
    violated: frozenset[str] = frozenset()
    """Money invariants that must be ``valid: false`` in at least one scenario run."""
    extra_args: tuple[str, ...] = ()
    values: dict[str, str] = field(default_factory=dict)
    why: str = ""

    @property
    def id(self) -> str:
        return f"{self.checkout}-{self.variant or 'correct'}"

    def variant_spec(self) -> Variant:
        template = GALLERY / self.checkout / f"{self.checkout}.toml.in"
        return Variant(template, self.variant, values=self.values)


KEYS = {"API_KEY": OTHER_KEY, "PROFILE_KEY": OTHER_KEY}
DOUBLE = frozenset({"at_most_one_charge"})

ROWS = (
    Row("two_step", "", (None,), 0, extra_args=CORRECT_ARGS),
    Row("two_step", "release_on_error", ("provider.*",), 1, DOUBLE,
        why="the fault must hit /confirm, where the money moves, not the create"),
    Row("two_step", "fresh_key_on_409", ("api.different_keys_while_slow",), 1, DOUBLE,
        extra_args=("--race-repeat", "1"),  # the provider's delay forces the overlap
        why="a 409 from the slow provider makes it start over under a fresh provider key"),
    Row("renamed", "", (None,), 0, extra_args=CORRECT_ARGS),
    Row("renamed", "no_dedupe", ("api.timeout_then_retry", "api.duplicate_delivery"), 1, DOUBLE,
        why="network faults must follow the profile's PUT path, not a fixed /confirm$"),
    Row("renamed", "recreate_order", ("api.parallel_different_keys",), 1, DOUBLE,
        why="charges under basket refs the harness never created must still be counted"),
    Row("other_key", "", (None,), 0, extra_args=CORRECT_ARGS, values=KEYS),
    Row("other_key", "shows_unpaid", ("api.same_key_sequential",), 1,
        frozenset({"no_orphan_charge"}), values=KEYS,
        why="charged but shown unpaid after the reconcile window, outside recovery stories"),
    Row("plain_errors", "", (None,), 0, extra_args=CORRECT_ARGS,
        why="plain JSON 5xx is a hygiene finding: reported, not gated"),
    Row("plain_errors", "cross_user_replay", ("api.other_users_key",), 1,
        frozenset({"keys_user_scoped"}),
        why="bob's request with alice's key gets alice's answer"),
    Row("order_keyed", "", (None,), 0, extra_args=CORRECT_ARGS,
        why="no idempotency header: the key scenarios are not applicable, never failed"),
    Row("order_keyed", "check_then_set", ("api.same_key_staggered",), 1, DOUBLE,
        why="requests straddling the first one's charge slip between check and set"),
)  # fmt: skip


def _selected_rows(request: pytest.FixtureRequest) -> list[Row]:
    rows = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "module", None) is request.module and callspec is not None:
            row = callspec.params.get("row")
            if isinstance(row, Row) and row not in rows:
                rows.append(row)
    return rows


@pytest.fixture(scope="module")
def verdicts(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VerdictPool]:
    """Starts every selected row at once (a few at a time); each test waits for its own."""
    pool = VerdictPool()
    # the whole-catalog runs are the longest: start them first
    for row in sorted(_selected_rows(request), key=lambda row: row.variant != ""):
        # made here, not in the worker: pytest's tmp_path_factory is not thread-safe
        folder = tmp_path_factory.mktemp(row.id)

        def run(row: Row = row, workdir: Path = folder) -> RunResult:
            return run_variant(
                row.variant_spec(), workdir, scenarios=row.scenarios, extra_args=row.extra_args
            )

        pool.submit(row.id, run)
    yield pool
    pool.close()


def _result(pool: VerdictPool, row: Row) -> RunResult:
    pool.submit(row.id, lambda: pytest.fail(f"row {row.id} was not started"))
    return pool.result(row.id)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_verdict(row: Row, verdicts: VerdictPool) -> None:
    result = _result(verdicts, row)
    summary = result.summary()
    assert result.report is not None, f"{row.id}: no report.json\n{summary}"
    assert result.code == row.code, f"{row.id}: exit {result.code}, wanted {row.code}\n{summary}"
    applicable = [run for run in result.runs if run.get("status") != "not_applicable"]
    assert applicable, f"{row.id}: no scenario applied\n{summary}"
    if row.variant:
        missing = row.violated - result.all_money_violated()
        assert not missing, f"{row.id}: {sorted(missing)} never violated ({row.why})\n{summary}"
        return
    assert not result.all_money_violated(), f"{row.id}: money invariant violated\n{summary}"
    assert all(run.get("status") == "passed" for run in applicable), summary
    assert not result.unattributed, f"{row.id}: unattributed charges {result.unattributed}"


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_every_armed_fault_fired(row: Row, verdicts: VerdictPool) -> None:
    """A scenario passed on a fault that never fired proves nothing: none may."""
    result = _result(verdicts, row)
    assert result.report is not None, result.summary()
    unfired = result.unfired_faults()
    assert not unfired, f"{row.id}: passed scenarios with faults that did not fire: {unfired}"


def test_profile_key_that_the_checkout_does_not_use_is_a_setup_error(tmp_path: Path) -> None:
    """other_key pays with its own key; a profile naming another key stops the run (exit 2)
    with one line that names both keys, no traceback and no empty report folder."""
    row = Row("other_key", "", ("api.same_key_sequential",), 2,
              values={"API_KEY": OTHER_KEY, "PROFILE_KEY": "sk_test_nodouble"})  # fmt: skip
    result = run_variant(row.variant_spec(), tmp_path, scenarios=row.scenarios)
    assert result.code == 2, result.summary()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert OTHER_KEY in lines[0] and "sk_test_nodouble" in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    reports = tmp_path / "run0" / "reports"
    empty = [p for p in reports.iterdir() if p.is_dir() and not any(p.iterdir())]
    assert not empty, f"empty report folder(s) left behind: {empty}"
