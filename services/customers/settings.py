"""Settings of the customers service (ANNALS_CUSTOMERS_*), validated at start."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from annals.web.settings import ServiceSettings


class CustomersSettings(ServiceSettings):
    """Customers: database `customers` (customers_owner migrates, customers_app runs), port 8002."""

    model_config = SettingsConfigDict(env_prefix="ANNALS_CUSTOMERS_", extra="ignore")

    service: str = "customers"
    port: int = 8002
    state_cache_size: int = 0  # no decrypted personal data kept in memory between requests
