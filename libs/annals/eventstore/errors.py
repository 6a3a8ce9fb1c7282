"""Typed errors of the event store; each says whether a retry may succeed."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base of every event store error."""

    retriable: bool = False


class WrongExpectedVersion(EventStoreError):
    """The stream is not at the expected version; `current_version` says where it is (0: none)."""

    retriable = True

    def __init__(self, stream_id: str, expected: object, current_version: int) -> None:
        super().__init__(
            f"stream {stream_id!r}: expected version {expected}, current version {current_version}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.current_version = current_version


class InvalidExpectedVersion(EventStoreError, ValueError):
    """expected_version is neither ANY, NO_STREAM, STREAM_EXISTS nor a non-negative int."""


class InvalidEvent(EventStoreError, ValueError):
    """An event cannot be stored: bad field, not JSON-serializable, or too large."""


class EventTooLarge(InvalidEvent):
    """An event's serialized data and metadata exceed the store's limit."""


class DuplicateEventId(EventStoreError):
    """An event id is already stored with other content (idempotency violation)."""


class StreamDeleted(EventStoreError):
    """The stream carries a tombstone: it can no longer be read or appended to."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(f"stream {stream_id!r} is deleted")
        self.stream_id = stream_id


class StreamTypeMismatch(EventStoreError, ValueError):
    """An append names another stream type than the stream already has."""


class UndecodableEvent(EventStoreError):
    """A stored event cannot be turned into its typed model."""


class UnknownEventType(UndecodableEvent):
    """A stored event's type or schema version is not registered (nor upcastable)."""


class SubjectForgotten(EventStoreError):
    """Personal data cannot be written for a subject whose key was deleted by forget()."""


class ImportConflict(EventStoreError):
    """A bulk import disagrees with the store (versions, ids) or with itself."""


class StoreUnavailable(EventStoreError):
    """The database could not be reached or timed out; the operation may be retried."""

    retriable = True
