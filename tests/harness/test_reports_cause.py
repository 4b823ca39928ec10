"""Each charge tied to the client step behind it, on hand-written histories and ledger rows."""

from __future__ import annotations

from typing import Any

from test_reports_story import T0, charge, op

from harness.reports import ScenarioRun
from harness.reports._cause import UNTIED, cause, causes, client_steps
from harness.reports._story import finding


def lost_then_retried() -> list[dict[str, Any]]:
    """The issue's story: a confirm whose answer is lost after the provider charged and
    answered 500, then the client's retry with the same key, which charges again."""
    hit = {
        "method": "POST",
        "path": "/v1/payment_intents",
        "at": T0 + 0.150,
        "idempotency_key": "pk1",
        "charged": True,
        "effect": "worked then answered 500",
    }
    return [
        op(0, "invoke", "confirm", 100, key="k1", order_id="ord_1"),
        op(1, "info", "confirm", 800, key="k1", order_id="ord_1", error="HTTP 502: not known"),
        op(2, "invoke", "fault_report", 810, process="nemesis"),
        op(3, "ok", "fault_report", 811, process="nemesis", fault="provider", hits=[hit]),
        op(4, "invoke", "confirm", 2000, key="k1", order_id="ord_1"),
        op(5, "ok", "confirm", 2300, key="k1", order_id="ord_1", response={"status": 200}),
    ]  # fmt: skip


def run_of(history: list[dict[str, Any]], *rows: dict[str, Any], **extra: Any) -> ScenarioRun:
    return ScenarioRun(
        scenario_id="provider.x", title="t", threat_id="provider-failure", status="failed",
        failure="money", history=history, ledger=list(rows), business_keys=["ord_1"],
        started_wall=T0, **extra,
    )  # fmt: skip


def test_the_issues_sentence_names_the_confirm_and_the_retry_behind_each_charge() -> None:
    run = run_of(lost_then_retried(), charge("le_1", "ord_1", 160, "pk1"),
                 charge("le_2", "ord_1", 2100, "pk2"))  # fmt: skip
    sentence = finding(run)
    assert sentence == (
        "order ord_1 was charged twice: "
        "le_1 at 08:00:00.160 by the confirm with key k1 (op #0), whose provider call then "
        "met the fault POST /v1/payment_intents: worked then answered 500; "
        "le_2 at 08:00:02.100 by the retry with key k1 (op #4) after the provider fault "
        "POST /v1/payment_intents: worked then answered 500 and the answer to op #0 was "
        "lost (HTTP 502: not known)."
    )


def test_two_charges_inside_one_request_are_said_to_be_the_checkouts_own() -> None:
    history = lost_then_retried()[:2]
    run = run_of(history, charge("le_1", "ord_1", 150, "pk1"), charge("le_2", "ord_1", 400))
    assert causes(run, run.ledger) == [
        "by the confirm with key k1 (op #0)",
        "again by op #0, within the same client request",
    ]


def test_a_burst_in_flight_is_named_but_never_picked() -> None:
    history = [op(i, "invoke", "confirm", 10 + i, process=f"w{i}", key="k", order_id="ord_1")
               for i in range(3)]  # fmt: skip
    history += [op(3 + i, "ok", "confirm", 500, process=f"w{i}", key="k", order_id="ord_1")
                for i in range(3)]  # fmt: skip
    for done in history[3:]:
        done["invoke_index"] = done["index"] - 3
    run = run_of(history, charge("le_1", "ord_1", 200))
    assert cause(run, run.ledger[0]) == (
        "by one of 3 confirms with key k in flight (op #0, op #1, op #2); "
        "the harness cannot tell which"
    )
    history[1]["value"]["key"] = "other"  # two keys: no longer one request sent many times
    assert cause(run_of(history, *run.ledger), run.ledger[0]).startswith(
        "by one of 3 client steps in flight (op #0, op #1, op #2)"
    )


def test_browser_steps_say_what_the_customer_did() -> None:
    tab = {"url_before": "http://shop/checkout/ord_1", "order_id": "ord_1"}
    history = [
        op(0, "invoke", "click", 10, process="tab-1", pay=True, count=2, **tab),
        op(1, "ok", "click", 100, process="tab-1", **tab),
        op(2, "invoke", "click", 200, process="tab-2", hosted="provider_pay", **tab),
        op(3, "ok", "click", 300, process="tab-2", **tab),
        op(4, "invoke", "click", 400, process="tab-1", challenge="pi_1", outcome_asked="complete",
           **tab),
        op(5, "ok", "click", 500, process="tab-1", **tab),
        op(6, "invoke", "reload", 600, process="tab-1", **tab),
        op(7, "ok", "reload", 700, process="tab-1", **tab),
    ]  # fmt: skip
    rows = [charge(f"le_{i}", "ord_1", 50 + 200 * i) for i in range(4)]
    run = run_of(history, *rows)
    assert causes(run, rows) == [
        "by the 2 Pay clicks in tab-1 (op #0)",
        "by the Pay click on the provider's hosted page in tab-2 (op #2)",
        "by the 3-D Secure complete click in tab-1 (op #4)",
        "by the reload in tab-1 (op #6)",
    ]


