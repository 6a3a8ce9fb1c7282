"""End to end across three services: an order placed, filled and confirmed over HTTP opens a
shipment (shipping's reactor on orders.events); dispatching it over shipping's API marks the
order shipped (orders' reactor on shipping.events), and the query API shows it `shipped` in
order_summary with its tracking number. The OrderConfirmed and ShipmentDispatched records,
produced to Kafka again, change nothing: no second shipment, no second MarkShipped, the same
order_summary, the same stream versions.

The orders, shipping and query APIs (the reactors inside the first two) and both relays run as
real processes on the rig's scratch databases. The reactors follow the platform's own topics
(`orders.events`, `shipping.events`), so the relays publish there; the projectors run in the
test under groups of the rig's prefix. Before the records come again, both services restart:
their in-memory stream guards are gone, and only the recorded causations can stop a second
command.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord, TopicPartition
from shipping.settings import ShippingSettings

from annals.messaging.security import client_security
from annals.messaging.settings import KafkaSettings
from annals.messaging.topics import TopicSpec, ensure_topics
from annals.projections.process import registries
from annals.projections.worker import Worker, worker_topics
from annals.reactors import subscribe
from annals.reactors.subscribe import reactor_group
from annals.topology import topology
from annals.web.auth import mint_token
from tests.integration.projections.helpers import eventually, fetchval, running
from tests.integration.projections.rig import Rig
from tests.support.live_services import LiveService, free_port, service_env

pytestmark = pytest.mark.stack
ORDERS, SHIPPING = "orders.events", "shipping.events"
PROJECTIONS = ("order_summary", "shipments")
WAIT = 90.0  # bound of each eventual step: processes start and join groups on a busy machine
START = 240.0  # bound of a service's start (imports, migrations) on a busy machine


@contextlib.contextmanager
def relays(rig: Rig, logs: Path) -> Iterator[None]:
    """`annals publish orders|shipping` on the rig's stores, to the platform's topics."""
    started = []
    for service in ("orders", "shipping"):
        prefix = f"ANNALS_{service.upper()}_"
        env = {**os.environ, prefix + "DATABASE": rig.databases[service],
               prefix + "DSN": rig.app_dsn(service), prefix + "OWNER_DSN": rig.owner_dsn(service),
               prefix + "PUBLISHER_NAME": f"{rig.prefix}{service}",
               prefix + "PUBLISHER_STATUS_DIR": str(logs)}  # fmt: skip
        with open(logs / f"relay-{service}.log", "ab") as out:
            started.append(subprocess.Popen(
                [sys.executable, "-m", "annals.cli.main", "publish", service],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            ))  # fmt: skip
    try:
        yield
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(15)


def services(rig: Rig, logs: Path) -> dict[str, LiveService]:
    """orders and shipping (reactors on) and the query API, on the rig's databases."""
    out = {}
    for name, database in (("orders", "orders"), ("shipping", "shipping"), ("query", "readmodels")):
        port = free_port()
        extra = {} if name == "query" else {"REACTORS": "true"}
        env = service_env(name, rig.stack, rig.databases[database], port, LOG_JSON="false", **extra)
        out[name] = LiveService(name, port, logs / f"{name}.log", env)
    return out


async def start(*services: LiveService) -> None:
    """Start the processes side by side (each waits for its /readyz in a thread)."""
    await asyncio.gather(*(asyncio.to_thread(s.start, START) for s in services))


@contextlib.asynccontextmanager
async def projectors(rig: Rig) -> AsyncIterator[None]:
    """order_summary and shipments on the platform's topics, under groups of the rig."""
    settings = rig.settings(topic_prefix="")
    workers = [Worker(topology().projections[name], settings, group=f"{rig.prefix}{name}",
                      registries=registries()) for name in PROJECTIONS]  # fmt: skip
    # The admin step before workers run (they create no topic): sources and dead letters.
    specs = [t for w in workers for t in worker_topics(settings, w.projection, w.group)]
    await ensure_topics(settings.bootstrap, specs)
    async with running(*workers):
        yield


async def end_offsets(topics: tuple[str, ...]) -> dict[TopicPartition, int]:
    """Where each partition of the (existing) topics ends now."""
    bootstrap = KafkaSettings().bootstrap
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_security("admin"))
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    parts = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **client_security("admin"))
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


