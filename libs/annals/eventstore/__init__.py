"""annals.eventstore: the PostgreSQL event store (DESIGN §3).

This package module imports only the pure parts (stdlib + pydantic); adapters live in
`annals.eventstore.postgres` and `annals.eventstore.memory`.
"""

from annals.eventstore.domain import PERSONAL, REDACTED, Aggregate, DomainEvent, Personal
from annals.eventstore.errors import (
    DuplicateEventId,
    EventStoreError,
    EventTooLarge,
    ImportConflict,
    InvalidEvent,
    InvalidExpectedVersion,
    StreamDeleted,
    StreamTypeMismatch,
    SubjectForgotten,
    UndecodableEvent,
    UnknownEventType,
    WrongExpectedVersion,
)
from annals.eventstore.ports import (
    ANY,
    NO_STREAM,
    START,
    STREAM_EXISTS,
    AppendResult,
    Checkpoint,
    EventStore,
    ExpectedVersion,
    KeyStore,
    NewEvent,
    RecordedEvent,
    Snapshot,
    SnapshotStore,
    StreamInfo,
    StreamState,
)
from annals.eventstore.registry import EventRegistry

__all__ = [
    "ANY",
    "NO_STREAM",
    "PERSONAL",
    "REDACTED",
    "START",
    "STREAM_EXISTS",
    "Aggregate",
    "AppendResult",
    "Checkpoint",
    "DomainEvent",
    "DuplicateEventId",
    "EventRegistry",
    "EventStore",
    "EventStoreError",
    "EventTooLarge",
    "ExpectedVersion",
    "ImportConflict",
    "InvalidEvent",
    "InvalidExpectedVersion",
    "KeyStore",
    "NewEvent",
    "Personal",
    "RecordedEvent",
    "Snapshot",
    "SnapshotStore",
    "StreamDeleted",
    "StreamInfo",
    "StreamState",
    "StreamTypeMismatch",
    "SubjectForgotten",
    "UndecodableEvent",
    "UnknownEventType",
    "WrongExpectedVersion",
]