def test_a_step_that_sent_no_post_is_never_blamed_for_a_charge() -> None:
    """The page answered the Pay clicks with 'in progress' and the tab then only waited:
    the checkout charged during the wait, but the wait asked for nothing."""
    tab = {"url_before": "http://shop/checkout/ord_1", "order_id": "ord_1"}
    history = [
        op(0, "invoke", "click", 10, process="tab-1", pay=True, count=4, **tab),
        op(1, "ok", "click", 100, process="tab-1", posts=[{"url": "/confirm"}], **tab),
        op(2, "invoke", "wait_state", 110, process="tab-1", want="success", **tab),
        op(3, "ok", "wait_state", 900, process="tab-1", posts=[], **tab),
        op(4, "invoke", "reload", 1000, process="tab-1", **tab),
        op(5, "ok", "reload", 1100, process="tab-1", posts=[], **tab),
    ]  # fmt: skip
    rows = [charge("le_1", "ord_1", 500), charge("le_2", "ord_1", 1050)]
    run = run_of(history, *rows)
    assert causes(run, rows) == [
        f"{UNTIED}: only the wait state in tab-1 (op #2) was open, which sent no POST; the "
        "last step that could have, the 4 Pay clicks in tab-1 (op #0), was answered",
        "by the reload in tab-1 (op #4)",  # a navigation may charge on GET: still a cause
    ]
    # beside a step that did send something, the quiet one makes no ambiguity
    history[2:2] = [
        op(6, "invoke", "click", 400, process="tab-2", pay=True, **tab),
        op(7, "ok", "click", 600, process="tab-2", posts=[{"url": "/c"}], **tab),
    ]
    assert cause(run_of(history, *rows), rows[0]) == "by the Pay click in tab-2 (op #6)"


def test_no_step_in_flight_after_a_lost_answer_says_nobody_was_waiting() -> None:
    run = run_of(lost_then_retried()[:2], charge("le_1", "ord_1", 1500))
    assert cause(run, run.ledger[0]) == (
        f"{UNTIED}: none was in flight; the last, the confirm with key k1 (op #0), had lost "
        "its answer (HTTP 502: not known), so the checkout charged with no client waiting"
    )


def test_an_answered_step_or_none_at_all_is_never_blamed() -> None:
    answered = lost_then_retried()[4:]
    answered[1]["invoke_index"] = 4
    run = run_of(answered, charge("le_1", "ord_1", 3000), charge("le_0", "ord_1", 50))
    assert cause(run, run.ledger[0]) == (
        f"{UNTIED}: none was in flight; the last, op #4, was answered"
    )
    assert cause(run, run.ledger[1]) == f"{UNTIED}: no client step of the order had been sent yet"


def test_a_step_of_another_order_is_not_the_cause() -> None:
    history = [op(0, "invoke", "confirm", 100, process="bob", key="k9", order_id="ord_2")]
    run = run_of(history, charge("le_1", "ord_1", 150))
    assert cause(run, run.ledger[0]).startswith(f"{UNTIED}: no client step")


def test_without_a_clock_nothing_is_tied() -> None:
    run = run_of(lost_then_retried(), charge("le_1", "ord_1", 160)).model_copy(
        update={"started_wall": None}
    )
    assert cause(run, run.ledger[0]) == (
        f"{UNTIED} (the report has no clock to line the ledger up with the history)"
    )


def test_a_fault_hit_is_tied_by_provider_key_or_by_time_never_across_keys() -> None:
    keyed = run_of(lost_then_retried(), charge("le_1", "ord_1", 160, "other"))
    assert "met the fault" not in cause(keyed, keyed.ledger[0])  # another key's call
    history = lost_then_retried()
    history[3]["value"]["hits"][0]["idempotency_key"] = None
    row = charge("le_1", "ord_1", 160)
    row["idempotency_key"] = None
    keyless = run_of(history, row)
    assert "met the fault POST /v1/payment_intents" in cause(keyless, row)


def test_a_time_in_whole_seconds_covers_its_second() -> None:
    """Stripe's ``created`` is an int: a confirm sent within that second is in flight."""
    history = [op(0, "invoke", "confirm", 300, key="k1", order_id="ord_1"),
               op(1, "ok", "confirm", 600, key="k1", order_id="ord_1")]  # fmt: skip
    row = charge("le_1", "ord_1", 0)
    row["created"] = int(T0)
    assert cause(run_of(history, row), row) == "by the confirm with key k1 (op #0)"


def test_client_steps_skip_the_nemesis_and_mark_retries() -> None:
    steps = client_steps(run_of(lost_then_retried()))
    assert [(s.index, s.retry, s.lost) for s in steps] == [
        (0, False, "HTTP 502: not known"),
        (4, True, ""),
    ]
