"""Given / when / then for deciders: past events, one command, the events or error expected.

    spec = DeciderSpec(DECIDER, "o1")
    spec.given(PLACED, ITEM).when(Confirm()).then(CONFIRMED)
    spec.given(PLACED).when(Confirm()).then_fails(RuleBroken, rule="order-empty")

Pure: the events are folded with the decider's evolve, the command decided on the state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from annals.commands.decider import Decider
from annals.eventstore.domain import DomainEvent

S = TypeVar("S")
E = TypeVar("E", bound=BaseException)


@dataclass(frozen=True)
class DeciderSpec(Generic[S]):
    """A decider under test and the aggregate id its commands address."""

    decider: Decider[S]
    aggregate_id: str = "a1"

    def given(self, *events: DomainEvent) -> Given[S]:
        """The aggregate's past: these events, in order (none: a new aggregate)."""
        return Given(self, self.decider.replay(events))


@dataclass(frozen=True)
class Given(Generic[S]):
    """The state built from the given events."""

    spec: DeciderSpec[S]
    state: S

    def when(self, command: object) -> When[S]:
        """Decide `command` on the state."""
        return When(self, command)


@dataclass(frozen=True)
class When(Generic[S]):
    """A command decided on a given state, awaiting what is expected of it."""

    given: Given[S]
    command: object

    def _decide(self) -> list[DomainEvent]:
        spec = self.given.spec
        return spec.decider.decide(self.given.state, spec.aggregate_id, self.command)

    def then(self, *expected: DomainEvent) -> S:
        """Assert the command produces exactly these events; the state after them."""
        produced = self._decide()
        if produced != list(expected):
            raise AssertionError(
                f"{type(self.command).__name__} produced\n  {show(produced)}\nexpected\n  "
                f"{show(expected)}"
            )
        return self.given.spec.decider.replay(produced, self.given.state)

    def then_fails(self, error: type[E], **attributes: Any) -> E:
        """Assert the command raises `error` (with these attribute values, e.g. rule=...)."""
        try:
            produced = self._decide()
        except error as raised:
            return expect_attributes(raised, attributes)
        raise AssertionError(
            f"{type(self.command).__name__} produced {show(produced)} instead of failing with "
            f"{error.__name__}"
        )


def expect_attributes(raised: E, attributes: dict[str, Any]) -> E:
    """The error, once it is shown to carry these attribute values (AssertionError if not)."""
    wrong = {k: getattr(raised, k, None) for k in attributes}
    if wrong != attributes:
        raise AssertionError(
            f"{type(raised).__name__} had {wrong}, expected {attributes}"
        ) from raised
    return raised


def show(events: Sequence[DomainEvent]) -> str:
    """Events one a line, for assertion messages."""
    return "\n  ".join(repr(e) for e in events) or "no events"
