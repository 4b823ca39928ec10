"""The six checkers the interpreter feeds, on tiny hand-written histories.

``changed_body_refused``, ``missing_key_refused``, ``keys_user_scoped``,
``webhooks_accepted``, ``forged_webhooks_rejected`` and ``no_repost_on_navigation``: each
is shown valid, violated (with its first and worst evidence) and unknown, in the shape
the drivers really record (``docs/contracts.md``).
"""

from __future__ import annotations

from typing import Any

from harness.checkers import (
    CheckContext,
    changed_body_refused,
    forged_webhooks_rejected,
    keys_user_scoped,
    missing_key_refused,
    no_repost_on_navigation,
    run_checkers,
    webhooks_accepted,
)
from harness.history import History
from harness.ledger import LedgerView

CTX = CheckContext(ledger_read=True)
EMPTY = LedgerView()


def confirm(
    h: History,
    status: int | None,
    body: Any = None,
    *,
    kind: str | None = None,
    order_id: str = "o1",
    user: str = "alice",
    key: str | None = "k1",
    **extra: Any,
) -> int:
    """A confirm as the API driver records it; ``status=None`` is a timeout."""
    value: dict[str, Any] = {"order_id": order_id, "user": user, **extra}
    if key is not None:
        value["key"] = key
    inv = h.invoke(user, "confirm", value)
    if status is None:
        done = h.info(inv, {"error": "ReadTimeout", "outcome": "unknown"})
    else:
        if kind is None:
            kind = "info" if status in (202, 409) or status >= 500 else (
                "ok" if status < 400 else "fail"
            )  # fmt: skip
        response = {"status": status, "headers": {}, "body": body}
        done = h.complete(inv, kind, {"response": response})  # type: ignore[arg-type]
    return done.index


def charge(order_id: str, n: int = 1, amount: int = 1500) -> list[dict[str, Any]]:
    return [
        {"id": f"ch_{order_id}_{i}", "kind": "charge", "amount": amount, "currency": "usd",
         "metadata": {"order_id": order_id}}
        for i in range(n)
    ]  # fmt: skip


# -- changed_body_refused ---------------------------------------------------------------------


def test_changed_body_refused_valid() -> None:
    h = History()
    confirm(h, 200, {"order_id": "o1", "status": "paid"})
    confirm(h, 422, {"title": "key reused"}, tampered=True)
    result = changed_body_refused.check(h, EMPTY, CTX)
    assert result.valid is True
    assert result.counts == {"reused_with_other_body": 1, "accepted": 0}
    assert result.first is None and result.worst is None


def test_changed_body_accepted_is_a_violation_with_evidence() -> None:
    h = History()
    confirm(h, 200, {"status": "paid"})
    first = confirm(h, 200, {"status": "paid"}, tampered=True)
    confirm(h, 422, {"title": "key reused"}, tampered=True)
    second = confirm(h, 201, {"status": "paid"}, tampered=True)
    result = changed_body_refused.check(h, EMPTY, CTX)
    assert result.valid is False
    assert result.counts == {"reused_with_other_body": 3, "accepted": 2}
    assert result.first is not None and result.first["op"] == first
    assert result.first["status"] == 200 and result.first["key"] == "k1"
    assert result.worst is not None and result.worst["op"] in (first, second)


def test_changed_body_busy_answer_is_not_a_refusal() -> None:
    # 409 says "in progress", not "this body is wrong": the reuse was not refused
    h = History()
    confirm(h, 409, {"title": "busy"}, tampered=True, kind="fail")
    assert changed_body_refused.check(h, EMPTY, CTX).valid is False


def test_changed_body_unknown_without_an_answer_or_without_a_reuse() -> None:
    h = History()
    confirm(h, None, tampered=True)
    assert changed_body_refused.check(h, EMPTY, CTX).valid == "unknown"
    plain = History()
    confirm(plain, 200, {"status": "paid"})
    assert changed_body_refused.check(plain, EMPTY, CTX).valid == "unknown"


# -- missing_key_refused ----------------------------------------------------------------------


def test_missing_key_refused_valid() -> None:
    h = History()
    confirm(h, 400, {"title": "Idempotency-Key required"}, key=None)
    result = missing_key_refused.check(h, LedgerView.from_rows(charge("other")), CTX)
    assert result.valid is True
    assert result.counts == {"keyless_confirms": 1, "accepted_or_charged": 0}


def test_missing_key_accepted_or_charged_is_a_violation() -> None:
    h = History()
    accepted = confirm(h, 200, {"status": "paid"}, key=None, order_id="o1")
    charged = confirm(h, 400, {"title": "no key"}, key=None, order_id="o2")
    ledger = LedgerView.from_rows(charge("o1") + charge("o2"))
    result = missing_key_refused.check(h, ledger, CTX)
    assert result.valid is False
    assert result.counts["accepted_or_charged"] == 2
    assert result.first is not None
    assert result.first["op"] == accepted and result.first["order_id"] == "o1"
    assert "key" not in result.first
    assert result.worst is not None and result.worst["op"] in (accepted, charged)


