"""Signing in to the console with a platform bearer token, the session it opens, CSRF checks.

A token (pasted on /signin, or the short-lived one in the URL `annals console --open` prints)
is verified like every service verifies one (annals.web.auth, audience `console`); the session
then holds only its subject, scopes, expiry and a random CSRF token, in a cookie signed with the
stack's `console-session` secret (HttpOnly, SameSite=Strict). Every action is a POST that needs
`admin` and the session's CSRF token (a form field or the X-CSRF-Token header htmx sends).
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any
from urllib.parse import quote

from fastapi import Request

from annals.web.auth import Principal, TokenVerifier
from annals.web.problems import Problem

CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """No valid session: the browser is sent to /signin (then back to `next`)."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def signin_url(next_url: str) -> str:
    """Where a visitor without a session goes."""
    return "/signin?next=" + quote(next_url, safe="/")


def safe_next(value: str | None) -> str:
    """A local path to return to after sign-in (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


async def open_session(request: Request, token: str, lifetime: int) -> Principal:
    """Verify `token` (401 problem if bad) and store its principal in the session."""
    verifier: TokenVerifier = request.app.state.verifier
    principal = await verifier.verify(token.strip())
    request.session.clear()
    request.session.update(
        sub=principal.subject,
        scopes=sorted(principal.scopes),
        exp=int(time.time()) + lifetime,
        csrf=secrets.token_urlsafe(24),
    )
    return principal


def session_principal(request: Request) -> Principal | None:
    """The signed-in principal, or None (no session or an expired one)."""
    data: dict[str, Any] = request.session
    if not data or float(data.get("exp", 0)) < time.time():
        return None
    return Principal(str(data.get("sub", "")), frozenset(data.get("scopes", ())))


async def viewer(request: Request) -> Principal:
    """A FastAPI dependency: who looks at a page; without a session, off to sign-in."""
    principal = session_principal(request)
    if principal is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path)
    return principal


async def operator(request: Request) -> Principal:
    """A FastAPI dependency of actions: a session, its CSRF token, and the `admin` scope."""
    principal = await viewer(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get("csrf")
        sent = field if isinstance(field, str) else None
    expected = str(request.session.get("csrf", ""))
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise Problem(403, "Forbidden", "the CSRF token is missing or wrong", slug="csrf")
    if not principal.has("admin"):
        raise Problem(403, "Forbidden", "this action needs the scope 'admin'", slug="forbidden")
    return principal


def csrf_token(request: Request) -> str:
    """The session's CSRF token, for forms and htmx headers."""
    return str(request.session.get("csrf", ""))
