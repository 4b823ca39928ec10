from __future__ import annotations

import threading

import pytest

from harness.history import History


def test_invoke_and_complete_pair_up() -> None:
    history = History()
    call = history.invoke("api-0", "confirm", {"order_id": "ord_1", "key": "k1"})
    done = history.info(call, {"error": "ReadTimeout", "outcome": "unknown"})

    assert [op.type for op in history.ops] == ["invoke", "info"]
    assert done.invoke_index == call.index
    assert done.value == {
        "order_id": "ord_1",
        "key": "k1",
        "error": "ReadTimeout",
        "outcome": "unknown",
    }
    assert history.pairs() == [(call, done)]
    assert done.time_ns >= call.time_ns


def test_pending_invocation_has_no_completion() -> None:
    history = History()
    call = history.invoke("tab-1", "click")
    assert history.pairs() == [(call, None)]
    assert history.completions() == []


def test_completion_rules() -> None:
    history = History()
    call = history.invoke("api-0", "confirm")
    done = history.ok(call)
    with pytest.raises(ValueError, match="not an invocation"):
        history.ok(done)
    with pytest.raises(ValueError, match="ok, fail or info"):
        history.complete(call, "invoke")


def test_json_round_trip_keeps_indexes_and_continues_counting() -> None:
    history = History()
    first = history.invoke("api-0", "confirm", {"key": "k"})
    history.fail(first, {"response": {"status": 422}})
    loaded = History.from_json(history.to_json())

    assert loaded.ops == history.ops
    nxt = loaded.invoke("api-1", "read_order")
    assert nxt.index == 2


def test_indexes_are_unique_under_threads() -> None:
    history = History()
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        barrier.wait()
        for _ in range(200):
            history.ok(history.invoke(f"p{n}", "noop"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    indexes = [op.index for op in history.ops]
    assert len(indexes) == 8 * 200 * 2
    assert sorted(indexes) == list(range(len(indexes)))
    assert len(history.completions("noop")) == 1600
