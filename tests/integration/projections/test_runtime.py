"""The projector runtime on Kafka and PostgreSQL: idempotence, gaps, poison, scale-out."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from projector.order_summary import PROJECTION as ORDER_SUMMARY

from annals.messaging.security import client_security
from annals.projections.worker import Worker
from tests.integration.projections.helpers import (
    dlq_records,
    eventually,
    fetchval,
    metric,
    running,
)
from tests.integration.projections.rig import Rig, produce, recorded

EUR = {"currency": "EUR"}


def order_stream(order_id: str, items: int = 2) -> list:
    """Recorded events of one order: placed, `items` items, confirmed."""
    sid = f"order-{order_id}"
    out = [recorded(sid, 1, "OrderPlaced", {"order_id": order_id, "customer_id": "c1", **EUR})]
    for i in range(items):
        data = {"order_id": order_id, "sku": f"SKU-{i}", "quantity": 1,
                "unit_price": {"amount": "10.00", **EUR}}  # fmt: skip
        out.append(recorded(sid, 2 + i, "ItemAdded", data))
    total = {"amount": f"{10 * items}.00", **EUR}
    out.append(recorded(sid, 2 + items, "OrderConfirmed", {"order_id": order_id, "total": total}))
    return out


async def test_applies_once_despite_redelivery(rig: Rig) -> None:
    settings = rig.settings()
    worker = Worker(ORDER_SUMMARY, settings)
    events = [e for i in range(50) for e in order_stream(f"o{i}")]
    skipped = metric(
        "annals_projection_events_total", projection="order_summary", outcome="skipped"
    )
    async with running(worker):
        topic = rig.topic("orders.events")
        await produce(rig.stack.kafka_bootstrap, topic, "orders", events)
        await produce(rig.stack.kafka_bootstrap, topic, "orders", events[:40])  # redelivered
        dsn = rig.app_dsn("readmodels")
        sql = "SELECT count(*) FROM readmodels.order_summary WHERE status = 'confirmed'"
        await eventually(lambda: _equals(dsn, sql, 50))
        await eventually(
            lambda: _ge(
                metric(
                    "annals_projection_events_total", projection="order_summary", outcome="skipped"
                )
                - skipped,
                40,
            )
        )
    assert await fetchval(dsn, "SELECT sum(item_count) FROM readmodels.order_summary") == 100
    assert await fetchval(dsn, "SELECT sum(total) FROM readmodels.order_summary") == 1000


async def _equals(dsn: str, sql: str, want: object) -> bool:
    return await fetchval(dsn, sql) == want


async def _ge(value: float, want: float) -> bool:
    return value >= want


async def test_a_version_gap_parks_the_stream_until_filled(rig: Rig) -> None:
    settings = rig.settings()
    worker = Worker(ORDER_SUMMARY, settings)
    gap, ok = order_stream("gap"), order_stream("ok")
    bootstrap, topic = rig.stack.kafka_bootstrap, rig.topic("orders.events")
    dsn = rig.app_dsn("readmodels")
    async with running(worker):
        await produce(bootstrap, topic, "orders", [gap[0], gap[2], gap[3], *ok])
        await eventually(lambda: _equals(dsn, "SELECT status FROM readmodels.order_summary "
                                              "WHERE order_id = 'ok'", "confirmed"))  # fmt: skip
        applied = "SELECT version FROM readmodels.order_summary__applied WHERE stream_id = $1"
        assert await fetchval(dsn, applied, "order-gap") == 1
        await eventually(lambda: _ge(worker.metrics.parked_streams._value.get(), 1))
        letters = await dlq_records(bootstrap, f"{rig.prefix}projector.order_summary.dlq", 2)
        assert [x["reason"] for x in letters] == ["version gap", "version gap"]
        assert letters[0]["original_topic"] == topic
        assert "expected version 2, got 3" in letters[0]["error_message"]
        assert metric("annals_projection_dead_letters_total", projection="order_summary",
                      reason="version gap") >= 2  # fmt: skip
        await produce(bootstrap, topic, "orders", [gap[1]])  # the missing event, re-sent
        await eventually(lambda: _equals(dsn, applied.replace("$1", "'order-gap'"), 4))
        await eventually(lambda: _ge(1 - worker.metrics.parked_streams._value.get(), 1))
    row = await fetchval(dsn, "SELECT total FROM readmodels.order_summary WHERE order_id = 'gap'")
    assert row == 20


async def test_poison_records_go_to_the_dlq_and_the_worker_moves_on(rig: Rig) -> None:
    worker = Worker(ORDER_SUMMARY, rig.settings())
    bootstrap, topic = rig.stack.kafka_bootstrap, rig.topic("orders.events")
    dsn = rig.app_dsn("readmodels")
    orphan = recorded("order-orphan", 1, "ItemAdded", {"order_id": "orphan", "sku": "S",
                      "quantity": 1, "unit_price": {"amount": "1.00", **EUR}})  # fmt: skip
    async with running(worker):
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **client_security("admin"))
        await producer.start()
        await producer.send_and_wait(topic, b"{not json", key=b"order-x")
        await producer.stop()
        await produce(bootstrap, topic, "orders", [orphan, *order_stream("after")])
        await eventually(lambda: _equals(dsn, "SELECT status FROM readmodels.order_summary "
                                              "WHERE order_id = 'after'", "confirmed"))  # fmt: skip
        letters = await dlq_records(bootstrap, f"{rig.prefix}projector.order_summary.dlq", 2)
    reasons = sorted(x["reason"] for x in letters)
    assert reasons == ["handler failed", "undecodable"]
    failed = next(x for x in letters if x["reason"] == "handler failed")
    assert failed["error_class"] == "builtins.LookupError"
    assert "has no OrderPlaced" in failed["error_message"]
    assert metric("annals_projection_dead_letters_total", projection="order_summary",
                  reason="undecodable") >= 1  # fmt: skip
    stored = await fetchval(rig.owner_dsn("readmodels"),
                            "SELECT count(*) FROM order_summary_v1._dead_letters")  # fmt: skip
    assert stored == 2


async def test_two_workers_in_one_group_share_the_partitions(rig: Rig) -> None:
    settings = rig.settings()
    first, second = Worker(ORDER_SUMMARY, settings), Worker(ORDER_SUMMARY, settings)
    events = [e for i in range(300) for e in order_stream(f"s{i}", items=1)]
    dsn = rig.app_dsn("readmodels")
    async with running(first, second):
        await produce(rig.stack.kafka_bootstrap, rig.topic("orders.events"), "orders", events)
        sql = "SELECT count(*) FROM readmodels.order_summary WHERE status = 'confirmed'"
        await eventually(lambda: _equals(dsn, sql, 300), timeout=60)
        await asyncio.sleep(0.5)
    assert first.applied_batches > 0 and second.applied_batches > 0
    assert await fetchval(dsn, "SELECT sum(total) FROM readmodels.order_summary") == 3000
