"""A reactor's declaration: the topics it follows and its pure reactions per event type."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from annals.eventstore.domain import DomainEvent


@dataclass(frozen=True)
class Reaction:
    """A command a reactor issues in answer to an event, on one aggregate of its service."""

    aggregate_id: str
    command: Any


React = Callable[[DomainEvent], Sequence[Reaction]]


@dataclass(frozen=True)
class Reactor:
    """A process manager: `reactions["<service>.<Type>"](event)` -> the commands to run."""

    name: str
    topics: tuple[str, ...]
    reactions: Mapping[str, React] = field(default_factory=dict)

    def react(self, event_type: str, event: DomainEvent | None) -> list[Reaction]:
        """The commands an event calls for (none for a type the reactor does not follow)."""
        react = self.reactions.get(event_type)
        if react is None or event is None:
            return []
        return list(react(event))

    @property
    def actor(self) -> str:
        """Who the commands' events say issued them."""
        return f"reactor:{self.name}"
