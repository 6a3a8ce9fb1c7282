"""Records and ports (Protocols) of the event store; adapters live in postgres.py and memory.py."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from annals.eventstore.versions import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    ExpectedVersion,
    StreamState,
    expected_code,
)

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "ExpectedVersion",
    "StreamState",
    "expected_code",
]


class Checkpoint(NamedTuple):
    """A position in the global order: (transaction id, global position)."""

    tx_id: int
    position: int

    def __str__(self) -> str:
        return f"{self.tx_id}:{self.position}"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a checkpoint written by str()."""
        tx, _, pos = text.partition(":")
        return cls(int(tx), int(pos))


START = Checkpoint(0, 0)


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (version 7): ids of new events land at the end of the index."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (time.time_ns() // 1_000_000) << 80
        | 0x7 << 76
        | (rand >> 62 & 0xFFF) << 64
        | 0b10 << 62
        | rand & (1 << 62) - 1
    )
    return uuid.UUID(int=value)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: data and metadata are JSON-serializable mappings."""

    event_type: str
    data: Mapping[str, Any]
    schema_version: int = 1
    metadata: Mapping[str, Any] = field(default_factory=dict)
    event_id: uuid.UUID = field(default_factory=uuid7)


class RecordedEvent:
    """A stored event; data and metadata are parsed from JSON on first access."""

    __slots__ = (
        "_data",
        "_metadata",
        "data_json",
        "event_id",
        "event_type",
        "global_position",
        "metadata_json",
        "recorded_at",
        "schema_version",
        "stream_id",
        "stream_type",
        "tx_id",
        "version",
    )

    def __init__(
        self,
        global_position: int,
        tx_id: int,
        stream_id: str,
        stream_type: str,
        version: int,
        event_id: uuid.UUID,
        event_type: str,
        schema_version: int,
        data_json: str,
        metadata_json: str,
        recorded_at: datetime,
    ) -> None:
        self.global_position = global_position
        self.tx_id = tx_id
        self.stream_id = stream_id
        self.stream_type = stream_type
        self.version = version
        self.event_id = event_id
        self.event_type = event_type
        self.schema_version = schema_version
        self.data_json = data_json
        self.metadata_json = metadata_json
        self.recorded_at = recorded_at
        self._data: dict[str, Any] | None = None
        self._metadata: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The event's data, parsed once."""
        if self._data is None:
            self._data = json.loads(self.data_json)
        return self._data

    @property
    def metadata(self) -> dict[str, Any]:
        """The event's metadata, parsed once."""
        if self._metadata is None:
            self._metadata = json.loads(self.metadata_json)
        return self._metadata

    @property
    def checkpoint(self) -> Checkpoint:
        """Where a reader of the whole store resumes after this event."""
        return Checkpoint(self.tx_id, self.global_position)

    def __repr__(self) -> str:
        return (
            f"RecordedEvent({self.stream_id}@{self.version} {self.event_type}"
            f"/v{self.schema_version} pos={self.global_position} tx={self.tx_id})"
        )


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Outcome of an append: the stream's new version and the events' global positions."""

    stream_id: str
    version: int
    positions: tuple[int, ...]

    @property
    def first_version(self) -> int:
        """Version of the first appended event."""
        return self.version - len(self.positions) + 1


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """A stream's row: current version, type and metadata honoured by readers."""

    stream_id: str
    stream_type: str
    version: int
    max_count: int | None = None
    max_age: timedelta | None = None
    deleted: bool = False


class EventStore(Protocol):
    """Append-only store of event streams with a gap-free global order."""

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
        metadata: Mapping[str, Any] | None = None,
        *,
        stream_type: str | None = None,
    ) -> AppendResult:
        """Append events in one transaction after checking the expected version."""
        ...

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """Events of one stream from a version, forwards or backwards."""
        ...

    async def read_all(
        self,
        after: Checkpoint | None = None,
        limit: int = 1000,
        *,
        event_types: Sequence[str] | None = None,
        stream_types: Sequence[str] | None = None,
    ) -> list[RecordedEvent]:
        """The next events of the whole store after a checkpoint, in the stable global order."""
        ...

    def subscribe_all(
        self,
        after: Checkpoint | None = None,
        *,
        event_types: Sequence[str] | None = None,
        stream_types: Sequence[str] | None = None,
        batch_size: int = 1000,
    ) -> AsyncIterator[RecordedEvent]:
        """Follow the whole store forever from a checkpoint."""
        ...

    async def get_stream(self, stream_id: str) -> StreamInfo | None:
        """The stream's row, or None when it has no events."""
        ...

    async def set_stream_metadata(
        self,
        stream_id: str,
        *,
        max_count: int | None = None,
        max_age: timedelta | None = None,
    ) -> None:
        """Set max-count / max-age of an existing stream (None clears the limit)."""
        ...

    async def delete_stream(self, stream_id: str, expected_version: ExpectedVersion = ANY) -> None:
        """Soft-delete: put a tombstone on the stream; its events stay in the log."""
        ...


class KeyStore(Protocol):
    """Per-subject data keys for personal data (crypto-shredding)."""

    async def get_or_create(self, subject: str) -> bytes:
        """The subject's key, created when missing; SubjectForgotten after forget()."""
        ...

    async def get_many(self, subjects: Sequence[str]) -> dict[str, bytes]:
        """Keys of the subjects that still have one."""
        ...

    async def forget(self, subject: str) -> None:
        """Delete the subject's key: its personal data becomes unreadable for good."""
        ...


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A stored aggregate state at a stream version."""

    stream_id: str
    version: int
    schema_version: int
    state: Mapping[str, Any]


class SnapshotStore(Protocol):
    """Snapshots of aggregate states, stored apart from the events."""

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of a stream, if any."""
        ...

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store (replace) the stream's snapshot."""
        ...


class Session(Protocol):
    """An open transaction: queries on its one connection and savepoints inside it."""

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """All rows."""
        ...

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """The first row or None."""
        ...

    async def fetchval(self, query: str, *args: Any) -> Any:
        """The first value of the first row."""
        ...

    async def execute(self, query: str, *args: Any) -> str:
        """The statement's status."""
        ...

    def savepoint(self) -> AbstractAsyncContextManager[Any]:
        """A nested transaction: rolled back alone when its block fails."""
        ...


class Database(Protocol):
    """A service's database: queries on pooled connections and transactions (Sessions)."""

    @property
    def retriable_errors(self) -> tuple[type[Exception], ...]:
        """Errors after which a transaction may simply run again (deadlock, serialization)."""
        ...

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """All rows, on a pooled connection."""
        ...

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """The first row or None, on a pooled connection."""
        ...

    async def fetchval(self, query: str, *args: Any) -> Any:
        """The first value, on a pooled connection."""
        ...

    async def execute(self, query: str, *args: Any) -> str:
        """A statement's status, on a pooled connection."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Session]:
        """A transaction that commits when its block succeeds and rolls back when it fails."""
        ...


class TransactionalEventStore(EventStore, Protocol):
    """An event store with its subjects' keys whose appends can join a Session's transaction."""

    @property
    def keys(self) -> KeyStore:
        """The subjects' keys of this store."""
        ...

    def bound_to(self, session: Session) -> TransactionalEventStore:
        """This store reading and appending inside `session` (it commits with it)."""
        ...
