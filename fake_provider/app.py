"""The ASGI application: Stripe's ``/v1`` subset, the ``/_fake`` control API, ``/healthz``."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fake_provider._checkout_routes import routes as checkout_routes
from fake_provider._errors import StripeError, invalid
from fake_provider._events_list import routes as events_routes
from fake_provider._lists import routes as list_routes
from fake_provider._params import Params, check_known, get_expand, get_int, get_str
from fake_provider._provider import Provider, ProviderConfig, processing_ms_from_env
from fake_provider._search import Births, parse_query
from fake_provider._threeds import routes as threeds_routes
from fake_provider.faults import FaultSpecError
from fake_provider.intents import Ctx, Work
from fake_provider.refunds import prepare_refund
from fake_provider.types import JSON
from fake_provider.webhooks import WebhookSpecError

__all__ = ["ProviderConfig", "create_app"]


def config_from_env() -> ProviderConfig:
    ttl = os.environ.get("NODOUBLE_FAKE_KEY_TTL", "86400")
    try:
        key_ttl = float(ttl)
    except ValueError:
        raise SystemExit(
            f"NODOUBLE_FAKE_KEY_TTL must be a number of seconds, got {ttl!r}"
        ) from None
    minimums = os.environ.get("NODOUBLE_FAKE_MIN_AMOUNTS", "1").lower() not in ("0", "false", "no")
    return ProviderConfig(
        state_path=os.environ.get("NODOUBLE_FAKE_STATE") or None,
        key_ttl=key_ttl,
        minimum_amounts=minimums,
        processing_ms=processing_ms_from_env(),
    )


def create_app(config: ProviderConfig | None = None) -> Starlette:
    """Build the fake; with no ``config`` it is read from the environment."""
    provider = Provider(config or config_from_env())
    pay = provider.payments
    clock = provider.clock  # POST /_fake/clock moves it; a reset puts it back
    births = Births(clock.now)

    def retrieve(table: str, kind: str, object_id: str) -> Any:
        def prepare(params: Params) -> Work:
            check_known(params, {"expand", "client_secret"})
            expand = get_expand(params)

            def work(ctx: Ctx) -> JSON:
                param = "intent" if table == "intents" else "id"  # Stripe's path parameter
                obj = pay.load(table, kind, object_id, ctx.account, param)
                return pay.view(obj, expand, ctx.account) if table == "intents" else obj

            return work

        return prepare

    def search(params: Params) -> Work:
        check_known(params, {"query", "limit", "page", "expand"})
        matches = parse_query(get_str(params, "query", required=True) or "")
        limit = get_int(params, "limit") or 10
        if not 1 <= limit <= 100:
            raise invalid("Invalid limit: it must be from 1 to 100.", param="limit")
        offset = _page_offset(get_str(params, "page", max_len=64))
        expand = get_expand(params)

        def work(ctx: Ctx) -> JSON:
            rows = [
                r["obj"] for r in provider.store.values("intents") if r["account"] == ctx.account
            ]
            found = sorted(
                (o for o in rows if matches(o)), key=lambda o: o["created"], reverse=True
            )
            found = provider.faults.lag_search(
                found, births.born, request_id=ctx.request_id or "", account=ctx.account
            )
            page = found[offset : offset + limit]
            more = len(found) > offset + limit
            return {
                "object": "search_result",
                "data": [pay.view(o, expand, ctx.account) for o in page],
                "has_more": more,
                "next_page": f"page_{offset + limit}" if more else None,
                "url": "/v1/payment_intents/search",
            }

        return work

    async def create_intent(request: Request) -> Response:
        return await provider.handle(request, births.noting(pay.prepare_create))

    async def search_intents(request: Request) -> Response:
        response = await provider.handle(request, search)
        request_id = response.headers.get("request-id", "")
        label = provider.faults.fired_on(request_id)
        if label is not None:  # a search lag fired: say so in the request log too
            for record in reversed(provider.requests):
                if record["request_id"] == request_id:
                    record["fault"] = label
                    break
        return response

    async def get_intent(request: Request) -> Response:
        return await provider.handle(request, retrieve("intents", "payment_intent", _id(request)))

    async def confirm(request: Request) -> Response:
        return await provider.handle(request, lambda p: pay.prepare_confirm(_id(request), p))

    async def capture(request: Request) -> Response:
        return await provider.handle(request, lambda p: pay.prepare_capture(_id(request), p))

    async def cancel(request: Request) -> Response:
        return await provider.handle(request, lambda p: pay.prepare_cancel(_id(request), p))

    async def refund(request: Request) -> Response:
        return await provider.handle(request, lambda p: prepare_refund(pay, p))

    async def get_refund(request: Request) -> Response:
        return await provider.handle(request, retrieve("refunds", "refund", _id(request)))

    async def get_charge(request: Request) -> Response:
        return await provider.handle(request, retrieve("charges", "charge", _id(request)))

    async def unknown(request: Request) -> Response:
        def prepare(params: Params) -> Work:
            raise StripeError(
                404,
                "invalid_request_error",
                f"Unrecognized request URL ({request.method}: {request.url.path}).",
                stored=False,
            )

        return await provider.handle(request, prepare)

    # -- control API ---------------------------------------------------------------
    async def ledger(request: Request) -> Response:
        q = request.query_params
        after = _after_seq(request)
        if isinstance(after, Response):
            return after
        entries = provider.ledger.entries(
            field=q.get("field"),
            value=q.get("value"),
            account=q.get("account"),
            kind=q.get("kind"),
            after_seq=after,
        )
        return JSONResponse({"data": entries})

    async def ledger_cursor(request: Request) -> Response:
        return JSONResponse({"seq": provider.ledger.cursor()})

    async def summary(request: Request) -> Response:
        q = request.query_params
        return JSONResponse(provider.ledger.summary(q.get("field", "order_id"), q.get("account")))

    async def requests_log(request: Request) -> Response:
        after = _after_seq(request)
        if isinstance(after, Response):
            return after
        return JSONResponse({"data": provider.requests_after(after or 0)})

    async def requests_cursor(request: Request) -> Response:
        return JSONResponse({"seq": provider.requests_cursor()})

    async def reset(request: Request) -> Response:
        await provider.reset()
        return JSONResponse({"ok": True})

    async def add_fault(request: Request) -> Response:
        try:
            fault = provider.faults.add(await _json(request))
        except (FaultSpecError, ValueError) as exc:
            return _problem(400, "Invalid fault", f"{exc}.")
        return JSONResponse(fault.record(), status_code=201)

    async def list_faults(request: Request) -> Response:
        return JSONResponse({"data": provider.faults.records()})

    async def clear_faults(request: Request) -> Response:
        provider.faults.clear()
        return JSONResponse({"ok": True})

    async def remove_fault(request: Request) -> Response:
        fault_id = request.path_params["id"]
        record = provider.faults.remove(fault_id)
        if record is None:
            return _problem(404, "No such fault", f"No armed fault has id {fault_id!r}.")
        return JSONResponse(record)

    async def add_endpoint(request: Request) -> Response:
        try:
            endpoint = provider.webhooks.register(await _json(request))
        except (WebhookSpecError, ValueError) as exc:
            return _problem(400, "Invalid webhook endpoint", f"{exc}.")
        return JSONResponse(endpoint.__dict__, status_code=201)

    async def list_endpoints(request: Request) -> Response:
        return JSONResponse({"data": [e.__dict__ for e in provider.webhooks.endpoints()]})

    async def remove_endpoint(request: Request) -> Response:
        endpoint_id = request.path_params["endpoint_id"]
        if not provider.webhooks.remove(endpoint_id):
            return _problem(
                404, "No such webhook endpoint", f"There is no webhook endpoint {endpoint_id!r}."
            )
        return JSONResponse({"id": endpoint_id, "deleted": True})

    async def resend(request: Request) -> Response:
        event_id = request.path_params["event_id"]
        if not provider.webhooks.resend(event_id):
            return _problem(404, "No such event", f"There is no event {event_id!r}.")
        return JSONResponse({"ok": True, "event_id": event_id})

    async def deliveries(request: Request) -> Response:
        return JSONResponse({"data": provider.webhooks.deliveries})

    async def events(request: Request) -> Response:
        return JSONResponse({"data": provider.webhooks.events()})

    async def flush(request: Request) -> Response:
        try:
            wait = float(request.query_params.get("timeout", "30"))
        except ValueError:
            return _problem(400, "Invalid timeout", "timeout must be a number of seconds.")
        done = await provider.webhooks.flush(wait)
        return JSONResponse({"done": done}, status_code=200 if done else 504)

    async def hold_webhooks(request: Request) -> Response:
        try:
            events = await _json_field(request, "events", "[...]")
            if not isinstance(events, list):
                raise WebhookSpecError(f"events must be a list of event types, got {events!r}")
            provider.webhooks.hold(events)
        except ValueError as exc:  # WebhookSpecError included
            return _problem(400, "Invalid webhook hold", f"{exc}.")
        return JSONResponse(_holding(provider))

    async def get_webhook_hold(request: Request) -> Response:
        return JSONResponse(_holding(provider))

    async def release_webhooks(request: Request) -> Response:
        released = provider.webhooks.release()
        return JSONResponse({"released": released, **_holding(provider)})

    async def get_clock(request: Request) -> Response:
        return JSONResponse({"now": clock.now(), "offset_s": clock.offset})

    async def advance_clock(request: Request) -> Response:
        try:
            step = await _json_field(request, "advance_s", "N")
            if not isinstance(step, int | float) or isinstance(step, bool):
                raise ValueError(f"advance_s must be a number of seconds, got {step!r}")
            clock.advance(float(step))
        except ValueError as exc:
            return _problem(400, "Invalid clock change", f"{exc}.")
        return JSONResponse({"now": clock.now(), "offset_s": clock.offset})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await provider.webhooks.aclose()
        provider.store.close()

    post, get, delete = ["POST"], ["GET"], ["DELETE"]
    routes = [
        Route("/healthz", healthz, methods=get),
        *threeds_routes(provider),
        Route("/v1/payment_intents", create_intent, methods=post),
        Route("/v1/payment_intents/search", search_intents, methods=get),
        Route("/v1/payment_intents/{id}", get_intent, methods=get),
        Route("/v1/payment_intents/{id}/confirm", confirm, methods=post),
        Route("/v1/payment_intents/{id}/capture", capture, methods=post),
        Route("/v1/payment_intents/{id}/cancel", cancel, methods=post),
        Route("/v1/refunds", refund, methods=post),
        Route("/v1/refunds/{id}", get_refund, methods=get),
        Route("/v1/charges/{id}", get_charge, methods=get),
        *list_routes(pay, provider.handle),
        *checkout_routes(provider),
        *events_routes(provider),
        Route("/v1/{rest:path}", unknown, methods=["GET", "POST", "DELETE", "PUT", "PATCH"]),
        Route("/_fake/ledger", ledger, methods=get),
        Route("/_fake/ledger/cursor", ledger_cursor, methods=get),
        Route("/_fake/summary", summary, methods=get),
        Route("/_fake/requests", requests_log, methods=get),
        Route("/_fake/requests/cursor", requests_cursor, methods=get),
        Route("/_fake/reset", reset, methods=post),
        Route("/_fake/faults", add_fault, methods=post),
        Route("/_fake/faults", list_faults, methods=get),
        Route("/_fake/faults", clear_faults, methods=delete),
        Route("/_fake/faults/{id}", remove_fault, methods=delete),
        Route("/_fake/webhooks/endpoints", add_endpoint, methods=post),
        Route("/_fake/webhooks/endpoints", list_endpoints, methods=get),
        Route("/_fake/webhooks/endpoints/{endpoint_id}", remove_endpoint, methods=delete),
        Route("/_fake/webhooks/resend/{event_id}", resend, methods=post),
        Route("/_fake/webhooks/deliveries", deliveries, methods=get),
        Route("/_fake/webhooks/events", events, methods=get),
        Route("/_fake/webhooks/flush", flush, methods=post),
        Route("/_fake/webhooks/hold", hold_webhooks, methods=post),
        Route("/_fake/webhooks/hold", get_webhook_hold, methods=get),
        Route("/_fake/webhooks/hold", release_webhooks, methods=delete),
        Route("/_fake/clock", get_clock, methods=get),
        Route("/_fake/clock", advance_clock, methods=post),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.provider = provider
    return app


def _holding(provider: Provider) -> JSON:
    """What a webhook hold keeps back: the held types and the held events' ids."""
    return {"events": sorted(provider.webhooks.held_types), "held": provider.webhooks.held()}


