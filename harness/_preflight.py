"""Before a run: does the checkout pay through this provider, with the profile's account?

One probe purchase through the target's API (create an order, confirm it once), then the
fake provider's request log since just before the probe says which accounts (API keys)
the checkout used. A checkout pointed at another provider, or configured with another
test key than the profile says, would otherwise have its charges judged under the wrong
assumptions; here it is a one-line error naming both keys before any scenario runs.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

from fake_provider.client import FakeProviderClient
from harness.history import History
from harness.interpreter import Interpreter
from harness.target import Target
from scenarios import steps as s

WAIT_S = 3.0
"""How long to wait for the probe's provider calls to show in the request log."""


class SetupError(RuntimeError):
    """The run cannot give a verdict worth having; the message is one actionable line."""


def check_provider(url: str) -> None:
    """The fake provider answers its control API at ``url``, or :class:`SetupError`."""
    try:
        with FakeProviderClient(url) as client:
            client.ledger_cursor()
    except Exception as exc:
        raise SetupError(
            f"the provider at {url} is not reachable ({type(exc).__name__}): start it "
            "(nodouble provider) or fix [provider] url"
        ) from None


def check_account(target: Target) -> str | None:
    """Probe the checkout's provider account; returns what was seen, or raises
    :class:`SetupError`. Targets without an API (``[api]`` with a read back) are not
    probed: their scenarios flag charges made with another account one by one."""
    profile = target.profile
    if profile.api is None:
        return None
    with FakeProviderClient(target.provider_url) as client:
        check_provider(target.provider_url)
        cursor = client.requests_cursor()
        history = History()
        with tempfile.TemporaryDirectory(prefix="nodouble-probe-") as tmp:
            interp = Interpreter(target, history, Path(tmp), f"probe{uuid.uuid4().hex[:6]}")
            try:
                interp.step(s.CreateOrder(order="probe"))
                interp.step(s.Confirm(order="probe", key="probe"))
            except Exception as exc:
                raise SetupError(f"the probe purchase failed: {exc}".splitlines()[0]) from None
            finally:
                interp.close()
        accounts: set[str] = set()
        deadline = time.monotonic() + WAIT_S
        while not accounts and time.monotonic() < deadline:
            accounts = {
                str(r["account"]) for r in client.requests(after_seq=cursor) if r.get("account")
            }
            if not accounts:
                time.sleep(0.1)
    expected = profile.provider.api_key
    if not accounts:
        raise SetupError(
            f"a probe confirm made no call to the provider at {target.provider_url}: configure "
            "the checkout with this provider's URL (or fix [provider] url)"
        )
    if accounts != {expected}:
        used = ", ".join(sorted(accounts))
        raise SetupError(
            f"the checkout pays with account {used}, but the profile's provider.api_key is "
            f"{expected}: set [provider] api_key to the key the checkout uses"
        )
    return expected
