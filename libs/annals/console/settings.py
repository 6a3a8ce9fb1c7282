"""Settings of the console (ANNALS_CONSOLE_*): address, sessions, what it reads."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from annals.web.settings import ServiceSettings

AUDIENCE = "console"


class ConsoleSettings(ServiceSettings):
    """The console: port 8004, one worker (live streams), tokens whose `aud` names `console`.

    It reads the event stores, key store and read models through the projector's settings
    (ANNALS_PROJECTOR_*, the roles `annals projections|dlq` use); the database fields below are
    the read-only query role's and serve only the inherited checks.
    """

    model_config = SettingsConfigDict(env_prefix="ANNALS_CONSOLE_", extra="ignore")

    service: str = AUDIENCE
    port: int = 8004
    workers: int = Field(default=1, ge=1, le=1, description="one: live logs and rebuilds run here")
    database: str = "readmodels"
    owner_role: str = "readmodels_owner"
    app_role: str = "query_app"
    migrate: bool = False
    session_seconds: int = Field(
        default=3600, ge=60, le=24 * 3600, description="how long a sign-in lasts"
    )
    secure_cookie: bool = Field(default=False, description="Secure cookie (behind HTTPS)")
    page_size: int = Field(default=100, ge=1, le=1000, description="events per stream page")
    live_poll_s: float = Field(default=0.5, gt=0, le=10, description="global log poll interval")
    prometheus_url: str = Field(default="", description="Prometheus's base URL for the charts")
    signin_ttl: int = Field(default=120, ge=10, le=900, description="--open token lifetime, s")
