"""What a subscriber's handler is given, and what the subscriber reports about its work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from annals.eventstore.domain import DomainEvent
from annals.messaging.cloudevents import CloudEvent


@dataclass(frozen=True, slots=True)
class Received:
    """An event handed to a handler: the CloudEvent, its typed event, and where it came from."""

    cloudevent: CloudEvent
    event: DomainEvent | None
    topic: str
    partition: int
    offset: int
    key: bytes | None

    @property
    def type(self) -> str:
        """The CloudEvents type, e.g. `orders.OrderPlaced`."""
        return self.cloudevent.type

    @property
    def subject(self) -> str | None:
        """The stream id."""
        return self.cloudevent.subject

    @property
    def version(self) -> int | None:
        """The event's version in its stream."""
        return self.cloudevent.streamversion

    @property
    def data(self) -> Any:
        """The raw event data (JSON)."""
        return self.cloudevent.data


Handler = Callable[[Received], Awaitable[None]]


@dataclass
class SubscriberStats:
    """Counts since start."""

    handled: int = 0
    retries: int = 0
    dead_lettered: int = 0
    commits: int = 0
    duplicates: int = 0
    conflicts: int = 0
    restarts: int = 0


@dataclass
class SubscriberHealth:
    """What the subscriber is doing: state, its last error and when it last made progress."""

    state: str = "starting"  # starting | live | idle | reconnecting | stopped
    last_error: str = ""
    last_error_at: float | None = None
    last_progress_at: float | None = None


@dataclass(frozen=True)
class Failure:
    """Why one record cannot be handled; `park` holds its stream's later records back."""

    reason: str
    error: BaseException
    attempts: int
    park: bool = True


@dataclass
class ReplayResult:
    """What replay_dead_letters() did: dead letters handled, already handled, still failing."""

    handled: int = 0
    skipped: int = 0
    failed: list[tuple[int, str]] | None = None
