"""Every poison shape on orders.events, customers.events and legacy.public.products, one run.

One rig, every declared projection running in one process (annals.projections.process.run_all),
one record per shape: each lands in the DLQ of each projection that cannot apply it, with its
headers; the projections' lag returns to 0, they stay `live`, and the events of other streams
sent after the poison are applied.

Forged and invalid records (issue 12: a stranger claiming the next version of a stream, data
off its schema) are dead-lettered before anything reads them: the read model is unchanged and
the stream waits for that version (parked behind the dead letter) until the real event of that
version comes, which is then applied.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer

from annals.eventstore.pgstores import PostgresKeyStore
from annals.eventstore.ports import RecordedEvent, uuid7
from annals.messaging.cloudevents import to_kafka
from annals.messaging.dlq import read_dead_letters, read_dlq_headers
from annals.messaging.security import client_security
from annals.messaging.topics import TopicSpec, ensure_topics
from annals.projections.process import registries, run_all
from annals.projections.status import status
from annals.projections.worker import Worker, group_of
from annals.stack.settings import StackSettings
from annals.topology import topology
from tests.integration.projections.helpers import eventually, fetchval
from tests.integration.projections.rig import Rig, create, destroy, live_schema
from tests.unit.cdc.samples import ROW, key, value

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="module")]
EUR = "EUR"
PROJECTIONS = topology().projections
ORDERS, CUSTOMERS, PRODUCTS = "orders.events", "customers.events", "legacy.public.products"
ORDER_VIEWS = ("order_summary", "customer_orders", "daily_sales")
CUSTOMER_VIEWS = ("customer_orders", "customer_status")


def ce(stream: str, version: int, kind: str, data: Any, schema: int = 1) -> RecordedEvent:
    """A stored-looking event of any type, schema version and data."""
    return RecordedEvent(
        0, 0, stream, stream.split("-", 1)[0], version, uuid7(), kind, schema, json.dumps(data),
        "{}", datetime.now(UTC),
    )  # fmt: skip


def placed(order: str) -> dict[str, Any]:
    return {"order_id": order, "customer_id": "c-good", "currency": EUR}


def item(order: str, **extra: Any) -> dict[str, Any]:
    data = {"order_id": order, "sku": "SKU-1", "quantity": 1, "unit_price": {"amount": "2.50",
            "currency": EUR}}  # fmt: skip
    return {**data, **extra}


def registered(customer: str, **extra: Any) -> dict[str, Any]:
    return {"customer_id": customer, "name": "Ada", "email": "a@example.org", "tier": "gold",
            **extra}  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One poison record: where it goes and which projections must dead-letter it, why."""

    name: str
    topic: str
    expected: dict[str, str]  # projection -> dlq_reason


def _all(views: tuple[str, ...], reason: str) -> dict[str, str]:
    return dict.fromkeys(views, reason)


