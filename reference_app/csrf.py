"""CSRF protection for the server-rendered forms.

A form token is the HMAC-SHA256 of the session id under the session secret, so it is bound
to one session: a token copied from another user's page, or from an earlier session, does
not verify. Nothing is stored server side. A POST that carries no token or a wrong one is
refused with 403 before any handler logic runs.

The login form has no session yet, so it cannot carry a token; it is guarded by the
``Origin`` check instead (a cross-site form post carries a foreign ``Origin``).
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request

from reference_app.sessions import Session

FIELD = "csrf_token"
"""Name of the hidden form field that carries the token."""
_CONTEXT = b"nodouble-csrf-v1:"


class CSRFError(Exception):
    """The request failed the CSRF check; the message says why (safe to show)."""


def token_for(session: Session, secret: str) -> str:
    """The form token of ``session``: stable for the session, useless for any other."""
    return hmac.new(secret.encode(), _CONTEXT + session.sid.encode(), hashlib.sha256).hexdigest()


def verify_token(token: str | None, session: Session | None, secret: str) -> None:
    """Raise CSRFError unless ``token`` is the token of ``session``."""
    if session is None:
        raise CSRFError("You are not signed in (or your session expired); sign in and retry.")
    if not token:
        raise CSRFError("The form has no CSRF token; reload the page and submit it again.")
    if not hmac.compare_digest(token, token_for(session, secret)):
        raise CSRFError("The form's CSRF token is not valid for your session; reload the page.")


def check_origin(request: Request) -> None:
    """Raise CSRFError if the browser says the request came from another origin."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # Old browsers and some privacy modes omit it; the token (when there is one) decides.
        return
    expected = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    if origin != expected:
        raise CSRFError(f"Cross-origin form post from {origin} refused.")
    if request.headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
        raise CSRFError("Cross-site form post refused.")
