"""Settings every HTTP service shares; each service subclasses with its own ANNALS_<SVC>_ prefix."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from annals.eventstore.settings import ServiceDatabase

# Local development only: anyone with the repository can mint tokens with it.
UNSAFE_LOCAL_SECRET = "annals-local-UNSAFE-secret-do-not-use-in-production"


class ServiceSettings(BaseSettings):
    """Address, workers, database and token settings of one service (validated at start)."""

    model_config = SettingsConfigDict(extra="ignore")

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
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: SecretStr = SecretStr(UNSAFE_LOCAL_SECRET)
    jwks_url: str | None = None
    jwt_audience: str = "annals"
    jwt_issuer: str = "annals-local"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = True

    @model_validator(mode="after")
    def _complete(self) -> ServiceSettings:
        if not self.service:
            raise ValueError("service must name the service (orders, customers)")
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
        if self.jwt_algorithm == "RS256" and not self.jwks_url:
            raise ValueError("jwt_algorithm RS256 needs jwks_url (the issuer's JWKS endpoint)")
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
        return self.jwt_secret.get_secret_value() == UNSAFE_LOCAL_SECRET
