"""The flaw expectations: one table in code (``CAUGHT_BY``), the same table in docs/flaws.md.

A flaw counts as caught only through the scenarios and invariants named for it, so the
table must be complete, must name things that exist, and must say in the docs what the
code enforces.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.flaws import CAUGHT_BY
from reference_app import flaws as registry
from scenarios import capture, get, hosted, search_lag, select, threeds

DOC = Path(__file__).resolve().parents[2] / "docs" / "flaws.md"
CODE = re.compile(r"`([^`]+)`")


def parse_caught_by(cell: str) -> dict[str, tuple[str, ...]]:
    """One caught-by cell: groups ``scenarios: invariants`` separated by ``;``, every name
    in backquotes (see the first test for an example); anything else is refused."""
    named: dict[str, tuple[str, ...]] = {}
    for group in cell.split(";"):
        scenarios, sep, invariants = group.partition(":")
        assert sep, f"no 'scenario: invariant' in {group.strip()!r}"
        ids, names = CODE.findall(scenarios), tuple(CODE.findall(invariants))
        leftover = CODE.sub("", scenarios + invariants).replace(",", "").strip()
        assert ids and names and not leftover, f"not machine-readable: {group.strip()!r}"
        for sid in ids:
            assert sid not in named, f"{sid} named twice in {cell!r}"
            named[sid] = names
    return named


def doc_table() -> dict[str, tuple[bool, dict[str, tuple[str, ...]]]]:
    """Flaw → (marked racy, its caught-by column), from the table under "## The flaws"."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## The flaws\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[bool, dict[str, tuple[str, ...]]]] = {}
    for line in section.splitlines():
        match = re.match(r"\| `(\w+)`( \(racy\))? \|", line)
        if not match:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 4, f"expected 4 columns: {line}"
        assert match.group(1) not in rows, f"{match.group(1)} has two rows"
        rows[match.group(1)] = (bool(match.group(2)), parse_caught_by(cells[3]))
    return rows


def test_the_parser_reads_groups_and_refuses_prose() -> None:
    assert parse_caught_by("`a.b`, `a.c`: `x`; `d.e`: `y`, `z`") == {
        "a.b": ("x",), "a.c": ("x",), "d.e": ("y", "z"),
    }  # fmt: skip
    with pytest.raises(AssertionError, match="not machine-readable"):
        parse_caught_by("every browser scenario: `no_store_on_payment_pages`")


def test_every_flaw_has_expectations_in_code_and_docs() -> None:
    assert list(CAUGHT_BY) == registry.names()
    assert sorted(doc_table()) == sorted(registry.names())


@pytest.mark.parametrize("flaw", registry.names())
def test_docs_say_what_the_code_enforces(flaw: str) -> None:
    racy, named = doc_table()[flaw]
    assert named == CAUGHT_BY[flaw], f"docs/flaws.md and harness/flaws.py differ for {flaw}"
    assert racy == registry.FLAWS[flaw].racy, f"(racy) mark of {flaw} in docs/flaws.md"


@pytest.mark.parametrize("flaw", registry.names())
def test_named_scenarios_exist_and_check_the_named_invariants(flaw: str) -> None:
    assert CAUGHT_BY[flaw], f"{flaw} names no scenario"
    ids = {s.id for s in select()}
    for sid, invariants in CAUGHT_BY[flaw].items():
        assert sid in ids, f"{flaw}: no scenario {sid!r} in the catalog"
        assert invariants, f"{flaw}: {sid} names no invariant"
        checked = get(sid).invariants
        for name in invariants:
            assert name in checked, f"{flaw}: {sid} does not check {name!r} ({checked})"


PROVEN_MODULES = (threeds, capture, search_lag, hosted)
"""The flows where the customer leaves the shop (3-D Secure, hosted Checkout, manual
capture) and search lag: each of their scenarios must be proven able to fail by a flaw."""
UNNAMED = re.compile(r"^- `([\w.]+)`: (.+)$")


def doc_unnamed() -> dict[str, str]:
    """Scenario → reason, from the list under "## Scenarios no flaw is named for"."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Scenarios no flaw is named for\n", 1)[1].split("\n## ", 1)[0]
    listed: dict[str, str] = {}
    for line in section.splitlines():
        match = UNNAMED.match(line)
        if match:
            assert match.group(1) not in listed, f"{match.group(1)} listed twice"
            listed[match.group(1)] = match.group(2)
    return listed


def test_every_scenario_of_the_new_flows_is_named_for_a_flaw_or_says_why_not() -> None:
    named = {sid for row in CAUGHT_BY.values() for sid in row}
    listed = doc_unnamed()
    ids = [s.id for module in PROVEN_MODULES for s in module.SCENARIOS]
    assert set(listed) <= {s.id for s in select()}, "docs/flaws.md lists unknown scenarios"
    assert not set(listed) & named, "docs/flaws.md lists as unnamed a scenario CAUGHT_BY names"
    for sid in ids:
        assert sid in named or sid in listed, (
            f"{sid}: name it for a flaw in CAUGHT_BY, or list it with a reason in "
            "docs/flaws.md (## Scenarios no flaw is named for)"
        )
