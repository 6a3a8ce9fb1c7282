"""Consumer records into the items a batch applies: events, or poison saying why not.

One decode path for the live worker, the DLQ replay and the rebuild's Kafka catch-up, so a
record replayed from the DLQ is read exactly as the worker read it. Nothing here raises for a
record's content: a record that is not JSON, not a CloudEvent or Debezium change, not from its
topic's producer or off its schema (admission.py, before anything else reads its data), of an
unknown type or schema version, or whose personal data cannot be opened becomes a `Poison`
(with its stream and version when they could be read, so its stream parks). Only errors of
the key store itself propagate (the batch is retried).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from annals.eventstore.ports import KeyStore
from annals.eventstore.registry import EventRegistry
from annals.projections.admission import Admission
from annals.projections.engine import Item, poison_event, poison_of
from annals.projections.events import Event, PoisonRecord, decrypt_personal, from_record, upcast
from annals.projections.projection import Projection


def decode_one(
    record: Any,
    logical_topic: str,
    registries: Mapping[str, EventRegistry],
    admission: Admission | None = None,
) -> Item:
    """The event of one consumer record (admitted, upcast), or its poison."""
    try:
        event = from_record(record, logical_topic)
    except PoisonRecord as exc:
        return poison_of(record, logical_topic, exc)
    if admission is not None:
        admitted = admission.admit(event)
        if admitted is not event:
            return admitted
    return upcast_one(event, registries)


def upcast_one(event: Event, registries: Mapping[str, EventRegistry]) -> Item:
    """The event brought to its registered schema version, or its poison (unknown event)."""
    if not registries:
        return event
    try:
        upcast(event, registries)
    except PoisonRecord as exc:
        return poison_event(event, exc, "unknown event")
    return event


async def open_personal(
    items: Sequence[Item], projection: Projection, keys: KeyStore | None
) -> list[Item]:
    """Items with personal data decrypted; an event whose envelope does not open is poison."""
    if not projection.personal or keys is None:
        return list(items)
    events = [i for i in items if isinstance(i, Event)]
    failed = {id(event): error for event, error in await decrypt_personal(events, keys)}
    if not failed:
        return list(items)
    return [
        poison_event(i, failed[id(i)], "undecryptable")
        if isinstance(i, Event) and id(i) in failed
        else i
        for i in items
    ]


async def decode_records(
    records: Sequence[Any],
    logical: Any,
    projection: Projection,
    registries: Mapping[str, EventRegistry],
    keys: KeyStore | None,
    admission: Admission | None = None,
) -> list[Item]:
    """Items of consumer records; `logical(topic)` names a record's logical topic."""
    items = [decode_one(r, logical(r.topic), registries, admission) for r in records]
    return await open_personal(items, projection, keys)