CASES = [
    Case("orders-not-json", ORDERS, _all(ORDER_VIEWS, "undecodable")),
    Case("orders-not-a-cloudevent", ORDERS, _all(ORDER_VIEWS, "undecodable")),
    Case("orders-empty-data", ORDERS, _all(ORDER_VIEWS, "invalid data")),
    Case("orders-wrong-types", ORDERS, _all(ORDER_VIEWS, "invalid data")),
    Case("orders-unknown-type", ORDERS, _all(ORDER_VIEWS, "unknown event")),
    Case("orders-unknown-version", ORDERS, _all(ORDER_VIEWS, "unknown event")),
    Case("orders-handler-error", ORDERS,
         {"order_summary": "handler failed", "daily_sales": "handler failed"}),
    Case("orders-prepare-error", ORDERS, _all(ORDER_VIEWS, "invalid data")),
    Case("orders-conflicting-duplicate", ORDERS, _all(ORDER_VIEWS, "conflicting duplicate")),
    Case("customers-not-json", CUSTOMERS, _all(CUSTOMER_VIEWS, "undecodable")),
    Case("customers-missing-fields", CUSTOMERS, _all(CUSTOMER_VIEWS, "invalid data")),
    Case("customers-wrong-types", CUSTOMERS, _all(CUSTOMER_VIEWS, "invalid data")),
    Case("customers-unknown-type", CUSTOMERS, _all(CUSTOMER_VIEWS, "unknown event")),
    Case("customers-unknown-version", CUSTOMERS, _all(CUSTOMER_VIEWS, "unknown event")),
    Case("customers-sealed-pii", CUSTOMERS, {"customer_orders": "undecryptable"}),
    Case("customers-conflicting-duplicate", CUSTOMERS,
         _all(CUSTOMER_VIEWS, "conflicting duplicate")),
    Case("cdc-not-json", PRODUCTS, {"products": "undecodable"}),
    Case("cdc-no-op", PRODUCTS, {"products": "undecodable"}),
    Case("cdc-lsn-not-a-number", PRODUCTS, {"products": "undecodable"}),
    Case("cdc-price-not-a-number", PRODUCTS, {"products": "handler failed"}),
    Case("customers-forged-source", CUSTOMERS, _all(CUSTOMER_VIEWS, "forged source")),
    Case("customers-invalid-data", CUSTOMERS, _all(CUSTOMER_VIEWS, "invalid data")),
    Case("orders-forged-source", ORDERS, _all(ORDER_VIEWS, "forged source")),
    Case("orders-invalid-data", ORDERS, _all(ORDER_VIEWS, "invalid data")),
    Case("cdc-forged-database", PRODUCTS, {"products": "forged source"}),
]  # fmt: skip


def poison_records() -> dict[str, tuple[bytes | None, bytes | None, list]]:
    """Key, value and headers of each case's record."""
    out: dict[str, tuple[bytes | None, bytes | None, list]] = {}

    def event(name: str, service: str, e: RecordedEvent) -> None:
        record = to_kafka(e, service)
        out[name] = (record.key, record.value, record.headers)

    out["orders-not-json"] = (b"order-nj", b"{not json", [])
    out["orders-not-a-cloudevent"] = (b"order-nc", b'{"hello": "world"}', [])
    event("orders-empty-data", "orders", ce("order-empty", 1, "OrderPlaced", {}))
    wrong = {**placed("wrong"), "currency": 5}
    event("orders-wrong-types", "orders", ce("order-wrong", 1, "OrderPlaced", wrong))
    event("orders-unknown-type", "orders", ce("order-tele", 1, "OrderTeleported", placed("t")))
    event("orders-unknown-version", "orders", ce("order-v99", 1, "OrderPlaced", placed("v"), 99))
    event("orders-handler-error", "orders", ce("order-orphan", 1, "ItemAdded", item("orphan")))
    no_sku = {k: v for k, v in item("pe").items() if k != "sku"}
    event("orders-prepare-error", "orders", ce("order-pe", 2, "ItemAdded", no_sku))
    event(
        "orders-conflicting-duplicate", "orders", ce("order-dup", 1, "OrderPlaced", placed("dup"))
    )
    out["customers-not-json"] = (b"customer-nj", b"\xff\xfe", [])
    event("customers-missing-fields", "customers", ce("customer-mf", 1, "CustomerRegistered", {}))
    wrong_name = registered("cwt", name=123)
    event("customers-wrong-types", "customers",
          ce("customer-cwt", 1, "CustomerRegistered", wrong_name))  # fmt: skip
    event("customers-unknown-type", "customers",
          ce("customer-tele", 1, "CustomerTeleported", registered("ct")))  # fmt: skip
    event("customers-unknown-version", "customers",
          ce("customer-v99", 1, "CustomerRegistered", registered("cv"), 99))  # fmt: skip
    sealed = registered("cpii", email={"$pii": "v1", "s": "cpii", "ct": "!!not base64!!"})
    event("customers-sealed-pii", "customers",
          ce("customer-cpii", 1, "CustomerRegistered", sealed))  # fmt: skip
    event("customers-conflicting-duplicate", "customers",
          ce("customer-cdup", 1, "CustomerRegistered", registered("cdup")))  # fmt: skip
    out["cdc-not-json"] = (key("SKU-NJ"), b"{{", [])
    no_op = json.loads(value("c", None, {**ROW, "sku": "SKU-NOOP"}))
    del no_op["op"]
    out["cdc-no-op"] = (key("SKU-NOOP"), json.dumps(no_op).encode(), [])
    out["cdc-lsn-not-a-number"] = (key("SKU-LSN"), value("c", None, {**ROW, "sku": "SKU-LSN"},
                                                         lsn="not-a-number"), [])  # fmt: skip
    bad_price = {**ROW, "sku": "SKU-PRICE", "unit_price": "a lot"}
    out["cdc-price-not-a-number"] = (key("SKU-PRICE"), value("c", None, bad_price, lsn=5000), [])
    for name, (service, forged) in FORGED.items():
        record = to_kafka(forged, service)
        envelope = json.loads(record.value)
        if name.endswith("forged-source"):  # a stranger who can reach the broker
            envelope["source"] = "/services/evil"
        out[name] = (record.key, json.dumps(envelope).encode(), record.headers)
    forged_row = {**ROW, "sku": "SKU-FORGED", "name": "forged"}
    out["cdc-forged-database"] = (key("SKU-FORGED"), value("c", None, forged_row, lsn=6000,
                                                           db="evil_erp"), [])  # fmt: skip
    return out


