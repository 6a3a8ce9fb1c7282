"""Small helpers the read models share: money amounts and ids out of event data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def amount(money: Any) -> Decimal:
    """The Decimal amount of a Money JSON object ({"amount": "9.90", "currency": "EUR"})."""
    if money is None:
        return ZERO
    return Decimal(str(money["amount"] if isinstance(money, dict) else money))


def order_key(data: dict[str, Any]) -> tuple[str]:
    """The primary key of an order row."""
    return (str(data["order_id"]),)


def customer_key(data: dict[str, Any]) -> tuple[str]:
    """The primary key of a customer row."""
    return (str(data["customer_id"]),)


def lines_total(lines: list[dict[str, Any]]) -> Decimal:
    """Sum of quantity x unit price over order lines."""
    return sum((Decimal(line["unit_price"]) * line["quantity"] for line in lines), ZERO)


def with_item(lines: list[dict[str, Any]], data: dict[str, Any]) -> list[dict[str, Any]]:
    """Lines after ItemAdded (unit price kept as a decimal string)."""
    line = {
        "sku": data["sku"],
        "quantity": data["quantity"],
        "unit_price": str(amount(data["unit_price"])),
    }
    return [*lines, line]


def without_item(lines: list[dict[str, Any]], data: dict[str, Any]) -> list[dict[str, Any]]:
    """Lines after ItemRemoved."""
    return [x for x in lines if x["sku"] != data["sku"]]


def with_quantity(lines: list[dict[str, Any]], data: dict[str, Any]) -> list[dict[str, Any]]:
    """Lines after ItemQuantityChanged."""
    return [{**x, "quantity": data["quantity"]} if x["sku"] == data["sku"] else x for x in lines]