async def find(since: dict[TopicPartition, int], key: str, ce_type: str) -> ConsumerRecord:
    """The record of `key` and CloudEvents type `ce_type` published after `since`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=KafkaSettings().bootstrap,
                                enable_auto_commit=False, **client_security("admin"))  # fmt: skip
    await consumer.start()
    try:
        consumer.assign(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        ends = await consumer.end_offsets(list(since))
        wanted = (key.encode(), ("ce_type", ce_type.encode()))
        found: list[ConsumerRecord] = []
        while [tp for tp in since if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=1000)
            records = [r for rs in batches.values() for r in rs]
            found += [r for r in records if r.key == wanted[0] and wanted[1] in r.headers]
        assert len(found) == 1, f"{key} {ce_type}: {len(found)} records after {since}"
        return found[0]
    finally:
        await consumer.stop()


async def produce_again(record: ConsumerRecord) -> int:
    """Produce the identical record (key, value, headers, partition) as admin; its offset."""
    producer = AIOKafkaProducer(bootstrap_servers=KafkaSettings().bootstrap,
                                **client_security("admin"))  # fmt: skip
    await producer.start()
    try:
        sent = await producer.send_and_wait(record.topic, record.value, key=record.key,
                                            partition=record.partition,
                                            headers=list(record.headers))  # fmt: skip
        return int(sent.offset)
    finally:
        await producer.stop()


async def committed(group: str, tp: TopicPartition) -> int:
    """The group's committed offset of a partition (-1: none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=KafkaSettings().bootstrap,
                                **client_security("admin"))  # fmt: skip
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
        found = offsets.get(tp)
        return -1 if found is None else int(found.offset)
    finally:
        await admin.close()


async def projected(rig: Rig, projection: str, tp: TopicPartition) -> int:
    """The next offset a projection stored for a partition (0: none)."""
    sql = (f'SELECT next_offset FROM readmodels."{projection}__offsets" '
           "WHERE topic = $1 AND partition = $2")  # fmt: skip
    return int(await fetchval(rig.owner_dsn("readmodels"), sql, tp.topic, tp.partition) or 0)


async def state(rig: Rig, http: dict[str, httpx.AsyncClient], oid: str) -> dict[str, Any]:
    """What must not change: both streams, the order's summary, applied versions, causations."""
    order = await http["query"].get(f"/orders/{oid}")
    orders_trail = await http["orders"].get(f"/orders/{oid}/events")
    shipment_trail = await http["shipping"].get(f"/shipments/{oid}/events")
    applied = {}
    for projection in PROJECTIONS:
        sql = (
            "SELECT string_agg(stream_id || '@' || version, ',' ORDER BY stream_id) "
            f'FROM readmodels."{projection}__applied" WHERE stream_id = ANY($1::text[])'
        )
        streams = [f"order-{oid}", f"shipment-{oid}"]
        applied[projection] = await fetchval(rig.owner_dsn("readmodels"), sql, streams)
    reactions = {}
    for service in ("orders", "shipping"):
        sql = "SELECT string_agg(reactor || ':' || causation, ',' ORDER BY 1) FROM api.reactions"
        reactions[service] = await fetchval(rig.owner_dsn(service), sql)
    return {
        "order": (order.status_code, order.headers.get("etag"), order.json()),
        "orders": [(e["version"], e["event_type"]) for e in orders_trail.json()["events"]],
        "shipment": [(e["version"], e["event_type"]) for e in shipment_trail.json()["events"]],
        "applied": applied,
        "reactions": reactions,
    }


