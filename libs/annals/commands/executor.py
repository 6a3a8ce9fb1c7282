"""Load, decide, append: runs a command on an aggregate with optimistic concurrency."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg

from annals.commands.decider import DeciderAggregate
from annals.commands.uow import UnitOfWork, unit_of_work
from annals.eventstore.codec import EventCodec
from annals.eventstore.domain import DomainEvent
from annals.eventstore.errors import WrongExpectedVersion
from annals.eventstore.ports import STREAM_EXISTS, ExpectedVersion
from annals.eventstore.postgres import PostgresEventStore
from annals.eventstore.repository import Repository

S = TypeVar("S")
# Runs in the append's transaction with the state before and after the new events.
AppendHook = Callable[[asyncpg.Connection, Any, Any], Awaitable[None]]
RETRIABLE_DB_ERRORS = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


class PreconditionFailed(Exception):
    """If-Match did not match the stream's version (412)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"the current version is {current_version}")
        self.current_version = current_version


class VersionConflict(Exception):
    """Concurrent writers kept changing the stream; retries ran out (409)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"the stream kept changing; the current version is {current_version}")
        self.current_version = current_version


@dataclass(frozen=True)
class Target:
    """Which aggregate a command is for, the If-Match version and the events' metadata."""

    aggregate_id: str
    expected_version: ExpectedVersion | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome(Generic[S]):
    """The aggregate after a command: state, stream version and the new events."""

    aggregate_id: str
    state: S
    version: int
    events: tuple[DomainEvent, ...] = ()


class CommandExecutor(Generic[S]):
    """Runs commands of one aggregate type against a PostgreSQL event store."""

    def __init__(
        self,
        store: PostgresEventStore,
        codec: EventCodec,
        aggregate: type[DeciderAggregate[S]],
        *,
        retries: int = 3,
        on_append: AppendHook | None = None,
    ) -> None:
        self.store = store
        self.codec = codec
        self.aggregate = aggregate
        self.decider = aggregate.decider
        self.retries = retries
        self.on_append = on_append
        self.repository = Repository(store, codec, aggregate)

    async def load(self, aggregate_id: str) -> DeciderAggregate[S]:
        """The aggregate at its latest version (version 0: it does not exist)."""
        return await self.repository.load(self.decider.stream_id(aggregate_id))

    async def execute(
        self, target: Target, command: object, uow: UnitOfWork | None = None
    ) -> Outcome[S]:
        """Load, check If-Match, decide, append; retry on a concurrent change without If-Match."""
        for attempt in range(1, self.retries + 1):
            aggregate = await self.load(target.aggregate_id)
            check_precondition(target.expected_version, aggregate.version)
            before = aggregate.state
            events = aggregate.execute(
                lambda state: self.decider.decide(state, target.aggregate_id, command)
            )
            if not events:
                return Outcome(target.aggregate_id, aggregate.state, aggregate.version)
            try:
                await self._append(aggregate, before, target.metadata, uow)
            except WrongExpectedVersion as exc:
                if target.expected_version is not None:
                    raise PreconditionFailed(exc.current_version) from None
                if attempt == self.retries:
                    raise VersionConflict(exc.current_version) from None
            except RETRIABLE_DB_ERRORS:
                if attempt == self.retries:
                    raise VersionConflict(aggregate.version) from None
            else:
                return Outcome(
                    target.aggregate_id, aggregate.state, aggregate.version, tuple(events)
                )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _append(
        self,
        aggregate: DeciderAggregate[S],
        before: S,
        metadata: Mapping[str, Any],
        uow: UnitOfWork | None,
    ) -> None:
        if uow is None and self.on_append is None:
            await self.repository.save(aggregate, metadata)
            return
        if uow is None:
            async with unit_of_work(self.store) as own:
                await self._append_in(own, aggregate, before, metadata)
            return
        async with uow.conn.transaction():  # a savepoint: a failed attempt leaves no trace
            await self._append_in(uow, aggregate, before, metadata)

    async def _append_in(
        self,
        uow: UnitOfWork,
        aggregate: DeciderAggregate[S],
        before: S,
        metadata: Mapping[str, Any],
    ) -> None:
        if self.on_append is not None:
            await self.on_append(uow.conn, before, aggregate.state)
        await Repository(uow.store, self.codec, self.aggregate).save(aggregate, metadata)


def check_precondition(expected: ExpectedVersion | None, current: int) -> None:
    """Raise PreconditionFailed unless the stream is at the If-Match version (None: no check)."""
    if expected is None:
        return
    if expected is STREAM_EXISTS:
        if current == 0:
            raise PreconditionFailed(current)
    elif expected != current:
        raise PreconditionFailed(current)
