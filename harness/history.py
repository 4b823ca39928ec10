"""The history: every operation of a run, as an invocation and its completion.

As in Jepsen, each operation is recorded twice: once when a client *invokes* it and
once when it *completes*. A completion is one of

- ``ok``: it happened, and the client knows it (for a confirm: a 2xx answer);
- ``fail``: it did not happen, and the client knows it (a definite refusal such as 402,
  400 or 422);
- ``info``: the outcome is unknown (timeout, connection dropped, 5xx after the request
  reached the server). A payment whose answer was lost may still have been charged:
  checkers must treat ``info`` as "maybe".

Operations carry a ``process`` (the logical client: a browser tab, an HTTP worker), a
function name ``f`` (``confirm``, ``create_order``, ``read_order``, ``page_load``, ...)
and a free-form ``value`` with the request and response summaries. Times come from
``time.monotonic_ns`` relative to the start of the history.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

OpType = Literal["invoke", "ok", "fail", "info"]
COMPLETIONS: frozenset[str] = frozenset({"ok", "fail", "info"})


@dataclass(frozen=True)
class Op:
    """One event of the history: an invocation or a completion."""

    index: int
    type: OpType
    process: str
    f: str
    value: dict[str, Any]
    time_ns: int
    """Nanoseconds since the history started (monotonic clock)."""
    invoke_index: int | None = None
    """For a completion: the index of its invocation."""

    @property
    def is_invoke(self) -> bool:
        return self.type == "invoke"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Op:
        return cls(**data)


@dataclass
class History:
    """An append-only, thread-safe list of operations."""

    ops: list[Op] = field(default_factory=list)
    started_ns: int = field(default_factory=time.monotonic_ns)
    started_wall: float = field(default_factory=time.time)
    """Unix time when the history started: ``started_wall + time_ns / 1e9`` is an op's
    wall-clock time, to line it up with the provider's ledger."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _counter: Iterator[int] = field(default_factory=itertools.count, repr=False, compare=False)

    def _append(
        self, type_: OpType, process: str, f: str, value: dict[str, Any], invoke: int | None
    ) -> Op:
        with self._lock:
            op = Op(
                index=next(self._counter),
                type=type_,
                process=process,
                f=f,
                value=dict(value),
                time_ns=time.monotonic_ns() - self.started_ns,
                invoke_index=invoke,
            )
            self.ops.append(op)
            return op

    def invoke(self, process: str, f: str, value: dict[str, Any] | None = None) -> Op:
        return self._append("invoke", process, f, value or {}, None)

    def complete(self, invocation: Op, type_: OpType, value: dict[str, Any] | None = None) -> Op:
        if type_ not in COMPLETIONS:
            raise ValueError(f"a completion is ok, fail or info, not {type_!r}")
        if not invocation.is_invoke:
            raise ValueError(f"op {invocation.index} is a completion, not an invocation")
        merged = {**invocation.value, **(value or {})}
        return self._append(type_, invocation.process, invocation.f, merged, invocation.index)

    def ok(self, invocation: Op, value: dict[str, Any] | None = None) -> Op:
        return self.complete(invocation, "ok", value)

    def fail(self, invocation: Op, value: dict[str, Any] | None = None) -> Op:
        return self.complete(invocation, "fail", value)

    def info(self, invocation: Op, value: dict[str, Any] | None = None) -> Op:
        return self.complete(invocation, "info", value)

    def completions(self, f: str | None = None) -> list[Op]:
        """Completed operations (ok, fail, info), optionally of one function."""
        return [op for op in self.ops if op.type != "invoke" and (f is None or op.f == f)]

    def pairs(self) -> list[tuple[Op, Op | None]]:
        """Each invocation with its completion (``None`` if it never completed)."""
        done = {op.invoke_index: op for op in self.ops if op.invoke_index is not None}
        return [(op, done.get(op.index)) for op in self.ops if op.is_invoke]

    def wall(self, op: Op) -> float:
        """The op's unix time."""
        return self.started_wall + op.time_ns / 1e9

    def to_json(self) -> list[dict[str, Any]]:
        return [op.to_json() for op in self.ops]

    @classmethod
    def from_ops(cls, ops: list[Op]) -> History:
        history = cls(ops=list(ops))
        history._counter = itertools.count(max((op.index for op in ops), default=-1) + 1)
        return history

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> History:
        return cls.from_ops([Op.from_json(item) for item in data])
