"""ConnectionPool on real PostgreSQL: sessions killed by the server, refusals, bounded waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from annals.eventstore.availability import PoolTimeout, is_outage
from annals.eventstore.pool import ConnectionPool
from annals.stack.settings import StackSettings
from tests.support.live_services import free_port

pytestmark = pytest.mark.stack


@pytest.fixture
async def admin(stack: StackSettings) -> AsyncIterator[asyncpg.Connection]:
    """A superuser session that terminates the pool's sessions (only those)."""
    conn = await asyncpg.connect(stack.dsn(), timeout=5)
    try:
        yield conn
    finally:
        await conn.close()


def pool_of(
    stack: StackSettings, name: str, size: int, acquire_timeout: float = 5.0
) -> ConnectionPool:
    settings = {"application_name": name, "statement_timeout": "5000"}
    return ConnectionPool(stack.dsn(), size, settings, acquire_timeout=acquire_timeout)


async def terminate(admin: asyncpg.Connection, name: str) -> int:
    """Terminate every session of the pool named `name` (a restart, as its clients see it)."""
    rows = await admin.fetch(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", name
    )
    return len(rows)


async def backends(admin: asyncpg.Connection, name: str) -> set[int]:
    rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1", name)
    return {r[0] for r in rows}


async def test_idle_sessions_killed_by_the_server_are_replaced(
    stack: StackSettings, admin: asyncpg.Connection, unique: str
):
    pool = await pool_of(stack, f"pool-{unique}", 3).open(3)
    try:
        before = await backends(admin, f"pool-{unique}")
        assert await terminate(admin, f"pool-{unique}") == 3
        await asyncio.sleep(0.3)  # the sockets close; asyncpg marks the connections closed
        results = await asyncio.gather(*(pool.fetchval("SELECT 1") for _ in range(10)))
        assert results == [1] * 10
        after = await backends(admin, f"pool-{unique}")
        assert after and not after & before
        assert pool.in_use <= 3
    finally:
        await pool.close()


async def test_a_session_killed_mid_transaction_fails_that_block_only(
    stack: StackSettings, admin: asyncpg.Connection, unique: str
):
    name = f"pool-{unique}"
    pool = await pool_of(stack, name, 1).open(1)
    try:
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)) as caught:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT 1")
                await terminate(admin, name)
                await asyncio.sleep(0.2)
                await conn.execute("SELECT 2")
        assert is_outage(caught.value), repr(caught.value)
        assert pool.availability.failing_since is not None
        assert pool.in_use == 0
        assert await pool.fetchval("SELECT 3") == 3
        assert pool.availability.failing_since is None
    finally:
        await pool.close()


async def test_waiters_on_a_refused_port_get_the_error_quickly(unique: str):
    dsn = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none"
    pool = ConnectionPool(dsn, 2, acquire_timeout=5.0)
    started = time.monotonic()
    results = await asyncio.gather(
        *(pool.fetchval("SELECT 1") for _ in range(20)), return_exceptions=True
    )
    assert time.monotonic() - started < 2.0
    assert all(isinstance(r, OSError) and is_outage(r) for r in results), results
    assert pool.in_use == 0


async def test_statements_and_acquires_are_bounded(stack: StackSettings, unique: str):
    pool = await pool_of(stack, f"pool-{unique}", 1, acquire_timeout=0.3).open(1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("SET statement_timeout = 200")
            started = time.monotonic()
            with pytest.raises(asyncpg.QueryCanceledError):
                await conn.execute("SELECT pg_sleep(5)")
            assert time.monotonic() - started < 2.0
            with pytest.raises(PoolTimeout):  # the only connection is held: the wait is bounded
                await pool.fetchval("SELECT 1")
        assert await pool.fetchval("SELECT 1") == 1
        assert pool.in_use == 1
    finally:
        await pool.close()