# The forged or invalid record of each stream: it claims the stream's next version.
FORGED = {
    "customers-forged-source": ("customers", ce("customer-cfx", 3, "CustomerReactivated",
                                                {"customer_id": "cfx"})),
    "customers-invalid-data": ("customers", ce("customer-cinv", 2, "CustomerTierChanged",
                               {"customer_id": "cinv", "tier": 5, "previous_tier": "gold"})),
    "orders-forged-source": ("orders", ce("order-ofx", 2, "OrderCancelled",
                                          {"order_id": "ofx", "reason": "forged"})),
    "orders-invalid-data": ("orders", ce("order-oinv", 2, "ItemAdded",
                                         item("oinv", quantity="lots"))),
}  # fmt: skip


def before_poison() -> dict[str, list[RecordedEvent]]:
    """Events that must be applied before some poison: the original of each duplicate."""
    return {
        "orders": [ce("order-dup", 1, "OrderPlaced", placed("dup")),
                   ce("order-pe", 1, "OrderPlaced", placed("pe")),
                   ce("order-ofx", 1, "OrderPlaced", placed("ofx")),
                   ce("order-oinv", 1, "OrderPlaced", placed("oinv"))],
        "customers": [ce("customer-cdup", 1, "CustomerRegistered", registered("cdup")),
                      ce("customer-cfx", 1, "CustomerRegistered", registered("cfx")),
                      ce("customer-cfx", 2, "CustomerDeactivated", {"customer_id": "cfx"}),
                      ce("customer-cinv", 1, "CustomerRegistered", registered("cinv"))],
    }  # fmt: skip


def real_next() -> dict[str, list[RecordedEvent]]:
    """The real event of each version a forged or invalid record claimed."""
    tier = {"customer_id": "cinv", "tier": "platinum", "previous_tier": "gold"}
    return {
        "orders": [ce("order-ofx", 2, "ItemAdded", item("ofx")),
                   ce("order-oinv", 2, "ItemAdded", item("oinv", quantity=3))],
        "customers": [ce("customer-cfx", 3, "CustomerForgotten", {"customer_id": "cfx"}),
                      ce("customer-cinv", 2, "CustomerTierChanged", tier)],
    }  # fmt: skip


def after_poison() -> dict[str, list[RecordedEvent]]:
    """Events of other streams sent after every poison record."""
    total = {"amount": "2.50", "currency": EUR}
    return {
        "orders": [
            ce("order-after", 1, "OrderPlaced", {**placed("after"), "customer_id": "c-after"}),
            ce("order-after", 2, "ItemAdded", item("after")),
            ce("order-after", 3, "OrderConfirmed", {"order_id": "after", "total": total}),
        ],
        "customers": [ce("customer-c-after", 1, "CustomerRegistered", registered("c-after"))],
    }