async def test_an_order_confirmed_then_dispatched_shows_shipped_with_its_tracking_number(
    rig: Rig, tmp_path: Path
) -> None:
    kafka = KafkaSettings()
    specs = [TopicSpec(t, kafka.partitions, kafka.replication_factor) for t in (ORDERS, SHIPPING)]
    await ensure_topics(kafka.bootstrap, specs)
    for reactor in ("orders", "shipping"):  # their dead-letter topics, as `services up` does
        await subscribe.prepare(reactor)
    since = await end_offsets((ORDERS, SHIPPING))
    token = mint_token(ShippingSettings(), ["orders:write", "shipping:write", "read"])
    auth = {"Authorization": f"Bearer {token}"}
    live = services(rig, tmp_path)
    oid, tracking = f"o{rig.unique}", f"JD{rig.unique}".upper()
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(projectors(rig))
        stack.enter_context(relays(rig, tmp_path))
        for service in live.values():
            stack.callback(service.stop)
        await start(*live.values())
        http = {name: await stack.enter_async_context(
                    httpx.AsyncClient(base_url=s.url, headers=auth, timeout=30))
                for name, s in live.items()}  # fmt: skip

        order = {"order_id": oid, "customer_id": "ada", "currency": "EUR"}
        placed = await http["orders"].post("/orders", json=order)
        assert placed.status_code == 201, placed.text
        item = {"sku": "SKU-9", "quantity": 2, "unit_price": {"amount": "4.50", "currency": "EUR"}}
        added = await http["orders"].post(f"/orders/{oid}/items", json=item)
        assert added.status_code == 200, added.text
        confirmed = await http["orders"].post(f"/orders/{oid}/confirm")
        assert confirmed.status_code == 200, confirmed.text

        async def shipment_opened() -> bool:
            return (await http["shipping"].get(f"/shipments/{oid}")).status_code == 200

        await eventually(shipment_opened, WAIT, 0.2)
        body = {"carrier": "DHL", "tracking_number": tracking}
        sent = await http["shipping"].post(f"/shipments/{oid}/dispatch", json=body)
        assert sent.status_code == 200 and sent.json()["status"] == "dispatched", sent.text
        # The dispatch's token is a shipment stream's: order_summary reads shipping.events too.
        read = await http["query"].get(
            f"/orders/{oid}", headers={"X-Consistency-Token": sent.headers["x-consistency-token"]}
        )
        assert read.headers["x-consistency"] == "satisfied", read.headers
        assert read.json()["tracking_number"] == tracking and read.json()["carrier"] == "DHL"

        async def shipped() -> dict[str, Any] | None:
            got = (await http["query"].get(f"/orders/{oid}")).json()
            return got if got.get("status") == "shipped" else None

        summary = await eventually(shipped, WAIT, 0.2)
        assert (summary["tracking_number"], summary["carrier"]) == (tracking, "DHL")
        assert summary["shipped_at"] is not None and summary["total"] == "9.00"
        listed = await http["query"].get("/orders", params={"status": "shipped"})
        assert any(o["order_id"] == oid and o["tracking_number"] == tracking
                   for o in listed.json()["items"])  # fmt: skip

        trail = (await http["orders"].get(f"/orders/{oid}/events")).json()["events"]
        shipment = (await http["shipping"].get(f"/shipments/{oid}/events")).json()["events"]
        assert [e["event_type"] for e in trail] == [
            "OrderPlaced", "ItemAdded", "OrderConfirmed", "OrderShipped"]  # fmt: skip
        assert [e["event_type"] for e in shipment] == ["ShipmentOpened", "ShipmentDispatched"]
        # Causation = the event the reactor answered.
        assert shipment[0]["metadata"]["causation_id"] == trail[2]["event_id"]
        assert trail[3]["metadata"]["causation_id"] == shipment[1]["event_id"]

        async def projected_all() -> bool:  # both projections have the shipment's dispatch
            before = await state(rig, http, oid)
            return f"shipment-{oid}@2" in (before["applied"]["shipments"] or "")

        await eventually(projected_all, WAIT, 0.2)
        before = await state(rig, http, oid)
        records = [
            await find({tp: o for tp, o in since.items() if tp.topic == ORDERS},
                       f"order-{oid}", "orders.OrderConfirmed"),
            await find({tp: o for tp, o in since.items() if tp.topic == SHIPPING},
                       f"shipment-{oid}", "shipping.ShipmentDispatched"),
        ]  # fmt: skip
        assert records[0].value is not None and oid.encode() in records[0].value

        logged = {name: len(live[name].output()) for name in ("orders", "shipping")}
        for name in ("orders", "shipping"):  # a fresh stream guard: only causations dedupe now
            live[name].stop()
        await start(live["orders"], live["shipping"])
        again = [await produce_again(r) for r in records]

        consumers = [
            (reactor_group("shipping"), None, records[0], again[0]),
            (reactor_group("orders"), None, records[1], again[1]),
            *(
                (None, p, r, o)
                for p in PROJECTIONS
                for r, o in zip(records, again, strict=True)
                if r.topic in topology().projections[p].topics
            ),
        ]
        for group, projection, record, offset in consumers:
            tp = TopicPartition(record.topic, record.partition)

            async def past(group: str | None = group, projection: str | None = projection,
                           tp: TopicPartition = tp, offset: int = offset) -> bool:  # fmt: skip
                if group is not None:
                    return await committed(group, tp) > offset
                assert projection is not None
                return await projected(rig, projection, tp) > offset

            await eventually(past, WAIT, 0.2)

        assert await state(rig, http, oid) == before
        for name in ("orders", "shipping"):
            since_restart = live[name].output()[logged[name] :]
            assert "refused" not in since_restart, since_restart[-3000:]
        for projection in PROJECTIONS:  # this test's streams (a reused stack's topics hold more)
            schema = f"{projection}_v1"
            sql = f'SELECT count(*) FROM "{schema}"._dead_letters WHERE stream_id = ANY($1)'
            ours = [f"order-{oid}", f"shipment-{oid}"]
            assert await fetchval(rig.owner_dsn("readmodels"), sql, ours) == 0
