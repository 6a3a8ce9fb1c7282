"""Settings of the shipping service (ANNALS_SHIPPING_*), validated at start."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from annals.web.settings import ServiceSettings


class ShippingSettings(ServiceSettings):
    """shipping: database `shipping` (shipping_owner migrates, shipping_app runs)."""

    model_config = SettingsConfigDict(env_prefix="ANNALS_SHIPPING_", extra="ignore")

    service: str = "shipping"
    port: int = 8007
    # The reactor (OrderConfirmed opens a shipment) runs in each worker when true.
    reactors: bool = False
