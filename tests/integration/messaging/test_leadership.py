"""Advisory-lock leadership: one holder per publisher name, the standby takes over."""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import pytest

from annals.messaging.leadership import (
    KEEPALIVE_COUNT,
    KEEPALIVE_IDLE,
    KEEPALIVE_INTERVAL,
    Leadership,
    current_leader,
    lock_holder,
)
from tests.integration.messaging.support import ScratchDatabase

pytestmark = pytest.mark.stack


async def test_only_one_instance_leads_and_the_standby_takes_over(
    msg_db: ScratchDatabase, unique: str
):
    name = f"orders.events.{unique}"
    first, second = Leadership(msg_db.app_dsn, name, 0.1), Leadership(msg_db.app_dsn, name, 0.1)
    first.me, second.me = "first", "second"
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire()
        assert await current_leader(msg_db.app_dsn, name) == ("first", True)

        waiting = asyncio.create_task(second.acquire())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await first.release()
        conn = await asyncio.wait_for(waiting, 5)

        assert conn is second.connection
        assert await current_leader(msg_db.app_dsn, name) == ("second", True)
        assert not await first.try_acquire()
    finally:
        await first.release()
        await second.release()
    assert (await current_leader(msg_db.app_dsn, name))[1] is False


async def test_other_publisher_names_do_not_compete(msg_db: ScratchDatabase, unique: str):
    a = Leadership(msg_db.app_dsn, f"a.{unique}")
    b = Leadership(msg_db.app_dsn, f"b.{unique}")
    try:
        assert await a.try_acquire()
        assert await b.try_acquire()
    finally:
        await a.release()
        await b.release()


async def test_the_lock_session_probes_with_tcp_keepalives_on_both_ends(
    msg_db: ScratchDatabase, unique: str
):
    name = f"orders.events.{unique}"
    leader = Leadership(msg_db.app_dsn, name, 0.1)
    try:
        assert await leader.try_acquire()
        conn = leader.connection
        assert conn is not None
        sock = conn._transport.get_extra_info("socket")  # type: ignore[attr-defined]
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPALIVE_IDLE
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == KEEPALIVE_INTERVAL
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == KEEPALIVE_COUNT
        # the server probes the client too, so it ends a vanished leader's session (and lock)
        assert await conn.fetchval("SHOW tcp_keepalives_idle") == str(KEEPALIVE_IDLE)
        assert await conn.fetchval("SHOW tcp_keepalives_count") == str(KEEPALIVE_COUNT)

        other = await asyncpg.connect(msg_db.app_dsn)
        try:
            holder = await lock_holder(other, name)
        finally:
            await other.close()
        assert holder is not None
        assert holder.instance == leader.me
        assert holder.backend_pid == conn.get_server_pid()
        assert holder.application_name.startswith("annals-publisher ")
        assert holder.since is not None
    finally:
        await leader.release()
