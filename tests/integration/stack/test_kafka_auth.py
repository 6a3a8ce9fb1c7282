"""Kafka trust boundary (issue 12): SASL/SCRAM-SHA-512 and ACLs on a real broker.

A private broker with ANNALS_STACK_KAFKA_AUTH=scram (own directory, free ports, the stack's
jars) is formatted and started the way `annals stack up` does it, so the shared stack is never
reconfigured and the real topic names are used (the shared stack's tests namespace theirs and
log in as admin): anonymous clients are refused, the projector may not write `orders.events`,
the relay (RelayProcess, as `relay-orders`) creates and publishes it, and a subscriber reads
plain CloudEvents with the README's aiokafka settings and with Kafka's console consumer. The
projector creates no topic: the admin step (`annals projectors up`) makes its topics and DLQ,
and the real worker, logged in as `projector`, projects the relay's events and dead-letters a
forged record with nothing more.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from projector.order_summary import PROJECTION as ORDER_SUMMARY

from annals.eventstore.ports import NewEvent, RecordedEvent
from annals.eventstore.postgres import PostgresEventStore
from annals.eventstore.settings import ServiceDatabase
from annals.messaging.cloudevents import OutgoingRecord, to_kafka
from annals.messaging.errors import MessagingError
from annals.messaging.publisher import make_producer
from annals.messaging.runner import RelayProcess
from annals.messaging.settings import KafkaSettings, PublisherSettings
from annals.messaging.topics import TOPIC_AUTHORIZATION_FAILED, TopicSpec, ensure_topics
from annals.projections import sandbox
from annals.projections.worker import Worker, prepare
from annals.stack import jvm, kafka, kafka_auth
from annals.stack.secrets import env_name
from annals.stack.settings import StackSettings
from tests.integration.messaging.support import caught_up, create_database, drop_database
from tests.integration.projections.helpers import dlq_records, eventually, fetchval, running
from tests.integration.projections.rig import order_events
from tests.integration.stack.conftest import _free_ports

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def secured(
    stack: StackSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackSettings]:
    """A private SCRAM broker sharing the stack's jars; stopped at the end."""
    directory = tmp_path_factory.mktemp("kafka-auth")
    (directory / "jars").symlink_to(stack.jars_dir)
    kafka_port, controller_port = _free_ports(2)
    private = StackSettings(
        dir=directory, repo=stack.repo, java=stack.java, kafka_port=kafka_port,
        controller_port=controller_port, kafka_auth="scram", kafka_heap="-Xms64m -Xmx256m",
    )  # fmt: skip
    try:
        kafka.start(private)
        yield private
    finally:
        kafka.stop(private)


def _login(settings: StackSettings, principal: str) -> dict[str, object]:
    return kafka_auth.sasl_options(principal, kafka_auth.password(settings, principal))


def _event(service: str) -> OutgoingRecord:
    stream = f"order-{uuid.uuid4()}"
    event = RecordedEvent(
        1, 1, stream, "Order", 1, uuid.uuid4(), "OrderPlaced", 1,
        json.dumps({"order_id": stream}), "{}", datetime.now(UTC),
    )  # fmt: skip
    return to_kafka(event, service)


async def test_unauthenticated_producer_is_refused(secured: StackSettings) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=secured.kafka_bootstrap, request_timeout_ms=5000)
    with pytest.raises(KafkaError):
        await producer.start()
    await producer.stop()


async def test_wrong_password_is_refused(secured: StackSettings) -> None:
    login = kafka_auth.sasl_options("relay-orders", "not-" + uuid.uuid4().hex)
    producer = AIOKafkaProducer(bootstrap_servers=secured.kafka_bootstrap, **login)
    with pytest.raises(KafkaError):
        await producer.start()
    await producer.stop()


@pytest.mark.parametrize("principal", ["projector", "subscriber", "relay-customers"])
async def test_only_the_relay_may_produce_to_orders_events(
    secured: StackSettings, principal: str
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=secured.kafka_bootstrap, request_timeout_ms=5000,
        **_login(secured, principal),
    )  # fmt: skip
    await producer.start()
    try:
        record = _event("orders")
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait("orders.events", record.value, key=record.key)
    finally:
        await producer.stop()


