"""A target at run time: where the checkout and the provider are, and how to crash it.

A profile may say ``base_url = "auto"`` and ``[provider] url = "auto"``: the harness then
starts reference_app and the fake provider itself (:mod:`harness.embedded`), which also
gives it process control. With a ``base_url`` of its own, ``[provider] url = "auto"``
starts only the fake provider, and the checkout started by ``[process]`` learns its URL,
key and webhook secret from ``NODOUBLE_PROVIDER_*`` variables (:mod:`harness._profile_env`).
Otherwise the URLs are used as given and process control comes from ``[process]``, if any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness._process import ServerProcess
from harness._profile_env import provider_variables
from harness.embedded import PROVIDER_FACTORY, EmbeddedStack
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
    owned_provider: ServerProcess | None = field(default=None, repr=False)
    """The fake provider the harness started for a checkout of the user's own."""

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps = set(self.profile.capabilities())
        if self.process is None:
            caps.discard("process")
        return frozenset(caps)

    def stop(self) -> None:
        if self.owned_process is not None:
            self.owned_process.stop()
        if self.owned_provider is not None:
            self.owned_provider.stop()
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
            provider_port=profile.provider.port,
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
    provider: ServerProcess | None = None
    provider_url, env = profile.provider.url, dict(profile.process.env if profile.process else {})
    if provider_url == AUTO:
        provider = _start_provider(profile, workdir)
        provider_url = provider.url
        secret = profile.webhooks.secret if profile.webhooks else None
        env = {**provider_variables(provider.port, profile.provider.api_key, secret), **env}
    process: TargetProcess | None = None
    owned: ProcessFault | None = None
    try:
        if profile.process is not None:
            owned = ProcessFault(
                profile.process.start,
                profile.process.health_url or profile.base_url,
                history,
                env=env,
                kill_cmd=profile.process.stop,
                log_path=workdir / "target.log",
            ).start()
            process = _ProfileProcess(owned)
    except BaseException:
        if provider is not None:
            provider.stop()
        raise
    return Target(profile, profile.base_url, provider_url, process, None, owned, provider)


def _start_provider(profile: TargetProfile, workdir: Path) -> ServerProcess:
    """The fake provider for a checkout the harness does not start itself (``url = "auto"``),
    on the port the profile was given when it was loaded."""
    if profile.process is None and not profile.provider.port:
        raise ValueError(
            "provider.url: 'auto' starts the fake provider on a port your checkout must be "
            "told: add [process] (the harness then passes NODOUBLE_PROVIDER_URL to it) or "
            "set [provider] port to the port your checkout calls"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    return ServerProcess(
        PROVIDER_FACTORY, port=profile.provider.port, log_path=workdir / "provider.log"
    ).start()
