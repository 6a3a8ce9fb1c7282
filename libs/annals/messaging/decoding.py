"""Typed events out of CloudEvents, through the event registries of the producing services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from annals.eventstore.decoding import decoder, keys_of
from annals.eventstore.domain import DomainEvent
from annals.eventstore.errors import UndecodableEvent, UnknownEventType
from annals.eventstore.ports import KeyStore
from annals.eventstore.registry import EventRegistry
from annals.messaging.cloudevents import CloudEvent
from annals.messaging.errors import MalformedEvent, UnknownEvent, is_retriable

Registries = EventRegistry | Mapping[str, EventRegistry]


class EventDecoder:
    """Decodes `data` into the registered model of `type`, upcasting older schema versions.

    `registry` is one EventRegistry (for every source) or one per service name (the part of
    `type` before the dot). Personal fields are decrypted when `keys` is given, else they read
    as redacted. An unknown type or version raises UnknownEvent; data that does not fit its
    model or a `$pii` envelope that cannot be opened raises MalformedEvent. Only retriable
    errors (the key store unreachable, say) pass through unchanged, for the caller to retry.
    """

    def __init__(self, registry: Registries | None = None, keys: KeyStore | None = None) -> None:
        self.registry = registry
        self.keys = keys

    def registry_for(self, event: CloudEvent) -> EventRegistry | None:
        """The registry that knows the event's service, if any."""
        if self.registry is None or isinstance(self.registry, EventRegistry):
            return self.registry
        return self.registry.get(event.service)

    async def decode(self, event: CloudEvent) -> DomainEvent | None:
        """The typed event; None when the decoder has no registries at all."""
        if self.registry is None:
            return None
        registry = self.registry_for(event)
        if registry is None:
            raise UnknownEvent(f"no event registry for service {event.service!r} ({event.type})")
        if event.event_type not in registry:
            raise UnknownEvent(f"unknown event type {event.type!r}")
        if not isinstance(event.data, dict):
            raise MalformedEvent(f"data of {event.type} is not a JSON object")
        try:
            return await self._decode(registry, event, event.data)
        except UnknownEventType as exc:  # a newer or unconvertible schema version
            raise UnknownEvent(str(exc)) from exc
        except UndecodableEvent as exc:
            raise MalformedEvent(str(exc)) from exc
        except ValidationError as exc:
            raise MalformedEvent(
                f"{event.type} at {event.subject}@{event.streamversion} "
                f"does not fit its model: {exc}"
            ) from exc
        except Exception as exc:
            if is_retriable(exc):
                raise
            # e.g. a $pii envelope without "ct" or with bad base64, a failing upcaster
            raise MalformedEvent(
                f"{event.type} at {event.subject}@{event.streamversion} cannot be decoded: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    async def _decode(
        self, registry: EventRegistry, event: CloudEvent, data: dict[str, Any]
    ) -> DomainEvent:
        """The store's decode path: decrypt, then upcast, then type (annals.eventstore.decoding)."""
        keys = await keys_of(self.keys, [data])
        path = decoder(registry)
        plain = path.plain(event.event_type, event.schemaversion or 1, data, keys)
        return path.typed(event.event_type, plain)
