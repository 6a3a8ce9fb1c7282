"""Registry of event models by type, with upcasters chained per type (v1 -> v2 -> v3)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from annals.eventstore.domain import DomainEvent, Personal
from annals.eventstore.errors import UnknownEventType

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventRegistry:
    """Maps event types to their current model and upgrades older schema versions on read."""

    def __init__(self, models: Iterable[type[DomainEvent]] = ()) -> None:
        self._models: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self._personal: dict[str, dict[str, Personal]] = {}
        for model in models:
            self.register(model)

    def register(self, model: type[DomainEvent]) -> type[DomainEvent]:
        """Register the current model of an event type (usable as a class decorator)."""
        existing = self._models.get(model.event_type)
        if existing is not None and existing is not model:
            raise ValueError(f"event type {model.event_type!r} is already registered")
        self._models[model.event_type] = model
        self._personal[model.event_type] = model.personal_fields()
        return model

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: `fn(data)` turns version `from_version` of `event_type` into the next."""

        def decorate(fn: Upcaster) -> Upcaster:
            self.add_upcaster(event_type, from_version, fn)
            return fn

        return decorate

    def add_upcaster(self, event_type: str, from_version: int, fn: Upcaster) -> None:
        """Register the step from_version -> from_version + 1 of `event_type`."""
        key = (event_type, from_version)
        if key in self._upcasters:
            raise ValueError(f"upcaster {event_type} v{from_version} is already registered")
        self._upcasters[key] = fn

    def model(self, event_type: str) -> type[DomainEvent]:
        """The current model of an event type, or UnknownEventType."""
        try:
            return self._models[event_type]
        except KeyError:
            raise UnknownEventType(f"unknown event type {event_type!r}") from None

    def personal(self, event_type: str) -> dict[str, Personal]:
        """Personal fields of the current model of `event_type`."""
        return self._personal[event_type]

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._models

    @property
    def event_types(self) -> list[str]:
        """Registered event types."""
        return list(self._models)

    def upcast(self, event_type: str, schema_version: int, data: dict[str, Any]) -> dict[str, Any]:
        """Bring stored data of `schema_version` up to the current model's version."""
        current = self.model(event_type).schema_version
        if schema_version > current:
            raise UnknownEventType(
                f"{event_type} v{schema_version} is newer than the registered v{current}"
            )
        version = schema_version
        while version < current:
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise UnknownEventType(f"no upcaster for {event_type} v{version} -> v{version + 1}")
            data = step(data)
            version += 1
        return data
