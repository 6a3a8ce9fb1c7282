"""Which database, owner and service role each event-store service uses (ANNALS_<SERVICE>_*)."""

from __future__ import annotations

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from annals.stack.settings import StackSettings


class ServiceDatabase(BaseSettings):
    """A service's event store: `owner_dsn` runs migrations, `dsn` is the service role's DSN.

    Build with `ServiceDatabase.for_service("orders")`; every field can be overridden with
    ANNALS_ORDERS_DATABASE, ANNALS_ORDERS_OWNER_ROLE, ANNALS_ORDERS_APP_ROLE,
    ANNALS_ORDERS_OWNER_DSN and ANNALS_ORDERS_DSN.
    """

    model_config = SettingsConfigDict(extra="ignore")

    service: str
    database: str = ""
    owner_role: str = ""
    app_role: str = ""
    owner_dsn: str = ""
    dsn: str = ""
    idle_in_transaction_timeout_ms: int = 5_000
    statement_timeout_ms: int = 30_000

    @model_validator(mode="after")
    def _defaults(self) -> ServiceDatabase:
        self.database = self.database or self.service
        self.owner_role = self.owner_role or f"{self.service}_owner"
        self.app_role = self.app_role or f"{self.service}_app"
        if not self.owner_dsn or not self.dsn:
            stack = StackSettings()
            self.owner_dsn = self.owner_dsn or stack.dsn(self.database, self.owner_role)
            self.dsn = self.dsn or stack.dsn(self.database, self.app_role)
        return self

    @classmethod
    def for_service(cls, service: str) -> ServiceDatabase:
        """Settings of `service`, read from ANNALS_<SERVICE>_* over the local stack defaults."""
        prefix = f"ANNALS_{service.upper().replace('-', '_')}_"
        return cls(service=service, _env_prefix=prefix)

    @property
    def server_settings(self) -> dict[str, str]:
        """Session settings of writer connections (short transactions, bounded statements)."""
        return {
            "idle_in_transaction_session_timeout": str(self.idle_in_transaction_timeout_ms),
            "statement_timeout": str(self.statement_timeout_ms),
        }
