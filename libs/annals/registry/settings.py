"""Settings of the registry (ANNALS_REGISTRY_*): address, storage, tokens of audience `registry`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from annals.web.settings import ServiceSettings

AUDIENCE = "registry"


class RegistrySettings(ServiceSettings):
    """The registry: port 8081 (Confluent's), its own database `registry` and roles."""

    model_config = SettingsConfigDict(env_prefix="ANNALS_REGISTRY_", extra="ignore")

    service: str = AUDIENCE
    port: int = 8081
    workers: int = Field(default=1, ge=1, le=8)
    database: str = "registry"
    owner_role: str = "registry_owner"
    app_role: str = "registry_app"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="largest schema body")
    storage: Literal["postgres", "memory"] = Field(
        default="postgres", description="postgres (database `registry`) or memory (throwaway)"
    )
