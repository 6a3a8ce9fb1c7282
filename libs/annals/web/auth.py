"""Bearer JWTs with scopes: verification, minting for local use, FastAPI dependencies.

One key setting serves every service (HS256 secret, or RS256/ES256 with a PEM public key, a
JWKS file or a JWKS URL); each service accepts only tokens whose `aud` names it, that live at
most `jwt_max_lifetime` seconds, and says in its own words what is wrong with one it refuses.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBearer

from annals.topology import topology
from annals.web.problems import Problem
from annals.web.settings import ServiceSettings

# Scopes of the platform itself; each service declares its own (annals.topology).
PLATFORM_SCOPES = ("metrics", "admin")
# Audiences of the platform's own endpoints (the console, annals.console), beside the services.
PLATFORM_AUDIENCES = ("console", "registry")
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


def scopes() -> tuple[str, ...]:
    """Every scope a token may carry: the declared services' and the platform's."""
    return (*topology().scopes, *PLATFORM_SCOPES)


def audiences() -> tuple[str, ...]:
    """Who a token may be for: each declared service and the console check that `aud` names it."""
    return (*topology().services, *PLATFORM_AUDIENCES)


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "Unauthorized",
        detail,
        slug="unauthorized",
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{detail}"'},
    )


# What a token's defect is called in a 401 (our words, never the JWT library's).
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.InvalidAudienceError, "the token is not for this service (its aud does not name {aud})"),
    (jwt.InvalidIssuerError, "the token's issuer is not accepted"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
    (jwt.ImmatureSignatureError, "the token is not valid yet (iat or nbf in the future)"),
    (jwt.InvalidAlgorithmError, "the token's algorithm is not allowed (only {alg})"),
    (jwt.PyJWKClientError, "the token's signing key is unknown"),
    (jwt.PyJWKSetError, "the token's signing key is unknown"),
    (jwt.InvalidKeyError, "the token's signing key is unknown"),
)
_REQUIRED = ("exp", "iat", "sub", "aud")


def _key_loader(settings: ServiceSettings) -> Callable[[str, dict[str, Any]], Awaitable[Any]]:
    """How the verification key of a token is found: the secret, a PEM key, a JWKS file or URL."""
    if settings.jwt_algorithm == "HS256":
        secret = settings.jwt_secret.get_secret_value()
        return _constant(secret)
    if settings.jwt_public_key_file:
        algorithm = jwt.get_algorithm_by_name(settings.jwt_algorithm)
        pem = Path(settings.jwt_public_key_file).read_text()
        return _constant(algorithm.prepare_key(pem))
    if settings.jwks_file:
        keys = jwt.PyJWKSet.from_json(Path(settings.jwks_file).read_text())

        async def from_file(_: str, header: dict[str, Any]) -> Any:
            kid = header.get("kid")
            if kid is None and len(keys.keys) == 1:
                return keys.keys[0].key
            return keys[str(kid)].key  # KeyError: unknown key

        return from_file
    client = jwt.PyJWKClient(str(settings.jwks_url), cache_keys=True)

    async def from_url(token: str, _: dict[str, Any]) -> Any:
        return (await run_in_threadpool(client.get_signing_key_from_jwt, token)).key

    return from_url


def _constant(key: Any) -> Callable[[str, dict[str, Any]], Awaitable[Any]]:
    async def load(_: str, __: dict[str, Any]) -> Any:
        return key

    return load


class TokenVerifier:
    """Checks algorithm, signature, audience, issuer, expiry and lifetime; caches valid tokens."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.algorithm = settings.jwt_algorithm
        self.audience = settings.jwt_audience
        self.issuer = settings.jwt_issuer
        self.max_lifetime = settings.jwt_max_lifetime
        self.leeway = settings.jwt_leeway
        self._key = _key_loader(settings)
        self._cache: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token, else a 401 problem saying what is wrong."""
        hit = self._cache.get(token)
        if hit is not None and hit[1] > time.time():
            return hit[0]
        claims = await self._claims(token)
        lifetime = _number(claims["exp"]) - _number(claims["iat"])
        if lifetime > self.max_lifetime:
            raise _unauthorized(
                f"the token lives longer than this service accepts (at most {self.max_lifetime} s)"
            )
        principal = Principal(str(claims["sub"]), frozenset(_scopes(claims)))
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[token] = (principal, _number(claims["exp"]))
        return principal

    async def _claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _unauthorized("the token is malformed (not a signed JWT)") from None
        if header.get("alg") != self.algorithm:
            raise _unauthorized(self._reason(jwt.InvalidAlgorithmError))
        try:
            key = await self._key(token, header)
            return jwt.decode(
                token,
                key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(_REQUIRED)},
            )
        except jwt.MissingRequiredClaimError as exc:
            claim = exc.claim if exc.claim in (*_REQUIRED, "iss", "nbf") else "required"
            raise _unauthorized(f"the token lacks the {claim} claim") from None
        except (jwt.InvalidTokenError, jwt.PyJWKClientError, jwt.PyJWKSetError, KeyError) as exc:
            raise _unauthorized(self._reason(type(exc))) from None

    def _reason(self, kind: type[Exception]) -> str:
        for known, text in _REASONS:
            if issubclass(kind, known):
                return text.format(aud=repr(self.audience), alg=self.algorithm)
        if issubclass(kind, KeyError):
            return "the token's signing key is unknown"
        return "the token is malformed or its claims are invalid"


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else float("inf")


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
    audience: str | Sequence[str] | None = None,
) -> str:
    """A signed HS256 token for local use (the settings' secret and issuer; every service)."""
    audience = audiences() if audience is None else audience
    now = int(time.time())
    claims = {
        "sub": subject,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + ttl_seconds,
        "aud": audience if isinstance(audience, str) else list(audience),
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