async def _publish_as_relay(
    secured: StackSettings, monkeypatch: pytest.MonkeyPatch, record: OutgoingRecord
) -> None:
    monkeypatch.setenv("ANNALS_KAFKA_AUTH", "scram")
    monkeypatch.delenv("ANNALS_KAFKA_PRINCIPAL", raising=False)
    monkeypatch.setenv("ANNALS_KAFKA_PASSWORD", kafka_auth.password(secured, "relay-orders"))
    producer = make_producer(secured.kafka_bootstrap, principal="relay-orders")
    await producer.start()
    try:
        headers = list(record.headers)
        await producer.send_and_wait("orders.events", record.value, key=record.key, headers=headers)
    finally:
        await producer.stop()


def _log_in_as_component(secured: StackSettings, monkeypatch: pytest.MonkeyPatch, who: str) -> None:
    """This process's clients log in as their own component to the private broker."""
    monkeypatch.setenv("ANNALS_KAFKA_AUTH", "scram")
    monkeypatch.delenv("ANNALS_KAFKA_PRINCIPAL", raising=False)  # the tests' admin
    monkeypatch.delenv("ANNALS_KAFKA_PASSWORD", raising=False)
    monkeypatch.setenv(env_name(f"kafka-{who}"), kafka_auth.password(secured, who))


