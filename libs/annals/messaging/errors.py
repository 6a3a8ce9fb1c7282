"""Errors of publishing and subscribing; each says whether a retry may succeed."""

from __future__ import annotations

import asyncpg
from aiokafka import errors as kafka_errors


class MessagingError(Exception):
    """Base of the messaging errors."""

    retriable: bool = False


class RetriableError(MessagingError):
    """Raise from a handler when a later attempt may succeed (timeouts, a peer down)."""

    retriable = True


class PermanentError(MessagingError):
    """Raise from a handler when no retry can help: the record goes to the DLQ at once."""


class MalformedEvent(MessagingError):
    """A record is not a CloudEvent this library can read (bad JSON, missing attribute)."""


class UnknownEvent(MalformedEvent):
    """The event's type or schema version is not registered with the subscriber."""


class VersionConflict(MessagingError):
    """A (stream, version) arrived again under another event id: two events claim one slot."""


class StreamParked(MessagingError):
    """An earlier record of the stream is in the DLQ; this one waits there behind it."""


class PublishError(MessagingError):
    """Kafka did not acknowledge a batch; the publisher resumes from its stored checkpoint."""

    retriable = True


_TRANSIENT: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
)


def is_retriable(error: BaseException) -> bool:
    """Whether a retry may succeed: ours say so, then known transient kinds, then `retriable`."""
    if isinstance(error, MessagingError):
        return error.retriable
    if isinstance(error, _TRANSIENT):
        return True
    return getattr(error, "retriable", False) is True
