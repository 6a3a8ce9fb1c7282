"""Advisory-lock leadership: one holder per publisher name, the standby takes over."""

from __future__ import annotations

import asyncio

import pytest

from annals.messaging.leadership import Leadership, current_leader
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
