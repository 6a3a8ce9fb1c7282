"""Which services' events are exported: service name -> the tuple of its event models."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from annals.eventstore.domain import DomainEvent

SERVICES: Mapping[str, str] = {
    "orders": "orders.domain.events:ORDER_EVENTS",
    "customers": "customers.domain.events:CUSTOMER_EVENTS",
}


def event_models(services: Mapping[str, str] = SERVICES) -> dict[str, list[type[DomainEvent]]]:
    """The event models of each service, imported from the `module:attribute` of the catalog."""
    found: dict[str, list[type[DomainEvent]]] = {}
    for service, spec in services.items():
        module, _, attribute = spec.partition(":")
        found[service] = list(getattr(importlib.import_module(module), attribute))
    return found
