"""Rebuilds by replay: beside the live version, during live writes, switched atomically."""

from __future__ import annotations

import asyncio
import random

from projector.daily_sales import PROJECTION as DAILY_SALES
from projector.order_summary import PROJECTION as ORDER_SUMMARY

from annals.projections.rebuild import Rebuild
from annals.projections.worker import Worker
from tests.integration.projections.helpers import eventually, fetchval, running
from tests.integration.projections.rig import Rig, checksum, live_schema, order_events

ORDERS = 240


async def write_orders(rig: Rig, count: int, pause: float) -> dict[str, int]:
    """Append `count` orders (some cancelled, some left open); stream -> last version."""
    store = await rig.store("orders")
    rng = random.Random(7)
    last: dict[str, int] = {}
    try:
        for i in range(count):
            order_id = f"o{i}"
            skus = [(f"SKU-{rng.randrange(5)}", rng.randrange(1, 4), f"{rng.randrange(1, 99)}.50")]
            events = order_events(
                order_id, f"c{i % 7}", skus, confirm=i % 5 != 0, cancel=i % 9 == 0
            )
            result = await store.append(f"order-{order_id}", events)
            last[f"order-{order_id}"] = result.version
            await asyncio.sleep(pause)
    finally:
        await store.close()
    return last


async def caught_up(dsn: str, name: str, last: dict[str, int]) -> bool:
    """Whether the live version applied every stream's last version."""
    applied = await fetchval(
        dsn, f"SELECT count(*) FROM readmodels.{name}__applied WHERE "
        "(stream_id, version) IN (SELECT * FROM unnest($1::text[], $2::int[]))",
        list(last), list(last.values()),
    )  # fmt: skip
    return applied == len(last)


async def test_rebuild_during_live_writes_equals_a_build_from_scratch(rig: Rig) -> None:
    settings = rig.settings()
    owner, reader = rig.owner_dsn("readmodels"), rig.app_dsn("readmodels")
    live = [Worker(ORDER_SUMMARY, settings), Worker(DAILY_SALES, settings)]
    async with rig.relay("orders"), running(*live):
        writing = asyncio.create_task(write_orders(rig, ORDERS, 0.025))
        await eventually(
            lambda: fetchval(reader, "SELECT count(*) >= 20 FROM readmodels.order_summary")
        )
        rebuilt = await asyncio.gather(
            Rebuild(ORDER_SUMMARY, settings, source="store").run(),
            Rebuild(DAILY_SALES, settings, source="store").run(),
        )
        assert not writing.done(), "the rebuild should overlap the writes"
        last = await writing
        for projection in (ORDER_SUMMARY, DAILY_SALES):
            await eventually(lambda p=projection: caught_up(reader, p.name, last), timeout=60)
        assert [w.applier.version for w in live if w.applier] == [2, 2]
    for result in rebuilt:
        assert result.version == 2 and result.previous == 1 and result.dropped_previous
        assert result.store_events > 0
    assert not await fetchval(owner, "SELECT to_regnamespace('order_summary_v1') IS NOT NULL")
    assert await fetchval(reader, "SELECT count(*) FROM readmodels.order_summary") == ORDERS

    for projection in (ORDER_SUMMARY, DAILY_SALES):
        built_live = await checksum(owner, await live_schema(owner, projection.name), projection)
        scratch = await Rebuild(projection, settings, source="kafka", keep_old=True).run()
        assert scratch.version == 3 and not scratch.dropped_previous
        from_kafka = await checksum(owner, f"{projection.name}_v3", projection)
        assert from_kafka == built_live
        from_store = await Rebuild(projection, settings, source="store").run()
        assert await checksum(owner, f"{projection.name}_v4", projection) == built_live
        assert from_store.dropped_previous
    revenue = await fetchval(reader, "SELECT sum(revenue) FROM readmodels.daily_sales")
    confirmed = await fetchval(
        reader, "SELECT sum(total) FROM readmodels.order_summary WHERE status = 'confirmed'"
    )
    assert revenue == confirmed