@dataclass
class Poisoned:
    """The rig after the run: where each case's record landed, each group's dead letters."""

    rig: Rig
    landed: dict[str, tuple[str, int, int]]  # case -> (topic, partition, offset)
    letters: dict[str, list[dict[str, str]]]  # projection -> dlq headers of its dead letters
    statuses: dict[str, Any]
    held: dict[str, Any]  # read-model values once the forged records were handled
    after: dict[str, Any]  # the same values once the real events were applied


# What each forged or invalid record would have changed: (projection, SQL) -> value.
WATCHED = {
    "customer_status": "SELECT status FROM customer_directory.customer_status "
                       "WHERE customer_id = 'cfx'",
    "customer_orders": "SELECT status FROM readmodels.customer_orders WHERE customer_id = 'cfx'",
    "customer_orders tier": "SELECT tier FROM readmodels.customer_orders "
                            "WHERE customer_id = 'cinv'",
    "order_summary": "SELECT status || ':' || item_count FROM readmodels.order_summary "
                     "WHERE order_id = 'ofx'",
    "order_summary items": "SELECT item_count FROM readmodels.order_summary "
                           "WHERE order_id = 'oinv'",
    "products": "SELECT count(*) FROM readmodels.product_catalog WHERE sku = 'SKU-FORGED'",
}  # fmt: skip


async def _watched(rig: Rig) -> dict[str, Any]:
    out = {}
    for name, sql in WATCHED.items():
        dsn = rig.owner_dsn("orders") if name == "customer_status" else rig.app_dsn("readmodels")
        out[name] = await fetchval(dsn, sql)
    return out


async def _stream(rig: Rig, projection: str, stream: str) -> tuple[int, int | None] | None:
    """A stream's (applied version, version it waits for) in a projection's live version."""
    dsn = rig.owner_dsn(PROJECTIONS[projection].database)
    schema = await live_schema(dsn, projection)
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            f'SELECT version, parked_at FROM "{schema}"._streams WHERE stream_id = $1', stream
        )
    finally:
        await conn.close()
    return None if row is None else (row[0], row[1])


async def _forged_parked(rig: Rig) -> bool:
    """Each forged or invalid record is handled: its stream waits for the version it claimed."""
    for name, (_, forged) in FORGED.items():
        case = next(c for c in CASES if c.name == name)
        for projection in case.expected:
            mark = await _stream(rig, projection, forged.stream_id)
            if mark != (forged.version - 1, forged.version):
                return False
    return True


async def _send(rig: Rig, logical: str, records: list[tuple[bytes | None, bytes | None, list]]
                ) -> list[tuple[str, int, int]]:  # fmt: skip
    producer = AIOKafkaProducer(
        bootstrap_servers=rig.stack.kafka_bootstrap, **client_security("admin"), acks="all"
    )
    await producer.start()
    try:
        out = []
        for k, v, h in records:
            meta = await producer.send_and_wait(rig.topic(logical), v, key=k, headers=h)
            out.append((logical, meta.partition, meta.offset))
        return out
    finally:
        await producer.stop()


async def _events(rig: Rig, events: dict[str, list[RecordedEvent]]) -> None:
    for service, batch in events.items():
        records = [(r.key, r.value, r.headers) for r in (to_kafka(e, service) for e in batch)]
        await _send(rig, f"{service}.events", records)


async def _keys(rig: Rig) -> PostgresKeyStore:
    pool = await asyncpg.create_pool(rig.app_dsn("customers"), min_size=0, max_size=2)
    store = PostgresKeyStore(pool)
    await store.get_or_create("cpii")  # the subject has a key: its envelope must open
    return store


