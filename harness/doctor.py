"""``nodouble doctor``: does a profile describe the live checkout? One line per check.

A first run against a new checkout fails for setup reasons far more often than for double
charges: a provider not running, a sign-in that does not set the cookie, a pointer that
names the wrong field, a checkout configured with another test key. Each of those would
otherwise surface as a confusing scenario error. The doctor walks one purchase through
the profile, in order, and says for each step what it saw and, when it failed, which
profile field to look at:

1. the provider answers;  2. the checkout answers;  3. each user signs in;
4. an order is created (its id and amount pointers resolve);
5. the order reads back unpaid (the paid pointer resolves, to something else than the
   paid value);  6. a confirm with an idempotency key is accepted;
7. the order then reads back paid;  8. the provider saw the checkout's calls under the
   profile's account;  9. the charge carries the order id under the business key;
10. the webhook endpoint exists (when the profile has one).

A check that cannot run because an earlier one failed, or that the profile gives no way
to make (no ``[api]``), is reported as skipped, never as passed. Only the API is used;
pages and selectors are proved by the browser scenarios. ``nodouble run`` runs the same
checks first and stops on a failed one (:func:`problems`).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

import httpx

from fake_provider.client import FakeProviderClient
from harness._pointer import resolve_pointer
from harness.history import History, Op
from harness.interpreter import Interpreter
from harness.ledger import LedgerEntry
from harness.ledger_sources import LedgerSource, open_source
from harness.target import Target
from scenarios import steps as s

Outcome = Literal["ok", "fail", "skip"]
USERS = ("alice", "bob")
"""The scenario users every scenario may sign in as."""


@dataclass(frozen=True)
class Check:
    name: str
    outcome: Outcome
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {"ok": "ok  ", "fail": "FAIL", "skip": "skip"}[self.outcome]
        fix = f" -> {self.fix}" if self.fix else ""
        return f"{mark} {self.name}: {self.detail}{fix}"


class _Failed(Exception):
    """Ends the walk: every later check depends on this one."""


@dataclass
class Doctor:
    target: Target
    timeout_s: float = 5.0
    checks: list[Check] | None = None

    def run(self) -> list[Check]:
        self.checks = []
        source = open_source(self.target)
        try:
            with suppress(_Failed):
                self._provider(source)
                self._health()
                with self._interpreter(source) as interp:
                    self._walk(interp, source)
        finally:
            source.close()
        done = {c.name for c in self.checks}
        for name in NAMES:
            if name not in done:
                self.checks.append(Check(name, "skip", "not checked: an earlier check failed"))
        return self.checks

    # -- the walk ---------------------------------------------------------------------------

    def _walk(self, interp: Interpreter, source: LedgerSource) -> None:
        profile = self.target.profile
        if profile.api is None:  # a shop of pages only: its browser scenarios prove the rest
            for name in NAMES[NAMES.index("sign-in") : NAMES.index("webhooks")]:
                self._skip(name, "no [api] in the profile: the browser scenarios check this")
            self._webhooks()
            return
        self._sign_in(interp)
        requests = self._requests_cursor(source)
        ledger = source.cursor()
        order_id = self._create(interp)
        self._read_unpaid(interp)
        self._confirm(interp)
        with suppress(_Failed):  # an order that never reads paid: the key checks still run
            self._read_paid(interp)
        source.settle(quiet_s=0.5, limit_s=3.0)
        rows = [r for r in source.rows(ledger) if r.kind == "charge"]
        # each of these names its own problem: one failing does not hide the others
        with suppress(_Failed):
            self._account(requests, rows)
        with suppress(_Failed):
            self._business_key(rows, order_id)
        self._webhooks()

    def _provider(self, source: LedgerSource) -> None:
        try:
            source.check()
        except Exception as exc:
            self._fail(
                "provider",
                f"{source.describe()}: {_first_line(exc)}",
                "start it (nodouble provider), or fix [provider] url, ledger or api_key_env",
            )
        self._ok("provider", f"answers: {source.describe()}")

    def _requests_cursor(self, source: LedgerSource) -> int | None:
        """Where the fake's request log is now, when the account can be checked there."""
        if not source.account_probe:
            return None
        with FakeProviderClient(self.target.provider_url) as provider:
            return provider.requests_cursor()

    def _health(self) -> None:
        profile = self.target.profile
        url = (profile.process.health_url if profile.process else None) or self.target.base_url
        try:
            status = httpx.get(url, timeout=self.timeout_s).status_code
        except httpx.HTTPError as exc:
            self._fail(
                "checkout",
                f"no answer at {url} ({type(exc).__name__})",
                "start the checkout, or fix base_url / [process] health_url",
            )
        if status >= 500:
            self._fail("checkout", f"{url} answers HTTP {status}", "look at the checkout's log")
        self._ok("checkout", f"{url} answers HTTP {status}")

    def _sign_in(self, interp: Interpreter) -> None:
        session = self.target.profile.session
        names = []
        # fresh users sign in through the login request; static headers name their own users
        for user in USERS if session.login else USERS[: len(session.users)]:
            name = session.users[USERS.index(user)] if not session.login else user
            if not session.login and not (session.headers or {}).get(name):
                self._fail("sign-in", f"{user}: user {name!r} has no headers",
                           f"add [session.headers.{name}]")  # fmt: skip
            try:
                interp.api(user)
                names.append(interp.user_name(user))
            except Exception as exc:
                how = "[session.login]" if session.login else "[session] users / headers"
                self._fail("sign-in", f"{user}: {_first_line(exc)}", f"fix {how}")
        how = "signed in" if session.login else "use the profile's static headers"
        self._ok("sign-in", f"{', '.join(names)} {how}")

    def _create(self, interp: Interpreter) -> str:
        assert self.target.profile.api is not None
        spec = self.target.profile.api.create_order
        try:
            interp.step(s.CreateOrder(order="doctor"))
        except Exception as exc:
            op = _last(interp.history, "create_order")
            self._fail(
                "order",
                f"{_first_line(exc)}{_answer(op)}",
                "fix [api.create_order] path, body or order_id_pointer",
            )
        order_id = interp.state.order_id("doctor")
        amount = interp.state.amounts.get(order_id)
        if amount is None:
            op = _last(interp.history, "create_order")
            self._fail(
                "order",
                f"created {order_id}, but amount_pointer {spec.amount_pointer} "
                f"does not resolve to an integer{_answer(op)}",
                "fix [api.create_order] amount_pointer",
            )
        self._ok("order", f"created {order_id}, amount {amount}")
        return order_id

    def _read(self, interp: Interpreter) -> tuple[Any, Op | None]:
        interp.step(s.ReadOrder(order="doctor"))
        op = _last(interp.history, "read_order")
        return (op.value.get("paid") if op else None), op

    def _read_unpaid(self, interp: Interpreter) -> None:
        api = self.target.profile.api
        assert api is not None
        if api.read_order is None:
            self._fail(
                "read",
                "the profile has no [api.read_order]",
                "add [api.read_order] (or [browser.read_order])",
            )
        spec = api.read_order
        paid, op = self._read(interp)
        if paid is None:
            self._fail(
                "read",
                f"paid_pointer {spec.paid_pointer} does not resolve in the "
                f"order's answer{_answer(op)}",
                "fix [api.read_order] path or paid_pointer",
            )
        if paid:
            self._fail(
                "read",
                f"the new order already reads as paid ({spec.paid_pointer} = "
                f"{spec.paid_value!r}) before any payment",
                "fix [api.read_order] paid_value",
            )
        shown = resolve_pointer(_body(op), spec.paid_pointer)
        self._ok("read", f"{spec.paid_pointer} = {shown!r} before paying")

    def _confirm(self, interp: Interpreter) -> None:
        interp.step(s.Confirm(order="doctor", key="doctor"))
        op = _last(interp.history, "confirm")
        status = _status(op)
        # refused (4xx) or broken (5xx) fails here; accepted for later (202, 409 with
        # Retry-After) or unanswered is left to the paid read, which polls
        if op is None or op.type == "fail" or (status is not None and status >= 500):
            self._fail(
                "confirm",
                f"the confirm was not accepted ({_said(op)}){_answer(op)}",
                "fix [api.confirm] method, path, body or idempotency_header",
            )
        api = self.target.profile.api
        header = api.confirm.idempotency_header if api else ""
        said = f"HTTP {status}" if status is not None else _said(op)
        self._ok("confirm", f"{said} " + (f"with {header}" if header else "(no key header)"))

    def _read_paid(self, interp: Interpreter) -> None:
        api = self.target.profile.api
        assert api is not None and api.read_order is not None
        spec = api.read_order
        deadline = time.monotonic() + max(self.target.profile.reconcile_window_s or 0, 3.0)
        paid, op = self._read(interp)
        while not paid and time.monotonic() < deadline:
            time.sleep(0.3)
            paid, op = self._read(interp)
        shown = resolve_pointer(_body(op), spec.paid_pointer)
        if not paid:
            self._fail(
                "paid",
                f"after the confirm {spec.paid_pointer} reads {shown!r}, never {spec.paid_value!r}",
                "fix [api.read_order] paid_value (or reconcile_window_s)",
            )
        self._ok("paid", f"{spec.paid_pointer} = {shown!r} after paying")

    def _account(self, cursor: int | None, charges: list[LedgerEntry]) -> None:
        expected = self.target.profile.provider.api_key
        if cursor is None:  # Stripe's test mode: the ledger is read with one account's key
            if not charges:  # an authorisation leaves no row yet: not proof of another account
                self._skip("account", "no charge read yet under the ledger's account (an "
                           "authorisation leaves none): the scenarios check it")  # fmt: skip
                return
            self._ok("account", "the charge is in the account the ledger reads")
            return
        with FakeProviderClient(self.target.provider_url) as provider:
            log = provider.requests(after_seq=cursor)
        accounts = {str(r["account"]) for r in log if r.get("account")}
        if not accounts:
            self._fail(
                "account",
                f"the checkout made no call to the provider at {self.target.provider_url}",
                "configure the checkout with this provider's URL",
            )
        if accounts != {expected}:
            self._fail(
                "account",
                f"the checkout pays with {', '.join(sorted(accounts))}, the "
                f"profile says {expected}",
                "set [provider] api_key to the checkout's key",
            )
        self._ok("account", f"the checkout pays with {expected}")

    def _business_key(self, charges: list[LedgerEntry], order_id: str) -> None:
        field = self.target.profile.provider.business_key
        if not charges:
            self._fail(
                "business key",
                "the confirm left no charge in the provider's ledger",
                "check that the checkout charges (not only authorises) on confirm",
            )
        if not any(r.own_key(field) == order_id for r in charges):
            seen = sorted({k for r in charges for k in r.metadata})
            self._fail(
                "business key",
                f"no charge has metadata {field} = {order_id!r} "
                f"(metadata fields seen: {', '.join(seen) or 'none'})",
                "set [provider] business_key to the field holding the order id",
            )
        self._ok("business key", f"the charge carries {field} = {order_id}")

    def _webhooks(self) -> None:
        hooks = self.target.profile.webhooks
        if hooks is None:
            self._ok("webhooks", "none in the profile (webhook scenarios are not applicable)")
            return
        url = self.target.base_url.rstrip("/") + hooks.path
        try:  # an unsigned event: a checkout must refuse it, but not with 404 or 5xx
            status = httpx.post(
                url, json={"type": "nodouble.doctor"}, timeout=self.timeout_s
            ).status_code
        except httpx.HTTPError as exc:
            self._fail(
                "webhooks", f"no answer at {url} ({type(exc).__name__})", "fix [webhooks] path"
            )
        if status in (404, 405) or status >= 500:
            self._fail(
                "webhooks",
                f"an unsigned event at {hooks.path} got HTTP {status}",
                "fix [webhooks] path",
            )
        self._ok("webhooks", f"{hooks.path} answers an unsigned event with HTTP {status}")

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _interpreter(self, source: LedgerSource) -> Iterator[Interpreter]:
        with tempfile.TemporaryDirectory(prefix="nodouble-doctor-") as tmp:
            run_id = f"dr{uuid.uuid4().hex[:6]}"
            interp = Interpreter(self.target, History(), Path(tmp), run_id, ledger=source)
            try:
                yield interp
            finally:
                interp.close()

    def _ok(self, name: str, detail: str) -> None:
        assert self.checks is not None
        self.checks.append(Check(name, "ok", detail))

    def _skip(self, name: str, detail: str) -> None:
        assert self.checks is not None
        self.checks.append(Check(name, "skip", detail))

    def _fail(self, name: str, detail: str, fix: str) -> NoReturn:
        assert self.checks is not None
        self.checks.append(Check(name, "fail", detail, fix))
        raise _Failed


