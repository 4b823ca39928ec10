"""Demo sessions: a signed cookie ``nodouble_session`` holding ``{"user", "sid"}``.

There are no passwords: ``POST /api/session {"user": "alice"}`` logs in as alice. The cookie
is signed with ``NODOUBLE_SESSION_SECRET`` (itsdangerous), HttpOnly and SameSite=Lax.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from reference_app.config import Settings

COOKIE_NAME = "nodouble_session"
MAX_AGE_SECONDS = 7 * 24 * 3600
USER_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SALT = "nodouble-session"


@dataclass(frozen=True)
class Session:
    user: str
    sid: str


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.session_secret, salt=_SALT)


def start_session(response: Response, user: str, settings: Settings) -> Session:
    """Set the signed session cookie for ``user`` on ``response``."""
    if not USER_PATTERN.match(user):
        raise ValueError("user must be 1-64 letters, digits, '_', '.' or '-'")
    session = Session(user=user, sid=secrets.token_urlsafe(16))
    token = _serializer(settings).dumps({"user": session.user, "sid": session.sid})
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        path="/",
    )
    return session


def read_session(token: str | None, settings: Settings) -> Session | None:
    """Decode a cookie value; None if absent, forged, expired or malformed."""
    if not token:
        return None
    try:
        data = _serializer(settings).loads(token, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    user, sid = data.get("user"), data.get("sid")
    if not isinstance(user, str) or not isinstance(sid, str) or not USER_PATTERN.match(user):
        return None
    return Session(user=user, sid=sid)


def get_session(request: Request) -> Session | None:
    """The request's session, or None; the settings come from ``app.state.settings``."""
    settings: Settings = request.app.state.settings
    return read_session(request.cookies.get(COOKIE_NAME), settings)


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")
