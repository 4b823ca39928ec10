"""List endpoints, newest first: ``GET /v1/payment_intents``, ``/v1/charges``, ``/v1/refunds``.

Stripe's list contract: ``{"object": "list", "data", "has_more", "url"}``, newest first,
``limit`` 1 to 100 (default 10), ``starting_after`` / ``ending_before`` an object id of an
earlier page, ``created`` an integer or ``{gt, gte, lt, lte}``. Objects created in the same
second keep their creation order (newest first), so paging never skips or repeats one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fake_provider._errors import invalid
from fake_provider._params import Params, check_known, get_expand, get_int, get_str
from fake_provider.intents import Ctx, Payments, Work
from fake_provider.types import JSON

Handle = Callable[[Request, Callable[[Params], Work]], Any]
_BOUNDS = ("gt", "gte", "lt", "lte")
_KINDS = {"intents": "payment_intent", "charges": "charge", "refunds": "refund"}
"""Table → the object kind a 404 names."""


def newest_first(rows: list[Any]) -> list[Any]:
    """Stored rows sorted newest first: by ``created``, then by creation order."""
    return sorted(rows, key=lambda r: (r["obj"]["created"], r.get("n", 0)), reverse=True)


def prepare_list(
    pay: Payments, table: str, url: str, filters: dict[str, str] | None = None
) -> Callable[[Params], Work]:
    """``filters`` maps an extra query parameter to the object field it must equal."""
    extra = filters or {}

    def prepare(params: Params) -> Work:
        check_known(
            params,
            {"limit", "starting_after", "ending_before", "created", "expand", *extra},
            frozenset({"customer"}),
        )
        limit, after, before = paging(params)
        keep = created_filter(params.get("created"))
        wanted = {field: get_str(params, name, max_len=255) for name, field in extra.items()}
        expand = get_expand(params)

        def work(ctx: Ctx) -> JSON:
            rows = [r for r in pay.store.values(table) if r["account"] == ctx.account]
            found = [
                r["obj"]
                for r in newest_first(rows)
                if keep(r["obj"]["created"])
                and all(v in (None, "") or r["obj"].get(f) == v for f, v in wanted.items())
            ]
            cursor, param = (after, "starting_after") if after else (before, "ending_before")
            if cursor is not None and cursor not in {o["id"] for o in found}:
                pay.load(table, _KINDS[table], cursor, ctx.account, param)  # a 404 when unknown
            page, more = page_of(found, after, before, limit)
            if table == "intents":
                page = [pay.view(o, expand, ctx.account) for o in page]
            return {"object": "list", "data": page, "has_more": more, "url": url}

        return work

    return prepare


def paging(params: Params) -> tuple[int, str | None, str | None]:
    """A list's ``limit`` (1 to 100, default 10), ``starting_after`` and ``ending_before``."""
    limit = get_int(params, "limit")
    limit = 10 if limit is None else limit
    if not 1 <= limit <= 100:
        raise invalid("Invalid limit: it must be from 1 to 100.", param="limit")
    after = get_str(params, "starting_after", max_len=255) or None
    before = get_str(params, "ending_before", max_len=255) or None
    if after and before:
        raise invalid("Pass starting_after or ending_before, not both.", param="ending_before")
    return limit, after, before


def page_of(
    found: list[Any], after: str | None, before: str | None, limit: int
) -> tuple[list[Any], bool]:
    """One page of ``found`` (newest first) and whether more follow it. A cursor id that is
    not in ``found`` (it exists, but the filters leave it out) gives an empty last page."""
    ids = [o["id"] for o in found]
    cursor = after or before
    if cursor is not None and cursor not in ids:
        return [], False
    if after:
        start = ids.index(after) + 1
        return found[start : start + limit], len(found) > start + limit
    if before:
        end = ids.index(before)
        return found[max(0, end - limit) : end], end - limit > 0
    return found[:limit], len(found) > limit


def created_filter(value: Any) -> Callable[[int], bool]:
    if value is None or value == "":
        return lambda created: True
    if isinstance(value, str):
        exact = _timestamp(value, "created")
        return lambda created: created == exact
    if not isinstance(value, dict) or set(value) - set(_BOUNDS):
        raise invalid(
            "Invalid created: an integer or an object of gt, gte, lt, lte.", param="created"
        )
    bounds = {op: _timestamp(v, f"created[{op}]") for op, v in value.items()}
    checks = {
        "gt": lambda c, b: c > b,
        "gte": lambda c, b: c >= b,
        "lt": lambda c, b: c < b,
        "lte": lambda c, b: c <= b,
    }
    return lambda created: all(checks[op](created, b) for op, b in bounds.items())


def _timestamp(value: Any, param: str) -> int:
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()):
        raise invalid(f"Invalid integer: {value!r}", param=param, code="parameter_invalid_integer")
    return int(value)


def routes(pay: Payments, handle: Handle) -> list[Route]:
    intents = prepare_list(pay, "intents", "/v1/payment_intents")
    charges = prepare_list(pay, "charges", "/v1/charges", {"payment_intent": "payment_intent"})
    refunds = prepare_list(
        pay, "refunds", "/v1/refunds", {"charge": "charge", "payment_intent": "payment_intent"}
    )

    async def list_intents(request: Request) -> Response:
        response: Response = await handle(request, intents)
        return response

    async def list_charges(request: Request) -> Response:
        response: Response = await handle(request, charges)
        return response

    async def list_refunds(request: Request) -> Response:
        response: Response = await handle(request, refunds)
        return response

    return [
        Route("/v1/payment_intents", list_intents, methods=["GET"]),
        Route("/v1/charges", list_charges, methods=["GET"]),
        Route("/v1/refunds", list_refunds, methods=["GET"]),
    ]