async def _applied(rig: Rig) -> bool:
    read, orders = rig.app_dsn("readmodels"), rig.owner_dsn("orders")
    checks = [
        (read, "SELECT status FROM readmodels.order_summary WHERE order_id = 'after'", "confirmed"),
        (read, "SELECT orders FROM readmodels.customer_orders WHERE customer_id = 'c-after'", 1),
        (read, "SELECT counted_day IS NOT NULL FROM readmodels.daily_sales_orders "
               "WHERE order_id = 'after'", True),
        (orders, "SELECT status FROM customer_directory.customer_status "
                 "WHERE customer_id = 'c-after'", "active"),
        (read, "SELECT name FROM readmodels.product_catalog WHERE sku = 'SKU-AFTER'", "after"),
    ]  # fmt: skip
    checks += [
        (read, "SELECT status FROM readmodels.customer_orders WHERE customer_id = 'cfx'",
         "forgotten"),
        (read, "SELECT tier FROM readmodels.customer_orders WHERE customer_id = 'cinv'",
         "platinum"),
        (orders, "SELECT status FROM customer_directory.customer_status "
                 "WHERE customer_id = 'cfx'", "forgotten"),
        (read, "SELECT item_count FROM readmodels.order_summary WHERE order_id = 'ofx'", 1),
        (read, "SELECT item_count FROM readmodels.order_summary WHERE order_id = 'oinv'", 3),
    ]  # fmt: skip
    for dsn, sql, want in checks:
        try:
            if await fetchval(dsn, sql) != want:
                return False
        except asyncpg.UndefinedTableError:
            return False
    return True


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def poisoned(stack: StackSettings) -> AsyncIterator[Poisoned]:
    """Run every projection through every poison record once."""
    rig = await create(stack, uuid.uuid4().hex[:12])
    keys = await _keys(rig)
    settings = rig.settings(stall_after_s=5.0, beat_interval_s=0.5)
    projections = list(PROJECTIONS.values())
    workers = [Worker(p, settings, keys=keys, registries=registries()) for p in projections]
    await ensure_topics(stack.kafka_bootstrap, [TopicSpec(rig.topic(PRODUCTS), 3)])
    task = asyncio.create_task(run_all(workers))
    try:
        await eventually(lambda: _all_started(workers), timeout=60)
        await _events(rig, before_poison())
        records = poison_records()
        landed: dict[str, tuple[str, int, int]] = {}
        for case in CASES:
            [landed[case.name]] = await _send(rig, case.topic, [records[case.name]])
        await eventually(lambda: _forged_parked(rig), timeout=60, interval=0.2)
        held = await _watched(rig)
        await _events(rig, real_next())
        await _events(rig, after_poison())
        good = value("c", None, {**ROW, "sku": "SKU-AFTER", "name": "after"}, lsn=9000)
        await _send(rig, PRODUCTS, [(key("SKU-AFTER"), good, [])])
        await eventually(lambda: _applied(rig), timeout=60, interval=0.2)
        letters = {}
        for p in projections:
            wanted = sum(p.name in c.expected for c in CASES)
            if not wanted:  # a projection no case poisons (e.g. one of another service's topic)
                letters[p.name] = await _letters(rig, p, 0) or []
                continue
            letters[p.name] = await eventually(lambda p=p, n=wanted: _letters(rig, p, n), 60)
        statuses = {}
        for p in projections:
            statuses[p.name] = await eventually(lambda p=p: _caught_up(p, settings), 30, 0.2)
        assert not task.done(), "a projector task ended"
        yield Poisoned(rig, landed, letters, statuses, held, await _watched(rig))
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.wait_for(task, 60)
        await keys._pool.close()  # type: ignore[attr-defined]
        await destroy(rig)


async def _all_started(workers: list[Worker]) -> bool:
    return all(w.started.is_set() for w in workers)


async def _letters(rig: Rig, projection: Any, count: int) -> list[dict[str, str]] | None:
    topic = f"{group_of(projection, rig.settings())}.dlq"
    found = await read_dead_letters(rig.stack.kafka_bootstrap, topic)
    headers = [read_dlq_headers(list(r.headers)) for r in found]
    return headers if len(headers) >= count else None


