"""Locust: the duplicate storm against any target profile, with the ledger check at the end.

Each simulated user logs in as the profile says, creates an order and fires
``--duplicates`` confirms of it at once with one Idempotency-Key (pending answers, 202 and
409, are expected). When the run stops, the master (or a single local process) reads the
fake provider's ledger: an order charged twice sets the exit code to 1.

    locust -f harness/load/locustfile.py --headless -u 50 -r 10 -t 60s \\
        --host http://127.0.0.1:8000 --provider-url http://127.0.0.1:12111 \\
        --nodouble-profile targets/reference.toml --duplicates 3

Across machines: one ``--master`` plus ``--worker --master-host <master>`` processes, each
with this file and the profile (docs/performance.md).
"""

from __future__ import annotations

import functools
import itertools
import os
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust import HttpUser, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from fake_provider.client import FakeProviderClient
from harness.load._requests import Recipe, Request, new_key
from harness.profile import AUTO, load_profile
from harness.target import REFERENCE_PROFILE

EXPECTED = frozenset({200, 202, 402, 409})
"""Answers a duplicate may get: paid, being checked, declined, in progress."""
LEDGER_LINE = "nodouble ledger check:"
_ids = itertools.count()


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def _options(parser: Any) -> None:
    parser.add_argument(
        "--nodouble-profile",
        default=os.environ.get("NODOUBLE_PROFILE", str(REFERENCE_PROFILE)),
        help="Target profile (TOML)",
    )
    parser.add_argument(
        "--provider-url",
        default=os.environ.get("NODOUBLE_PROVIDER_URL", ""),
        help="Fake provider URL for the ledger check",
    )
    parser.add_argument("--duplicates", type=int, default=3, help="Confirms per order, at once")


@functools.cache
def _recipe(path: str) -> Recipe:
    return Recipe(load_profile(Path(path)))


class DuplicateStorm(HttpUser):
    """A shopper who pays each order with a burst of identical confirms."""

    wait_time = constant(0)
    host = "http://127.0.0.1:8000"

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.recipe = _recipe(options.nodouble_profile)
        self.duplicates = max(1, int(options.duplicates))
        users = self.recipe.users()
        self.user = f"{users[0]}-locust{os.getpid()}-{next(_ids)}"
        self.headers = self.recipe.headers(self.user)
        login = self.recipe.login(self.user)
        if login is not None:
            self._send(login, "login", frozenset({200, 201, 204, 303}))

    def _send(self, request: Request, name: str, expected: frozenset[int]) -> Any:
        headers = {**self.headers, **(request.headers or {})}
        with self.client.request(
            request.method,
            request.path,
            json=request.json,
            data=request.data,
            headers=headers,
            name=name,
            catch_response=True,
        ) as response:
            if response.status_code in expected:
                response.success()
            else:
                response.failure(f"unexpected HTTP {response.status_code}")
            return response

    @task
    def storm(self) -> None:
        created = self._send(
            self.recipe.create_order(self.user), "create order", frozenset({200, 201})
        )
        if created.status_code not in (200, 201):
            return
        order_id = self.recipe.order_id(created.json())
        confirm = self.recipe.confirm(self.user, order_id, new_key())
        burst = [
            gevent.spawn(self._send, confirm, "confirm (duplicate)", EXPECTED)
            for _ in range(self.duplicates)
        ]
        gevent.joinall(burst)


@events.test_stop.add_listener  # type: ignore[untyped-decorator]
def _ledger_check(environment: Environment, **_kwargs: Any) -> None:
    """On the master (or a lone local runner): no order of the account charged twice."""
    if isinstance(environment.runner, WorkerRunner):
        return
    options = environment.parsed_options
    assert options is not None
    profile = _recipe(options.nodouble_profile).profile
    url = options.provider_url or profile.provider.url
    if not url or url == AUTO:
        print(f"{LEDGER_LINE} skipped: give --provider-url", flush=True)
        environment.process_exit_code = 1
        return
    with FakeProviderClient(url, timeout=120) as fake:
        summary = fake.summary(profile.provider.business_key, account=profile.provider.api_key)
    over = summary["over_charged"]
    role = "master" if isinstance(environment.runner, MasterRunner) else "local"
    print(
        f"{LEDGER_LINE} role={role} orders={len(summary['keys'])} "
        f"charges={summary['total_charges']} over_charged={len(over)}",
        flush=True,
    )
    if over:
        print(f"{LEDGER_LINE} charged twice: {', '.join(over[:10])}", flush=True)
        environment.process_exit_code = 1