def test_missing_key_refusal_that_still_charged_is_caught() -> None:
    h = History()
    op = confirm(h, 400, {"title": "no key"}, key=None)
    result = missing_key_refused.check(h, LedgerView.from_rows(charge("o1")), CTX)
    assert result.valid is False
    assert result.first is not None and result.first["op"] == op
    assert result.first["charges"] == 1


def test_missing_key_unknown_when_no_keyless_confirm_was_answered() -> None:
    h = History()
    confirm(h, None, key=None)
    assert missing_key_refused.check(h, EMPTY, CTX).valid == "unknown"
    keyed = History()
    confirm(keyed, 200, {"status": "paid"})
    assert missing_key_refused.check(keyed, EMPTY, CTX).valid == "unknown"


# -- keys_user_scoped -------------------------------------------------------------------------


def test_keys_user_scoped_valid_for_flat_and_nested_answers() -> None:
    h = History()
    confirm(h, 200, {"order_id": "o1", "status": "paid"}, key="shared")
    confirm(h, 200, {"order_id": "o2", "status": "paid"}, key="shared", user="bob", order_id="o2")
    result = keys_user_scoped.check(h, EMPTY, CTX)
    assert result.valid is True
    assert result.counts["keys_shared_by_users"] == 1
    nested = History()
    confirm(nested, 200, {"cart": {"id": "c1", "state": "PAID"}}, key="s", order_id="c1")
    confirm(nested, 200, {"cart": {"id": "c2"}}, key="s", user="bob", order_id="c2")
    assert keys_user_scoped.check(nested, EMPTY, CTX).valid is True


def test_another_users_answer_is_a_leak_at_any_depth() -> None:
    h = History()
    confirm(h, 200, {"order_id": "o1", "status": "paid"}, key="shared")
    leak = confirm(
        h, 200, {"order_id": "o1", "status": "paid"}, key="shared", user="bob", order_id="o2"
    )
    result = keys_user_scoped.check(h, EMPTY, CTX)
    assert result.valid is False
    assert result.first is not None and result.worst is not None
    assert result.first["op"] == leak and result.first["user"] == "bob"
    assert result.first["answered_order"] == "o1"
    # a checkout that nests its answer ({"cart": {"id": ...}}) is judged the same way
    nested = History()
    confirm(nested, 200, {"cart": {"id": "c1"}}, key="s", order_id="c1")
    confirm(nested, 200, {"cart": {"id": "c1"}}, key="s", user="bob", order_id="c2")
    nested_result = keys_user_scoped.check(nested, EMPTY, CTX)
    assert nested_result.valid is False
    assert nested_result.first is not None and nested_result.first["answered_order"] == "c1"


def test_keys_user_scoped_unknown_when_nothing_to_compare() -> None:
    h = History()
    confirm(h, 200, {"order_id": "o1"}, key="k1")
    confirm(h, 200, {"order_id": "o2"}, key="k2", user="bob", order_id="o2")
    assert keys_user_scoped.check(h, EMPTY, CTX).valid == "unknown"
    # shared, but the answers name no order at all: cannot tell a leak from a pass
    silent = History()
    confirm(silent, 200, {"status": "paid", "paid": True}, key="s")
    confirm(silent, 200, {"status": "paid"}, key="s", user="bob", order_id="o2")
    result = keys_user_scoped.check(silent, EMPTY, CTX)
    assert result.valid == "unknown"
    assert result.counts["answers_naming_no_order"] == 2


# -- webhooks_accepted ------------------------------------------------------------------------


def delivery(event: str, status: int | None, copy: int = 0, **extra: Any) -> dict[str, Any]:
    return {"event_id": event, "endpoint_id": "we_1", "copy": copy, "status": status,
            "event_type": "payment_intent.succeeded", **extra}  # fmt: skip


def wait(h: History, deliveries: list[dict[str, Any]], *, flushed: bool = True) -> int:
    inv = h.invoke("nemesis", "webhook_wait")
    value = {"deliveries": deliveries, "flushed": flushed}
    done = h.ok(inv, value) if flushed else h.info(inv, {**value, "error": "pending"})
    return done.index


def test_webhooks_accepted_valid() -> None:
    h = History()
    wait(h, [delivery("evt_1", 200), delivery("evt_1", 200, copy=1), delivery("evt_2", 204)])
    result = webhooks_accepted.check(h, EMPTY, CTX)
    assert result.valid is True
    assert result.counts == {"deliveries": 3, "refused": 0}


def test_refused_genuine_events_are_violations() -> None:
    h = History()
    wait(h, [delivery("evt_1", 200)])
    last = wait(
        h,
        [delivery("evt_1", 200), delivery("evt_2", 500, error="boom"),
         delivery("evt_3", None, error="connection refused")],
    )  # fmt: skip
    result = webhooks_accepted.check(h, EMPTY, CTX)
    assert result.valid is False
    assert result.counts == {"deliveries": 3, "refused": 2}
    assert result.first == {
        "event_id": "evt_2", "event_type": "payment_intent.succeeded", "status": 500,
        "error": "boom", "op": last,
    }  # fmt: skip
    assert result.worst is not None and result.worst["event_id"] in {"evt_2", "evt_3"}


