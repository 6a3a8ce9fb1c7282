"""Given / when / then for command handlers, on an in-memory database (no I/O).

    spec = HandlerSpec(run, executor, "o1")   # run(command, target, uow) -> Outcome
    await spec.given(PLACED, ITEM).when(Confirm()).then(CONFIRMED)
    await spec.given(PLACED).when(Confirm()).then_fails(RuleBroken, rule="order-empty")
    await spec.given(PLACED, ITEM).when(Confirm(), in_transaction=True, expected_version=2)...

The given events are stored through the executor's codec (so personal fields are sealed as a
service stores them); the handler runs with or without a unit of work, and `then` compares the
events the stream holds afterwards, decoded again, with the expected ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from annals.commands.executor import CommandExecutor, Outcome, Target
from annals.commands.uow import UnitOfWork
from annals.eventstore.domain import DomainEvent
from annals.eventstore.ports import ExpectedVersion
from annals.testing.deciders import expect_attributes, show

S = TypeVar("S")
E = TypeVar("E", bound=BaseException)
Run = Callable[[Any, Target, UnitOfWork | None], Awaitable[Outcome[Any]]]


@dataclass(frozen=True)
class HandlerSpec(Generic[S]):
    """A handler, the executor it runs on (an in-memory store) and the aggregate it addresses."""

    run: Run
    executor: CommandExecutor[S]
    aggregate_id: str = "a1"

    def given(self, *events: DomainEvent) -> HandlerGiven[S]:
        """The aggregate's stored past: these events, in order (none: a new aggregate)."""
        return HandlerGiven(self, events)

    async def stored(self) -> list[DomainEvent]:
        """Every event of the aggregate's stream, decoded (decrypted, upcast, typed)."""
        stream = self.executor.decider.stream_id(self.aggregate_id)
        records = await self.executor.store.read_stream(stream)
        return [envelope.event for envelope in await self.executor.codec.decode(records)]


@dataclass(frozen=True)
class HandlerGiven(Generic[S]):
    """The events to store before the command runs."""

    spec: HandlerSpec[S]
    events: Sequence[DomainEvent]

    def when(
        self,
        command: object,
        *,
        in_transaction: bool = False,
        expected_version: ExpectedVersion | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> HandlerWhen[S]:
        """Run `command` (in a unit of work when asked, with an If-Match version if given)."""
        target = Target(self.spec.aggregate_id, expected_version, dict(metadata or {}))
        return HandlerWhen(self, command, target, in_transaction)


@dataclass(frozen=True)
class HandlerWhen(Generic[S]):
    """A command about to run on the stored events, awaiting what is expected of it."""

    given: HandlerGiven[S]
    command: object
    target: Target
    in_transaction: bool

    async def _store_given(self) -> int:
        """Append the given events after what the stream holds; the version then."""
        spec = self.given.spec
        aggregate = await spec.executor.load(spec.aggregate_id)
        if self.given.events:
            aggregate.record(*self.given.events)
            await spec.executor.repository.save(aggregate, {"causation_id": "given"})
        return aggregate.version

    async def _run(self) -> Outcome[Any]:
        spec = self.given.spec
        if not self.in_transaction:
            return await spec.run(self.command, self.target, None)
        async with spec.executor.transaction() as uow:
            return await spec.run(self.command, self.target, uow)

    async def then(self, *expected: DomainEvent) -> Outcome[S]:
        """Assert the command appended exactly these events; its outcome (state, version)."""
        version = await self._store_given()
        outcome = await self._run()
        appended = (await self.given.spec.stored())[version:]
        if appended != list(expected) or list(outcome.events) != list(expected):
            raise AssertionError(
                f"{type(self.command).__name__} appended\n  {show(appended)}\nexpected\n  "
                f"{show(expected)}"
            )
        return outcome

    async def then_fails(self, error: type[E], **attributes: Any) -> E:
        """Assert the command raises `error` (with these attributes) and appends nothing."""
        version = await self._store_given()
        try:
            outcome = await self._run()
        except error as raised:
            expect_attributes(raised, attributes)
            appended = (await self.given.spec.stored())[version:]
            if appended:
                raise AssertionError(f"a failed command appended {show(appended)}") from raised
            return raised
        raise AssertionError(
            f"{type(self.command).__name__} appended {show(outcome.events)} instead of failing "
            f"with {error.__name__}"
        )
