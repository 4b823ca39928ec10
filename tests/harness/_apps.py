"""Tiny real servers for the driver and fault tests (served by ``ServerProcess``).

``create_app`` answers with any status, sleeps on demand, counts requests per path and
measures how many requests it handled at the same time; it also serves a few HTML pages
for the browser driver and a stand-in for the fake provider's ``/_fake/faults`` API.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from harness._process import ServerProcess

NO_STORE = {"Cache-Control": "no-store"}

CHECKOUT_PAGE = """<!doctype html><html><head><title>Checkout</title></head><body>
<h1 id="confirm">Confirm your order</h1>
<form id="pay-form" method="post" action="{action}">
  <input type="hidden" name="key" value="k-123">
  <input type="text" name="note" value="hello">
  <button id="pay" type="submit">Pay</button>
</form>
<button id="js-pay" type="button" onclick="fetch('/api/pay', {{method: 'POST', body: 'x'}})">
  Pay with JS</button>
<p id="js-state">no script ran</p>
<script>document.getElementById('js-state').textContent = 'script ran';</script>
</body></html>"""

RESULT_PAGE = """<!doctype html><html><body><h1 id="success">Paid (post #{n})</h1>
<a id="again" href="/checkout">again</a></body></html>"""


class State:
    counts: ClassVar[Counter[str]] = Counter()
    in_flight = 0
    max_in_flight = 0
    arrivals: ClassVar[list[float]] = []
    faults: ClassVar[list[dict[str, Any]]] = []


def _count(request: Request) -> int:
    key = f"{request.method} {request.url.path}"
    State.counts[key] += 1
    return State.counts[key]


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def status(request: Request) -> Response:
    _count(request)
    code = int(request.path_params["code"])
    headers = {"Set-Cookie": "session=s3cret; Path=/"}
    replayed = request.query_params.get("replayed")
    if replayed is not None:
        headers["Idempotent-Replayed"] = replayed
    body = {"status": code, "secret": "sk_test_abcdef123", "token": "t-1"}
    return JSONResponse(body, status_code=code, headers=headers)


async def echo(request: Request) -> Response:
    _count(request)
    body = (await request.body()).decode()
    # "sess" (not "session"/"cookie") so the value survives redaction and tests can see it
    sess = request.cookies.get("session")
    return JSONResponse({"headers": dict(request.headers), "body": body, "sess": sess})


async def text(request: Request) -> Response:
    return Response("x" * 10_000, media_type="text/plain")


async def slow(request: Request) -> Response:
    _count(request)
    await asyncio.sleep(float(request.query_params.get("ms", "1000")) / 1000)
    return JSONResponse({"slept": True})


async def concurrent(request: Request) -> Response:
    """Sleeps a while, measuring how many of these run at once."""
    _count(request)
    State.arrivals.append(time.monotonic())
    State.in_flight += 1
    State.max_in_flight = max(State.max_in_flight, State.in_flight)
    try:
        await asyncio.sleep(float(request.query_params.get("ms", "300")) / 1000)
    finally:
        State.in_flight -= 1
    return JSONResponse({"ok": True})


async def stats(request: Request) -> Response:
    spread = max(State.arrivals) - min(State.arrivals) if State.arrivals else 0.0
    return JSONResponse(
        {"counts": dict(State.counts), "max_in_flight": State.max_in_flight, "spread_s": spread}
    )


async def reset(request: Request) -> Response:
    State.counts.clear()
    State.arrivals.clear()
    State.in_flight = State.max_in_flight = 0
    return JSONResponse({"ok": True})


async def checkout(request: Request) -> Response:
    action = request.query_params.get("action", "/pay")
    return HTMLResponse(CHECKOUT_PAGE.format(action=action), headers=NO_STORE)


async def pay(request: Request) -> Response:
    """A POST that answers with the result page directly (no redirect): reload re-POSTs."""
    n = _count(request)
    await request.form()
    return HTMLResponse(RESULT_PAGE.format(n=n), headers=NO_STORE)


async def pay_prg(request: Request) -> Response:
    """Post/Redirect/Get: 303 to a GET result page."""
    _count(request)
    await request.form()
    return RedirectResponse("/done", status_code=303, headers=NO_STORE)


async def done(request: Request) -> Response:
    return HTMLResponse(RESULT_PAGE.format(n=State.counts["POST /pay-prg"]), headers=NO_STORE)


async def api_pay(request: Request) -> Response:
    _count(request)
    return JSONResponse({"paid": True})


async def fake_faults(request: Request) -> Response:
    if request.method == "POST":
        body = await request.json()
        if body.get("mode") == "bogus":
            return JSONResponse({"error": "unknown mode"}, status_code=400)
        State.faults.append(body)
        return JSONResponse(body)
    if request.method == "DELETE":
        State.faults.clear()
    return JSONResponse({"data": State.faults})


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/status/{code:int}", status, methods=["GET", "POST"]),
            Route("/echo", echo, methods=["GET", "POST"]),
            Route("/text", text),
            Route("/slow", slow, methods=["GET", "POST"]),
            Route("/concurrent", concurrent, methods=["POST"]),
            Route("/stats", stats),
            Route("/reset", reset, methods=["POST"]),
            Route("/checkout", checkout),
            Route("/pay", pay, methods=["POST"]),
            Route("/pay-prg", pay_prg, methods=["POST"]),
            Route("/done", done),
            Route("/api/pay", api_pay, methods=["POST"]),
            Route("/_fake/faults", fake_faults, methods=["GET", "POST", "DELETE"]),
        ]
    )


def server() -> ServerProcess:
    """A ``ServerProcess`` for :func:`create_app` (not started yet)."""
    here = str(Path(__file__).resolve().parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
    return ServerProcess("_apps:create_app", env={"PYTHONPATH": path})
