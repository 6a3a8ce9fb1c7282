"""A small, fast connection pool: acquire + release costs ~2 µs, asyncpg's Pool ~26-270 µs.

Measured on the local stack (2 cores): asyncpg.Pool resets every released connection with a
round trip (~270 µs per acquire + release; ~26 µs with `reset` turned off); this pool hands
connections out LIFO without one. What it must get right instead is written down in
`ConnectionPool` and tested per failure path in tests/unit/eventstore/test_pool.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol

import asyncpg

from annals.eventstore.availability import Availability, PoolTimeout, is_outage


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


Connect = Callable[[], Awaitable[asyncpg.Connection]]
# Errors on a borrowed connection after which it is not trusted again (closed for good).
BROKEN = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)


class ConnectionPool:
    """A fixed number of connections handed out LIFO; dead or broken connections are replaced.

    Every wait is bounded: getting a connection (idle, new or from a waiter's queue) gives up
    after `acquire_timeout` with PoolTimeout, connects after `connect_timeout`, and queries
    after `command_timeout` on the client (the server's statement_timeout should come first).
    An idle connection the server closed (a restart) is noticed by asyncpg when the socket
    closes and is dropped when popped, not revalidated with a query per acquire. A slot freed
    by a failed connect or a dropped connection goes to the next waiter, which connects itself:
    while the server refuses, each waiter gets the refusal quickly instead of waiting.
    """

    def __init__(
        self,
        dsn: str,
        size: int,
        server_settings: Mapping[str, str] | None = None,
        *,
        acquire_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        command_timeout: float | None = None,
        connect: Connect | None = None,
        availability: Availability | None = None,
    ) -> None:
        self.dsn = dsn
        self.size = size
        self.acquire_timeout = acquire_timeout
        self.availability = availability or Availability()
        self._new: Connect = connect or functools.partial(
            asyncpg.connect,
            dsn,
            server_settings=dict(server_settings or {}),
            timeout=connect_timeout,
            command_timeout=command_timeout,
        )
        self._idle: list[asyncpg.Connection] = []
        self._waiters: deque[asyncio.Future[asyncpg.Connection]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._open = 0
        self._closed = False

    @property
    def in_use(self) -> int:
        """Connections open or being opened (idle ones included)."""
        return self._open

    @property
    def idle(self) -> int:
        """Idle connections."""
        return len(self._idle)

    async def open(self, min_size: int = 1) -> ConnectionPool:
        """Connect `min_size` connections up front (the rest on demand); all or none."""
        count = min(min_size, self.size)
        self._open += count
        results = await asyncio.gather(
            *(self._connect() for _ in range(count)), return_exceptions=True
        )
        conns = [r for r in results if not isinstance(r, BaseException)]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            self._open -= len(conns)
            for conn in conns:
                conn.terminate()
            raise errors[0]
        self._idle.extend(conns)
        return self

    async def _connect(self) -> asyncpg.Connection:
        """A new connection in a slot already counted in `_open`; the slot is freed on failure."""
        try:
            conn = await self._new()
        except BaseException as exc:
            self._open -= 1
            if isinstance(exc, Exception):
                self.availability.failed(exc)
            self._fill()
            raise
        self.availability.succeeded()
        return conn

    def _take(self) -> asyncpg.Connection | None:
        """An idle live connection, or None; dead ones (the server closed them) are dropped."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.is_closed():
                return conn
            self._open -= 1
        return None

    async def _get(self) -> asyncpg.Connection:
        """A connection: idle, new in a free slot, or the next one released (bounded)."""
        if self._closed:
            raise asyncpg.InterfaceError("the pool is closed")
        try:
            async with asyncio.timeout(self.acquire_timeout):
                conn = self._take()
                if conn is not None:
                    return conn
                if self._open < self.size:
                    self._open += 1
                    return await self._connect()
                return await self._wait()
        except TimeoutError:
            error = PoolTimeout(
                f"no database connection within {self.acquire_timeout:g} s "
                f"({self._open} of {self.size} in use)"
            )
            self.availability.failed(error)
            raise error from None

    async def _wait(self) -> asyncpg.Connection:
        waiter: asyncio.Future[asyncpg.Connection] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            # Handed a connection just as it gave up: give it to the next one.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._put(waiter.result())
            raise

    def _put(self, conn: asyncpg.Connection) -> None:
        if self._closed or conn.is_closed() or conn.is_in_transaction():
            self._open -= 1
            if not conn.is_closed():
                conn.terminate()
            self._fill()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def _fill(self) -> None:
        """Free slots go to waiters: each gets a connection of its own being opened."""
        while self._waiters and self._open < self.size and not self._closed:
            waiter = self._waiters.popleft()
            if waiter.done():
                continue
            self._open += 1
            task = asyncio.get_running_loop().create_task(self._connect_for(waiter))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _connect_for(self, waiter: asyncio.Future[asyncpg.Connection]) -> None:
        try:
            conn = await self._connect()
        except BaseException as exc:
            if not waiter.done():
                if isinstance(exc, asyncio.CancelledError):
                    waiter.cancel()
                else:
                    waiter.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        if waiter.done():  # it gave up meanwhile
            self._put(conn)
        else:
            waiter.set_result(conn)

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """Borrow a connection (PoolTimeout past the bound); a broken one is closed, not reused."""
        conn = self._take() if not self._closed else None
        if conn is None:
            conn = await self._get()
        try:
            yield conn
        except asyncpg.PostgresError as exc:
            if isinstance(exc, asyncpg.PostgresConnectionError) or conn.is_in_transaction():
                conn.terminate()
            if is_outage(exc):
                self.availability.failed(exc)
            raise
        except BaseException as exc:
            # Cancelled or failed in the driver: the protocol state is unknown.
            if not isinstance(exc, Exception) or isinstance(exc, BROKEN):
                conn.terminate()
            if is_outage(exc):
                self.availability.failed(exc)
            raise
        else:
            if self.availability.failing_since is not None and not conn.is_closed():
                self.availability.succeeded()
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
        """Close every idle connection, refuse new acquires and fail the waiting ones."""
        self._closed = True
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        await asyncio.gather(*(c.close(timeout=2) for c in idle), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(asyncpg.InterfaceError("the pool is closed"))


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
