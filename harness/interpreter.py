"""The interpreter: turns a scenario's steps into driver and fault calls.

Scenarios (``scenarios/``) are pure data; this module is the only place that knows how
a ``Confirm`` becomes an HTTP request or a ``ClickPay`` becomes clicks in Chromium (the
split between Jepsen's generators and its ``generator/interpreter.clj``). Everything
that happens is recorded in the run's :class:`~harness.history.History`.

References in steps (``order="o1"``, ``key="k1"``, ``user="alice"``, ``tab="t1"``) are
bound here to real order ids, Idempotency-Keys unique to this run, sessions and tabs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from fake_provider.client import FakeProviderClient
from harness import _capture, _webhooks
from harness._browsing import BrowserSession
from harness._pointer import resolve_pointer
from harness._tls import tls_context
from harness.drivers.api import ApiDriver, RequestSpec
from harness.faults.provider import ProviderFaults
from harness.faults.proxy import FaultProxy, ProxyRule
from harness.history import History, Op
from harness.ledger_sources import LedgerSource
from harness.profile import ApiSection, TargetProfile, render
from harness.target import Target
from scenarios import steps as s
from scenarios._model import Scenario

NEMESIS = "nemesis"
MONEY = "money"
"""The fake provider's matcher for every call that can move money."""
HOSTED = "hosted"
"""The provider fault endpoint for payments made on the provider's own pages."""
SEARCH = "GET /v1/payment_intents/search"
"""The fake provider's PaymentIntent search, which a ``search_lag`` fault acts on."""
SCENARIO_USERS = ("alice", "bob")


class StepError(RuntimeError):
    """A step could not be carried out; the scenario run is an ``error``, never a pass."""


@dataclass
class RunState:
    """Everything one scenario run has bound so far."""

    run_id: str
    round: int = 0
    orders: dict[str, str] = field(default_factory=dict)
    """Order reference → the checkout's order id."""
    amounts: dict[str, int] = field(default_factory=dict)
    """Order id → amount the checkout quoted when the order was created."""
    creators: dict[str, str] = field(default_factory=dict)
    """Order id → the scenario's name of the user who created it (``alice``, ``bob``)."""
    reconcile_window_passed: bool = False
    webhook_endpoints: list[str] = field(default_factory=list)

    def key(self, ref: str) -> str:
        return f"nd-{self.run_id}-r{self.round}-{ref}"

    def order_id(self, ref: str) -> str:
        ref = self.ref(ref)
        if ref not in self.orders:
            raise StepError(f"order {ref!r} is used before a step created it")
        return self.orders[ref]

    def ref(self, ref: str) -> str:
        return f"{ref}@{self.round}"