async def test_the_relay_creates_and_publishes_its_topic_as_its_own_principal(
    stack: StackSettings, secured: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log_in_as_component(secured, monkeypatch, "relay-orders")
    db = await create_database(stack, "kafka_auth")
    store = await PostgresEventStore.connect(db.app_dsn, min_size=1, max_size=2)
    stream = f"order-{uuid.uuid4()}"
    process = RelayProcess(
        PublisherSettings(service="orders", publisher_batch_size=100),  # topic orders.events
        ServiceDatabase(service="orders", dsn=db.app_dsn, owner_dsn=db.owner_dsn),
        KafkaSettings(bootstrap=secured.kafka_bootstrap),
    )
    running = asyncio.create_task(process.run())
    try:
        await store.append(stream, [NewEvent("OrderPlaced", {"sku": "SKU-1", "quantity": 1})])
        await caught_up(db, "orders.events")
    finally:
        process.stop()
        await running
        await store.close()
        await drop_database(stack, db.name)
    mine = [v for v in await _read_as_readme_says(secured) if v["subject"] == stream]
    assert [v["type"] for v in mine] == ["orders.OrderPlaced"]


async def _read_as_readme_says(secured: StackSettings) -> list[dict[str, object]]:
    """orders.events' values, read with the README's aiokafka settings as `subscriber`."""
    consumer = AIOKafkaConsumer(
        "orders.events",
        bootstrap_servers=secured.kafka_bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username="subscriber",
        sasl_plain_password=(secured.dir / "secrets" / "kafka-subscriber").read_text().strip(),
        group_id=f"subscriber.readme-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=10_000)
        return [json.loads(r.value) for batch in batches.values() for r in batch]
    finally:
        await consumer.stop()


async def test_a_subscriber_with_the_readmes_settings_reads_plain_cloudevents(
    secured: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = _event("orders")
    await _publish_as_relay(secured, monkeypatch, record)
    mine = [v for v in await _read_as_readme_says(secured) if v["subject"] == record.key.decode()]
    assert mine and mine[0]["specversion"] == "1.0"
    assert (mine[0]["source"], mine[0]["type"]) == ("/services/orders", "orders.OrderPlaced")


async def test_relay_publishes_and_projector_reads_its_group(
    secured: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = _event("orders")
    await _publish_as_relay(secured, monkeypatch, record)
    consumer = AIOKafkaConsumer(
        "orders.events", bootstrap_servers=secured.kafka_bootstrap,
        group_id=f"projector.auth-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest",
        enable_auto_commit=False, **_login(secured, "projector"),
    )  # fmt: skip
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=10_000)
        keys = [r.key for batch in batches.values() for r in batch]
        assert record.key in keys
        await consumer.commit()
    finally:
        await consumer.stop()


def _console_consume(secured: StackSettings, principal: str, count: int) -> str:
    """Values of orders.events read by Kafka's console consumer (from the stack's jars)."""
    config = _consumer_config(secured, principal)
    command = jvm.java_command(
        secured, "kafka", secured.jars_dir / "kafka", "-Xmx128m",
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "--bootstrap-server", secured.kafka_bootstrap, "--topic", "orders.events",
        "--from-beginning", "--max-messages", str(count), "--timeout-ms", "20000",
        "--consumer.config", str(config),
    )  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout


def _consumer_config(secured: StackSettings, principal: str) -> Path:
    path = secured.run_dir / f"console-{principal}.properties"
    lines = [f"group.id={principal}.console-{uuid.uuid4().hex[:8]}"]
    lines += [
        "security.protocol=SASL_PLAINTEXT", "sasl.mechanism=SCRAM-SHA-512",
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{principal}" password="{kafka_auth.password(secured, principal)}";',
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_console_consumer_with_credentials_reads_plain_cloudevents(
    secured: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # kcat would do as well with a librdkafka whose SCRAM Kafka 4 accepts (see README); the
    # Debian kcat 1.7.1 / librdkafka 2.0.2 fails SCRAM-SHA-512 against Kafka 4.3.
    record = _event("orders")
    await _publish_as_relay(secured, monkeypatch, record)
    out = _console_consume(secured, "subscriber", 50)
    values = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    mine = [v for v in values if v.get("subject") == record.key.decode()]
    assert mine, values
    assert mine[0]["specversion"] == "1.0"
    assert mine[0]["source"] == "/services/orders"
    assert mine[0]["type"] == "orders.OrderPlaced"
    assert mine[0]["data"]["order_id"] == record.key.decode()


async def test_a_projector_creates_no_topic(
    secured: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=secured.kafka_bootstrap, **_login(secured, "projector")
    )
    await admin.start()
    try:
        for name in ("projector.mine.dlq", "orders.events.copy"):
            response = await admin.create_topics([NewTopic(name, 1, 1)])
            [error] = response.to_object()["topic_errors"]
            assert error["error_code"] == TOPIC_AUTHORIZATION_FAILED, error
    finally:
        await admin.close()
    _log_in_as_component(secured, monkeypatch, "projector")
    with pytest.raises(MessagingError, match="may not create it: the admin step"):
        spec = TopicSpec(f"projector.t{uuid.uuid4().hex[:6]}.dlq", 1)
        await ensure_topics(secured.kafka_bootstrap, [spec], "projector", reconcile=False)


DLQ = "projector.order_summary.dlq"


def _log_in_as_each(secured: StackSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client of this process logs in as its component's own principal (none as admin)."""
    monkeypatch.setenv("ANNALS_KAFKA_AUTH", "scram")
    monkeypatch.delenv("ANNALS_KAFKA_PRINCIPAL", raising=False)
    monkeypatch.delenv("ANNALS_KAFKA_PASSWORD", raising=False)
    for who in ("admin", "relay-orders", "projector"):
        monkeypatch.setenv(env_name(f"kafka-{who}"), kafka_auth.password(secured, who))


async def test_the_projector_projects_with_its_reduced_rights(
    stack: StackSettings, secured: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log_in_as_each(secured, monkeypatch)
    rig = await sandbox.create(stack, uuid.uuid4().hex[:8])
    settings = rig.settings(topic_prefix="", bootstrap=secured.kafka_bootstrap)
    relay = RelayProcess(
        PublisherSettings(service="orders", publisher_batch_size=100),  # topic orders.events
        ServiceDatabase(service="orders", database=rig.databases["orders"],
                        dsn=rig.app_dsn("orders"), owner_dsn=rig.owner_dsn("orders")),
        KafkaSettings(bootstrap=secured.kafka_bootstrap),
    )  # fmt: skip
    store = await rig.store("orders")
    relaying = asyncio.create_task(relay.run())
    order = f"auth{uuid.uuid4().hex[:8]}"
    try:
        await prepare([ORDER_SUMMARY], settings)  # the admin step of `annals projectors up`
        async with running(Worker(ORDER_SUMMARY, settings)):
            await store.append(f"order-{order}", order_events(order, "c1", [("SKU-1", 2, "5.00")]))
            sql = "SELECT status FROM readmodels.order_summary WHERE order_id = $1"
            dsn = rig.app_dsn("readmodels")
            assert await eventually(lambda: fetchval(dsn, sql, order)) == "confirmed"
            forged = _event("customers")  # customers.OrderPlaced on orders.events: forged source
            producer = AIOKafkaProducer(
                bootstrap_servers=secured.kafka_bootstrap, **_login(secured, "admin")
            )
            await producer.start()
            try:
                await producer.send_and_wait(
                    "orders.events", forged.value, key=forged.key, headers=list(forged.headers)
                )
            finally:
                await producer.stop()
            # Other tests' records (not orders' schema) are dead letters too: read them all.
            letters = await dlq_records(secured.kafka_bootstrap, DLQ, 100, timeout=10)
            assert "forged source" in {letter["reason"] for letter in letters}, letters
    finally:
        relay.stop()
        await asyncio.wait_for(relaying, 30)
        await store.close()
        monkeypatch.undo()  # the shared stack's admin deletes the rig
        await sandbox.destroy(rig)
