"""The batch's first statement on PostgreSQL: live check and offset locks, one round trip.

A live batch locks the registry row FOR SHARE and its partitions' stored offsets in one
statement (engine.py); these tests hold it to the rules of docs/rules.md#delivery: records
below the stored offset are dropped, a batch past it is Fenced, a switched version is noticed
before any offset is locked, and a batch waiting for another owner's lock sees that owner's
commit (offsets and stream marks) once it has the lock.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest
from projector.order_summary import PROJECTION as ORDER_SUMMARY

from annals.projections import versions
from annals.projections.engine import Applier, Fenced, VersionSwitched, spans_of
from annals.projections.events import Event
from tests.integration.projections.rig import Rig

TOPIC = "orders.events"
EUR = {"currency": "EUR"}


def history(order_id: str) -> list[Event]:
    """Placed, two items, confirmed: offsets 0..3 of partition 0."""
    item = {"order_id": order_id, "quantity": 1, "unit_price": {"amount": "10.00", **EUR}}
    kinds = [
        ("OrderPlaced", {"order_id": order_id, "customer_id": "c1", **EUR}),
        ("ItemAdded", {**item, "sku": "A"}),
        ("ItemAdded", {**item, "sku": "B"}),
        ("OrderConfirmed", {"order_id": order_id, "total": {"amount": "20.00", **EUR}}),
    ]
    now = datetime.now(UTC)
    return [
        Event(
            f"orders.{kind}",
            data,
            now,
            f"order-{order_id}",
            v,
            1,
            TOPIC,
            0,
            v - 1,
            id=f"{order_id}-{v}",
        )
        for v, (kind, data) in enumerate(kinds, 1)
    ]


async def live_applier(conn: asyncpg.Connection) -> Applier:
    info = await versions.ensure_live(conn, ORDER_SUMMARY, [])
    return Applier(ORDER_SUMMARY, info.version, info.schema, live=True)


async def stored(conn: asyncpg.Connection, applier: Applier) -> tuple[int, int]:
    """(stored next offset of partition 0, applied version of the order's stream)."""
    offset = await conn.fetchval(
        f'SELECT next_offset FROM "{applier.schema}"._offsets WHERE partition = 0'
    )
    version = await conn.fetchval(f'SELECT max(version) FROM "{applier.schema}"._streams')
    return offset, version


async def test_redelivered_records_drop_a_batch_ahead_is_fenced_a_switch_is_seen(
    rig: Rig,
) -> None:
    conn = await asyncpg.connect(rig.owner_dsn("readmodels"))
    try:
        applier = await live_applier(conn)
        events = history("f1")
        first = await applier.apply(conn, events[:2], spans=spans_of(events[:2]))
        assert first.applied == 2
        again = await applier.apply(conn, events, spans=spans_of(events))  # 0, 1 redelivered
        assert (again.applied, again.skipped) == (2, 0)
        assert await stored(conn, applier) == (4, 4)
        ahead = [replace(events[3], offset=9, version=5)]
        with pytest.raises(Fenced) as fenced:
            await applier.apply(conn, ahead, spans=spans_of(ahead))
        assert fenced.value.offsets == {(TOPIC, 0): 4}
        await conn.execute(
            "UPDATE projections.registry SET live_version = $2 WHERE name = $1",
            ORDER_SUMMARY.name, applier.version + 1,
        )  # fmt: skip
        with pytest.raises(VersionSwitched):
            await applier.apply(conn, ahead, spans=spans_of(ahead))
        assert await stored(conn, applier) == (4, 4)
    finally:
        await conn.close()


async def test_a_batch_waiting_for_the_lock_sees_the_other_owners_commit(rig: Rig) -> None:
    dsn = rig.owner_dsn("readmodels")
    mine, other = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        applier = await live_applier(mine)
        rival = Applier(ORDER_SUMMARY, applier.version, applier.schema, live=True)
        events = history("f2")
        await applier.apply(mine, events[:1], spans=spans_of(events[:1]))
        async with other.transaction():  # the other owner holds partition 0 ...
            await rival._fence(other, events[1:3], spans_of(events[1:3]))
            batch = applier.apply(mine, events[1:], spans=spans_of(events[1:]))
            waiting = asyncio.create_task(batch)
            await asyncio.sleep(0.3)
            assert not waiting.done()
            staged = await rival.stage(other, events[1:3])  # ... and applies offsets 1, 2
            await rival.write(other, staged, spans=spans_of(events[1:3]))
        result = await asyncio.wait_for(waiting, 10)
        assert (result.applied, result.skipped, result.parked) == (1, 0, 0)
        assert await stored(mine, applier) == (4, 4)
        row = await mine.fetchrow(
            f'SELECT item_count, status FROM "{applier.schema}".order_summary'
        )
        assert (row[0], row[1]) == (2, "confirmed")
    finally:
        await mine.close()
        await other.close()
