"""Settings of the query API (ANNALS_QUERY_*): the read-model database as query_app, port 8003."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from annals.web.settings import ServiceSettings


class QuerySettings(ServiceSettings):
    """Query API: reads `readmodels` as `query_app`; never migrates (projectors own the schema)."""

    model_config = SettingsConfigDict(env_prefix="ANNALS_QUERY_", extra="ignore")

    service: str = "query"
    port: int = 8003
    database: str = "readmodels"
    owner_role: str = "readmodels_owner"
    app_role: str = "query_app"
    migrate: bool = False
    view_schema: str = "readmodels"
    consistency_timeout: float = Field(default=5.0, gt=0, le=60, description="default wait")
    max_consistency_timeout: float = Field(default=30.0, gt=0, le=300)
    page_size: int = Field(default=50, ge=1, le=1000)
    max_page_size: int = Field(default=500, ge=1, le=10_000)