def _page_offset(page: str | None) -> int:
    """Read a ``page`` cursor this fake handed out as ``next_page`` (``page_<offset>``)."""
    if not page:
        return 0
    digits = page.removeprefix("page_")
    if not page.startswith("page_") or not digits.isascii() or not digits.isdigit():
        raise invalid(
            f"Invalid page: {page!r} is not a next_page value from an earlier search.",
            param="page",
        )
    return int(digits)


def _after_seq(request: Request) -> int | Response | None:
    """The ``after_seq`` query parameter, or the problem answer when it is not a count."""
    raw = request.query_params.get("after_seq")
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit():
        return _problem(
            400,
            "Invalid after_seq",
            f"after_seq must be a whole number of 0 or more (a seq from a cursor), got {raw!r}.",
        )
    return int(raw)


def _id(request: Request) -> str:
    value: str = request.path_params["id"]
    return value


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"the body is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


async def _json_field(request: Request, name: str, example: str) -> Any:
    """The one field of a JSON body that may have only ``name`` (``ValueError`` otherwise)."""
    body = await _json(request)
    unknown = set(body) - {name}
    if unknown:
        raise ValueError(f'unknown field(s) {sorted(unknown)}; send {{"{name}": {example}}}')
    return body.get(name)


def _problem(status: int, title: str, detail: str) -> Response:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )
