"""Customer events: frozen pydantic models, past tense, personal fields marked for shredding."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, StringConstraints

from annals.eventstore.domain import PERSONAL, DomainEvent, Personal


class Tier(StrEnum):
    """Customer tiers."""

    STANDARD = "standard"
    SILVER = "silver"
    GOLD = "gold"
    PLATINUM = "platinum"


class Address(BaseModel):
    """A postal address."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "line1": "1 Main St",
                    "city": "Springfield",
                    "postal_code": "12345",
                    "country": "US",
                }
            ]
        },
    )

    line1: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    line2: Annotated[str, StringConstraints(max_length=200)] | None = None
    city: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class CustomerEvent(DomainEvent):
    """Base of customer events; the data subject is the customer id."""

    subject_field: ClassVar[str | None] = "customer_id"

    customer_id: str


class CustomerRegistered(CustomerEvent):
    """A customer was registered."""

    name: Annotated[str, PERSONAL]
    email: Annotated[str, PERSONAL]
    phone: Annotated[str | None, Personal(redacted=None)] = None
    address: Annotated[Address | None, Personal(redacted=None)] = None
    tier: Tier = Tier.STANDARD


class CustomerEmailChanged(CustomerEvent):
    """The customer's email address changed."""

    email: Annotated[str, PERSONAL]


class CustomerAddressChanged(CustomerEvent):
    """The customer's postal address changed."""

    address: Annotated[Address | None, Personal(redacted=None)] = None


class CustomerTierChanged(CustomerEvent):
    """The customer moved to another tier."""

    tier: Tier
    previous_tier: Tier


class CustomerDeactivated(CustomerEvent):
    """The customer was deactivated (their email may be reused)."""

    reason: str | None = None


class CustomerReactivated(CustomerEvent):
    """A deactivated customer was reactivated."""


class CustomerForgotten(CustomerEvent):
    """The customer's personal data was crypto-shredded."""


CUSTOMER_EVENTS: tuple[type[CustomerEvent], ...] = (
    CustomerRegistered,
    CustomerEmailChanged,
    CustomerAddressChanged,
    CustomerTierChanged,
    CustomerDeactivated,
    CustomerReactivated,
    CustomerForgotten,
)