class Interpreter:
    """Runs one scenario against one target, recording into ``history``."""

    def __init__(
        self,
        target: Target,
        history: History,
        artifacts: Path,
        run_id: str,
        *,
        browser: BrowserSession | None = None,
        ledger: LedgerSource | None = None,
        scoped: bool = False,
    ) -> None:
        self.target = target
        self.ledger = ledger
        """Where the reconcile wait reads whether an order was charged; ``None``: the fake's
        ledger. A source without the fake's control API also means no fault to clear."""
        self.profile: TargetProfile = target.profile
        self.history = history
        self.artifacts = artifacts
        self.state = RunState(run_id)
        self.provider = FakeProviderClient(target.provider_url, verify=tls_context())
        self.provider_faults = ProviderFaults(target.provider_url, history)
        self.browser = browser
        self.screenshots: list[str] = []
        """Screenshot paths relative to the report directory."""
        self.fault_problems: list[str] = []
        """Faults that were armed and never hit a money-moving call: the run proves nothing."""
        self._armed: list[list[str]] = []
        """Per ProviderFault step, the ids of the faults it armed (one per charge call) and
        not reported yet: the step proves something when any of them acted on money."""
        self._lags: list[str] = []
        """Ids of armed ``search_lag`` faults not reported yet."""
        self.scoped = scoped
        """Provider faults reach only this run's intents (:meth:`_scope`), so that other runs
        may go on beside it; clearing them removes this run's faults and no other."""
        self.scope_missed = False
        """A scoped fault never acted on money: perhaps the checkout does not label its
        intents with the business key, so the run must be tried again alone, unscoped."""
        self._fault_ids: list[str] = []
        """Every provider fault this run armed and has not removed."""
        self._arming = False
        """This run asked the provider for a fault since its faults were last cleared, an
        answer it never read included (the fault may be armed all the same)."""
        self._requests_cursor: int | None = None
        self._rules: list[ProxyRule] = []
        self._apis: dict[tuple[str, bool], ApiDriver] = {}
        self._proxy: FaultProxy | None = None
        self._handlers: dict[type, Callable[[Any], None]] = {
            s.CreateOrder: self.create_order,
            s.Confirm: self.confirm,
            s.Burst: self.burst,
            s.ReadOrder: self.read_order,
            s.ProviderFault: self.provider_fault,
            s.ClearProviderFaults: self.clear_provider_faults,
            s.NetworkFault: self.network_fault,
            s.KillTarget: self.kill_target,
            s.RestartTarget: self.restart_target,
            s.Reconcile: self.reconcile,
            s.Sleep: lambda step: time.sleep(step.ms / 1000),
            s.ListenWebhooks: self.listen_webhooks,
            s.WaitWebhooks: self.wait_webhooks,
            s.ReplayWebhooks: self.replay_webhooks,
            s.ForgeWebhook: self.forge_webhook,
            s.Capture: lambda step: _capture.capture(self, step),
        }

    # -- running ----------------------------------------------------------------------

    def run(self, scenario: Scenario) -> None:
        try:
            for round_ in range(scenario.rounds):
                self.state.round = round_
                for step in scenario.steps:
                    self.step(step)
        except Exception as exc:
            self.take_stock(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.close()

    def take_stock(self, broke: str) -> None:
        """A step broke the story: still learn what became of the money before giving up.

        The steps left (often a reconcile wait and a read of the order) will not run, yet the
        charges made before the break are real. So wait as the ``Reconcile`` step does and
        read back every order the run created: the money checkers then judge what happened,
        and a double or an orphan charge fails the run instead of hiding behind its error.
        The run stays an error otherwise; nothing the story did not reach is pretended. A
        failure here is recorded and never replaces the error that broke the story.
        """
        if not self.state.orders:
            return
        op = self.history.invoke("harness", "take_stock", {"broke": broke})
        orders = sorted(set(self.state.orders.values()))
        errors: list[str] = []

        def attempt(what: str, action: Callable[[], None]) -> None:
            try:
                action()
            except Exception as exc:  # one failed read must not stop the others
                errors.append(f"{what}: {type(exc).__name__}: {exc}")

        attempt("reconcile wait", partial(self.reconcile, s.Reconcile(), every_round=True))
        for order_id in orders:
            user = self.state.creators.get(order_id, "alice")
            attempt(f"read {order_id}", partial(self.read_order_id, order_id, user))
        if errors:
            self.history.info(op, {"orders": len(orders), "errors": errors})
        else:
            self.history.ok(op, {"orders": len(orders)})

    def step(self, step: s.Step) -> None:
        handler = self._handlers.get(type(step))
        if handler is not None:
            handler(step)
            return
        if self.browser is None:
            raise StepError(f"{type(step).__name__} needs a browser, and none was started")
        self.browser.step(step, self)

    def close(self) -> None:
        try:
            if self.browser is not None:
                self.browser.finish(self)
            self._report_provider_faults()
            if self.ledger is None or not self.ledger.unavailable.get("provider_faults"):
                self._stop_provider_faults()
            self._report_network_faults()
        finally:
            for endpoint in self.state.webhook_endpoints:
                self.provider.delete_webhook_endpoint(endpoint)
            for api in self._apis.values():
                api.close()
            if self._proxy is not None:
                self._proxy.stop()
            self.provider_faults.close()
            self.provider.close()

    # -- users and API clients ------------------------------------------------------------

    def user_name(self, user: str) -> str:
        """The target's name for a scenario user.

        With a login request every run signs in fresh users (``alice-<run>``); with static
        headers, ``alice`` and ``bob`` are the profile's first and second users.
        """
        session = self.profile.session
        if session.login is not None:
            return f"{user}-{self.state.run_id}"
        index = SCENARIO_USERS.index(user) if user in SCENARIO_USERS else len(SCENARIO_USERS)
        if index >= len(session.users):
            raise StepError(f"the profile lists {len(session.users)} user(s); {user!r} has none")
        return session.users[index]

    def api(self, user: str, *, through_proxy: bool = False) -> ApiDriver:
        cached = self._apis.get((user, through_proxy))
        if cached is not None:
            return cached
        name = self.user_name(user)
        if through_proxy:
            direct = self.api(user)
            driver = ApiDriver(
                self.proxy().url, self.history, process=f"{user}-proxy",
                cookies=dict(direct.client.cookies), headers=self._user_headers(name),
                key_header=self._key_header(), user=name, csrf=self.profile.session.csrf,
            )  # fmt: skip
        else:
            driver = ApiDriver(
                self.target.base_url, self.history, process=user,
                headers=self._user_headers(name), key_header=self._key_header(), user=name,
                csrf=self.profile.session.csrf,
            )  # fmt: skip
            login = self.profile.session.login
            if login is not None:
                values = {"user": name}
                done = driver.login(
                    login.method, render(login.path, values),
                    json=render(login.json_body, values) if login.json_body else None,
                    data=render(login.form, values) if login.form else None,
                )  # fmt: skip
                if done.type != "ok":
                    raise StepError(f"login as {name!r} failed: {_status_or_error(done)}")
        self._apis[(user, through_proxy)] = driver
        return driver

    def _user_headers(self, name: str) -> dict[str, str]:
        headers = self.profile.session.headers
        return dict(headers.get(name, {})) if headers else {}

    def _key_header(self) -> str:
        """The confirm's idempotency header; ``""`` for a checkout keyed on the order."""
        return self._api_section().confirm.idempotency_header or ""

    def _api_section(self) -> ApiSection:
        if self.profile.api is None:
            raise StepError("this step needs the profile's [api] section")
        return self.profile.api

    def proxy(self) -> FaultProxy:
        if self._proxy is None:
            self._proxy = FaultProxy(self.target.base_url, self.history)
            self._proxy.start()
        return self._proxy

    # -- API steps ------------------------------------------------------------------------

    def create_order(self, step: s.CreateOrder) -> None:
        spec = self._api_section().create_order
        params = {**spec.params, "user": self.user_name(step.user)}
        if step.sku is not None:
            params["sku"] = step.sku
        params["quantity"] = step.quantity
        done = self.api(step.user).request(
            "create_order", spec.method, render(spec.path, params), json=render(spec.body, params)
        )
        body = _body(done)
        order_id = resolve_pointer(body, spec.order_id_pointer)
        if done.type != "ok" or not isinstance(order_id, str | int):
            raise StepError(f"could not create an order: {_status_or_error(done)}")
        self.state.orders[self.state.ref(step.order)] = str(order_id)
        self.state.creators[str(order_id)] = step.user
        amount = resolve_pointer(body, spec.amount_pointer)
        if isinstance(amount, int):
            self.state.amounts[str(order_id)] = amount

    def confirm_request(
        self, order: str, key: str | None, user: str, payment_method: str, forge: bool = False
    ) -> RequestSpec:
        spec = self._api_section().confirm
        order_id = self.state.order_id(order)
        values = {
            "order_id": order_id, "user": self.user_name(user), "key": key or "",
            "payment_method": payment_method,
        }  # fmt: skip
        body = render(spec.body, values)
        if forge:  # the one change made outside the profile's template: a forged amount
            body = {**body, "amount": forged_amount(self.state.amounts.get(str(order_id)))}
        return RequestSpec(
            "confirm", spec.method, render(spec.path, values), json=body,
            order_id=order_id, key=key,
        )  # fmt: skip

    def confirm(self, step: s.Confirm) -> None:
        key = None if step.key is None else self.state.key(step.key)
        method = step.payment_method
        if step.change == "payment_method":  # the profile's own field, through its template
            method = "pm_card_mastercard" if method != "pm_card_mastercard" else "pm_card_visa"
        forge = step.change == "amount"
        request = self.confirm_request(step.order, key, step.user, method, forge)
        annotate = None
        if step.manual_capture:
            request = _capture.manual(self, request, step.user, key)
            annotate = _capture.authorized_annotate(self)
        driver = self.api(step.user, through_proxy=step.through_proxy)
        value = {"tampered": True, "change": step.change} if step.change else None
        wait: float | None = None
        for attempt in range(1 + step.patience):
            if attempt and wait is not None:  # not decided yet: ask again when told to
                time.sleep(wait)
            done = driver.send(request, timeout=step.timeout_s, extra=value, annotate=annotate)
            wait = retry_after(done)
            if wait is None:
                break
        if step.manual_capture:
            _capture.require_authorized(self, done)

    def burst(self, step: s.Burst) -> None:
        keys = [self.state.key("burst") if step.same_key else self.state.key(f"burst-{i}")
                for i in range(step.n)]  # fmt: skip
        requests = [self.confirm_request(step.order, k, step.user, "pm_card_visa") for k in keys]
        self.api(step.user).burst(step.n, lambda i: requests[i], stagger_s=step.stagger_ms / 1000)

    def read_order(self, step: s.ReadOrder) -> None:
        """Record what the checkout shows for ``order``: ``paid`` is True, False, or None
        when the answer cannot tell (an HTTP error, a pointer that does not resolve)."""
        self.read_order_id(self.state.order_id(step.order), step.user)

    def read_order_id(self, order_id: str, user: str) -> None:
        """:meth:`read_order` of an order id, as scenario user ``user``."""
        api = self.profile.api.read_order if self.profile.api is not None else None
        pages = self.profile.browser.read_order if self.profile.browser is not None else None
        if api is None:
            if pages is None or self.browser is None:
                raise StepError(
                    "ReadOrder needs [api.read_order] or [browser.read_order] in the profile"
                )
            self.browser.read_order(self, order_id, user)
            return
        values = {"order_id": order_id, "user": self.user_name(user)}

        def annotate(summary: dict[str, Any]) -> dict[str, Any]:
            return _paid_state(summary, api.paid_pointer, api.paid_value, api.amount_pointer)

        self.api(user).request(
            "read_order", api.method, render(api.path, values), order_id=order_id,
            annotate=annotate,
        )  # fmt: skip

    # -- nemesis steps ----------------------------------------------------------------------

    def provider_fault(self, step: s.ProviderFault) -> None:
        """Arm the fault for the calls that move money, and remember it for the report."""
        provider = self.profile.provider
        delay_ms = step.delay_ms or None
        if step.mode == "hang_after":
            delay_ms = int(provider.hold_limit_s * 1000)
        if self._requests_cursor is None:
            self._requests_cursor = self.provider.requests_cursor()
        self._arming = True
        group: list[str] = []
        if step.mode == "search_lag":
            self._search_lag(step)
            return
        aims = [HOSTED] if step.at == "hosted_page" else provider.charge_calls or [MONEY]
        for endpoint in aims:
            done = self.provider_faults.start(
                endpoint, step.mode, status=step.status, delay_ms=delay_ms, count=step.count,
                metadata=self._scope(),
            )  # fmt: skip
            group.append(self._armed_id(done, endpoint))
        self._armed.append(group)

    def _scope(self) -> dict[str, list[str]] | None:
        """A scoped run's fault scope: the business keys of the orders it created so far."""
        if not self.scoped:
            return None
        orders = sorted(set(self.state.orders.values()))
        if not orders:
            raise StepError("a scoped provider fault needs an order created before it")
        return {self.profile.provider.business_key: orders}

    def _armed_id(self, done: Op | None, aim: str) -> str:
        reply = done.value.get("reply") if done is not None else None
        if not isinstance(reply, dict) or not reply.get("id"):
            raise StepError(f"the provider armed no fault for {aim} (reply {reply!r})")
        self._fault_ids.append(str(reply["id"]))
        return str(reply["id"])

    def _search_lag(self, step: s.ProviderFault) -> None:
        """Arm the fake's search lag: it acts on searches, not on money. Whether it fired
        (the checkout searched while a new intent was hidden) is reported, and not firing is
        no error: a checkout that never searches is not exposed to the lag. The story's
        money-moving fault is what must fire."""
        done = self.provider_faults.start(
            SEARCH, "search_lag", delay_ms=step.lag_ms, metadata=self._scope()
        )
        self._lags.append(self._armed_id(done, "a search lag"))

    def _report_search_lags(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        lags, self._lags = self._lags, []
        for lag in lags:
            record = dict(records.get(lag) or {"id": lag, "fired": 0, "hits": []})
            hidden = record.get("hits")
            fired = len(hidden) if isinstance(hidden, list) else 0
            op = self.history.invoke(NEMESIS, "fault_report", {"fault": "provider", **record})
            if fired:
                what = "hid new intents from the checkout's searches"
            else:
                what = "never fired: the checkout did not search while a new intent was hidden"
            # optional: a checkout that never searches is not exposed to search lag; the
            # money fault armed beside it must fire, and is reported on its own
            value = {"fired": fired, "fired_on_money": 0, "search_lag": what, "optional": True}
            self.history.ok(op, value)

    def clear_provider_faults(self, step: s.ClearProviderFaults) -> None:
        self._report_provider_faults()
        self._stop_provider_faults()

    def _stop_provider_faults(self) -> None:
        """Remove the faults this run armed: a scoped run's own, or every fault (a run that
        arms unscoped faults runs alone). A run that asked for none removes nothing: runs
        going on beside it may hold faults of their own. An unscoped run that asked for one
        clears them all even when it never learnt the fault's id (the provider's answer was
        lost or refused): the fault may be armed, and would reach every run after it."""
        ids, self._fault_ids = self._fault_ids, []
        arming, self._arming = self._arming, False
        if self.scoped:
            if ids:
                self.provider_faults.remove(ids)
        elif arming or ids:
            self.provider_faults.stop()

    def _report_provider_faults(self) -> None:
        """Write what each armed provider fault did into the history (``fault_report``)."""
        if not self._armed and not self._lags:
            return
        groups, self._armed = self._armed, []
        records = {str(r.get("id")): r for r in self.provider.faults()}
        self._report_search_lags(records)
        for group in groups:
            acted, fired, aims, mode = False, False, [], ""
            for fault_id in group:
                record = dict(records.get(fault_id) or {"id": fault_id, "fired": 0, "hits": []})
                raw = record.get("hits")
                hits: list[dict[str, Any]] = list(raw) if isinstance(raw, list) else []
                money = [h for h in hits if _acted_on_money(h, str(record.get("mode")))]
                op = self.history.invoke(NEMESIS, "fault_report", {"fault": "provider", **record})
                self.history.ok(op, {"fired": len(hits), "fired_on_money": len(money)})
                acted, fired = acted or bool(money), fired or bool(hits)
                aims.append(str(record.get("endpoint", fault_id)))
                mode = str(record.get("mode"))
            if not acted:
                self.scope_missed = self.scope_missed or self.scoped
                self.fault_problems.append(self._unfired(mode, aims, fired))

    def _unfired(self, mode: str, aims: list[str], fired: bool) -> str:
        calls: dict[str, int] = {}
        for request in self.provider.requests(after_seq=self._requests_cursor or 0):
            name = f"{request.get('method')} {request.get('path')}"
            calls[name] = calls.get(name, 0) + 1
        seen = ", ".join(f"{name} x{n}" for name, n in sorted(calls.items())) or "none"
        where = "fired only on calls that moved no money" if fired else "never fired"
        if self.scoped:
            key = self.profile.provider.business_key
            where += f" (scoped to this run's intents by metadata[{key}])"
        fix = (
            "Check that the scenario's browser pays on the provider's hosted page"
            if HOSTED in aims
            else "Set [provider] charge_calls to the call that charges (or check provider.url "
            "and api_key)"
        )
        return (
            f"provider fault {mode} aimed at {', '.join(aims)} {where}; "
            f"the checkout called the provider with: {seen}. {fix}"
        )

    def network_fault(self, step: s.NetworkFault) -> None:
        confirm = self._api_section().confirm
        if step.on == "capture":
            confirm = _capture.section(self)
        rule = ProxyRule(
            step.rule, confirm.method, confirm_path_regex(confirm.path), step.count,
            step.delay_ms,
        )  # fmt: skip
        self.proxy().add_rule(rule)
        self._rules.append(rule)

    def _report_network_faults(self) -> None:
        rules, self._rules = self._rules, []
        for rule in rules:
            value = {"fault": "network", "action": rule.action, "method": rule.method,
                     "path": rule.path, "count": rule.count}  # fmt: skip
            op = self.history.invoke(NEMESIS, "fault_report", value)
            self.history.ok(op, {"fired": rule.hits})  # the charge itself: Scenario.pays
            if rule.hits == 0:
                seen = sorted({f"{e['method']} {e['path']}" for e in self.proxy().log})
                self.fault_problems.append(
                    f"network fault {rule.action} on {rule.method} {rule.path} never fired; "
                    f"requests through the proxy: {', '.join(seen) or 'none'}. Check "
                    "[api.confirm] (or [api.capture]) method and path"
                )

    def kill_target(self, step: s.KillTarget) -> None:
        process = self._process()
        op = self.history.invoke(NEMESIS, "kill", {"fault": "process"})
        process.kill()
        self.history.ok(op)

    def restart_target(self, step: s.RestartTarget) -> None:
        process = self._process()
        op = self.history.invoke(NEMESIS, "restart", {"fault": "process"})
        process.restart()
        self.history.ok(op)

    def _process(self) -> Any:
        if self.target.process is None:
            raise StepError("the target declares no process control")
        return self.target.process

    def reconcile(self, step: s.Reconcile, *, every_round: bool = False) -> None:
        """Wait until the checkout shows every order of this round (``every_round``: of the
        run) as the ledger says it is, or until the target's reconcile window has passed.
        The checkers judge afterwards."""
        window = self.profile.reconcile_window_s or 0.0
        op = self.history.invoke(NEMESIS, "reconcile_wait", {"window_s": window})
        suffix = f"@{self.state.round}"
        orders = [
            oid for ref, oid in self.state.orders.items() if every_round or ref.endswith(suffix)
        ]
        deadline = time.monotonic() + window
        # Orders already paid and charged are settled: asked at once. "Unpaid and not
        # charged" is asked only after a pause, as a charge may still be on its way (a
        # checkout that answered "processing" and charges from a queue).
        agreed = bool(orders) and window > 0
        agreed = agreed and all(self._agrees_with_ledger(oid, paid_only=True) for oid in orders)
        while not agreed and time.monotonic() < deadline:
            time.sleep(0.25)
            agreed = all(self._agrees_with_ledger(oid) for oid in orders)
        self.state.reconcile_window_passed = True
        self.history.ok(op, {"agreed_early": agreed})

    def _agrees_with_ledger(self, order_id: str, *, paid_only: bool = False) -> bool:
        """Whether the checkout shows the order paid exactly when the ledger has a charge
        (``paid_only``: and it has one). Only a hint for leaving the wait early: the
        checkers judge afterwards."""
        name = self.profile.provider.business_key
        if self.ledger is not None:
            charged = self.ledger.charged(name, order_id)
        else:
            charged = bool(self.provider.ledger(field=name, value=order_id, kind="charge"))
        if paid_only and not charged:
            return False
        spec = self.profile.api.read_order if self.profile.api is not None else None
        user = self.state.creators.get(order_id, "alice")
        if spec is None:
            if self.browser is None or self.profile.browser is None:
                return False
            if self.profile.browser.read_order is None:
                return False
            op = self.browser.read_order(self, order_id, user)
            return op.value.get("paid") is charged
        try:
            response = self.api(user).client.request(
                spec.method,
                render(spec.path, {"order_id": order_id, "user": self.user_name(user)}),
            )
            body: Any = response.json()
        except (httpx.HTTPError, ValueError):
            return False
        summary = {"status": response.status_code, "body": body}
        paid = _paid_state(summary, spec.paid_pointer, spec.paid_value, spec.amount_pointer)
        return paid["paid"] is charged

    # -- webhooks ---------------------------------------------------------------------------

    def listen_webhooks(self, step: s.ListenWebhooks) -> None:
        endpoint = _webhooks.listen(self, step.duplicate, step.shuffle)
        self.state.webhook_endpoints.append(endpoint)

    def wait_webhooks(self, step: s.WaitWebhooks) -> None:
        _webhooks.wait(self)

    def replay_webhooks(self, step: s.ReplayWebhooks) -> None:
        _webhooks.replay(self, self.state.order_id(step.order), step.times)

    def forge_webhook(self, step: s.ForgeWebhook) -> None:
        _webhooks.forge(self, self.state.order_id(step.order), step.how)


def _body(op: Op) -> Any:
    response = op.value.get("response")
    return response.get("body") if isinstance(response, dict) else None


def _status_or_error(op: Op) -> str:
    response = op.value.get("response")
    if isinstance(response, dict):
        return f"HTTP {response.get('status')}: {str(response.get('body'))[:200]}"
    return str(op.value.get("error", "no response"))


def retry_after(op: Op) -> float | None:
    """Seconds to wait before asking again, if the answer was "not decided yet"."""
    response = op.value.get("response")
    if not isinstance(response, dict) or response.get("status") not in (202, 409):
        return None
    headers = response.get("headers") or {}
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), "1")
    try:
        return min(max(float(raw), 0.1), 2.0)
    except ValueError:
        return 1.0


