"""The orders reactor: the shipping service's events move orders to shipped and delivered.

ShipmentDispatched -> MarkShipped, ShipmentDelivered -> MarkDelivered, on the order the
shipment carries; a redelivered event issues no second command (causation = its id). The
shipping events are read through their declared models (the topology), not the shipping package.
"""

from __future__ import annotations

from annals.eventstore.domain import DomainEvent
from annals.eventstore.ports import Database
from annals.eventstore.registry import EventRegistry
from annals.reactors import Causations, Reaction, Reactor, ReactorRunner
from annals.reactors.upstream import declared_registries, with_deps
from orders.domain import commands as c
from orders.service_layer.handlers import Deps, handle

UPSTREAM = "shipping"


def _order_of(event: DomainEvent) -> str:
    return str(getattr(event, "order_id"))  # noqa: B009 - typed by the shipping registry


def mark_shipped(event: DomainEvent) -> list[Reaction]:
    """ShipmentDispatched -> MarkShipped."""
    return [Reaction(_order_of(event), c.MarkShipped())]


def mark_delivered(event: DomainEvent) -> list[Reaction]:
    """ShipmentDelivered -> MarkDelivered."""
    return [Reaction(_order_of(event), c.MarkDelivered())]


REACTOR = Reactor(
    "orders",
    (f"{UPSTREAM}.events",),
    {
        f"{UPSTREAM}.ShipmentDispatched": mark_shipped,
        f"{UPSTREAM}.ShipmentDelivered": mark_delivered,
    },
)


def upstream_registries() -> dict[str, EventRegistry]:
    """The registries of the events the reactor follows, from the declared topology."""
    return declared_registries(UPSTREAM)


def reactor_runner(deps: Deps, database: Database, causations: Causations) -> ReactorRunner:
    """The reactor running its commands through the service's handler."""
    return ReactorRunner(REACTOR, with_deps(handle, deps), database, causations)
