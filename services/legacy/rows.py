"""Typed rows of the legacy tables as they arrive in CDC events (`RowChange.after_as(Product)`).

Unknown columns are ignored, so a column the legacy application adds later never breaks a
consumer; columns added by known schema changes are optional.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

TOPICS = {
    "products": "legacy.public.products",
    "stock_levels": "legacy.public.stock_levels",
    "legacy_customers": "legacy.public.legacy_customers",
}


class LegacyRow(BaseModel):
    """Base of the legacy row models: frozen, extra columns ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Product(LegacyRow):
    """A row of products (unit_price and weight_kg arrive as exact decimal strings)."""

    sku: str
    name: str
    category: str
    unit_price: Decimal
    active: bool
    updated_at: datetime
    weight_kg: Decimal | None = None  # added by the mid-run schema change


class StockLevel(LegacyRow):
    """A row of stock_levels."""

    sku: str
    warehouse: str
    quantity: int


class LegacyCustomer(LegacyRow):
    """A row of legacy_customers (customer records from before the customer service)."""

    legacy_id: int
    customer_no: str
    full_name: str
    email: str | None = None
    phone: str | None = None
    city: str | None = None
    country: str | None = None
    created_at: datetime
    updated_at: datetime