def test_a_later_successful_retry_of_the_same_delivery_counts() -> None:
    h = History()
    wait(h, [delivery("evt_1", 503)])
    wait(h, [delivery("evt_1", 200)])
    assert webhooks_accepted.check(h, EMPTY, CTX).valid is True


def test_webhooks_accepted_unknown_without_deliveries_or_when_pending() -> None:
    h = History()
    wait(h, [])
    assert webhooks_accepted.check(h, EMPTY, CTX).valid == "unknown"
    pending = History()
    wait(pending, [delivery("evt_1", 200)], flushed=False)
    assert webhooks_accepted.check(pending, EMPTY, CTX).valid == "unknown"


# -- forged_webhooks_rejected -----------------------------------------------------------------


def forged(h: History, how: str, status: int | None) -> int:
    inv = h.invoke("forger", "forged_webhook", {"order_id": "o1", "forged": how})
    if status is None:
        return h.info(inv, {"error": "ConnectError", "outcome": "unknown"}).index
    response = {"response": {"status": status, "headers": {}, "body": ""}}
    return (h.fail(inv, response) if 400 <= status < 500 else h.ok(inv, response)).index


def test_forged_webhooks_rejected_valid() -> None:
    h = History()
    for how, code in (("bad_signature", 400), ("stale", 400), ("unsigned", 401)):
        forged(h, how, code)
    result = forged_webhooks_rejected.check(h, EMPTY, CTX)
    assert result.valid is True
    assert result.counts == {"forged": 3, "accepted": 0}


def test_accepted_forgeries_are_violations() -> None:
    h = History()
    forged(h, "bad_signature", 400)
    stale = forged(h, "stale", 200)
    forged(h, "unsigned", 500)
    result = forged_webhooks_rejected.check(h, EMPTY, CTX)
    assert result.valid is False
    assert result.counts == {"forged": 3, "accepted": 2}
    assert result.first is not None and result.first["op"] == stale
    assert result.first["forged"] == "stale" and result.first["status"] == 200
    assert result.worst is not None and result.worst["forged"] in {"stale", "unsigned"}


def test_forged_webhooks_unknown_without_an_answer() -> None:
    h = History()
    forged(h, "bad_signature", 400)
    forged(h, "unsigned", None)
    assert forged_webhooks_rejected.check(h, EMPTY, CTX).valid == "unknown"
    assert forged_webhooks_rejected.check(History(), EMPTY, CTX).valid == "unknown"


# -- no_repost_on_navigation ------------------------------------------------------------------


def move(
    h: History, f: str, reposted: bool | None, posts: list[dict[str, Any]] | None = None
) -> int:
    inv = h.invoke("t1", f, {"url": "http://shop/success"})
    value: dict[str, Any] = {"page_state": "success", "posts": posts or []}
    if reposted is not None:
        value["reposted"] = reposted
    return h.ok(inv, value).index


POST = {"method": "POST", "url": "http://shop/checkout/o1/pay", "size": 40,
        "navigation": True, "resource_type": "document", "failure": None}  # fmt: skip


def test_no_repost_on_navigation_valid() -> None:
    h = History()
    move(h, "back", False)
    move(h, "forward", False)
    move(h, "reload", False)
    result = no_repost_on_navigation.check(h, EMPTY, CTX)
    assert result.valid is True
    assert result.counts == {"history_moves": 3, "reposted": 0}


def test_a_navigation_that_reposts_is_a_violation() -> None:
    h = History()
    move(h, "back", False)
    first = move(h, "reload", True, [POST])
    move(h, "forward", True, [POST, POST])
    result = no_repost_on_navigation.check(h, EMPTY, CTX)
    assert result.valid is False
    assert result.counts == {"history_moves": 3, "reposted": 2}
    assert result.first is not None and result.first["op"] == first
    assert result.first["f"] == "reload" and result.first["posts"] == [POST]
    assert result.worst is not None and result.worst["f"] in {"reload", "forward"}


def test_no_repost_unknown_without_a_recorded_move() -> None:
    h = History()
    move(h, "reload", None)  # the driver did not say whether a POST left
    confirm(h, 200, {"status": "paid"})
    assert no_repost_on_navigation.check(h, EMPTY, CTX).valid == "unknown"


# -- through run_checkers ---------------------------------------------------------------------


def test_the_six_run_through_the_registry_by_name() -> None:
    names = [
        "changed_body_refused", "missing_key_refused", "keys_user_scoped",
        "webhooks_accepted", "forged_webhooks_rejected", "no_repost_on_navigation",
    ]  # fmt: skip
    h = History()
    confirm(h, 200, {"order_id": "o1"})
    results = run_checkers(names, h, EMPTY, CTX)
    assert [r.name for r in results] == names
    # a history about something else gives none of them anything to judge
    assert all(r.valid == "unknown" for r in results)
    broken = run_checkers(names, h, LedgerView.from_rows(charge("o1")), CTX)
    assert all(r.valid == "unknown" for r in broken)
