"""A private platform: scratch event stores and read-model database, own topic prefix.

Tests and benchmarks build one each, so rebuilds (which read whole stores) and checksums see
only their own events; `destroy` drops the databases and deletes the topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from annals.eventstore.migrations import migrate
from annals.eventstore.ports import RecordedEvent, uuid7
from annals.eventstore.postgres import PostgresEventStore
from annals.eventstore.settings import ServiceDatabase
from annals.eventstore.streams import kind_of
from annals.messaging.checkpoints import migrate_messaging
from annals.messaging.publisher import KafkaPublisher, make_producer
from annals.messaging.runner import RelayProcess
from annals.messaging.security import client_security
from annals.messaging.settings import KafkaSettings, PublisherSettings
from annals.messaging.topics import TopicSpec, ensure_topics
from annals.projections import versions
from annals.projections.projection import Projection
from annals.projections.settings import ProjectorSettings
from annals.projections.tables import quote
from annals.stack import scratch
from annals.stack.settings import PROJECTOR_ROLES, StackSettings
from annals.topology import Service, topology


@dataclass
class Rig:
    """Names and DSNs of one test's private platform."""

    stack: StackSettings
    unique: str
    databases: dict[str, str] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        """Topic prefix of this test."""
        return f"t{self.unique}."

    def owner_dsn(self, kind: str) -> str:
        """Owner DSN of the scratch copy of a declared database (readmodels, orders, ...)."""
        return self.stack.dsn(self.databases[kind], _owner_of(kind).owner_role)

    def app_dsn(self, kind: str) -> str:
        """The DSN of the app role of the service owning the database (query_app: readmodels)."""
        return self.stack.dsn(self.databases[kind], _owner_of(kind).app_role)

    def settings(self, **overrides: Any) -> ProjectorSettings:
        """Projector settings on this rig."""
        values: dict[str, Any] = {
            "topic_prefix": self.prefix,
            "bootstrap": self.stack.kafka_bootstrap,
            "database_dsns": {db: self.owner_dsn(db) for db in PROJECTOR_ROLES},
            "store_dsns": {s.name: self.app_dsn(s.database) for s in _stores()},
            "keys_dsn": self.app_dsn(topology().key_holder.database),
            "batch_ms": 2,
        }
        values.update(overrides)
        return ProjectorSettings(**values)

    def env(self) -> dict[str, str]:
        """ANNALS_PROJECTOR_* for a projector subprocess on this rig."""
        s = self.settings()
        return {
            "ANNALS_PROJECTOR_TOPIC_PREFIX": s.topic_prefix,
            "ANNALS_PROJECTOR_DATABASE_DSNS": json.dumps(s.database_dsns),
            "ANNALS_PROJECTOR_STORE_DSNS": json.dumps(s.store_dsns),
            "ANNALS_PROJECTOR_KEYS_DSN": s.keys_dsn,
        }

    def topic(self, logical: str) -> str:
        """The physical topic of a logical one."""
        return f"{self.prefix}{logical}"

    async def store(self, service: str) -> PostgresEventStore:
        """The scratch event store of a service, as its app role."""
        return await PostgresEventStore.connect(self.app_dsn(service), min_size=1, max_size=10)

    @contextlib.asynccontextmanager
    async def relay(self, service: str) -> AsyncIterator[RelayProcess]:
        """The service's real relay publisher (store -> `<prefix><service>.events`)."""
        process = RelayProcess(
            PublisherSettings(service=service, topic=self.topic(f"{service}.events"),
                              publisher_name=f"{self.prefix}{service}"),
            ServiceDatabase(service=service, database=self.databases[service],
                            dsn=self.app_dsn(service), owner_dsn=self.owner_dsn(service)),
            KafkaSettings(bootstrap=self.stack.kafka_bootstrap),
        )  # fmt: skip
        task = asyncio.create_task(process.run())
        try:
            yield process
        finally:
            process.stop()
            await asyncio.wait_for(task, 30)


def _owner_of(database: str) -> Service:
    """The declared service whose database this is."""
    for service in topology().services.values():
        if service.database == database:
            return service
    raise ValueError(f"no declared service owns the database {database!r}")


def _stores() -> list[Service]:
    """The services with an event store (the command services)."""
    return topology().of_kind("command")


async def create(stack: StackSettings, unique: str) -> Rig:
    """Create a scratch copy of each declared service's database; event stores are migrated."""
    rig = Rig(stack, unique)
    for service in topology().services.values():
        kind, prefix = service.database, f"pj_{service.database[:4]}_{unique}"
        rig.databases[kind] = await scratch.create_database(
            stack, prefix, service.owner_role, [service.app_role]
        )
    for service in _stores():
        await migrate(rig.owner_dsn(service.database), service.app_role)
        await migrate_messaging(rig.owner_dsn(service.database), service.app_role)
    return rig


async def destroy(rig: Rig) -> None:
    """Drop the databases and delete the rig's topics."""
    for name in rig.databases.values():
        await scratch.drop_database(rig.stack, name)
    kafka = AIOKafkaAdminClient(
        bootstrap_servers=rig.stack.kafka_bootstrap, **client_security("admin")
    )
    await kafka.start()
    try:
        doomed = [t for t in await kafka.list_topics() if t.startswith(rig.prefix)]
        if doomed:
            await kafka.delete_topics(doomed)
    finally:
        await kafka.close()


def recorded(
    stream_id: str, version: int, event_type: str, data: dict[str, Any], at: datetime | None = None
) -> RecordedEvent:
    """A stored-looking event (to publish straight to Kafka)."""
    return RecordedEvent(
        0, 0, stream_id, kind_of(stream_id), version, uuid7(), event_type, 1,
        json.dumps(data), "{}", at or datetime.now(UTC),
    )  # fmt: skip


async def produce(
    bootstrap: str, topic: str, service: str, events: Sequence[RecordedEvent], chunk: int = 5000
) -> None:
    """Publish events with the relay's publisher (CloudEvents, key = stream id, 6 partitions)."""
    await ensure_topics(bootstrap, [TopicSpec(topic, 6)])
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        publisher = KafkaPublisher(producer, topic, service)
        for start in range(0, len(events), chunk):
            await publisher.publish(events[start : start + chunk])
    finally:
        await producer.stop()


async def checksum(dsn: str, schema: str, projection: Projection) -> dict[str, str]:
    """md5 of every table of a projection version, rows in primary-key order."""
    conn = await asyncpg.connect(dsn)
    try:
        out = {}
        for table in projection.tables:
            keys = ", ".join(quote(c.name) for c in table.primary_key.columns)
            out[table.name] = await conn.fetchval(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY {keys}), '')) "
                f"FROM {quote(schema)}.{quote(table.name)} t"
            )
        return out
    finally:
        await conn.close()


async def live_schema(dsn: str, name: str) -> str:
    """Schema of the live version of a projection."""
    conn = await asyncpg.connect(dsn)
    try:
        info = await versions.live(conn, name)
        assert info is not None, f"{name} has no live version"
        return info.schema
    finally:
        await conn.close()
