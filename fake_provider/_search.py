"""The slice of Stripe's search query language the fake understands.

Clauses ``metadata['key']:'value'`` and ``status:'succeeded'`` (single or double
quotes), joined by ``AND``. Anything else is a 400 naming ``query``.

:class:`Births` remembers when each PaymentIntent was created on the fake's clock (to
the microsecond, where ``created`` has whole seconds), so a ``search_lag`` fault can keep
intents younger than its ``delay_ms`` out of search results.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from fake_provider._errors import StripeError, invalid
from fake_provider._params import Params
from fake_provider.intents import Ctx, Work
from fake_provider.types import JSON

KEEP_BIRTHS_S = 600.0
"""Births older than this are forgotten: no search lag lasts longer (``delay_ms`` <= 600000)."""

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


class Births:
    """When each PaymentIntent was created, on the fake's clock; in memory only."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._at: dict[str, float] = {}
        self._lock = threading.Lock()

    def note(self, intent_id: str) -> None:
        with self._lock:
            now = self.clock()
            self._at[intent_id] = now
            while self._at:  # oldest first: dicts keep insertion order
                oldest = next(iter(self._at))
                if now - self._at[oldest] <= KEEP_BIRTHS_S:
                    break
                del self._at[oldest]

    def born(self, intent: JSON) -> float:
        """When ``intent`` was created; its ``created`` second when not noted here (created
        before a restart, long ago, or by another path)."""
        with self._lock:
            at = self._at.get(intent["id"])
        return float(intent.get("created") or 0) if at is None else at

    def noting(self, prepare: Callable[[Params], Work]) -> Callable[[Params], Work]:
        """``prepare`` whose work notes the intent it creates (a declined one too)."""

        def prepared(params: Params) -> Work:
            work = prepare(params)

            def noted(ctx: Ctx) -> JSON:
                try:
                    intent = work(ctx)
                except StripeError as exc:
                    declined = exc.body()["error"].get("payment_intent")
                    if isinstance(declined, dict) and "id" in declined:
                        self.note(declined["id"])
                    raise
                self.note(intent["id"])
                return intent

            return noted

        return prepared