async def _caught_up(projection: Any, settings: Any) -> Any:
    row = await status(projection, settings)
    return row if row.lag_records == 0 and row.state == "live" else None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_the_poison_record_is_in_each_dlq_with_its_headers(
    poisoned: Poisoned, case: Case
) -> None:
    topic, partition, offset = poisoned.landed[case.name]
    for projection, reason in case.expected.items():
        mine = [h for h in poisoned.letters[projection]
                if h["original_topic"] == poisoned.rig.topic(topic)
                and h["original_offset"] == str(offset)
                and h["original_partition"] == str(partition)]  # fmt: skip
        assert len(mine) == 1, (projection, poisoned.letters[projection])
        letter = mine[0]
        assert letter["reason"] == reason, (projection, letter)
        assert letter["error_class"] and letter["error_message"], letter
        assert letter["group"] == f"{poisoned.rig.prefix}projector.{projection}"
        assert letter["timestamp"].startswith(str(datetime.now(UTC).year))
    others = set(PROJECTIONS) - set(case.expected)
    for projection in others:
        assert not [h for h in poisoned.letters[projection]
                    if h["original_offset"] == str(offset)
                    and h["original_topic"] == poisoned.rig.topic(topic)
                    and h["original_partition"] == str(partition)], projection  # fmt: skip


@pytest.mark.parametrize("name", sorted(PROJECTIONS))
async def test_every_projection_is_live_with_no_lag_after_the_poison(
    poisoned: Poisoned, name: str
) -> None:
    row = poisoned.statuses[name]
    assert (row.state, row.lag_records, row.stuck) == ("live", 0, [])
    assert row.dead_letters >= sum(name in c.expected for c in CASES)


async def test_a_dead_letter_parks_its_stream_and_the_conflict_keeps_the_original(
    poisoned: Poisoned,
) -> None:
    owner = poisoned.rig.owner_dsn("readmodels")
    parked = await fetchval(owner, "SELECT parked_at FROM order_summary_v1._streams "
                                   "WHERE stream_id = 'order-empty'")  # fmt: skip
    assert parked == 1
    read = poisoned.rig.app_dsn("readmodels")
    dup = await fetchval(
        read, "SELECT count(*) FROM readmodels.order_summary WHERE order_id = 'dup'"
    )
    assert dup == 1


@pytest.mark.parametrize("name", sorted(FORGED))
async def test_a_forged_or_invalid_record_is_not_applied_and_the_real_one_is(
    poisoned: Poisoned, name: str
) -> None:
    _, forged = FORGED[name]
    case = next(c for c in CASES if c.name == name)
    for projection in case.expected:
        _, partition, offset = poisoned.landed[name]
        [letter] = [h for h in poisoned.letters[projection]
                    if (h["original_topic"], h["original_partition"], h["original_offset"])
                    == (poisoned.rig.topic(case.topic), str(partition), str(offset))]  # fmt: skip
        claimed = (letter["stream_id"], letter["stream_version"])
        assert claimed == (forged.stream_id, str(forged.version))
        wanted = "ForgedSource" if name.endswith("forged-source") else "InvalidData"
        assert letter["error_class"].endswith(f".{wanted}"), letter
        if name.endswith("forged-source"):
            assert "/services/evil" in letter["error_message"], letter
        # the real event of that version was applied, and the stream waits for nothing
        mark = await _stream(poisoned.rig, projection, forged.stream_id)
        assert mark == (forged.version, None), (projection, mark)


async def test_the_read_models_held_until_the_real_events_came(poisoned: Poisoned) -> None:
    assert poisoned.held == {
        "customer_status": "deactivated",  # not re-activated by the stranger
        "customer_orders": "deactivated",
        "customer_orders tier": "gold",
        "order_summary": "open:0",  # not cancelled by the stranger
        "order_summary items": 0,
        "products": 0,
    }
    assert poisoned.after == {
        "customer_status": "forgotten",  # the real version 3 (a Forget) was not skipped
        "customer_orders": "forgotten",
        "customer_orders tier": "platinum",
        "order_summary": "open:1",
        "order_summary items": 3,
        "products": 0,
    }
