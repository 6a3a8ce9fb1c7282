"""JSON view of a customer; personal data is masked for readers without `read:pii`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from annals.web.auth import Principal
from annals.web.masking import mask
from customers.domain.customer import CustomerState, Status
from customers.domain.events import Tier


class AddressView(BaseModel):
    """A postal address as stored."""

    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    country: str


class CustomerView(BaseModel):
    """A customer rebuilt from its events (`***`: masked, `<forgotten>`: shredded)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "c-42",
                    "version": 1,
                    "status": "active",
                    "forgotten": False,
                    "name": "***",
                    "email": "***",
                    "phone": "***",
                    "address": "***",
                    "tier": "gold",
                }
            ]
        }
    )

    customer_id: str
    version: int
    status: Status
    forgotten: bool
    name: str
    email: str
    phone: str | None
    address: AddressView | Literal["***"] | None
    tier: Tier


def render_customer(
    customer_id: str, state: CustomerState, version: int, who: Principal
) -> CustomerView:
    """The view of a customer's state as `who` may see it."""
    address = None if state.address is None else AddressView(**state.address.model_dump())
    return CustomerView(
        customer_id=customer_id,
        version=version,
        status=state.status,
        forgotten=state.forgotten,
        name=mask(state.name, who),
        email=mask(state.email, who),
        phone=mask(state.phone, who),
        address=mask(address, who),
        tier=state.tier,
    )
