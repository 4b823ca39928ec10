"""Protocol and browser checkers, the registry and the crash-yields-unknown wrapper."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import harness.checkers as checkers
from harness.checkers import (
    CHECKERS,
    CheckContext,
    CheckResult,
    combined,
    get_checker,
    no_post_on_success_load,
    no_store_on_payment_pages,
    post_redirect_get,
    problem_on_5xx,
    replays_identical,
    run_checkers,
)
from harness.history import History
from harness.ledger import LedgerView

CTX = CheckContext(ledger_read=True)
EMPTY = LedgerView()


def answered(
    h: History,
    f: str,
    status: int | None,
    body: Any = None,
    *,
    key: str = "k1",
    user: str = "alice",
    headers: dict[str, str] | None = None,
    kind: str = "ok",
    **value: Any,
) -> int:
    inv = h.invoke(value.pop("process", "p1"), f, {"key": key, "user": user, **value})
    done: dict[str, Any] = {}
    if status is not None:
        done["response"] = {"status": status, "headers": headers or {}, "body": body}
    return h.complete(inv, kind, done).index  # type: ignore[arg-type]


# -- replays_identical -----------------------------------------------------------------------


def test_replays_identical_valid_ignoring_pending_and_5xx() -> None:
    h = History()
    answered(h, "confirm", 200, {"order_id": "o1", "status": "paid"})
    answered(h, "confirm", 409, {"title": "in progress"}, kind="fail")
    answered(h, "confirm", 503, {"title": "down"}, kind="info")
    answered(h, "confirm", 200, {"order_id": "o1", "status": "paid"}, headers={"Date": "x"})
    result = replays_identical.check(h, EMPTY, CTX)
    assert result.valid is True
    assert result.counts["replays_compared"] == 1


def test_replay_with_other_body_is_caught_whatever_the_replay_header_says() -> None:
    h = History()
    original = answered(h, "confirm", 402, {"code": "card_declined"}, kind="fail")
    answered(h, "confirm", 402, {"code": "card_declined"}, kind="fail")
    bad = answered(
        h, "confirm", 200, {"code": None, "status": "paid"}, headers={"Idempotent-Replayed": "true"}
    )
    answered(h, "confirm", 200, {"status": "paid"}, key="k2", user="bob")
    result = replays_identical.check(h, EMPTY, CTX)
    assert result.valid is False
    assert result.first is not None
    assert result.first["op"] == bad
    assert result.first["original"] == original
    assert result.first["differs"] == ["code", "status"]
    assert result.counts["keys"] == 2


def test_same_key_for_two_users_is_two_groups() -> None:
    h = History()
    answered(h, "confirm", 200, {"a": 1}, user="alice")
    answered(h, "confirm", 200, {"a": 2}, user="bob")
    assert replays_identical.check(h, EMPTY, CTX).valid is True


def test_redirect_replays_compare_location() -> None:
    h = History()
    answered(h, "submit", 303, "", headers={"Location": "/success?orderId=o1"})
    answered(h, "submit", 303, "", headers={"location": "/checkout/o1?error=1"})
    assert replays_identical.check(h, EMPTY, CTX).valid is False


def test_replays_with_a_single_final_answer_have_nothing_to_compare() -> None:
    h = History()
    answered(h, "confirm", None, kind="info")
    answered(h, "confirm", 200, {"ok": True})
    result = replays_identical.check(h, EMPTY, CTX)
    assert result.valid is True
    assert result.counts["unjudged_keys"] == 1
    assert result.counts["replays_compared"] == 0
    assert "only one final answer" in result.message


# -- problem_on_5xx --------------------------------------------------------------------------

PROBLEM = {"Content-Type": "application/problem+json"}


def test_problem_on_5xx() -> None:
    h = History()
    answered(h, "confirm", 200, {"ok": True})
    answered(h, "confirm", 502, {"type": "about:blank", "title": "Bad"}, headers=PROBLEM)
    assert problem_on_5xx.check(h, EMPTY, CTX).valid is True
    bad = answered(
        h, "confirm", 500, "Internal Server Error", headers={"content-type": "text/plain"}
    )
    answered(h, "confirm", 503, {"title": "no type"}, headers=PROBLEM)
    result = problem_on_5xx.check(h, EMPTY, CTX)
    assert result.valid is False
    assert result.first is not None and result.first["op"] == bad
    assert result.worst is not None and result.worst["missing_fields"] == ["type", "title"]
    assert result.counts == {"responses_5xx": 3, "not_problem_json": 2}


# -- browser checkers ------------------------------------------------------------------------


def nav(h: History, f: str, state: str, posts: Any = (), process: str = "tab", **v: Any) -> int:
    inv = h.invoke(process, f, {"url": f"/{state}"})
    value = {"page_state": state, **v}
    if posts is not None:
        value["posts"] = list(posts)
    return h.ok(inv, value).index


def test_no_post_on_success_load() -> None:
    h = History()
    nav(h, "page_load", "confirm")
    nav(h, "submit", "success", posts=[{"method": "POST", "url": "/checkout/o1", "status": 303}])
    nav(h, "reload", "success")
    nav(h, "back", "confirm")
    result = no_post_on_success_load.check(h, EMPTY, CTX)
    assert result.valid is True
    assert result.counts["success_navigations"] == 2


def test_reload_that_reposts_is_caught() -> None:
    h = History()
    nav(h, "submit", "success", posts=[{"method": "POST", "url": "/checkout/o1", "status": 200}])
    bad = nav(h, "reload", "success", posts=[{"method": "POST", "url": "/checkout/o1"}])
    back = nav(h, "back", "confirm", posts=[{"method": "POST"}, {"method": "POST"}])
    result = no_post_on_success_load.check(h, EMPTY, CTX)
    assert result.valid is False
    assert result.first is not None and result.first["op"] == bad
    assert result.worst is not None and result.worst["op"] == back
    assert result.worst["from_state"] == "success"


def test_no_post_unknown_without_posts_or_success() -> None:
    h = History()
    nav(h, "page_load", "success", posts=None)
    assert no_post_on_success_load.check(h, EMPTY, CTX).valid == "unknown"
    h2 = History()
    nav(h2, "page_load", "confirm")
    assert no_post_on_success_load.check(h2, EMPTY, CTX).valid == "unknown"


def api_confirm(h: History, headers: dict[str, str] | None, status: int = 200) -> int:
    inv = h.invoke("alice", "confirm", {"request": {"method": "POST", "url": "/pay"}})
    value: dict[str, Any] = {"response": {"status": status, "body": ""}}
    if headers is not None:
        value["response"]["headers"] = headers
    return h.ok(inv, value).index


def doc(
    method: str,
    status: int,
    cache: str | None = "no-store",
    payment_page: str | None = None,
    url: str = "/x",
) -> dict[str, Any]:
    return {
        "url": url,
        "method": method,
        "status": status,
        "cache_control": cache,
        "location": None,
        "payment_page": payment_page,
    }


PAY_POST = {"method": "POST", "url": "/checkout/o1/pay", "navigation": True, "failure": None,
            "resource_type": "document", "payment_page": "pay"}  # fmt: skip
SIGN_IN_POST = {"method": "POST", "url": "/login", "navigation": True, "failure": None,
                "resource_type": "document", "payment_page": None}  # fmt: skip


def test_no_store_judges_api_confirm_answers() -> None:
    h = History()
    api_confirm(h, {"Cache-Control": "private, no-store"})
    assert no_store_on_payment_pages.check(h, EMPTY, CTX).valid is True
    bad = api_confirm(h, {"cache-control": "max-age=60"})
    result = no_store_on_payment_pages.check(h, EMPTY, CTX)
    assert result.valid is False
    assert result.first is not None and result.first["op"] == bad
    assert result.first["cache_control"] == "max-age=60"
    assert result.counts["payment_responses"] == 2


def test_no_store_unknown_without_headers() -> None:
    h = History()
    api_confirm(h, None)
    result = no_store_on_payment_pages.check(h, EMPTY, CTX)
    assert result.valid == "unknown" and result.counts["unobserved"] == 1


def test_no_store_ignores_sign_in_and_cart_posts_and_redirects() -> None:
    """A server-rendered shop that caches its shop page and answers its sign-in and cart
    POSTs with a cacheable 303 has no payment page in them: nothing to judge."""
    h = History()
    nav(h, "page_load", "shop", documents=[doc("GET", 200, "max-age=600", url="/shop")])
    nav(
        h, "click", "shop", posts=[SIGN_IN_POST],
        documents=[doc("POST", 303, None, url="/login"), doc("GET", 200, None, url="/shop")],
    )  # fmt: skip
    nav(h, "click", "cart", documents=[doc("POST", 303, "max-age=60", url="/cart")])
    result = no_store_on_payment_pages.check(h, EMPTY, CTX)
    assert result.valid == "unknown"
    assert result.counts["payment_responses"] == 0
    assert "nothing to judge" in result.message


def test_no_store_judges_payment_pages_only() -> None:
    h = History()
    nav(h, "page_load", "shop", documents=[doc("GET", 200, None, url="/shop")])
    nav(h, "page_load", "confirm", documents=[doc("GET", 200, "private, no-store", "confirm")])
    nav(h, "back", "confirm", documents=[])  # restored from the back-forward cache
    pay = [doc("POST", 303, None, "pay"), doc("GET", 200, "no-store", "success")]
    nav(h, "click", "success", posts=[PAY_POST], documents=pay, pay=True)
    result = no_store_on_payment_pages.check(h, EMPTY, CTX)
    assert result.valid is True  # the 303 carries no page: not judged
    assert result.counts["payment_responses"] == 2


def test_confirm_page_without_no_store_is_a_violation() -> None:
    h = History()
    bad = nav(h, "page_load", "confirm", documents=[doc("GET", 200, "max-age=600", "confirm")])
    result = no_store_on_payment_pages.check(h, EMPTY, CTX)
    assert result.valid is False
    assert result.first is not None and result.first["op"] == bad
    assert result.first["payment_page"] == "confirm"
    assert result.first["cache_control"] == "max-age=600"


def test_no_store_judges_the_pay_answer_and_late_fetch_answers() -> None:
    h = History()
    fetch = {"method": "POST", "url": "/api/pay", "navigation": False, "failure": None,
             "resource_type": "fetch", "status": 200, "cache_control": None,
             "payment_page": "pay"}  # fmt: skip
    first = nav(h, "click", "confirm", posts=[fetch], documents=[], pay=True)
    late = {"url": "/api/pay", "method": "POST", "status": 200, "cache_control": "max-age=5",
            "resource_type": "fetch", "payment_page": "pay"}  # fmt: skip
    nav(h, "wait_state", "success", documents=[], late_answers=[late])
    nav(h, "click", "success", posts=[PAY_POST], documents=[doc("POST", 200, None, "pay")])
    result = no_store_on_payment_pages.check(h, EMPTY, CTX)
    assert result.valid is False
    assert result.counts == {"payment_responses": 3, "cacheable": 3, "unobserved": 0}
    assert result.first is not None and result.first["op"] == first
    assert result.first["method"] == "POST" and result.first["payment_page"] == "pay"
    assert result.worst is not None and result.worst["op"] == first


def test_post_redirect_get() -> None:
    h = History()
    prg = [doc("POST", 303, payment_page="pay"), doc("GET", 200, payment_page="success")]
    nav(h, "click", "success", posts=[PAY_POST], pay=True, documents=prg)
    nav(h, "click", "success", posts=[{"method": "POST", "resource_type": "fetch"}], documents=[])
    assert post_redirect_get.check(h, EMPTY, CTX).valid is True
    bad = nav(
        h, "reload", "success", posts=[PAY_POST], documents=[doc("POST", 200, payment_page="pay")]
    )
    result = post_redirect_get.check(h, EMPTY, CTX)
    assert result.valid is False
    assert result.first is not None and result.first["op"] == bad
    assert result.first["post_status"] == 200
    assert result.counts["pay_form_posts"] == 2


def test_pay_post_answered_200_is_a_violation() -> None:
    h = History()
    bad = nav(h, "click", "success", posts=[PAY_POST], pay=True,
              documents=[doc("POST", 200, payment_page="pay")])  # fmt: skip
    result = post_redirect_get.check(h, EMPTY, CTX)
    assert result.valid is False
    assert result.first is not None and result.first["op"] == bad
    assert result.first["post_url"] == "/x"


def test_sign_in_and_cart_posts_are_not_judged_by_post_redirect_get() -> None:
    h = History()
    nav(h, "click", "shop", posts=[SIGN_IN_POST], documents=[doc("POST", 200, url="/login")])
    nav(h, "click", "confirm", documents=[doc("POST", 303, None, url="/cart")])
    result = post_redirect_get.check(h, EMPTY, CTX)
    assert result.valid == "unknown" and result.counts["pay_form_posts"] == 0
    found = [doc("POST", 302, payment_page="pay"), doc("GET", 200, payment_page="success")]
    nav(h, "click", "success", posts=[PAY_POST], pay=True, documents=found)
    assert post_redirect_get.check(h, EMPTY, CTX).valid is True


def test_post_redirect_get_unknown_when_nothing_posted_or_answer_unseen() -> None:
    h = History()
    nav(h, "page_load", "confirm", documents=[doc("GET", 200, payment_page="confirm")])
    assert post_redirect_get.check(h, EMPTY, CTX).valid == "unknown"
    nav(h, "click", "confirm", posts=[PAY_POST], documents=[], pay=True)
    result = post_redirect_get.check(h, EMPTY, CTX)
    assert result.valid == "unknown"
    assert result.counts["unobserved"] == 1
    assert "no answer" in result.message


def test_post_redirect_get_leaves_error_answers_to_problem_on_5xx() -> None:
    h = History()
    failed = [doc("POST", 502, payment_page="pay")]
    nav(h, "click", "confirm", posts=[PAY_POST], pay=True, documents=failed)
    result = post_redirect_get.check(h, EMPTY, CTX)
    assert result.valid == "unknown" and result.counts["error_answers"] == 1


# -- registry and wrapper --------------------------------------------------------------------


def one_op_history() -> History:
    h = History()
    answered(h, "confirm", 200, {"order_id": "o1"})
    return h


def test_registry_names_match_modules() -> None:
    import pkgutil

    import harness.checkers as package

    modules = {m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")}
    assert set(CHECKERS) == modules
    for name, checker in CHECKERS.items():
        assert checker.__module__ == f"harness.checkers.{name}"
    with pytest.raises(KeyError, match="known: at_most_one_charge"):
        get_checker("at_most_once")


def test_crashing_checker_yields_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any) -> CheckResult:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(checkers.CHECKERS, "at_most_one_charge", boom)
    [result] = run_checkers(["at_most_one_charge"], one_op_history(), EMPTY, CTX)
    assert result.valid == "unknown"
    assert result.message == "checker crashed: ZeroDivisionError: division by zero"


def test_bad_return_and_unknown_name_yield_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(checkers.CHECKERS, "problem_on_5xx", lambda *_: CheckResult("x", 1))  # type: ignore[arg-type]
    results = run_checkers(["problem_on_5xx", "nope"], one_op_history(), EMPTY, CTX)
    assert [r.valid for r in results] == ["unknown", "unknown"]
    assert "no checker named 'nope'" in results[1].message


def test_empty_history_means_the_scenario_did_not_run() -> None:
    results = run_checkers(["at_most_one_charge"], History(), EMPTY, CTX)
    assert results[0].valid == "unknown"
    assert "did not run" in results[0].message


def test_run_checkers_and_combined() -> None:
    paid = LedgerView.from_rows(
        [{"id": "c1", "kind": "charge", "amount": 100, "metadata": {"order_id": "o1"}}]
    )
    results = run_checkers(["at_most_one_charge", "problem_on_5xx"], one_op_history(), paid, CTX)
    assert [r.name for r in results] == ["at_most_one_charge", "problem_on_5xx"]
    assert combined(results) is True
    assert combined([*results, CheckResult("x", "unknown")]) == "unknown"
    assert combined([CheckResult("x", "unknown"), CheckResult("y", False)]) is False
    assert combined([]) == "unknown"
    assert CheckResult.from_json(results[0].to_json()) == results[0]


# -- properties ------------------------------------------------------------------------------

ORDERS = st.sampled_from(["o1", "o2", "o3"])


@settings(max_examples=60, deadline=None)
@given(st.lists(ORDERS, max_size=8))
def test_at_most_one_charge_iff_no_key_charged_twice(orders: list[str]) -> None:
    rows = [
        {
            "id": f"c{i}",
            "kind": "charge",
            "amount": 100,
            "currency": "usd",
            "metadata": {"order_id": o},
        }
        for i, o in enumerate(orders)
    ]
    history = History()
    for order in sorted(set(orders)) or ["o1"]:
        answered(history, "confirm", 200, {"order_id": order})
    [result] = run_checkers(["at_most_one_charge"], history, LedgerView.from_rows(rows), CTX)
    if not orders:  # told success, yet the ledger shows nothing: not enough to say valid
        assert result.valid == "unknown"
        return
    assert (result.valid is True) == (len(set(orders)) == len(orders))
    assert result.counts["charges"] == len(orders)


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
FIELDS = st.sampled_from(["response", "posts", "page_state", "paid", "order_id", "key", "outcome"])


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["confirm", "submit", "read_order", "page_load", "reload", "back"]),
            st.sampled_from(["ok", "fail", "info"]),
            st.dictionaries(FIELDS, VALUES, max_size=4),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_checkers_never_raise_on_malformed_values(
    ops: list[tuple[str, str, dict[str, Any]]],
) -> None:
    h = History()
    for f, kind, value in ops:
        h.complete(h.invoke("p", f), kind, value)  # type: ignore[arg-type]
    ctx = CheckContext(reconcile_window_passed=True, ledger_read=True)
    results = run_checkers(sorted(CHECKERS), h, EMPTY, ctx)
    assert len(results) == len(CHECKERS)
    assert all(r.valid in (True, False, "unknown") for r in results)
    assert not [r.message for r in results if r.message.startswith("checker crashed")]
