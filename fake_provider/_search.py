"""The slice of Stripe's search query language the fake understands.

Clauses ``metadata['key']:'value'`` and ``status:'succeeded'`` (single or double
quotes), joined by ``AND``. Anything else is a 400 naming ``query``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fake_provider._errors import StripeError, invalid
from fake_provider.types import JSON

_CLAUSE = re.compile(
    r"""^\s*(?:metadata\[(?P<q1>['"])(?P<key>[^'"]+)(?P=q1)\]|(?P<field>status|currency|amount))"""
    r"""\s*:\s*(?P<q2>['"]?)(?P<value>[^'"]*)(?P=q2)\s*$"""
)


def parse_query(query: str) -> Callable[[JSON], bool]:
    """Compile a search query into a predicate over PaymentIntents."""
    if not query.strip():
        raise _bad(query, "the query is empty")
    tests: list[Callable[[JSON], bool]] = []
    for clause in re.split(r"\s+AND\s+", query.strip()):
        if re.search(r"\s(OR|or|and)\s|^-|\*", clause):
            raise _bad(query, "only clauses joined by AND are supported")
        match = _CLAUSE.match(clause)
        if match is None:
            raise _bad(query, f"cannot read the clause {clause!r}")
        tests.append(_clause(match.group("key"), match.group("field"), match.group("value")))
    return lambda obj: all(test(obj) for test in tests)


def _clause(key: str | None, field: str | None, value: str) -> Callable[[JSON], bool]:
    if key is not None:
        return lambda obj: (obj.get("metadata") or {}).get(key) == value
    return lambda obj: str(obj.get(field or "")) == value


def _bad(query: str, why: str) -> StripeError:
    return invalid(
        f"Invalid search query {query!r}: {why}. The fake supports metadata['key']:'value' "
        "and status:'value' clauses joined by AND.",
        param="query",
        code="parameter_invalid_string",
    )
