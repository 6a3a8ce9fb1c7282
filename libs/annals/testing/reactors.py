"""Given / when / then for reactors (process managers).

    spec = ReactorSpec(REACTOR)
    spec.when(confirmed("e1")).then(Reaction("o1", OpenShipment(order_id="o1")))
    await ReactorSpec(REACTOR, runner).given(confirmed("e1")).when(confirmed("e1")).then_issued(0)

`then` checks what the reactor calls for (pure); `then_issued` runs the deliveries through a
ReactorRunner (e.g. on the in-memory database) and counts the commands the last one issued, so
a redelivery can be shown to issue none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from annals.eventstore.domain import DomainEvent
from annals.reactors import Reaction, Reactor, ReactorRunner, RunOutcome


@dataclass(frozen=True)
class Delivery:
    """One event as the reactor receives it: its id (the causation), type and typed event."""

    event_id: str
    event_type: str
    event: DomainEvent


@dataclass(frozen=True)
class ReactorSpec:
    """A reactor under test, and the runner its commands go through (for then_issued)."""

    reactor: Reactor
    runner: ReactorRunner | None = None

    def given(self, *delivered: Delivery) -> ReactorGiven:
        """Events delivered before (their commands run first)."""
        return ReactorGiven(self, delivered)

    def when(self, delivery: Delivery) -> ReactorWhen:
        """An event delivered with nothing before it."""
        return ReactorGiven(self, ()).when(delivery)


@dataclass(frozen=True)
class ReactorGiven:
    """The earlier deliveries."""

    spec: ReactorSpec
    delivered: Sequence[Delivery]

    def when(self, delivery: Delivery) -> ReactorWhen:
        """The delivery under test."""
        return ReactorWhen(self, delivery)


@dataclass(frozen=True)
class ReactorWhen:
    """A delivery awaiting what is expected of it."""

    given: ReactorGiven
    delivery: Delivery

    def then(self, *expected: Reaction) -> list[Reaction]:
        """Assert the reactor calls for exactly these commands."""
        d = self.delivery
        called = self.given.spec.reactor.react(d.event_type, d.event)
        if called != list(expected):
            raise AssertionError(f"{d.event_type} called for {called}, expected {list(expected)}")
        return called

    async def then_issued(self, count: int) -> RunOutcome:
        """Run the deliveries through the runner; assert the last issued `count` commands."""
        runner = self.given.spec.runner
        if runner is None:
            raise AssertionError("then_issued needs ReactorSpec(reactor, runner)")
        for d in self.given.delivered:
            await runner.on_event(d.event_id, d.event_type, d.event)
        d = self.delivery
        outcome = await runner.on_event(d.event_id, d.event_type, d.event)
        if len(outcome.ran) != count:
            raise AssertionError(
                f"{d.event_type} {d.event_id} issued {len(outcome.ran)} commands, expected "
                f"{count} (skipped {outcome.skipped}, refused {outcome.refused})"
            )
        return outcome
