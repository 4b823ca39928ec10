"""stripe-node (the official ``stripe`` npm package), unchanged, against a real fake process.

``stripe_node/check.mjs`` runs each check with stripe-node and prints one JSON line; this
test asserts every one. It needs ``node`` and ``make node-shop`` (stripe-node is resolved
from tests/gallery/node_shop/node_modules): missing, the test skips locally and fails in CI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fake_provider.client import FakeProviderClient
from harness._process import ServerProcess
from harness._testing import missing

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "stripe_node" / "check.mjs"
NODE_SHOP = HERE.parent / "gallery" / "node_shop"
CHECKS = {
    "no_base_url_option": "stripe-node refuses an apiBase: host/port/protocol point it here",
    "create": "a PaymentIntent is created",
    "confirm": "confirm with pm_card_visa succeeds",
    "retrieve": "retrieve shows the charge",
    "search": "search by metadata finds the intent",
    "refund": "a partial refund succeeds",
    "replay": "the same key replays, with Idempotent-Replayed: true",
    "idempotency_error": "the same key with other params is a StripeIdempotencyError (400)",
    "own_key_per_post": "a POST without a key carries stripe-node's own stripe-node-retry-…",
    "reset_retried_with_same_key": "a dropped connection is sent again with the same key "
    "despite maxNetworkRetries: 0, and replayed: one charge",
    "webhook_signature": "constructEvent accepts the fake's signature and refuses a changed "
    "body or another secret",
}


@pytest.fixture
def node() -> str:
    found = shutil.which("node")
    if found is None:
        missing("node", "install Node.js 20+ (Debian: apt-get install nodejs npm)")
    if not (NODE_SHOP / "node_modules" / "stripe" / "package.json").is_file():
        missing("stripe-node", f"run `make node-shop` to install it in {NODE_SHOP}/node_modules")
    assert found is not None
    return found


def test_stripe_node_against_the_fake(
    node: str, fake: FakeProviderClient, fake_server: ServerProcess
) -> None:
    done = subprocess.run(
        [node, str(SCRIPT), fake_server.url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["stripe_node"]
    checks = result["checks"]
    assert set(checks) == set(CHECKS)
    failed = {name: checks[name] for name in CHECKS if checks[name].get("ok") is not True}
    assert not failed, "\n".join(f"{n}: {CHECKS[n]}; saw {failed[n]}" for n in failed)
    assert fake.summary()["over_charged"] == []
