"""A target at run time: where the checkout and the provider are, and how to crash it.

A profile may say ``base_url = "auto"`` and ``[provider] url = "auto"``: the harness then
starts reference_app and the fake provider itself (:mod:`harness.embedded`), which also
gives it process control. Otherwise the URLs are used as given and process control
comes from the profile's ``[process]`` section, if any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.embedded import EmbeddedStack
from harness.faults.process import ProcessFault
from harness.history import History
from harness.profile import AUTO, TargetProfile
from harness.types import Capability

REFERENCE_PROFILE = Path(__file__).resolve().parent.parent / "targets" / "reference.toml"


class TargetProcess(Protocol):
    """What the nemesis needs to crash a checkout and bring it back."""

    def kill(self) -> None: ...

    def restart(self) -> None: ...


@dataclass
class _EmbeddedProcess:
    stack: EmbeddedStack

    def kill(self) -> None:
        assert self.stack.app is not None
        self.stack.app.kill()

    def restart(self) -> None:
        assert self.stack.app is not None
        self.stack.app.process = None
        self.stack.app.start()


@dataclass
class _ProfileProcess:
    fault: ProcessFault

    def kill(self) -> None:
        self.fault.kill()

    def restart(self) -> None:
        self.fault.restart()


@dataclass
class Target:
    """A profile bound to live URLs."""

    profile: TargetProfile
    base_url: str
    provider_url: str
    process: TargetProcess | None = None
    stack: EmbeddedStack | None = None
    owned_process: ProcessFault | None = field(default=None, repr=False)

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps = set(self.profile.capabilities())
        if self.process is None:
            caps.discard("process")
        return frozenset(caps)

    def stop(self) -> None:
        if self.owned_process is not None:
            self.owned_process.stop()
        if self.stack is not None:
            self.stack.stop()


def open_target(
    profile: TargetProfile,
    workdir: Path,
    *,
    database_url: str | None = None,
    flaw: str | None = None,
    history: History | None = None,
) -> Target:
    """Start what the profile leaves to the harness and return the live target."""
    if profile.base_url == AUTO:
        provider_url = None if profile.provider.url == AUTO else profile.provider.url
        stack = EmbeddedStack(
            workdir=workdir / "stack",
            database_url=database_url,
            provider_url=provider_url,
            flaw=flaw,
            # A short lease, a short provider timeout and a busy reconciler keep the fault
            # and crash scenarios quick; all three stay safe because the provider dedupes
            # every retry by the payment's own key.
            extra_env={
                "NODOUBLE_RECONCILE_INTERVAL_SECONDS": "1",
                "NODOUBLE_LEASE_SECONDS": "3",
                "NODOUBLE_PROVIDER_TIMEOUT_SECONDS": "3",
            },
        ).start()
        assert stack.provider_url is not None
        return Target(profile, stack.app_url, stack.provider_url, _EmbeddedProcess(stack), stack)
    provider_url = profile.provider.url
    if provider_url == AUTO and profile.provider.ledger == "stripe":
        provider_url = profile.provider.api_base  # the checkout pays Stripe itself
    if provider_url == AUTO:
        raise ValueError(
            "provider.url: 'auto' needs base_url = 'auto' too; a checkout you run yourself "
            "must be configured with the URL of a provider you started (nodouble provider)"
        )
    process: TargetProcess | None = None
    owned: ProcessFault | None = None
    if profile.process is not None:
        owned = ProcessFault(
            profile.process.start,
            profile.process.health_url or profile.base_url,
            history,
            env=profile.process.env,
            kill_cmd=profile.process.stop,
            log_path=workdir / "target.log",
        ).start()
        process = _ProfileProcess(owned)
    return Target(profile, profile.base_url, provider_url, process, None, owned)
