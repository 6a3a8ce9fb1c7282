"""The shipping reactor: an order confirmed in `orders.events` opens its shipment.

It reads the orders' events through their declared models (the topology's `events` of the
orders service), not by importing the orders package; a redelivered OrderConfirmed opens
nothing (annals.reactors: causation = the event's id).
"""

from __future__ import annotations

from annals.eventstore.domain import DomainEvent
from annals.eventstore.ports import Database
from annals.eventstore.registry import EventRegistry
from annals.reactors import Causations, Reaction, Reactor, ReactorRunner
from annals.reactors.upstream import declared_registries, with_deps
from shipping.domain import commands as c
from shipping.service_layer.handlers import Deps, handle

UPSTREAM = "orders"


def open_for_confirmed(event: DomainEvent) -> list[Reaction]:
    """OrderConfirmed -> OpenShipment under the order's id."""
    order_id = str(getattr(event, "order_id"))  # noqa: B009 - typed by the orders' registry
    return [Reaction(order_id, c.OpenShipment(order_id=order_id))]


REACTOR = Reactor(
    "shipping", (f"{UPSTREAM}.events",), {f"{UPSTREAM}.OrderConfirmed": open_for_confirmed}
)


def upstream_registries() -> dict[str, EventRegistry]:
    """The registries of the events the reactor follows, from the declared topology."""
    return declared_registries(UPSTREAM)


def reactor_runner(deps: Deps, database: Database, causations: Causations) -> ReactorRunner:
    """The reactor running its commands through the service's handler."""
    return ReactorRunner(REACTOR, with_deps(handle, deps), database, causations)
