"""Build the checkout's requests from a target profile (shared by the load engine and the
locustfile): login, create order, confirm, read order."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from harness._pointer import resolve_pointer
from harness.profile import ApiSection, TargetProfile, render


class LoadProfileError(ValueError):
    """The profile cannot drive load (no ``[api]`` or no ``[session.login]``); one line."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    json: Any = None
    data: dict[str, Any] | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Recipe:
    """Everything the load needs from a profile, as plain requests."""

    profile: TargetProfile

    def __post_init__(self) -> None:
        if self.profile.api is None:
            raise LoadProfileError(f"profile {self.profile.name!r} has no [api] section")

    @property
    def api(self) -> ApiSection:
        assert self.profile.api is not None
        return self.profile.api

    def login(self, user: str) -> Request | None:
        """The login request, or None when the profile uses static headers."""
        login = self.profile.session.login
        if login is None:
            return None
        values = {"user": user}
        return Request(
            login.method,
            render(login.path, values),
            render(login.json_body, values),
            render(login.form, values),
        )

    def headers(self, user: str) -> dict[str, str]:
        """Static headers of ``user`` (profiles without a login request)."""
        table = self.profile.session.headers or {}
        return dict(table.get(user) or next(iter(table.values()), {}))

    def users(self) -> list[str]:
        return list(self.profile.session.users)

    def create_order(self, user: str) -> Request:
        create = self.api.create_order
        values = {**create.params, "user": user}
        return Request(create.method, render(create.path, values), render(create.body, values))

    def order_id(self, body: Any) -> str:
        return str(resolve_pointer(body, self.api.create_order.order_id_pointer))

    def confirm(self, user: str, order_id: str, key: str) -> Request:
        confirm = self.api.confirm
        values = {"order_id": order_id, "user": user, "key": key, "payment_method": "pm_card_visa"}
        return Request(
            confirm.method,
            render(confirm.path, values),
            render(confirm.body, values),
            headers={confirm.idempotency_header: key} if confirm.idempotency_header else {},
        )


def new_key() -> str:
    return "load-" + secrets.token_hex(12)
