"""Load, decide, append: runs a command on an aggregate with optimistic concurrency."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from annals.commands.cache import AggregateCache
from annals.commands.decider import DeciderAggregate
from annals.commands.errors import DomainError
from annals.commands.uow import UnitOfWork
from annals.eventstore.codec import EventCodec
from annals.eventstore.domain import DomainEvent
from annals.eventstore.errors import WrongExpectedVersion
from annals.eventstore.ports import Database, SnapshotStore, TransactionalEventStore
from annals.eventstore.repository import Repository
from annals.eventstore.versions import ExpectedVersion, if_match_allows
from annals.tracing.spans import append_span

S = TypeVar("S")
# Runs in the append's transaction with the state before and after the new events.
AppendHook = Callable[[UnitOfWork, Any, Any], Awaitable[None]]


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
    """Runs commands of one aggregate type on an event store in a database (ports, any adapter)."""

    def __init__(
        self,
        database: Database,
        store: TransactionalEventStore,
        codec: EventCodec,
        aggregate: type[DeciderAggregate[S]],
        *,
        retries: int = 3,
        on_append: AppendHook | None = None,
        cache_size: int = 0,
        snapshots: SnapshotStore | None = None,
    ) -> None:
        self.database = database
        self.store = store
        self.codec = codec
        self.aggregate = aggregate
        self.decider = aggregate.decider
        self.retries = retries
        self.on_append = on_append
        # Snapshots are taken only outside a caller's transaction: one taken inside it would
        # outlive a rollback, and the snapshot store's pooled connection could starve the pool.
        self.repository = Repository(store, codec, aggregate, snapshots)
        self.cache = AggregateCache[S](cache_size)

    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work on the executor's database."""
        return self.database.transaction()

    def bound(self, uow: UnitOfWork) -> TransactionalEventStore:
        """The event store (and its subject keys) inside the unit of work."""
        return self.store.bound_to(uow)

    async def load(self, aggregate_id: str, uow: UnitOfWork | None = None) -> DeciderAggregate[S]:
        """The aggregate at its latest version (version 0: it does not exist); in `uow` if given."""
        return await self._repository(uow).load(self.decider.stream_id(aggregate_id))

    def _repository(self, uow: UnitOfWork | None) -> Repository[DeciderAggregate[S]]:
        """The repository on the pool, or on the unit of work's connection (events and keys).

        Inside a unit of work every query runs on its connection: waiting for a second pooled
        connection while holding one deadlocks a pool whose connections all wait so.
        """
        if uow is None:
            return self.repository
        store = self.bound(uow)
        return Repository(store, EventCodec(self.codec.registry, store.keys), self.aggregate)

    async def execute(
        self, target: Target, command: object, uow: UnitOfWork | None = None
    ) -> Outcome[S]:
        """Load, check If-Match, decide, append; retry on a concurrent change without If-Match.

        A cached state (annals.commands.cache) saves the load on the happy path; any surprise
        on it (a refusal, no events, a precondition or version mismatch) is settled on a fresh
        load, because the append's version check is what proves the state was current.
        """
        stream_id = self.decider.stream_id(target.aggregate_id)
        attempt = 0
        guess = self.cache.enabled  # once per command: a surprise settles on fresh loads
        while True:
            aggregate = self._guess(stream_id) if guess else None
            cached, guess = aggregate is not None, False
            if aggregate is None:
                attempt += 1
                aggregate = await self.load(target.aggregate_id, uow)
            try:
                check_precondition(target.expected_version, aggregate.version)
                before = aggregate.state
                events = aggregate.execute(
                    lambda state: self.decider.decide(state, target.aggregate_id, command)
                )
            except (DomainError, PreconditionFailed):
                if cached:
                    self.cache.evict(stream_id)
                    continue
                raise
            if not events:
                if cached:
                    self.cache.evict(stream_id)
                    continue
                return Outcome(target.aggregate_id, aggregate.state, aggregate.version)
            try:
                await self._append(aggregate, before, target.metadata, uow)
            except WrongExpectedVersion as exc:
                self.cache.evict(stream_id)
                if target.expected_version is not None:
                    raise PreconditionFailed(exc.current_version) from None
                if attempt >= self.retries:
                    raise VersionConflict(exc.current_version) from None
            except self.database.retriable_errors:
                self.cache.evict(stream_id)
                if attempt >= self.retries:
                    raise VersionConflict(aggregate.version) from None
            else:
                self._remember(aggregate, uow)
                return Outcome(
                    target.aggregate_id, aggregate.state, aggregate.version, tuple(events)
                )

    def _guess(self, stream_id: str) -> DeciderAggregate[S]:
        """The cached state, or a new aggregate for a stream this process has not cached: the
        append (expecting no stream) proves it new, and anything else reloads (module cache)."""
        hit = self.cache.get(stream_id)
        if hit is None:
            return self.aggregate(stream_id)
        return self.aggregate(stream_id, hit.state, hit.version)

    def _remember(self, aggregate: DeciderAggregate[S], uow: UnitOfWork | None) -> None:
        """Cache a committed state; in a caller's transaction the commit is not known yet."""
        if uow is None:
            self.cache.put(aggregate.stream_id, aggregate.version, aggregate.state)
        else:
            self.cache.evict(aggregate.stream_id)

    async def _append(
        self,
        aggregate: DeciderAggregate[S],
        before: S,
        metadata: Mapping[str, Any],
        uow: UnitOfWork | None,
    ) -> None:
        with append_span(aggregate.stream_id, metadata) as stored:
            await self._append_unit(aggregate, before, stored, uow)

    async def _append_unit(
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
            async with self.transaction() as own:
                await self._append_in(own, aggregate, before, metadata)
            return
        async with uow.savepoint():  # a failed attempt leaves no trace
            await self._append_in(uow, aggregate, before, metadata)

    async def _append_in(
        self,
        uow: UnitOfWork,
        aggregate: DeciderAggregate[S],
        before: S,
        metadata: Mapping[str, Any],
    ) -> None:
        if self.on_append is not None:
            await self.on_append(uow, before, aggregate.state)
        await self._repository(uow).save(aggregate, metadata)


def check_precondition(expected: ExpectedVersion | None, current: int) -> None:
    """Raise PreconditionFailed unless the stream is at the If-Match version (None: no check)."""
    if not if_match_allows(expected, current):
        raise PreconditionFailed(current)
