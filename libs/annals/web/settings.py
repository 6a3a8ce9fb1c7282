"""Settings every HTTP service shares; each service subclasses with its own ANNALS_<SVC>_ prefix."""

from __future__ import annotations

import ipaddress
import os
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from annals.eventstore.settings import ServiceDatabase

# Local development only: anyone with the repository can mint tokens with it, so a service
# accepts it only in development mode (ANNALS_DEV_MODE=1) on a loopback address.
UNSAFE_LOCAL_SECRET = "annals-local-UNSAFE-secret-do-not-use-in-production"
Access = Literal["", "open", "auth", "off"]


class ServiceSettings(BaseSettings):
    """Address, workers, database and token settings of one service (validated at start)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    database: str = ""
    owner_role: str = ""
    app_role: str = ""
    dsn: str = Field(default="", description="service role DSN (default: the local stack)")
    owner_dsn: str = Field(default="", description="owner DSN that runs migrations")
    migrate: bool = Field(default=True, description="run migrations at start (else check them)")
    pool_size: int = Field(default=16, ge=2, le=200)
    acquire_timeout: float = Field(
        default=5.0, gt=0, le=120, description="longest wait for a pooled connection (then 503)"
    )
    connect_timeout: float = Field(default=5.0, gt=0, le=120, description="one connect attempt")
    statement_timeout_ms: int = Field(
        default=10_000, ge=100, description="server-side bound of one statement"
    )
    idle_in_transaction_timeout_ms: int = Field(default=5_000, ge=100)
    liveness_limit: float = Field(
        default=30.0, gt=0, description="seconds without any connection before /healthz fails"
    )
    command_retries: int = Field(default=3, ge=1, le=20)
    state_cache_size: int = Field(
        default=10_000, ge=0, description="aggregates whose last state a worker keeps (0: off)"
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, description="all headers (431)")
    max_header_field_bytes: int = Field(default=8 * 1024, ge=256, description="one header (431)")
    idempotency_ttl_hours: float = Field(
        default=24, gt=0, le=24 * 365, description="how long an Idempotency-Key is replayed"
    )
    # One setting for every service and the query API (ANNALS_JWT_*, no service prefix).
    dev_mode: bool = Field(
        default=False,
        validation_alias="ANNALS_DEV_MODE",
        description="local development: accept the documented secret (loopback only)",
    )
    jwt_algorithm: Literal["HS256", "RS256", "ES256"] = Field(
        default="HS256", validation_alias="ANNALS_JWT_ALGORITHM"
    )
    jwt_secret: SecretStr = Field(
        default=SecretStr(UNSAFE_LOCAL_SECRET), validation_alias="ANNALS_JWT_SECRET"
    )
    jwt_public_key_file: str | None = Field(
        default=None, validation_alias="ANNALS_JWT_PUBLIC_KEY_FILE", description="PEM (RS/ES256)"
    )
    jwks_file: str | None = Field(default=None, validation_alias="ANNALS_JWKS_FILE")
    jwks_url: str | None = Field(default=None, validation_alias="ANNALS_JWKS_URL")
    jwt_issuer: str = Field(default="annals-local", validation_alias="ANNALS_JWT_ISSUER")
    jwt_max_lifetime: int = Field(
        default=3600,
        ge=60,
        le=7 * 24 * 3600,
        validation_alias="ANNALS_JWT_MAX_LIFETIME",
        description="longest exp - iat accepted, seconds",
    )
    jwt_leeway: int = Field(
        default=30, ge=0, le=300, validation_alias="ANNALS_JWT_LEEWAY", description="clock skew"
    )
    jwt_audience: str = Field(default="", description="the `aud` this service needs (its name)")
    metrics_access: Access = Field(
        default="",
        validation_alias="ANNALS_METRICS_ACCESS",
        description="/metrics: open, auth (scope metrics) or off; default open in dev mode",
    )
    docs_access: Access = Field(
        default="",
        validation_alias="ANNALS_DOCS_ACCESS",
        description="/docs and /openapi.json: open, auth or off; default open in dev mode",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = True

    @model_validator(mode="after")
    def _complete(self) -> ServiceSettings:
        if not self.service:
            raise ValueError("service must name the service (a declared one, e.g. orders)")
        db = ServiceDatabase(
            service=self.service,
            database=self.database,
            owner_role=self.owner_role,
            app_role=self.app_role,
            owner_dsn=self.owner_dsn,
            dsn=self.dsn,
        )
        self.database, self.owner_role, self.app_role = db.database, db.owner_role, db.app_role
        self.dsn, self.owner_dsn = db.dsn, db.owner_dsn
        self.jwt_audience = self.jwt_audience or self.service
        keys = (self.jwt_public_key_file, self.jwks_file, self.jwks_url)
        if self.jwt_algorithm != "HS256" and sum(k is not None for k in keys) != 1:
            raise ValueError(
                f"jwt_algorithm {self.jwt_algorithm} needs exactly one key source: "
                "jwt_public_key_file, jwks_file or jwks_url (ANNALS_JWT_PUBLIC_KEY_FILE, ...)"
            )
        if self.jwt_algorithm == "HS256" and len(self.jwt_secret.get_secret_value()) < 32:
            raise ValueError("jwt_secret must be at least 32 characters for HS256")
        return self

    @property
    def server_settings(self) -> dict[str, str]:
        """Session settings of the service's connections (short transactions and statements)."""
        return {
            "idle_in_transaction_session_timeout": str(self.idle_in_transaction_timeout_ms),
            "statement_timeout": str(self.statement_timeout_ms),
        }

    @property
    def command_timeout(self) -> float:
        """The client-side bound of a query: the server's bound plus a margin (a vanished peer)."""
        return self.statement_timeout_ms / 1000 + 5.0

    @property
    def uses_unsafe_secret(self) -> bool:
        """True while the documented local default secret is in use."""
        return self.jwt_algorithm == "HS256" and (
            self.jwt_secret.get_secret_value() == UNSAFE_LOCAL_SECRET
        )

    @property
    def metrics_mode(self) -> Access:
        """How /metrics is served: open, auth or off (open in dev mode unless set)."""
        return self.metrics_access or ("open" if self.dev_mode else "auth")

    @property
    def docs_mode(self) -> Access:
        """How /docs and /openapi.json are served: open, auth or off."""
        return self.docs_access or ("open" if self.dev_mode else "auth")

    def startup_problem(self) -> str | None:
        """Why this service must not start (the development secret or mode misused), or None."""
        name = self.service
        if self.uses_unsafe_secret and not self.dev_mode:
            return (
                f"{name} refuses to start: the JWT secret is the development secret printed in "
                "the repository; set ANNALS_JWT_SECRET (or ANNALS_JWT_ALGORITHM with a public "
                "key or JWKS), or ANNALS_DEV_MODE=1 for local development on loopback"
            )
        if self.dev_mode and not is_loopback(self.host):
            return (
                f"{name} refuses to start: development mode (ANNALS_DEV_MODE) on the "
                f"non-loopback address {self.host}; unset it and configure real token keys"
            )
        return None


def is_loopback(host: str) -> bool:
    """Whether `host` names a loopback address (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_unsafe(settings: ServiceSettings) -> None:
    """Exit (status 1, the reason on stderr) when the settings must not serve."""
    problem = settings.startup_problem()
    if problem is not None:
        raise SystemExit(problem)
