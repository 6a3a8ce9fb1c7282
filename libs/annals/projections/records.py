"""The records a batch handles: events, poison, dead letters, failures and stream marks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from annals.projections.events import Event, describe

Partition = tuple[str, int]


@dataclass(slots=True)
class RawRecord:
    """Where a Kafka record was read, and its bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass(slots=True)
class Poison(RawRecord):
    """A record that could not be decoded into an Event (stream and version when known)."""

    reason: str
    kind: str = "undecodable"
    error_class: str = "annals.projections.events.PoisonRecord"
    stream_id: str | None = None
    version: int | None = None
    event_type: str | None = None
    id: str | None = None


@dataclass(slots=True)
class DeadLetter(RawRecord):
    """A record the batch gave up on, and why."""

    reason: str
    error: str
    stream_id: str | None = None
    version: int | None = None
    event_type: str | None = None
    error_class: str = ""


@dataclass(frozen=True, slots=True)
class Failure:
    """Why one record failed: the stage (dead-letter reason), the error's class and message."""

    reason: str
    error_class: str
    message: str

    @classmethod
    def of(cls, reason: str, exc: BaseException) -> Failure:
        """The failure of `exc` at stage `reason`."""
        kind = type(exc)
        return cls(reason, f"{kind.__module__}.{kind.__qualname__}", describe(exc))


@dataclass(frozen=True, slots=True)
class Span:
    """The records of one partition in a batch: first offset, next offset, newest event time."""

    first: int
    next: int
    last_time: datetime | None


@dataclass
class BatchResult:
    """What one batch did."""

    applied: int = 0
    skipped: int = 0
    parked: int = 0
    unparked: int = 0
    dead: list[DeadLetter] = field(default_factory=list)
    ignored: int = 0
    conflicts: int = 0  # same (stream, version) as an applied event, another event id
    gaps_skipped: int = 0  # versions an operator's unpark skipped


Item = Event | Poison
Where = tuple[str, int, int]  # topic, partition, offset
# A stream's bookkeeping: applied version, the version it waits for (parked), applied event id.
Mark = tuple[int, int | None, str | None]
NEW: Mark = (0, None, None)


def where(item: Item) -> Where:
    """The Kafka position of an item."""
    return (item.topic, item.partition, item.offset)


def poison_of(record: Any, topic: str, error: Exception, kind: str = "undecodable") -> Poison:
    """The Poison of a consumer record that could not be decoded."""
    headers = list(record.headers or ())
    cls = type(error)
    return Poison(
        topic, record.partition, record.offset, record.key, record.value, headers, str(error),
        kind, f"{cls.__module__}.{cls.__qualname__}",
    )  # fmt: skip


def poison_event(event: Event, error: Exception, kind: str) -> Poison:
    """The Poison of a decoded event that cannot be used (unknown type, sealed data)."""
    cls = type(error)
    return Poison(
        event.topic, event.partition, event.offset, event.key, event.value, event.headers,
        str(error), kind, f"{cls.__module__}.{cls.__qualname__}", event.stream_id,
        event.version, event.type, event.id,
    )  # fmt: skip


def spans_of(items: Sequence[Item]) -> dict[Partition, Span]:
    """The span of each partition in a batch (items in offset order per partition)."""
    first: dict[Partition, int] = {}
    last: dict[Partition, int] = {}
    times: dict[Partition, datetime | None] = {}
    for item in items:
        tp = (item.topic, item.partition)
        first.setdefault(tp, item.offset)
        last[tp] = item.offset
        if isinstance(item, Event):
            seen = times.get(tp)
            times[tp] = item.time if seen is None or item.time > seen else seen
        else:
            times.setdefault(tp, None)
    return {tp: Span(first[tp], last[tp] + 1, times.get(tp)) for tp in first}
