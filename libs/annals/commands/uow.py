"""A unit of work: one transaction in which event appends and a service's own rows commit together.

Appends go through the store bound to the transaction's connection (`store.bound_to`), so the
events and the service's rows (idempotency keys, email reservations) commit or roll back together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from annals.eventstore.postgres import PostgresEventStore


class UnitOfWork:
    """An open transaction: `conn` for the service's rows, `store` for appends in it."""

    def __init__(self, conn: asyncpg.Connection, store: PostgresEventStore) -> None:
        self.conn = conn
        self.store = store.bound_to(conn)


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
