"""Customer commands: what a client asks for (imperative names); the customer id is in the URL."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from annals.eventstore.identifiers import AggregateId
from customers.domain.events import Address, Tier

Id = AggregateId
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=254,
        pattern=r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[A-Za-z]{2,}$",
    ),
    Field(examples=["ada@example.com"]),
]
Phone = Annotated[
    str,
    StringConstraints(pattern=r"^\+?[0-9][0-9 ()-]{4,30}$"),
    Field(examples=["+44 20 7946 0000"]),
]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class Command(BaseModel):
    """Base of customer commands: frozen, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class RegisterCustomer(Command):
    """Register a customer; the email must not belong to another active customer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Ada Lovelace",
                    "email": "ada@example.com",
                    "phone": "+44 20 7946 0000",
                    "address": {
                        "line1": "12 St James's Square",
                        "city": "London",
                        "postal_code": "SW1Y 4JH",
                        "country": "GB",
                    },
                    "tier": "gold",
                }
            ]
        }
    )

    customer_id: Id | None = Field(default=None, description="client-chosen id (else generated)")
    name: Name
    email: Email
    phone: Phone | None = None
    address: Address | None = None
    tier: Tier = Tier.STANDARD


class ChangeEmail(Command):
    """Change the email address of an active customer."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ada@example.org"}]})

    email: Email


class ChangeAddress(Command):
    """Change (or clear, with null) the postal address of an active customer."""

    address: Address | None


class ChangeTier(Command):
    """Move an active customer to another tier."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"tier": "platinum"}]})

    tier: Tier


class Deactivate(Command):
    """Deactivate an active customer (frees their email)."""

    reason: Reason | None = None


class Reactivate(Command):
    """Reactivate an inactive customer (their email must still be free)."""


class Forget(Command):
    """Crypto-shred the customer's personal data (irreversible)."""


CustomerCommand = (
    RegisterCustomer | ChangeEmail | ChangeAddress | ChangeTier | Deactivate | Reactivate | Forget
)
