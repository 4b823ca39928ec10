"""Bad input: schemathesis on the OpenAPI schema, Hypothesis on the fake's form parser, and a
battery of oversized, malformed, unicode and header-injection requests.

- schemathesis (v4 Python API): every operation of reference_app's ``/openapi.json`` gets
  generated cases (half logged in), each checked with ``not_a_server_error`` and
  ``response_schema_conformance``; a failure is recorded, not shrunk.
- Hypothesis: ``fake_provider._forms.parse_form`` either decodes or raises ``FormError``
  (never another exception), and decodes what a flat form encodes.
- battery: each bad request targets a real open order, so a parser that let it through would
  charge; the orders, payments, keys and events tables and the provider's ledger must be
  exactly as before, and every answer a 4xx.
"""

from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fake_provider._forms import FormError, parse_form
from harness.torture._figures import SectionResult
from harness.torture._stack import Context, Shopper, new_key
from reference_app.limits import MAX_BODY_BYTES

TABLES = ("orders", "payments", "idempotency_keys", "webhook_events")


def run(ctx: Context) -> SectionResult:
    result = SectionResult("fuzz", ctx.database, "schemathesis, form parser, bad input")
    server = ctx.start_app()
    _battery(ctx, server.url, result)
    _form_parser(ctx.scale.form_examples, result)
    _schemathesis(server.url, ctx.scale.fuzz_cases, result)
    return result


# -- schemathesis ------------------------------------------------------------------------------


def _schemathesis(url: str, cases: int, result: SectionResult) -> None:
    import schemathesis

    shopper = Shopper(url)
    cookies = dict(shopper.http.cookies)
    shopper.close()
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    operations = [op.ok() for op in schema.get_all_operations()]  # type: ignore[union-attr]
    per_operation = max(1, math.ceil(cases / max(1, len(operations))))
    lock = threading.Lock()
    for _round in range(6):  # small operations run out of distinct cases: go round again
        for operation in operations:
            _fuzz_operation(operation, url, cookies, per_operation, result, lock)
        if result.figures.get("schemathesis_cases", 0) >= cases:
            break
    result.figure("schemathesis_operations", len(operations))
    result.expect(
        "schemathesis ran the cases",
        result.figures.get("schemathesis_cases", 0) >= cases,
        f"{result.figures.get('schemathesis_cases', 0)} < {cases}",
    )
    result.expect(
        "no schemathesis failure", result.figures.get("schemathesis_failures", 0) == 0, ""
    )


def _fuzz_operation(
    operation: Any,
    url: str,
    cookies: dict[str, str],
    examples: int,
    result: SectionResult,
    lock: threading.Lock,
) -> None:
    from schemathesis.checks import not_a_server_error, response_schema_conformance

    name = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), logged_in=st.booleans())
    def check(case: Any, logged_in: bool) -> None:
        with lock:
            result.add("schemathesis_cases")
        try:
            response = case.call(base_url=url, cookies=cookies if logged_in else None)
        except Exception as exc:  # a transport error is a server failure too
            result.expect(f"{name}: answered", False, f"{type(exc).__name__}: {exc}")
            return
        result.add(f"schemathesis_{response.status_code // 100}xx")
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )
        except Exception as exc:
            result.add("schemathesis_failures")
            text = str(exc).strip().splitlines()
            result.expect(
                f"{name}: no 5xx and schema-conformant",
                False,
                f"{response.status_code}: {' '.join(text)[:400]}",
            )

    check()


# -- the fake provider's form parser -------------------------------------------------------------


def _form_parser(examples: int, result: SectionResult) -> None:
    names = st.text(st.characters(codec="utf-8", exclude_characters="[]&=\x00"), min_size=1)
    simple = st.dictionaries(
        names, st.text(st.characters(codec="utf-8", exclude_characters="\x00")), max_size=8
    )
    unexpected: list[str] = []
    mismatches: list[str] = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True)
    @given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=300)))
    def never_crashes(raw: bytes | str) -> None:
        result.add("form_parser_inputs")
        try:
            parse_form(raw)
        except FormError:
            result.add("form_parser_refused")
        except Exception as exc:
            unexpected.append(f"{raw!r}: {type(exc).__name__}: {exc}")

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True)
    @given(form=simple)
    def round_trips(form: dict[str, str]) -> None:
        result.add("form_parser_round_trips")
        try:
            decoded = parse_form(urlencode(form))
        except FormError as exc:
            mismatches.append(f"{form!r}: refused: {exc}")
            return
        if decoded != form:
            mismatches.append(f"{form!r} -> {decoded!r}")

    never_crashes()
    round_trips()
    result.expect("form parser: FormError or a value, nothing else", not unexpected, unexpected[:1])
    result.expect("form parser: a flat form round-trips", not mismatches, mismatches[:1])


# -- the battery -------------------------------------------------------------------------------


def _snapshot(ctx: Context) -> dict[str, int]:
    engine = sa.create_engine(ctx.database_url)
    try:
        with engine.connect() as conn:
            counts = {
                t: int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one())
                for t in TABLES
            }
    finally:
        engine.dispose()
    with ctx.fake() as fake:
        counts["ledger_entries"] = len(fake.ledger())
    return counts


