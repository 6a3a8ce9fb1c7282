"""A decider: an aggregate's initial state, evolve and one decide function per command type."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from annals.eventstore.domain import Aggregate, DomainEvent
from annals.eventstore.streams import stream_id

S = TypeVar("S")
Decide = Callable[[S, str, Any], Sequence[DomainEvent]]


@dataclass(frozen=True)
class Decider(Generic[S]):
    """Pure command handling of one aggregate kind (`kind` names streams `<kind>-<id>`)."""

    kind: str
    initial: Callable[[], S]
    evolve: Callable[[S, DomainEvent], S]
    deciders: Mapping[type, Decide[S]]

    def decide(self, state: S, aggregate_id: str, command: object) -> list[DomainEvent]:
        """The events a command produces on a state, or a DomainError."""
        return list(self.deciders[type(command)](state, aggregate_id, command))

    def replay(self, events: Iterable[DomainEvent], state: S | None = None) -> S:
        """Fold events into a state (from the initial state by default)."""
        current = self.initial() if state is None else state
        for event in events:
            current = self.evolve(current, event)
        return current

    def stream_id(self, aggregate_id: str) -> str:
        """The stream of an aggregate."""
        return stream_id(self.kind, aggregate_id)

    @property
    def command_types(self) -> list[type]:
        """Commands this decider handles."""
        return list(self.deciders)


class DeciderAggregate(Aggregate[S]):
    """An Aggregate whose initial state and evolve come from its class's `decider`."""

    decider: ClassVar[Decider[Any]]

    @classmethod
    def initial_state(cls) -> S:
        """The decider's initial state."""
        state: S = cls.decider.initial()
        return state

    @classmethod
    def evolve(cls, state: S, event: DomainEvent) -> S:
        """The decider's evolve."""
        after: S = cls.decider.evolve(state, event)
        return after
