"""In-memory adapters of the event, key and snapshot stores (unit tests, same contract)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from annals.eventstore import streams
from annals.eventstore.encoding import (
    DEFAULT_MAX_EVENT_BYTES,
    encode_batch,
    original_result,
)
from annals.eventstore.errors import (
    InvalidEvent,
    StreamDeleted,
    StreamTypeMismatch,
    SubjectForgotten,
    WrongExpectedVersion,
)
from annals.eventstore.ports import (
    ANY,
    START,
    AppendResult,
    Checkpoint,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    Snapshot,
    StreamInfo,
    expected_code,
)
from annals.eventstore.subscription import CatchUp, follow
from annals.eventstore.versions import code_allows


@dataclass
class _Stream:
    info: StreamInfo
    events: list[RecordedEvent]


@dataclass(frozen=True)
class SavedState:
    """A copy of an in-memory store's contents, to restore when a transaction rolls back."""

    streams: dict[str, _Stream]
    log: list[RecordedEvent]
    by_id: dict[Any, RecordedEvent]
    tx: int
    keys: dict[str, bytes | None]
    snapshots: dict[str, Snapshot]
    rows: dict[str, dict[Any, Any]]


class InMemoryEventStore(CatchUp):
    """The EventStore contract in process memory; every append is its own transaction."""

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._streams: dict[str, _Stream] = {}
        self._log: list[RecordedEvent] = []
        self._by_id: dict[Any, RecordedEvent] = {}
        self._tx = 1000
        self.keys = InMemoryKeyStore()
        self.snapshots = InMemorySnapshotStore()
        # A service's own rows in memory (table name -> key -> row), restored with the events
        # when an in-memory transaction fails (annals.eventstore.memorydb).
        self.rows: dict[str, dict[Any, Any]] = {}

    def bound_to(self, session: object) -> InMemoryEventStore:
        """The store itself: an in-memory transaction restores it when it rolls back."""
        return self

    def saved(self) -> SavedState:
        """A copy of the contents (InMemoryDatabase takes one as a transaction begins)."""
        streams = {k: _Stream(v.info, list(v.events)) for k, v in self._streams.items()}
        return SavedState(
            streams,
            list(self._log),
            dict(self._by_id),
            self._tx,
            dict(self.keys._keys),
            dict(self.snapshots._snapshots),
            {table: dict(rows) for table, rows in self.rows.items()},
        )

    def restore(self, saved: SavedState) -> None:
        """Put back contents copied by saved() (a rolled-back transaction)."""
        self._streams = {k: _Stream(v.info, list(v.events)) for k, v in saved.streams.items()}
        self._log = list(saved.log)
        self._by_id = dict(saved.by_id)
        self._tx = saved.tx
        self.keys._keys = dict(saved.keys)
        self.snapshots._snapshots = dict(saved.snapshots)
        self.rows = {table: dict(rows) for table, rows in saved.rows.items()}

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
        metadata: Mapping[str, Any] | None = None,
        *,
        stream_type: str | None = None,
    ) -> AppendResult:
        """Append events atomically after checking the expected version."""
        code = expected_code(expected_version)
        streams.check_stream_id(stream_id)
        batch = encode_batch(events, metadata, self.max_event_bytes)
        stype = stream_type or streams.kind_of(stream_id)
        stream = self._streams.get(stream_id)
        if stream is not None and stream.info.deleted:
            raise StreamDeleted(stream_id)
        current = 0 if stream is None else stream.info.version
        ok = code_allows(code, current, exists=stream is not None)
        if any(eid in self._by_id for eid in batch.event_ids):
            return original_result(stream_id, batch, [self._by_id.get(i) for i in batch.event_ids])
        if not ok:
            raise WrongExpectedVersion(stream_id, expected_version, current)
        if stream is not None and stream.info.stream_type != stype:
            raise StreamTypeMismatch(f"stream {stream_id!r} has type {stream.info.stream_type!r}")
        if stream is None:
            stream = self._streams[stream_id] = _Stream(StreamInfo(stream_id, stype, 0), [])
        self._tx += 1
        now = datetime.now(UTC)
        for i in range(len(batch.event_ids)):
            record = RecordedEvent(
                len(self._log) + 1,
                self._tx,
                stream_id,
                stream.info.stream_type,
                current + i + 1,
                batch.event_ids[i],
                batch.event_types[i],
                batch.schema_versions[i],
                batch.data[i],
                batch.metadata[i],
                now,
            )
            self._log.append(record)
            stream.events.append(record)
            self._by_id[record.event_id] = record
        stream.info = replace(stream.info, version=current + len(batch.event_ids))
        positions = tuple(r.global_position for r in stream.events[current:])
        return AppendResult(stream_id, stream.info.version, positions)

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """Events of one stream from a version, honouring max-count, max-age and tombstones."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return []
        info = stream.info
        if info.deleted:
            raise StreamDeleted(stream_id)
        low = 1 if info.max_count is None else max(1, info.version - info.max_count + 1)
        oldest = None if info.max_age is None else datetime.now(UTC) - info.max_age
        kept = [
            e
            for e in stream.events
            if e.version >= low and (oldest is None or e.recorded_at >= oldest)
        ]
        if backwards:
            start = from_version if from_version is not None else info.version
            out = [e for e in reversed(kept) if e.version <= start]
        else:
            start = from_version if from_version is not None else 1
            out = [e for e in kept if e.version >= start]
        return out if limit is None else out[:limit]

    async def read_all(
        self,
        after: Checkpoint | None = None,
        limit: int = 1000,
        *,
        event_types: Sequence[str] | None = None,
        stream_types: Sequence[str] | None = None,
    ) -> list[RecordedEvent]:
        """Next events after a checkpoint in the global order."""
        after = after or START
        out: list[RecordedEvent] = []
        for e in self._log:
            if e.checkpoint <= after:
                continue
            if event_types is not None and e.event_type not in event_types:
                continue
            if stream_types is not None and e.stream_type not in stream_types:
                continue
            out.append(e)
            if len(out) >= limit:
                break
        return out

    def subscribe_all(
        self,
        after: Checkpoint | None = None,
        *,
        event_types: Sequence[str] | None = None,
        stream_types: Sequence[str] | None = None,
        batch_size: int = 1000,
    ) -> AsyncIterator[RecordedEvent]:
        """Follow the store from `after` (polling with back-off)."""
        return follow(
            self.read_all,
            None,
            after or START,
            event_types=event_types,
            stream_types=stream_types,
            batch_size=batch_size,
            min_poll=0.001,
            max_poll=0.02,
        )

    async def get_stream(self, stream_id: str) -> StreamInfo | None:
        """The stream's row, or None."""
        stream = self._streams.get(stream_id)
        return None if stream is None else stream.info

    async def set_stream_metadata(
        self,
        stream_id: str,
        *,
        max_count: int | None = None,
        max_age: timedelta | None = None,
    ) -> None:
        """Set max-count / max-age of an existing stream."""
        if max_count is not None and (type(max_count) is not int or max_count < 1):
            raise InvalidEvent(f"max_count must be an int >= 1: {max_count!r}")
        stream = self._streams.get(stream_id)
        if stream is None:
            raise WrongExpectedVersion(stream_id, "an existing stream", 0)
        stream.info = replace(stream.info, max_count=max_count, max_age=max_age)

    async def delete_stream(self, stream_id: str, expected_version: ExpectedVersion = ANY) -> None:
        """Put a tombstone on the stream."""
        code = expected_code(expected_version)
        streams.check_stream_id(stream_id)
        stream = self._streams.get(stream_id)
        if stream is None and code in (0, -1):
            info = StreamInfo(stream_id, streams.kind_of(stream_id), 0)
            stream = self._streams[stream_id] = _Stream(info, [])
        if stream is not None and stream.info.deleted:
            raise StreamDeleted(stream_id)
        current = 0 if stream is None else stream.info.version
        if stream is None or (code >= 0 and current != code):
            raise WrongExpectedVersion(stream_id, expected_version, current)
        stream.info = replace(stream.info, deleted=True)


class InMemoryKeyStore:
    """Per-subject keys in a dict; forget() drops the key and remembers the subject."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes | None] = {}

    async def get_or_create(self, subject: str) -> bytes:
        """The subject's key, created when missing."""
        key = self._keys.setdefault(subject, os.urandom(32))
        if key is None:
            raise SubjectForgotten(f"subject {subject!r} was forgotten")
        return key

    async def get_many(self, subjects: Sequence[str]) -> dict[str, bytes]:
        """Keys of the subjects that still have one."""
        return {s: k for s in subjects if (k := self._keys.get(s)) is not None}

    async def forget(self, subject: str) -> None:
        """Delete the subject's key."""
        self._keys[subject] = None


class InMemorySnapshotStore:
    """Snapshots in a dict."""

    def __init__(self) -> None:
        self._snapshots: dict[str, Snapshot] = {}

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The stream's snapshot, if any."""
        return self._snapshots.get(stream_id)

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store the snapshot."""
        self._snapshots[snapshot.stream_id] = snapshot
