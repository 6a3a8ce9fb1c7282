"""Settings of the orders service (ANNALS_ORDERS_*), validated at start."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from annals.web.settings import ServiceSettings


class OrdersSettings(ServiceSettings):
    """Orders: database `orders` (orders_owner migrates, orders_app runs), port 8001."""

    model_config = SettingsConfigDict(env_prefix="ANNALS_ORDERS_", extra="ignore")

    service: str = "orders"
    port: int = 8001
    # The reactor (shipping's events mark orders shipped / delivered) runs in each worker.
    reactors: bool = False
