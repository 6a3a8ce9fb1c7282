"""A small, fast connection pool: asyncpg's Pool costs ~70 µs per acquire on the hot path."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import asyncpg


class Queries(Protocol):
    """What stores need of a pool (asyncpg.Pool and ConnectionPool both fit)."""

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """All rows."""
        ...

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """The first row or None."""
        ...

    async def execute(self, query: str, *args: Any) -> str:
        """The status."""
        ...


class ConnectionPool:
    """A fixed number of connections handed out LIFO; broken connections are replaced."""

    def __init__(
        self, dsn: str, size: int, server_settings: Mapping[str, str] | None = None
    ) -> None:
        self.dsn = dsn
        self.size = size
        self._settings = dict(server_settings or {})
        self._idle: list[asyncpg.Connection] = []
        self._waiters: deque[asyncio.Future[asyncpg.Connection]] = deque()
        self._open = 0
        self._closed = False

    async def open(self, min_size: int = 1) -> ConnectionPool:
        """Connect `min_size` connections up front (the rest on demand)."""
        conns = await asyncio.gather(*(self._connect() for _ in range(min(min_size, self.size))))
        self._idle.extend(conns)
        return self

    async def _connect(self) -> asyncpg.Connection:
        self._open += 1
        try:
            return await asyncpg.connect(self.dsn, server_settings=self._settings)
        except BaseException:
            self._open -= 1
            raise

    async def _get(self) -> asyncpg.Connection:
        if self._closed:
            raise asyncpg.InterfaceError("the pool is closed")
        if self._idle:
            return self._idle.pop()
        if self._open < self.size:
            return await self._connect()
        waiter: asyncio.Future[asyncpg.Connection] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._put(waiter.result())
            raise

    def _put(self, conn: asyncpg.Connection) -> None:
        if conn.is_closed() or self._closed:
            self._open -= 1
            if not conn.is_closed():
                conn.terminate()
            self._wake_for_new()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def _wake_for_new(self) -> None:
        # A slot freed up: let the first waiter open a fresh connection.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                task = asyncio.get_running_loop().create_task(self._connect())
                task.add_done_callback(functools.partial(_resolve, waiter, pool=self))
                return

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """Borrow a connection; it is dropped when the block fails outside PostgreSQL."""
        conn = await self._get()
        try:
            yield conn
        except asyncpg.PostgresError:
            if conn.is_in_transaction():
                conn.terminate()
            raise
        except BaseException:
            conn.terminate()
            raise
        finally:
            self._put(conn)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """Run a query on a pooled connection; return all rows."""
        async with self.acquire() as conn:
            return await conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        """Run a query on a pooled connection; return the first row."""
        async with self.acquire() as conn:
            return await conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        """Run a query on a pooled connection; return the first value."""
        async with self.acquire() as conn:
            return await conn.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        """Run a statement on a pooled connection; return its status."""
        async with self.acquire() as conn:
            return await conn.execute(query, *args)

    async def close(self) -> None:
        """Close every idle connection and refuse new acquires."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(c.close() for c in idle), return_exceptions=True)
        for waiter in self._waiters:
            waiter.cancel()


def _resolve(
    waiter: asyncio.Future[asyncpg.Connection],
    task: asyncio.Task[asyncpg.Connection],
    *,
    pool: ConnectionPool,
) -> None:
    if task.cancelled() or task.exception() is not None:
        if not waiter.done():
            waiter.set_exception(task.exception() or asyncio.CancelledError())
        return
    conn = task.result()
    if waiter.done():
        pool._put(conn)
    else:
        waiter.set_result(conn)


class TransactionConnection:
    """One connection inside an open transaction, seen as a pool by a bound store.

    Single-row queries (the append) run in a savepoint, so a refused append (version conflict,
    duplicate event id) leaves the outer transaction usable for the store's follow-up reads.
    """

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[TransactionConnection]:
        """The connection itself (there is only one)."""
        yield self

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """First row, in a savepoint."""
        async with self._conn.transaction():
            return await self._conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        """First value, in a savepoint."""
        async with self._conn.transaction():
            return await self._conn.fetchval(query, *args)

    async def fetch(self, query: str, *args: Any) -> Any:
        """All rows."""
        return await self._conn.fetch(query, *args)

    async def execute(self, query: str, *args: Any) -> Any:
        """The status of a statement."""
        return await self._conn.execute(query, *args)

    def transaction(self) -> Any:
        """A savepoint on the connection."""
        return self._conn.transaction()
