"""ConnectionPool on fake connections: every failure path leaves no hung waiter and no lost slot."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest

from annals.eventstore.availability import Availability, PoolTimeout
from annals.eventstore.database import client_timeout
from annals.eventstore.pool import ConnectionPool
from tests.support.lines import Lines


class FakeConnection:
    """What the pool uses of an asyncpg connection; `server.down()` closes it like a restart."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.closed = False
        self.in_transaction = False
        self.terminated = False

    def is_closed(self) -> bool:
        return self.closed

    def is_in_transaction(self) -> bool:
        return self.in_transaction

    def terminate(self) -> None:
        self.terminated = self.closed = True

    async def close(self, timeout: float | None = None) -> None:
        self.closed = True

    async def fetchval(self, query: str, *args: Any) -> Any:
        if self.closed or not self.server.up:
            self.closed = True
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle")
        await asyncio.sleep(0)
        return 1


class FakeServer:
    """Connects fake connections while up; refuses (ConnectionRefusedError) while down."""

    def __init__(self, connect_delay: float = 0.0) -> None:
        self.up = True
        self.connect_delay = connect_delay
        self.connects = 0
        self.conns: list[FakeConnection] = []

    async def connect(self) -> Any:
        await asyncio.sleep(self.connect_delay)
        if not self.up:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        self.connects += 1
        conn = FakeConnection(self)
        self.conns.append(conn)
        return conn

    def down(self) -> None:
        """An immediate shutdown: every connection is closed by the server."""
        self.up = False
        for conn in self.conns:
            conn.closed = True


def make_pool(server: FakeServer, size: int = 2, timeout: float = 1.0) -> ConnectionPool:
    lines = Lines()
    return ConnectionPool(
        "fake",
        size,
        acquire_timeout=timeout,
        connect=server.connect,
        availability=Availability("fake database", lines),
    )


async def use(pool: ConnectionPool, hold: float = 0.0) -> Any:
    async with pool.acquire() as conn:
        await asyncio.sleep(hold)
        return await conn.fetchval("SELECT 1")


async def test_waiters_get_the_refusal_quickly_when_the_server_goes_away():
    server = FakeServer()
    pool = await make_pool(server, size=1, timeout=5.0).open(1)
    holder = asyncio.create_task(use(pool, hold=0.05))
    await asyncio.sleep(0.01)
    waiters = [asyncio.create_task(use(pool)) for _ in range(20)]
    await asyncio.sleep(0.01)
    server.down()
    started = time.monotonic()
    results = await asyncio.gather(holder, *waiters, return_exceptions=True)
    assert time.monotonic() - started < 1.0  # an error each, far before the 5 s bound
    assert isinstance(results[0], asyncpg.ConnectionDoesNotExistError)
    assert all(isinstance(r, ConnectionRefusedError) for r in results[1:]), results
    assert pool.in_use == 0
    server.up = True
    assert await use(pool) == 1
    assert pool.in_use == 1


async def test_a_refused_connect_frees_its_slot():
    server = FakeServer()
    server.up = False
    pool = make_pool(server, size=2)
    for _ in range(5):
        with pytest.raises(ConnectionRefusedError):
            await use(pool)
    assert pool.in_use == 0
    server.up = True
    assert await use(pool) == 1


async def test_a_waiter_gives_up_at_the_bound_and_leaks_nothing():
    server = FakeServer()
    pool = await make_pool(server, size=1, timeout=0.1).open(1)
    holder = asyncio.create_task(use(pool, hold=0.4))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(PoolTimeout):
        await use(pool)
    assert 0.09 < time.monotonic() - started < 0.3
    assert await holder == 1
    assert (pool.in_use, pool.idle) == (1, 1)
    assert await use(pool) == 1
    assert server.connects == 1


async def test_a_connection_dropped_mid_transaction_is_not_handed_out_again():
    server = FakeServer()
    pool = await make_pool(server, size=1).open(1)
    with pytest.raises(asyncpg.ConnectionDoesNotExistError):
        async with pool.acquire() as conn:
            conn.in_transaction = True
            server.conns[0].closed = True  # the server closed it under the transaction
            await conn.fetchval("UPDATE ...")
    assert pool.in_use == 0
    async with pool.acquire() as fresh:
        assert fresh is not server.conns[0] and not fresh.is_closed()
    assert server.connects == 2


