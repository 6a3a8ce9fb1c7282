"""A unit of work: one transaction in which event appends and a service's own rows commit together.

The event store's `append` runs on its own pool and cannot join an outer transaction, so the
unit of work binds a second `PostgresEventStore` to the transaction's connection through a
pool-like facade. Its single-row queries (the append) run in a savepoint, so a failed append
(version conflict, duplicate event id) leaves the transaction usable for the store's follow-up
reads. The bound store shares the main store's notifier, key store and snapshot store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg

from annals.eventstore.postgres import PostgresEventStore


class _SavepointConnection:
    """One connection seen as a pool: `fetchrow`/`fetchval` run inside a savepoint."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[_SavepointConnection]:
        yield self

    async def fetchrow(self, query: str, *args: Any) -> Any:
        async with self._conn.transaction():
            return await self._conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self._conn.transaction():
            return await self._conn.fetchval(query, *args)

    async def fetch(self, query: str, *args: Any) -> Any:
        return await self._conn.fetch(query, *args)

    async def execute(self, query: str, *args: Any) -> Any:
        return await self._conn.execute(query, *args)

    def transaction(self) -> Any:
        return self._conn.transaction()


class UnitOfWork:
    """An open transaction: `conn` for the service's rows, `store` for appends in it."""

    def __init__(self, conn: asyncpg.Connection, store: PostgresEventStore) -> None:
        self.conn = conn
        bound = PostgresEventStore(
            cast(Any, _SavepointConnection(conn)), max_event_bytes=store.max_event_bytes
        )
        bound.notifier = store.notifier
        bound.keys = store.keys
        bound.snapshots = store.snapshots
        self.store = bound


@asynccontextmanager
async def unit_of_work(store: PostgresEventStore) -> AsyncIterator[UnitOfWork]:
    """Open a transaction on one of the store's connections; commit when the block succeeds."""
    failure: BaseException | None = None
    async with store.pool.acquire() as conn:
        try:
            async with conn.transaction():
                yield UnitOfWork(conn, store)
        except Exception as exc:  # rolled back; raised after the connection went back healthy
            failure = exc
    if failure is not None:
        raise failure
