"""Consumer records into the items a batch applies: events, or poison saying why not.

One decode path for the live worker, the DLQ replay and the rebuild (its store replay and
its Kafka catch-up), so a record replayed from the DLQ is read exactly as the worker read it;
the data then takes the store's own decode path (annals.eventstore.decoding: decrypt, then
upcast), the one the command side and the subscribers take. Nothing here raises for a
record's content: a record that is not JSON, not a CloudEvent or Debezium change, not from its
topic's producer or off its schema (admission.py, before anything else reads its data), of an
unknown type or schema version, or whose personal data cannot be opened becomes a `Poison`
(with its stream and version when they could be read, so its stream parks). Only errors of
the key store itself propagate (the batch is retried).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from annals.eventstore.decoding import Decoder, decoder, decrypt, keys_of
from annals.eventstore.errors import EventStoreError, UndecodableEvent, UnknownEventType
from annals.eventstore.ports import KeyStore
from annals.eventstore.registry import EventRegistry
from annals.projections.admission import Admission
from annals.projections.engine import Item, poison_event, poison_of
from annals.projections.events import Event, PoisonRecord, describe, from_record, has_personal
from annals.projections.projection import Projection


def admitted(record: Any, logical_topic: str, admission: Admission | None = None) -> Item:
    """The event of one consumer record (admitted), or its poison; its data still as stored."""
    try:
        event = from_record(record, logical_topic)
    except PoisonRecord as exc:
        return poison_of(record, logical_topic, exc)
    if admission is not None:
        return admission.admit(event)
    return event


def decode_one(
    record: Any,
    logical_topic: str,
    registries: Mapping[str, EventRegistry],
    admission: Admission | None = None,
) -> Item:
    """The item of one record for a projection without personal data (values stay sealed)."""
    item = admitted(record, logical_topic, admission)
    return open_event(item, registries, None) if isinstance(item, Event) else item


def open_event(
    event: Event, registries: Mapping[str, EventRegistry], keys: Mapping[str, bytes] | None
) -> Item:
    """The decode path (annals.eventstore.decoding) up to the plain data: decrypt, then upcast.

    `keys` None leaves personal values sealed (a projection without personal data). A type of
    a registered service that its registry does not know is poison (a producer newer than
    this projector), dead-lettered and replayed once the projector knows it; so is an event
    whose personal data does not open, or whose upcasting fails. A forgotten subject's
    values read None. `event.sealed` is what parking stores (annals.projections.events).
    """
    service, _, name = event.type.partition(".")
    registry = registries.get(service)
    sealed = keys is not None and has_personal(event)
    if registry is None:
        return _opened(event, keys) if sealed else event
    path = decoder(registry)
    try:
        current = path.current_version(name)
    except UnknownEventType:
        return poison_event(
            event, PoisonRecord(f"unknown event type {event.type}"), "unknown event"
        )
    if not sealed and event.schema_version == current:
        return event
    stored, version = event.data, event.schema_version
    try:
        data = decrypt(stored, keys, None) if sealed and keys is not None else dict(stored)
    except UndecodableEvent as exc:
        return poison_event(event, PoisonRecord(str(exc)), "undecryptable")
    try:
        event.data = path.upcast(name, version, data)
        if sealed:
            event.sealed = (
                stored
                if version == current
                else _sealed_copy(path, name, version, stored, event.data)
            )
    except EventStoreError as exc:
        event.data = stored
        return poison_event(event, PoisonRecord(f"{event.type} v{version}: {exc}"), "unknown event")
    except (KeyError, TypeError, ValueError) as exc:  # an upcaster met data it cannot read
        event.data = stored
        error = PoisonRecord(f"{event.type} v{version}: {describe(exc)}")
        return poison_event(event, error, "unknown event")
    event.schema_version = current
    return event


def _sealed_copy(
    path: Decoder, name: str, version: int, stored: dict[str, Any], plain: dict[str, Any]
) -> dict[str, Any]:
    """The data at the current version with no personal value in clear, for parking.

    Upcasters that leave personal fields alone carry the encrypted values through; one that
    needs them in clear cannot, and the copy then holds no personal values (a parked event
    replayed later reads them as None, as a forgotten subject's).
    """
    try:
        return path.upcast(name, version, dict(stored))
    except Exception:  # the upcaster needs what only the clear values hold
        personal = path.registry.personal(name)
        return {k: None if k in personal else v for k, v in plain.items()}


def _opened(event: Event, keys: Mapping[str, bytes] | None) -> Item:
    """An event of a service without a registry: its personal values decrypted, nothing else."""
    try:
        data = decrypt(event.data, keys or {}, None)
    except UndecodableEvent as exc:
        return poison_event(event, PoisonRecord(str(exc)), "undecryptable")
    event.sealed, event.data = event.data, data
    return event


async def open_items(
    items: Sequence[Item],
    projection: Projection,
    registries: Mapping[str, EventRegistry],
    keys: KeyStore | None,
) -> list[Item]:
    """Items with each event decoded (decrypt, then upcast); one key look-up for the batch."""
    found: dict[str, bytes] | None = None
    if projection.personal and keys is not None:
        found = await keys_of(
            keys, [i.data for i in items if isinstance(i, Event) and has_personal(i)]
        )
    if found is None and not registries:
        return list(items)
    return [open_event(i, registries, found) if isinstance(i, Event) else i for i in items]


async def decode_records(
    records: Sequence[Any],
    logical: Any,
    projection: Projection,
    registries: Mapping[str, EventRegistry],
    keys: KeyStore | None,
    admission: Admission | None = None,
) -> list[Item]:
    """Items of consumer records; `logical(topic)` names a record's logical topic."""
    items = [admitted(r, logical(r.topic), admission) for r in records]
    return await open_items(items, projection, registries, keys)
