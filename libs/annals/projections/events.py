"""What handlers see: one event from a Kafka record (CloudEvent or Debezium change) or the store."""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from annals.cdc import DecodeError, RowChange, decode_record
from annals.eventstore.codec import FORGOTTEN, PII_MARK, decrypt_value
from annals.eventstore.errors import EventStoreError, UndecodableEvent
from annals.eventstore.ports import KeyStore
from annals.eventstore.registry import EventRegistry
from annals.messaging.cloudevents import from_kafka
from annals.messaging.errors import MalformedEvent

CDC_PREFIX = "legacy."
# The C scanner behind json.loads, without its per-call checks (BOM, whitespace, type).
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]  # typeshed types the class, not its argument
)


class PoisonRecord(Exception):
    """A record no handler can ever process (not decodable, unknown version, bad data)."""


@dataclass(slots=True)
class Event:
    """One event: `type` is `<service>.<EventType>` or `cdc.<table>`; `data` a dict or RowChange."""

    type: str
    data: Any
    time: datetime
    stream_id: str | None = None
    version: int | None = None
    schema_version: int = 1
    topic: str = ""
    partition: int = -1
    offset: int = -1
    key: bytes | None = None
    value: bytes | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def change(self) -> RowChange:
        """The Debezium row change of a `cdc.*` event."""
        if not isinstance(self.data, RowChange):
            raise TypeError(f"{self.type} is not a row change")
        return self.data


def from_record(record: Any, logical_topic: str) -> Event:
    """Decode a consumer record of `logical_topic`; PoisonRecord when it cannot be read."""
    headers = list(record.headers or ())
    if logical_topic.startswith(CDC_PREFIX):
        try:
            change = decode_record(record)
        except DecodeError as exc:
            raise PoisonRecord(f"not a Debezium change event: {exc}") from None
        if isinstance(change, RowChange):
            kind, moment = f"cdc.{change.source.table}", change.source.committed_at
        else:
            kind, moment = f"cdc.{type(change).__name__.lower()}", _ts(record.timestamp)
        return Event(
            kind, change, moment, None, None, 1, logical_topic, record.partition,
            record.offset, record.key, record.value, headers,
        )  # fmt: skip
    try:
        ce = from_kafka(record.value, headers)
    except MalformedEvent as exc:
        raise PoisonRecord(str(exc)) from None
    if ce.subject is None or ce.streamversion is None or ce.streamversion < 1:
        raise PoisonRecord(f"{ce.type} has no subject (stream id) or stream version")
    if not isinstance(ce.data, dict):
        raise PoisonRecord(f"data of {ce.type} is not a JSON object")
    return Event(
        ce.type, ce.data, ce.time or _ts(record.timestamp), ce.subject, ce.streamversion,
        ce.schemaversion or 1, logical_topic, record.partition, record.offset, record.key,
        record.value, headers,
    )  # fmt: skip


def stored_event(row: Any, service: str, logical_topic: str) -> Event:
    """An event of a row selected with the store's COLUMNS (the rebuild's fast path)."""
    data = row[8]
    return Event(
        f"{service}.{row[6]}", load_json(data) if isinstance(data, str) else data, row[10],
        row[2], row[4], row[7], logical_topic,
    )  # fmt: skip


def load_json(text: str) -> Any:
    """json.loads of a JSON document, faster for the compact text PostgreSQL returns for jsonb.

    The scanner is tried first; text it does not consume whole (whitespace around the
    document, trailing data) or cannot start on goes through json.loads, with its errors.
    """
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value


def _ts(timestamp_ms: int | None) -> datetime:
    if not timestamp_ms:
        return datetime.now(UTC)
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)


def upcast(event: Event, registries: Mapping[str, EventRegistry]) -> None:
    """Bring an older schema version of the data up to the registered model (in place)."""
    service, _, name = event.type.partition(".")
    registry = registries.get(service)
    if registry is None or name not in registry:
        return
    if registry.model(name).schema_version == event.schema_version:
        return
    try:
        event.data = registry.upcast(name, event.schema_version, dict(event.data))
    except EventStoreError as exc:
        raise PoisonRecord(f"{event.type} v{event.schema_version}: {exc}") from None
    event.schema_version = registry.model(name).schema_version


def has_personal(event: Event) -> bool:
    """Whether the event's data carries encrypted personal values."""
    return isinstance(event.data, dict) and any(
        isinstance(v, dict) and PII_MARK in v for v in event.data.values()
    )


async def decrypt_personal(events: Sequence[Event], keys: KeyStore, redacted: Any = None) -> None:
    """Decrypt personal values in place; values of forgotten subjects become `redacted`."""
    sealed = [e for e in events if has_personal(e)]
    if not sealed:
        return
    subjects = sorted(
        {str(v["s"]) for e in sealed for v in e.data.values() if isinstance(v, dict) and "s" in v}
    )
    found = await keys.get_many(subjects)
    for event in sealed:
        data = dict(event.data)
        for name, value in data.items():
            if isinstance(value, dict) and PII_MARK in value:
                try:
                    plain = decrypt_value(found.get(str(value.get("s"))), value)
                except (UndecodableEvent, ValueError, KeyError) as exc:
                    raise PoisonRecord(f"personal field {name} does not decrypt: {exc}") from None
                data[name] = redacted if plain is FORGOTTEN else plain
        event.data = data
