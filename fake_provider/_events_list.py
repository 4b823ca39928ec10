"""``GET /v1/events``: the events the fake emitted for the key's account, newest first.

Stripe's list contract (see :mod:`fake_provider._lists`), filtered by ``type`` (one event
type, ``*`` for a group such as ``payment_intent.*``) or ``types`` (a list of exact
types). Each event carries ``request.idempotency_key``: the key of the API request that
caused it, which tells a reader which request charged.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fake_provider._errors import invalid, not_found
from fake_provider._lists import created_filter, page_of, paging
from fake_provider._params import Params, check_known, get_str
from fake_provider.intents import Ctx, Work
from fake_provider.types import JSON

if TYPE_CHECKING:
    from fake_provider._provider import Provider


def prepare(provider: Provider, params: Params) -> Work:
    check_known(
        params,
        {"limit", "starting_after", "ending_before", "created", "type", "types", "expand"},
        frozenset({"delivery_success"}),
    )
    limit, after, before = paging(params)
    keep = created_filter(params.get("created"))
    one = get_str(params, "type", max_len=255) or None
    many = params.get("types")
    if isinstance(many, str):
        many = [many]
    if many is not None and not (isinstance(many, list) and all(isinstance(t, str) for t in many)):
        raise invalid("Invalid types: it must be a list of event types.", param="types")
    if one and many:
        raise invalid("Pass type or types, not both.", param="types")

    def wanted(event_type: str) -> bool:
        if many:
            return event_type in many
        return one is None or fnmatch.fnmatchcase(event_type, one)

    def work(ctx: Ctx) -> JSON:
        rows = [r for r in provider.store.values("events") if r["account"] == ctx.account]
        events: list[JSON] = [r["event"] for r in reversed(rows)]  # newest first
        events.sort(key=lambda e: e["created"], reverse=True)  # stable: same second kept
        found = [e for e in events if keep(e["created"]) and wanted(e["type"])]
        cursor, param = (after, "starting_after") if after else (before, "ending_before")
        if cursor is not None and cursor not in {e["id"] for e in found}:
            known = provider.store.get("events", cursor)
            if known is None or known["account"] != ctx.account:
                raise not_found("event", cursor, param)
        page, more = page_of(found, after, before, limit)
        return {"object": "list", "data": page, "has_more": more, "url": "/v1/events"}

    return work


def routes(provider: Provider) -> list[Route]:
    async def list_events(request: Request) -> Response:
        response: Response = await provider.handle(request, lambda p: prepare(provider, p))
        return response

    return [Route("/v1/events", list_events, methods=["GET"])]
