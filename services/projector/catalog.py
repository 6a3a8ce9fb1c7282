"""Every read model of Annals, by name, and what the projector needs to decode their events."""

from __future__ import annotations

from customers.domain.events import CUSTOMER_EVENTS
from orders.domain.events import ORDER_EVENTS

from annals.eventstore.registry import EventRegistry
from annals.projections import Projection
from projector import customer_orders, customer_status, daily_sales, order_summary, products

PROJECTIONS: dict[str, Projection] = {
    p.name: p
    for p in (
        order_summary.PROJECTION,
        customer_orders.PROJECTION,
        products.PROJECTION,
        daily_sales.PROJECTION,
        customer_status.PROJECTION,
    )
}


def registries() -> dict[str, EventRegistry]:
    """Event registries by service (upcasting of older schema versions)."""
    return {"orders": EventRegistry(ORDER_EVENTS), "customers": EventRegistry(CUSTOMER_EVENTS)}


def pick(names: list[str] | None) -> list[Projection]:
    """Projections by name (all when names is empty); ValueError for an unknown name."""
    if not names:
        return list(PROJECTIONS.values())
    unknown = sorted(set(names) - set(PROJECTIONS))
    if unknown:
        raise ValueError(f"unknown projections {unknown}; known: {sorted(PROJECTIONS)}")
    return [PROJECTIONS[n] for n in names]