AFTER_WORK = frozenset({"error_after", "drop_after", "hang_after", "await_webhook"})
"""Fault modes that act on the answer of work already done: they prove something only when
that work charged."""


def _acted_on_money(hit: dict[str, Any], mode: str) -> bool:
    """A fault hit that did its work on a call that moves money: not on a replay of a stored
    answer, not on a request the provider refused before any work and, for the modes that act
    after the work, only where the work really wrote a charge (a manual-capture confirm, a
    decline or a refused confirm moves no money)."""
    effect = str(hit.get("effect") or "")
    if not hit.get("money") or hit.get("replayed") or effect.startswith("did nothing"):
        return False
    return bool(hit.get("charged")) if mode in AFTER_WORK else True


def confirm_path_regex(template: str) -> str:
    """A regex matching the confirm path template's requests (``{name}`` is one segment)."""
    parts = re.split(r"(\{\w+\})", template)
    body = "".join("[^/?]+" if re.fullmatch(r"\{\w+\}", p) else re.escape(p) for p in parts)
    return f"^{body}(\\?.*)?$"


FORGE_MARGIN = 20_000
"""Above every currency's minimum charge, in its smallest unit."""


def forged_amount(quoted: int | None) -> int:
    """An amount the customer never agreed to that a provider would still charge: half the
    quote when that clears every currency's minimum charge (Stripe refuses less, which would
    hide a checkout that trusts the client's amount; the largest minimum is 17500 huf), else
    the quote plus that margin."""
    if quoted is None:
        return FORGE_MARGIN
    return quoted // 2 if quoted // 2 >= FORGE_MARGIN else quoted + FORGE_MARGIN


def _paid_state(
    summary: dict[str, Any], pointer: str, paid_value: object, amount_pointer: str
) -> dict[str, Any]:
    """``paid`` True/False from a JSON answer, or None when the answer cannot tell."""
    status, data = summary.get("status"), summary.get("body")
    value = resolve_pointer(data, pointer)  # None when the pointer resolves to nothing
    answered = isinstance(status, int) and 200 <= status < 300
    paid = None if not answered or value is None else value == paid_value
    amount = resolve_pointer(data, amount_pointer)
    return {"paid": paid, "amount": amount if isinstance(amount, int) else None}