def _raw(url: str, request: bytes) -> int | None:
    """Send raw bytes; the status code of the answer, or None if the server just closed."""
    parts = urlsplit(url)
    with socket.create_connection(
        (parts.hostname or "127.0.0.1", parts.port or 80), timeout=10
    ) as sock:
        sock.sendall(request)
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            return None
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else None


def _reframed(ctx: Context, shopper: Shopper, url: str, result: SectionResult) -> None:
    """Bare LF and obs-fold: RFC 9112 lets the parser read them as a line end / a space.

    The request is then a different, well-formed one (two headers, or one unfolded value),
    so it is answered as such; what must hold is that it is never charged twice.
    """
    cookie = "; ".join(f"{k}={v}" for k, v in shopper.http.cookies.items())
    body = json.dumps({"payment_method": "pm_card_visa"}).encode()
    for name, key in (("bare LF", b"abc\nX-Injected: 1"), ("obs-fold", b"abc\r\n continued")):
        order_id = shopper.new_order()
        path = f"/api/orders/{order_id}/confirm".encode()
        request = (
            b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Cookie: " + cookie.encode() + b"\r\nIdempotency-Key: " + key + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )
        statuses = [_raw(url, request) for _ in range(3)]
        result.figure(f"reframed_{name.replace(' ', '_')}_answers", len(statuses))
        with ctx.fake() as fake:
            charges = len(fake.charges(order_id))
        result.expect(
            f"{name}: re-framed request charged at most once",
            charges <= 1,
            f"{charges} charges, {statuses}",
        )


def _battery(ctx: Context, url: str, result: SectionResult) -> None:
    shopper = Shopper(url)
    order_id = shopper.new_order()
    cookie = "; ".join(f"{k}={v}" for k, v in shopper.http.cookies.items())
    path = f"/api/orders/{order_id}/confirm"
    body = json.dumps({"payment_method": "pm_card_visa"}).encode()
    before = _snapshot(ctx)
    answers: dict[str, int | None] = {}

    def http(name: str, **kwargs: Any) -> None:
        response = shopper.http.post(path, **kwargs)
        answers[name] = response.status_code
        if response.status_code >= 400 and "problem+json" not in response.headers.get(
            "content-type", ""
        ):
            result.expect(f"{name}: answered problem+json", False, response.text[:200])

    big = json.dumps({"payment_method": "pm_card_visa", "pad": "x" * (MAX_BODY_BYTES + 10)})
    http(
        "oversized body",
        content=big,
        headers={"Idempotency-Key": new_key(), "Content-Type": "application/json"},
    )

    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 4096 + 4):
            yield b" " * 4096

    http(
        "oversized chunked body",
        content=chunks(),
        headers={"Idempotency-Key": new_key(), "Content-Type": "application/json"},
    )
    http("missing key", json={"payment_method": "pm_card_visa"})
    http("empty key", json={"payment_method": "pm_card_visa"}, headers={"Idempotency-Key": ""})
    http(
        "overlong key",
        json={"payment_method": "pm_card_visa"},
        headers={"Idempotency-Key": "k" * 256},
    )
    http("tab in key", json={"payment_method": "pm_card_visa"}, headers={"Idempotency-Key": "a\tb"})
    http(
        "malformed json",
        content=b"{nope",
        headers={"Idempotency-Key": new_key(), "Content-Type": "application/json"},
    )
    http(
        "json array",
        content=b"[1,2]",
        headers={"Idempotency-Key": new_key(), "Content-Type": "application/json"},
    )
    http(
        "unicode payment method",
        json={"payment_method": "pm_cärd_💳"},
        headers={"Idempotency-Key": new_key()},
    )
    http(
        "extra amount field",
        json={"payment_method": "pm_card_visa", "amount": 1},
        headers={"Idempotency-Key": new_key()},
    )
    answers["unicode order id"] = shopper.http.post(
        "/api/orders/ord_%F0%9F%92%B3/confirm", json={}, headers={"Idempotency-Key": new_key()}
    ).status_code
    answers["unicode user"] = httpx.post(url + "/api/session", json={"user": "ålice💳"}).status_code

    def raw(name: str, key: bytes) -> None:
        request = (
            b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Cookie: " + cookie.encode() + b"\r\nIdempotency-Key: " + key + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )
        answers[name] = _raw(url, request)

    raw("CR in key (raw)", b"abc\rX-Injected: 1")
    raw("NUL in key (raw)", b"abc\x00def")
    raw("DEL in key (raw)", b"abc\x7fdef")
    raw("non-ASCII key (raw)", "ключ-💳".encode())
    after = _snapshot(ctx)
    _reframed(ctx, shopper, url, result)
    shopper.close()
    for name, status in answers.items():
        result.add("bad_requests")
        if status is not None and 400 <= status < 500:
            result.add("bad_requests_4xx")
        else:
            result.expect(f"{name}: a clear 4xx", False, f"answered {status}")
    for name in ("oversized body", "oversized chunked body"):
        result.expect(f"{name}: 413", answers.get(name) == 413, f"answered {answers.get(name)}")
    result.expect(
        "bad input changed nothing (tables, ledger)", before == after, f"{before} -> {after}"
    )
