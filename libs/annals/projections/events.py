"""What handlers see: one event from a Kafka record (CloudEvent or Debezium change) or the store."""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from annals.cdc import DecodeError, RowChange, decode_record
from annals.eventstore.decoding import decrypt, is_sealed, keys_of
from annals.eventstore.errors import UndecodableEvent
from annals.eventstore.ports import KeyStore, RecordedEvent
from annals.messaging.cloudevents import from_kafka
from annals.messaging.errors import MalformedEvent
from annals.topology import topology

# The topics of the declared CDC sources begin with one of these (`<prefix>.<schema>.<table>`).
CDC_PREFIX = tuple(f"{prefix}." for prefix in topology().cdc_origins)
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
    id: str | None = None  # the event id (CloudEvents `id`); None for CDC changes
    source: str | None = None  # CloudEvents `source` (who says it produced the record)
    dataschema: str | None = None  # CloudEvents `dataschema` (the schema it claims to follow)
    # The data as it came, personal values still encrypted: what parking stores (never `data`
    # once decrypted), so a parked row holds ciphertext that Forget makes unreadable.
    sealed: dict[str, Any] | None = None

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
        except (
            ValueError,
            TypeError,
            KeyError,
            AttributeError,
        ) as exc:  # a field that does not parse
            raise PoisonRecord(
                f"a field of the change event does not parse: {describe(exc)}"
            ) from exc
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
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise PoisonRecord(f"not a CloudEvent: {type(exc).__name__}: {describe(exc)}") from exc
    if ce.subject is None or ce.streamversion is None or ce.streamversion < 1:
        raise PoisonRecord(f"{ce.type} has no subject (stream id) or stream version")
    if not isinstance(ce.data, dict):
        raise PoisonRecord(f"data of {ce.type} is not a JSON object")
    return Event(
        ce.type, ce.data, ce.time or _ts(record.timestamp), ce.subject, ce.streamversion,
        ce.schemaversion or 1, logical_topic, record.partition, record.offset, record.key,
        record.value, headers, ce.id, ce.source, ce.dataschema,
    )  # fmt: skip


def stored_event(record: RecordedEvent, service: str, logical_topic: str) -> Event:
    """An event of a stored record, as its CloudEvent would carry it (the rebuild's fast path)."""
    data = record.data_json
    return Event(
        f"{service}.{record.event_type}", load_json(data) if isinstance(data, str) else data,
        record.recorded_at, record.stream_id, record.version, record.schema_version,
        logical_topic, id=str(record.event_id),
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


def has_envelope(value: Any) -> bool:
    """Whether a value is an encrypted personal value."""
    return is_sealed(value)


def has_personal(event: Event) -> bool:
    """Whether the event's data carries encrypted personal values."""
    return isinstance(event.data, dict) and any(is_sealed(v) for v in event.data.values())


async def decrypt_personal(
    events: Sequence[Event], keys: KeyStore, redacted: Any = None
) -> list[tuple[Event, PoisonRecord]]:
    """Decrypt personal values in place (forgotten subjects' become `redacted`); the failures.

    Step 1 of the decode path (annals.eventstore.decoding) for events already at their
    current version (parked rows). An event whose envelope cannot be opened is left as it
    was and returned with its error. Errors of the key store itself (unreachable) propagate.
    """
    sealed = [e for e in events if has_personal(e)]
    if not sealed:
        return []
    found = await keys_of(keys, [e.data for e in sealed])
    failed: list[tuple[Event, PoisonRecord]] = []
    for event in sealed:
        try:
            opened = decrypt(event.data, found, redacted)
        except UndecodableEvent as exc:
            failed.append((event, PoisonRecord(str(exc))))
            continue
        event.sealed, event.data = event.data, opened
    return failed


def stored_data(event: Event) -> Any:
    """The data to store beside a read model (parked rows): personal values still encrypted."""
    return event.sealed if event.sealed is not None else event.data


def describe(exc: BaseException) -> str:
    """The message of an error, without the input values pydantic would quote."""
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]]
        return f"{exc.error_count()} validation error(s): " + "; ".join(parts)
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return (str(exc) or type(exc).__name__)[:500]