NAMES = (
    "provider",
    "checkout",
    "sign-in",
    "order",
    "read",
    "confirm",
    "paid",
    "account",
    "business key",
    "webhooks",
)


def diagnose(target: Target) -> list[Check]:
    return Doctor(target).run()


def _last(history: History, f: str) -> Op | None:
    done = history.completions(f)
    return done[-1] if done else None


def _status(op: Op | None) -> int | None:
    response = (op.value.get("response") or {}) if op else {}
    status = response.get("status")
    return status if isinstance(status, int) else None


def _said(op: Op | None) -> str:
    if op is None:
        return "no request was made"
    status = _status(op)
    return f"HTTP {status}" if status is not None else str(op.value.get("error") or op.type)


def _body(op: Op | None) -> Any:
    return ((op.value.get("response") or {}) if op else {}).get("body")


def _answer(op: Op | None, limit: int = 160) -> str:
    """A short view of the answer, so the user sees which fields it has."""
    body = _body(op)
    if body is None:
        return ""
    if isinstance(body, dict):
        return f"; the answer's fields: {', '.join(map(str, body))}"
    text = str(body)
    return f"; the answer was {text[:limit]}{'...' if len(text) > limit else ''}"


def _first_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0]


ADVISORY = frozenset({"paid", "business key", "webhooks"})
"""Checks whose failure ``nodouble run`` reports without stopping. An order that never reads
paid may be a wrong ``paid_value`` or a checkout that hides a payment (a money failure the
scenarios must judge, not a setup error); a charge without the business key is still
attributed by the ledger windows; the webhook scenarios fail with their own evidence."""


def problems(checks: list[Check]) -> tuple[list[Check], list[Check]]:
    """(failed checks that stop a run, failed checks it only reports)."""
    failed = [c for c in checks if c.outcome == "fail"]
    return [c for c in failed if c.name not in ADVISORY], [c for c in failed if c.name in ADVISORY]
