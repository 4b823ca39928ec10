"""Manual capture steps: a confirm that only authorises, and the ``Capture`` step.

Everything target-specific comes from the profile's ``[api.capture]``: how a confirm asks
only to authorise (``confirm_body``), what an authorised answer reads like
(``authorized_pointer`` / ``authorized_value``) and the capture request itself. A confirm
answered "authorised" is recorded with outcome ``authorized``: no money moved, so it is
neither a success (``success_means_one_charge``, ``told_the_truth``) nor a failure.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from harness._pointer import resolve_pointer
from harness.drivers.api import Annotate, RequestSpec
from harness.history import Op
from harness.profile import CaptureSection, render
from scenarios import steps as s

if TYPE_CHECKING:
    from harness.interpreter import Interpreter

AUTHORIZED = "authorized"
"""The outcome of a confirm whose answer says "authorised, not taken"."""


def section(interp: Interpreter) -> CaptureSection:
    from harness.interpreter import StepError

    api = interp.profile.api
    if api is None or api.capture is None:
        raise StepError("this step needs the profile's [api.capture] section")
    return api.capture


def manual(interp: Interpreter, request: RequestSpec, user: str, key: str | None) -> RequestSpec:
    """The confirm request with the profile's ``confirm_body`` merged in."""
    spec = section(interp)
    values = {"order_id": request.order_id or "", "user": interp.user_name(user), "key": key or ""}
    extra = render(spec.confirm_body, values)
    body = {**request.json, **extra} if isinstance(request.json, dict) else extra
    return replace(request, json=body)


def authorized_annotate(interp: Interpreter) -> Annotate:
    """Marks a 2xx confirm answer that reads as authorised with outcome ``authorized``."""
    spec = section(interp)

    def annotate(summary: dict[str, Any]) -> dict[str, Any]:
        status = summary.get("status")
        if not isinstance(status, int) or not 200 <= status < 300:
            return {}
        value = resolve_pointer(summary.get("body"), spec.authorized_pointer)
        if value is not None and value == spec.authorized_value:
            return {"outcome": AUTHORIZED, "authorized": True}
        return {}

    return annotate


def require_authorized(interp: Interpreter, done: Op) -> None:
    """A manual-capture confirm must end authorised: otherwise the capture steps after it
    test nothing (a target that ignores ``confirm_body`` has charged already), so the step
    fails and the scenario is an error, never a pass."""
    from harness.interpreter import StepError

    if done.value.get("outcome") == AUTHORIZED:
        return
    spec = section(interp)
    response = done.value.get("response")
    status = response.get("status") if isinstance(response, dict) else None
    got = "no answer" if status is None else f"HTTP {status}"
    if isinstance(response, dict) and status is not None:
        found = resolve_pointer(response.get("body"), spec.authorized_pointer)
        got += f", {spec.authorized_pointer} = {found!r}"
    raise StepError(
        f"the manual-capture confirm was not answered as authorised ({got}; expected a 2xx "
        f"with {spec.authorized_pointer} = {spec.authorized_value!r}): check [api.capture] "
        "confirm_body (it must make the confirm only authorise) and authorized_pointer / "
        "authorized_value (how its answer says so)"
    )


def capture(interp: Interpreter, step: s.Capture) -> None:
    """Send the capture request (again after 202/409, up to ``patience`` times)."""
    from harness.interpreter import retry_after

    spec = section(interp)
    order_id = interp.state.order_id(step.order)
    key = None if step.key is None else interp.state.key(step.key)
    values = {"order_id": order_id, "user": interp.user_name(step.user), "key": key or ""}
    headers = {}
    if key is not None and spec.idempotency_header:
        headers[spec.idempotency_header] = key
    request = RequestSpec(
        "capture", spec.method, render(spec.path, values), json=render(spec.body, values),
        headers=headers, order_id=order_id, key=key,
    )  # fmt: skip
    driver = interp.api(step.user, through_proxy=step.through_proxy)
    wait: float | None = None
    for attempt in range(1 + step.patience):
        if attempt and wait is not None:  # not decided yet: ask again when told to
            time.sleep(wait)
        done = driver.send(request)
        wait = retry_after(done)
        if wait is None:
            return
