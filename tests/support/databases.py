"""What tests know of a scratch event-store database: its name and a DSN per role."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScratchDatabase:
    """DSNs of a scratch database: as the superuser, the owner and the service role."""

    name: str
    admin_dsn: str
    owner_dsn: str
    app_dsn: str
