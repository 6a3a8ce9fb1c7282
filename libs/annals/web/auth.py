"""Bearer JWTs with scopes: verification (HS256 secret or RS256 via JWKS), minting, FastAPI deps."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import jwt
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBearer

from annals.web.problems import Problem
from annals.web.settings import ServiceSettings

SCOPES = ("orders:write", "customers:write", "read", "read:pii", "admin")
BEARER_DESCRIPTION = "JWT with a `scope` claim (space-separated)"
_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls: the token's subject and scopes (`admin` holds every scope)."""

    subject: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        """Whether the principal holds `scope`."""
        return scope in self.scopes or "admin" in self.scopes


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "Unauthorized",
        detail,
        slug="unauthorized",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


class TokenVerifier:
    """Checks signature, expiry, audience and issuer; caches verified tokens until they expire."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.algorithm = settings.jwt_algorithm
        self.audience = settings.jwt_audience
        self.issuer = settings.jwt_issuer
        self._secret = settings.jwt_secret.get_secret_value()
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None
        self._cache: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token, else a 401 problem."""
        hit = self._cache.get(token)
        if hit is not None and hit[1] > time.time():
            return hit[0]
        key: object = self._secret
        try:
            if self._jwks is not None:
                key = (await run_in_threadpool(self._jwks.get_signing_key_from_jwt, token)).key
            claims = jwt.decode(
                token,
                key,  # type: ignore[arg-type]
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("the token has expired") from None
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as exc:
            raise _unauthorized(f"the token is not valid: {exc}") from None
        principal = Principal(str(claims["sub"]), frozenset(_scopes(claims)))
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[token] = (principal, float(claims["exp"]))
        return principal


def _scopes(claims: dict[str, object]) -> list[str]:
    scope = claims.get("scope", claims.get("scp", ""))
    if isinstance(scope, str):
        return scope.split()
    if isinstance(scope, list):
        return [str(s) for s in scope]
    return []


def mint_token(
    settings: ServiceSettings,
    scopes: Iterable[str],
    *,
    subject: str = "local-dev",
    ttl_seconds: int = 3600,
) -> str:
    """A signed HS256 token for local use (the settings' secret, audience and issuer)."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + ttl_seconds,
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


class ScopedBearer(HTTPBearer):
    """A FastAPI dependency: the caller's principal, which must hold `scope` (401/403 else).

    Being an HTTPBearer, it also documents the bearer scheme in OpenAPI; checking the header
    itself (instead of depending on an HTTPBearer) saves FastAPI one dependency per request.
    """

    def __init__(self, scope: str) -> None:
        super().__init__(scheme_name="HTTPBearer", description=BEARER_DESCRIPTION)
        self.scope = scope

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        """The verified principal of the request's bearer token."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(
                401,
                "Unauthorized",
                "a bearer token is required",
                slug="unauthorized",
                headers={"WWW-Authenticate": "Bearer"},
            )
        verifier: TokenVerifier = request.app.state.verifier
        principal = await verifier.verify(token.strip())
        if not principal.has(self.scope):
            raise Problem(
                403,
                "Forbidden",
                f"this operation needs the scope {self.scope!r}",
                slug="insufficient-scope",
                headers={
                    "WWW-Authenticate": f'Bearer error="insufficient_scope" scope="{self.scope}"'
                },
            )
        return principal


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller's principal, which must hold `scope` (401/403 else)."""
    return ScopedBearer(scope)
