"""The PostgreSQL adapter of the Database port: one pool and the transactions run on it.

The composition root opens one `PostgresDatabase` per service database and hands it to every
store working there (events, subject keys, idempotency keys, a service's own rows), so no store
reaches into another's pool.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg

from annals.eventstore.availability import Availability
from annals.eventstore.pool import ConnectionPool

RETRIABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
CLIENT_MARGIN = 5.0  # seconds the client waits past the server's statement_timeout
WRITER_SETTINGS = {"idle_in_transaction_session_timeout": "5000", "statement_timeout": "30000"}


def client_timeout(statement_timeout: str) -> float | None:
    """The client-side bound of a query given the server's statement_timeout (ms; 0: none)."""
    try:
        ms = int(statement_timeout)
    except ValueError:  # a unit such as '30s': leave the bound to the server
        return None
    return ms / 1000 + CLIENT_MARGIN if ms > 0 else None


class PostgresSession:
    """One connection inside an open transaction (the Session port)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """All rows."""
        return list(await self.connection.fetch(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """The first row or None."""
        return await self.connection.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        """The first value."""
        return await self.connection.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        """The statement's status."""
        status: str = await self.connection.execute(query, *args)
        return status

    def savepoint(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """A savepoint on the connection."""
        return self.connection.transaction()


class PostgresDatabase:
    """A pool to one database and the transactions on it (the Database port)."""

    retriable_errors: tuple[type[Exception], ...] = RETRIABLE

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        min_size: int = 2,
        max_size: int = 10,
        server_settings: Mapping[str, str] | None = None,
        acquire_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        command_timeout: float | None = None,
        availability: Availability | None = None,
    ) -> PostgresDatabase:
        """Open a pool to `dsn` with the writer session settings; every wait is bounded.

        The client bound of a query (`command_timeout`, for a peer that vanished) defaults to
        the server's statement_timeout plus CLIENT_MARGIN (none when that is 0).
        """
        settings = {**WRITER_SETTINGS, **(server_settings or {})}
        if command_timeout is None:
            command_timeout = client_timeout(settings["statement_timeout"])
        pool = ConnectionPool(
            dsn,
            max_size,
            settings,
            acquire_timeout=acquire_timeout,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
            availability=availability,
        )
        return cls(await pool.open(min_size))

    @property
    def dsn(self) -> str:
        """Where the pool connects."""
        return self.pool.dsn

    def acquire(self) -> contextlib.AbstractAsyncContextManager[asyncpg.Connection]:
        """Borrow a pooled connection."""
        return self.pool.acquire()

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """All rows, on a pooled connection."""
        return list(await self.pool.fetch(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """The first row, on a pooled connection."""
        return await self.pool.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        """The first value, on a pooled connection."""
        return await self.pool.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        """A statement's status, on a pooled connection."""
        return await self.pool.execute(query, *args)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresSession]:
        """A transaction on one pooled connection; committed when the block succeeds."""
        failure: BaseException | None = None
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    yield PostgresSession(conn)
            except Exception as exc:  # rolled back; raised after the connection went back healthy
                failure = exc
        if failure is not None:
            raise failure

    async def close(self) -> None:
        """Close the pool."""
        await self.pool.close()
