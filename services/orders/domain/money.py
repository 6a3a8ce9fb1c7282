"""Money: a Decimal amount (a string in JSON) with an ISO 4217 currency code."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,17})(\.[0-9]{1,2})?$"
_AMOUNT = re.compile(AMOUNT_PATTERN)
ZERO = Decimal("0.00")


def _decimal_string(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str) or not _AMOUNT.match(value):
        raise ValueError('amounts are decimal strings with at most 2 decimals, such as "12.50"')
    return value


Amount = Annotated[
    Decimal,
    BeforeValidator(_decimal_string),
    Field(ge=0, max_digits=20, decimal_places=2),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["12.50"]}),
]
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(description="ISO 4217 currency code", examples=["EUR"]),
]


class Money(BaseModel):
    """An amount in a currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Amount
    currency: Currency

    # Arithmetic on validated amounts stays valid: results skip re-validation (model_construct).
    def __add__(self, other: Money) -> Money:
        return Money.model_construct(amount=self.amount + other.amount, currency=self._same(other))

    def times(self, quantity: int) -> Money:
        """This amount multiplied by a quantity."""
        return Money.model_construct(amount=self.amount * quantity, currency=self.currency)

    def less(self, other: Money) -> Money:
        """This amount minus another, never below zero."""
        amount = max(self.amount - other.amount, ZERO)
        return Money.model_construct(amount=amount, currency=self._same(other))

    def _same(self, other: Money) -> str:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")
        return self.currency

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in a currency."""
        return cls.model_construct(amount=ZERO, currency=currency)
