"""Manual capture scenarios: the confirm only authorises; a later capture takes the money.

The capture is a second payment request with its own Idempotency-Key and its own way to
lose an answer. Each story authorises the order, breaks the capture, lets the client send
the same capture again (following Retry-After) and the target reconcile, then reads the
order back: it must show paid, with exactly one charge, and no answer may have told the
customer the capture failed.
"""

from __future__ import annotations

from scenarios._model import RECOVERY_INVARIANTS, Scenario
from scenarios.steps import (
    Capture,
    ClearProviderFaults,
    Confirm,
    CreateOrder,
    NetworkFault,
    ProviderFault,
    ReadOrder,
    Reconcile,
    Step,
)

INVARIANTS = RECOVERY_INVARIANTS
BEYOND_RETRIES = 8
"""A fault that outlasts the checkout's own provider retries (they reuse one key, and the
provider's fault hits replays too): the checkout's request ends without an answer."""


def _story(fault: ProviderFault, *, reconcile_first: bool = False) -> tuple[Step, ...]:
    retry = Capture(key="c1", patience=10)
    settle = (Reconcile(), retry) if reconcile_first else (retry, Reconcile())
    return (
        CreateOrder(), Confirm(key="k1", manual_capture=True), ReadOrder(),
        fault, Capture(key="c1"), ClearProviderFaults(), *settle, ReadOrder(),
    )  # fmt: skip


SCENARIOS = (
    Scenario(
        id="capture.lost_answer",
        title="The provider captures, then its answer is lost; the retried capture takes the "
        "money once and the order ends paid",
        threat="capture-lost-answer",
        steps=_story(ProviderFault(mode="drop_after", count=BEYOND_RETRIES)),
        invariants=INVARIANTS,
        tags=("capture", "provider"),
        description="The first capture's answer never reaches the checkout: it must answer "
        "'unknown' (202, say), never 'failed', and the same key must later answer paid.",
    ),
    Scenario(
        id="capture.provider_error",
        title="The provider captures and answers 500; the checkout reconciles the capture, "
        "never tells 'failed'",
        threat="capture-lost-answer",
        steps=_story(
            ProviderFault(mode="error_after", status=500, count=BEYOND_RETRIES),
            reconcile_first=True,
        ),
        invariants=INVARIANTS,
        tags=("capture", "provider"),
        description="The provider stores its 500 under the capture's key, so a replay of that "
        "key answers 500 again: only reading the intent settles it.",
    ),
    Scenario(
        id="capture.client_answer_lost",
        title="The capture's answer is lost between the checkout and the client; the client's "
        "retry with the same key is answered from the stored response",
        threat="capture-lost-answer",
        steps=(
            CreateOrder(),
            Confirm(key="k1", manual_capture=True),
            NetworkFault(rule="drop_response", on="capture"),
            Capture(key="c1", through_proxy=True),
            Capture(key="c1", patience=10),
            Reconcile(),
            ReadOrder(),
        ),
        tags=("capture", "network"),
        description="The checkout captured and answered; only the client never heard. The "
        "retry must be the same answer (replays_identical), not a second capture.",
    ),
)