async def test_a_connection_left_in_a_transaction_is_not_reused():
    server = FakeServer()
    pool = await make_pool(server, size=1).open(1)
    async with pool.acquire() as conn:
        conn.in_transaction = True
    assert conn.terminated and pool.in_use == 0
    async with pool.acquire() as other:
        assert other is not conn


async def test_idle_connections_closed_by_a_restart_are_replaced_without_a_query():
    server = FakeServer()
    pool = await make_pool(server, size=3).open(3)
    old = list(server.conns)
    server.down()
    server.up = True  # restarted: the old sessions are gone, new ones connect
    results = await asyncio.gather(*(use(pool) for _ in range(3)))
    assert results == [1, 1, 1]
    assert server.connects == 6
    assert pool.in_use == 3 and all(c.closed for c in old)


async def test_a_cancelled_waiter_leaves_no_slot_behind():
    server = FakeServer()
    pool = await make_pool(server, size=1, timeout=5.0).open(1)
    holder = asyncio.create_task(use(pool, hold=0.1))
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(use(pool))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await holder == 1
    assert (pool.in_use, pool.idle) == (1, 1)
    assert await use(pool) == 1


async def test_a_waiter_cancelled_as_it_is_handed_a_connection_gives_it_back():
    server = FakeServer()
    pool = await make_pool(server, size=1, timeout=5.0).open(1)
    async with pool.acquire():
        waiter = asyncio.create_task(use(pool))
        await asyncio.sleep(0.01)
    waiter.cancel()  # the connection was set on its future just before
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (pool.in_use, pool.idle) == (1, 1)


async def test_a_cancelled_holder_closes_its_connection_and_frees_the_slot():
    server = FakeServer()
    pool = await make_pool(server, size=1).open(1)
    holder = asyncio.create_task(use(pool, hold=10))
    await asyncio.sleep(0.01)
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder
    assert server.conns[0].terminated and pool.in_use == 0
    assert await use(pool) == 1


async def test_a_cancelled_connect_frees_its_slot():
    server = FakeServer(connect_delay=0.5)
    pool = make_pool(server, size=1)
    task = asyncio.create_task(use(pool))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool.in_use == 0


async def test_a_connect_that_hangs_is_bounded_by_the_acquire_timeout():
    server = FakeServer(connect_delay=10)
    pool = make_pool(server, size=1, timeout=0.1)
    with pytest.raises(PoolTimeout):
        await use(pool)
    assert pool.in_use == 0


async def test_an_outage_is_logged_once_when_it_begins_and_once_when_it_ends():
    server = FakeServer()
    pool = await make_pool(server, size=2).open(2)
    lines = pool.availability.log
    assert isinstance(lines, Lines)
    server.down()
    for _ in range(10):
        with pytest.raises((ConnectionRefusedError, asyncpg.ConnectionDoesNotExistError)):
            await use(pool)
    assert pool.availability.failing_since is not None
    assert len(lines.warnings) == 1 and "unreachable" in lines.warnings[0]
    server.up = True
    for _ in range(5):
        assert await use(pool) == 1
    assert pool.availability.failing_since is None
    assert len(lines.infos) == 1 and "reachable again" in lines.infos[0]
    assert len(lines.warnings) == 1


async def test_close_fails_the_waiters_instead_of_leaving_them_hanging():
    server = FakeServer()
    pool = await make_pool(server, size=1, timeout=5.0).open(1)
    async with pool.acquire():
        waiter = asyncio.create_task(use(pool))
        await asyncio.sleep(0.01)
        await pool.close()
        with pytest.raises(asyncpg.InterfaceError):
            await waiter
    with pytest.raises(asyncpg.InterfaceError):
        await use(pool)


def test_the_client_side_query_bound_follows_the_servers():
    assert client_timeout("10000") == 15.0
    assert client_timeout("0") is None  # no server bound: none on the client either
    assert client_timeout("30s") is None


async def test_open_is_all_or_nothing():
    server = FakeServer()
    calls = 0

    async def flaky() -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionRefusedError(111, "refused")
        return await server.connect()

    pool = ConnectionPool("fake", 3, connect=flaky)
    with pytest.raises(ConnectionRefusedError):
        await pool.open(3)
    assert pool.in_use == 0
    assert all(c.terminated for c in server.conns) and len(server.conns) == 2
