"""Which services' events are exported: each declared service's tuple of event models."""

from __future__ import annotations

from collections.abc import Mapping

from annals.eventstore.domain import DomainEvent
from annals.topology import resolve, topology


def declared_events() -> dict[str, str]:
    """Service name -> the `module:attribute` of its event models, as each service declares."""
    return {s.name: s.events for s in topology().services.values() if s.events}


def event_models(services: Mapping[str, str] | None = None) -> dict[str, list[type[DomainEvent]]]:
    """The event models of each service, imported from their `module:attribute` references."""
    refs = declared_events() if services is None else services
    return {service: list(resolve(ref)) for service, ref in refs.items()}
