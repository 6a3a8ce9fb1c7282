"""A private copy of the legacy CDC pipeline: own schema, publication, slot, connector, topics.

The connector is the shipped deploy/connect/legacy-erp.json rendered with overrides, so tests
and benchmarks exercise the real config without touching the `legacy-erp` connector, its slot
or its topics. Everything is removed on exit; a replication slot is never left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from annals import migrations
from annals.cdc.reader import ChangeReader, topic_pattern
from annals.connect import ConnectClient, ConnectorSpec, load_spec
from annals.connect.client import ConnectorStatus
from annals.connect.configs import deploy_dir
from annals.connect.errors import ConnectError, ConnectorNotFound
from annals.connect.slots import drop_slot, slot_info
from annals.messaging.security import client_security
from annals.stack.settings import DATABASE_OWNERS, StackSettings
from legacy.schema import LegacySchema, migrate, quote

LEGACY_CONFIG = "legacy-erp.json"
DATABASE = "legacy_erp"


@dataclass
class Sandbox:
    """Names and connections of one private pipeline (suffix: a short unique id)."""

    stack: StackSettings
    suffix: str
    owner: asyncpg.Connection
    admin: asyncpg.Connection
    where: LegacySchema = field(init=False)
    connect: ConnectClient = field(init=False)

    def __post_init__(self) -> None:
        self.where = LegacySchema(schema=f"cdc_{self.suffix}", publication=f"pub_{self.suffix}")
        self.connect = ConnectClient(self.stack.connect_url)

    @property
    def name(self) -> str:
        """Connector name."""
        return f"sandbox-legacy-{self.suffix}"

    @property
    def slot(self) -> str:
        """Replication slot name."""
        return f"slot_{self.suffix}"

    @property
    def prefix(self) -> str:
        """Debezium topic.prefix."""
        return f"sandbox{self.suffix}"

    def topic(self, table: str) -> str:
        """Kafka topic of a legacy table."""
        return f"{self.prefix}.{self.where.schema}.{table}"

    def overrides(self) -> dict[str, str]:
        """The settings that point the shipped config at this sandbox."""
        return {
            "topic.prefix": self.prefix,
            "slot.name": self.slot,
            "publication.name": self.where.publication,
            "table.include.list": ",".join(self.where.captured_tables),
            "column.exclude.list": self.where.excluded_columns,
            "heartbeat.action.query": self.where.heartbeat_query,
        }

    def spec(self, **overrides: str) -> ConnectorSpec:
        """The shipped legacy connector config for this sandbox, with more overrides."""
        base = load_spec(deploy_dir(self.stack) / LEGACY_CONFIG, self.stack)
        return base.with_overrides({**self.overrides(), **overrides}, name=self.name)

    async def start(self, timeout: float = 90, **overrides: str) -> ConnectorStatus:
        """Apply the connector and wait until it and its task are RUNNING."""
        await asyncio.to_thread(self.connect.apply, self.spec(**overrides), False)
        return await self.wait_running(timeout)

    async def wait_running(self, timeout: float = 90) -> ConnectorStatus:
        """Wait (in a thread) until RUNNING."""
        return await asyncio.to_thread(self.connect.wait_running, self.name, timeout)

    def reader(self) -> ChangeReader:
        """A reader of every topic of this sandbox from the earliest offset."""
        return ChangeReader(self.stack.kafka_bootstrap, topic_pattern(self.prefix))

    async def retained_wal(self) -> tuple[int, int]:
        """(bytes behind restart_lsn, bytes behind confirmed_flush_lsn) of the slot."""
        row = await self.admin.fetchrow(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS restart, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS flushed "
            "FROM pg_replication_slots WHERE slot_name = $1",
            self.slot,
        )
        if row is None:
            raise LookupError(f"replication slot {self.slot} does not exist")
        return int(row["restart"]), int(row["flushed"])

    async def cleanup(self) -> None:
        """Delete the connector, drop the slot, publication, schema and topics."""
        deleted = await self._delete_connector()
        with contextlib.suppress(TimeoutError):
            await drop_slot(self.admin, self.slot, timeout=60)
        leaked = await slot_info(self.admin, self.slot)
        await self.admin.execute(f"DROP PUBLICATION IF EXISTS {quote(self.where.publication)}")
        await self.admin.execute(f"DROP SCHEMA IF EXISTS {quote(self.where.schema)} CASCADE")
        await migrations.forget(self.admin, self.where.component)
        await delete_topics(self.stack, self.prefix)
        self.connect.close()
        if not deleted:
            raise RuntimeError(f"connector {self.name} not deleted: Connect did not answer")
        if leaked is not None:
            raise RuntimeError(f"replication slot {self.slot} is still active: drop it by hand")

    async def _delete_connector(self, timeout: float = 90) -> bool:
        """Delete the connector, waiting for Connect to come back if it is restarting."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                await asyncio.to_thread(self.connect.delete, self.name)
                return True
            except ConnectorNotFound:
                return True
            except ConnectError:
                if asyncio.get_running_loop().time() > deadline:
                    return False
                await asyncio.sleep(1)


async def delete_topics(stack: StackSettings, prefix: str) -> None:
    """Delete the CDC topics and the heartbeat topic of a Debezium topic.prefix."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap, **client_security("admin"))
    await admin.start()
    try:
        topics = [
            t
            for t in await admin.list_topics()
            if t.startswith(f"{prefix}.") or t == f"__debezium-heartbeat.{prefix}"
        ]
        if topics:
            await admin.delete_topics(topics)
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def sandbox(stack: StackSettings, suffix: str) -> AsyncIterator[Sandbox]:
    """A migrated private legacy schema (connector not started); all removed afterwards."""
    owner = await asyncpg.connect(stack.dsn(DATABASE, DATABASE_OWNERS[DATABASE]))
    admin = await asyncpg.connect(stack.dsn(DATABASE))
    box = Sandbox(stack, suffix, owner, admin)
    try:
        await migrate(owner, box.where)
        yield box
    finally:
        try:
            await box.cleanup()
        finally:
            await owner.close()
            await admin.close()
