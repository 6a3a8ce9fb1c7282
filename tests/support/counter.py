"""A counter aggregate for the aggregate-cache tests: each Counted records the count it saw.

An event's `seen` is the count the decision was made on, so a stream proves no command decided
on stale state (every Counted's `seen` equals the Counted events before it) and none was lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from annals.commands.decider import Decider, DeciderAggregate
from annals.commands.errors import RuleBroken
from annals.eventstore.domain import DomainEvent
from annals.eventstore.registry import EventRegistry


class CounterState(BaseModel):
    """The count so far and whether the counter is closed."""

    model_config = ConfigDict(frozen=True)

    count: int = 0
    closed: bool = False


class Counted(DomainEvent):
    """The count went up by one; `seen` is the count the decision saw."""

    seen: int


class Closed(DomainEvent):
    """The counter takes no more counts."""


REGISTRY = EventRegistry([Counted, Closed])


@dataclass(frozen=True)
class Count:
    """Add one (refused once closed)."""


@dataclass(frozen=True)
class Close:
    """Close the counter (no events when it is closed already)."""


def count(state: CounterState, _id: str, _c: object) -> list[DomainEvent]:
    """One more, unless closed."""
    if state.closed:
        raise RuleBroken("counter-closed", "the counter is closed")
    return [Counted(seen=state.count)]


def close(state: CounterState, _id: str, _c: object) -> list[DomainEvent]:
    """Close once."""
    return [] if state.closed else [Closed()]


def evolve(state: CounterState, event: DomainEvent) -> CounterState:
    """The state after one event."""
    if isinstance(event, Counted):
        return state.model_copy(update={"count": state.count + 1})
    return state.model_copy(update={"closed": True})


DECIDER: Decider[CounterState] = Decider(
    "counter", CounterState, evolve, {Count: count, Close: close}
)


class Counter(DeciderAggregate[CounterState]):
    """The counter, without snapshots."""

    stream_type = "counter"
    decider: ClassVar[Decider[CounterState]] = DECIDER


class SnapshottedCounter(Counter):
    """The counter with a snapshot every 3 events."""

    snapshot_every = 3
    state_type = CounterState


def check_history(events: list[DomainEvent]) -> None:
    """No stale decision in a stream: counts follow each other and none comes after Closed."""
    counted = 0
    closed = False
    for event in events:
        if isinstance(event, Counted):
            assert not closed, "counted after the counter was closed"
            assert event.seen == counted, f"decided on count {event.seen}, it was {counted}"
            counted += 1
        else:
            assert not closed, "closed twice"
            closed = True
