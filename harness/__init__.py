"""nodouble's harness: prove that a checkout never charges a customer twice.

The vocabulary, borrowed from Jepsen and used the same way everywhere in this package:

- **scenario** (``scenarios/``): a pure description of one double-charge threat: its
  steps, the capabilities it needs and the invariants it is judged by. No I/O.
- **target** (:mod:`harness.target`, :mod:`harness.profile`): the checkout under test,
  described by a TOML profile: how to sign in, create an order, confirm, read it back.
- **driver** (:mod:`harness.drivers`): performs operations on the target: a real
  Chromium through Playwright, or HTTP clients through httpx, released together by a
  barrier when a scenario asks for a race.
- **fault** (:mod:`harness.faults`): the nemesis. Provider faults through the fake's
  control API, a network proxy that loses or duplicates messages, and process kills.
- **history** (:mod:`harness.history`): every operation as an invocation and a
  completion: ``ok``, ``fail`` or ``info`` (the outcome is unknown, e.g. a timeout).
- **checker** (:mod:`harness.checkers`): a pure function of the history and the fake
  provider's ledger, returning valid true, false or unknown, with evidence.
- **interpreter** (:mod:`harness.interpreter`) runs a scenario's steps with drivers and
  faults; the **runner** (:mod:`harness.runner`) runs the catalog and writes the reports
  (:mod:`harness.reports`).
"""

from __future__ import annotations

__version__ = "0.1.0"
