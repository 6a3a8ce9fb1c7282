"""Validation and JSON serialization of events before they are appended (shared by adapters)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from annals.eventstore.errors import DuplicateEventId, EventTooLarge, InvalidEvent
from annals.eventstore.ports import AppendResult, NewEvent, RecordedEvent

DEFAULT_MAX_EVENT_BYTES = 1_000_000
MAX_EVENTS_PER_APPEND = 10_000

_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


@dataclass(slots=True)
class EncodedBatch:
    """Column arrays of a validated batch, ready for the database."""

    event_ids: list[uuid.UUID]
    event_types: list[str]
    schema_versions: list[int]
    data: list[str]
    metadata: list[str]


def to_json(value: object, what: str) -> str:
    """Serialize to compact JSON that PostgreSQL jsonb accepts, or raise InvalidEvent."""
    try:
        text = _dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidEvent(f"{what} is not JSON-serializable: {exc}") from exc
    if "\\u0000" in text:
        raise InvalidEvent(f"{what} contains a NUL character, which jsonb refuses")
    return text


def encode_batch(
    events: Sequence[NewEvent],
    metadata: Mapping[str, Any] | None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> EncodedBatch:
    """Validate and serialize events; `metadata` is merged under each event's own metadata."""
    if not events:
        raise InvalidEvent("append needs at least one event")
    if len(events) > MAX_EVENTS_PER_APPEND:
        raise InvalidEvent(f"at most {MAX_EVENTS_PER_APPEND} events per append")
    batch = EncodedBatch([], [], [], [], [])
    for event in events:
        if not isinstance(event, NewEvent):
            raise InvalidEvent(f"expected NewEvent, got {type(event).__name__}")
        if not isinstance(event.event_type, str) or not event.event_type:
            raise InvalidEvent(f"event_type must be a non-empty str: {event.event_type!r}")
        if type(event.schema_version) is not int or event.schema_version < 1:
            raise InvalidEvent(f"schema_version must be an int >= 1: {event.schema_version!r}")
        if not isinstance(event.event_id, uuid.UUID):
            raise InvalidEvent(f"event_id must be a UUID: {event.event_id!r}")
        if not isinstance(event.data, Mapping):
            raise InvalidEvent(f"data of {event.event_type} must be a mapping")
        data = to_json(event.data, f"data of {event.event_type}")
        meta_value = {**metadata, **event.metadata} if metadata else event.metadata
        meta = to_json(meta_value, f"metadata of {event.event_type}") if meta_value else "{}"
        size = len(data) + len(meta)
        if size > max_event_bytes // 4:  # chars <= bytes <= 4 * chars
            size = len(data.encode()) + len(meta.encode())
        if size > max_event_bytes:
            raise EventTooLarge(
                f"{event.event_type} is {size} bytes serialized; the limit is {max_event_bytes}"
            )
        batch.event_ids.append(event.event_id)
        batch.event_types.append(event.event_type)
        batch.schema_versions.append(event.schema_version)
        batch.data.append(data)
        batch.metadata.append(meta)
    if len(set(batch.event_ids)) != len(batch.event_ids):
        raise InvalidEvent("the same event_id appears twice in one append")
    return batch


def original_result(
    stream_id: str, batch: EncodedBatch, stored: Sequence[RecordedEvent | None]
) -> AppendResult:
    """The first append's result when `stored` matches this batch, else DuplicateEventId."""
    records = [r for r in stored if r is not None]
    if len(records) != len(batch.event_ids) or any(
        r.stream_id != stream_id
        or r.event_type != batch.event_types[i]
        or r.schema_version != batch.schema_versions[i]
        or r.data != json.loads(batch.data[i])
        or r.metadata != json.loads(batch.metadata[i])
        for i, r in enumerate(records)
    ):
        raise DuplicateEventId(
            f"event ids of this append are stored with other content or elsewhere "
            f"({len(records)} of {len(batch.event_ids)} found)"
        )
    versions = [r.version for r in records]
    if versions != list(range(versions[0], versions[0] + len(versions))):
        raise DuplicateEventId("the event ids were stored by different appends")
    return AppendResult(stream_id, versions[-1], tuple(r.global_position for r in records))
