"""A private copy of the legacy CDC pipeline for one test: own schema, publication, slot, topics.

The connector is the real deploy/connect/legacy-erp.json rendered with overrides, so tests
exercise the shipped config without touching the `legacy-erp` connector or its slot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from legacy.schema import LegacySchema, migrate
from legacy.simulator import Applied

from annals.cdc import Event, RowChange, Tombstone
from annals.cdc.reader import ChangeReader, topic_pattern
from annals.connect import ConnectClient, ConnectorSpec, load_spec
from annals.connect.client import ConnectorStatus
from annals.connect.configs import deploy_dir
from annals.connect.slots import drop_slot, slot_info
from annals.stack.settings import StackSettings

LEGACY_CONFIG = "legacy-erp.json"


@dataclass
class CdcRig:
    """Names and connections of one test's pipeline."""

    stack: StackSettings
    unique: str
    owner: asyncpg.Connection
    admin: asyncpg.Connection
    where: LegacySchema = field(init=False)
    connect: ConnectClient = field(init=False)

    def __post_init__(self) -> None:
        self.where = LegacySchema(schema=f"cdc_{self.unique}", publication=f"pub_{self.unique}")
        self.connect = ConnectClient(self.stack.connect_url)

    @property
    def name(self) -> str:
        """Connector name."""
        return f"test-legacy-{self.unique}"

    @property
    def slot(self) -> str:
        """Replication slot name."""
        return f"slot_{self.unique}"

    @property
    def prefix(self) -> str:
        """Debezium topic.prefix."""
        return f"t{self.unique}"

    def topic(self, table: str) -> str:
        """Kafka topic of a legacy table."""
        return f"{self.prefix}.{self.where.schema}.{table}"

    def spec(self, **overrides: str) -> ConnectorSpec:
        """The shipped legacy connector config, pointed at this test's schema and names."""
        base = load_spec(deploy_dir(self.stack) / LEGACY_CONFIG, self.stack)
        mine = {
            "topic.prefix": self.prefix,
            "slot.name": self.slot,
            "publication.name": self.where.publication,
            "table.include.list": ",".join(self.where.captured_tables),
            "heartbeat.action.query": self.where.heartbeat_query,
        }
        return base.with_overrides({**mine, **overrides}, name=self.name)

    async def migrate(self) -> None:
        """Create this test's legacy schema and publication (as the owner, legacy_app)."""
        await migrate(self.owner, self.where)

    async def start(self, timeout: float = 90, **overrides: str) -> ConnectorStatus:
        """Apply the connector and wait until it and its task are RUNNING."""
        spec = self.spec(**overrides)
        await asyncio.to_thread(self.connect.apply, spec, False)
        return await self.wait_running(timeout)

    async def wait_running(self, timeout: float = 90) -> ConnectorStatus:
        """Wait (in a thread) until RUNNING."""
        return await asyncio.to_thread(self.connect.wait_running, self.name, timeout)

    def reader(self) -> ChangeReader:
        """A reader of every topic of this pipeline from the earliest offset."""
        return ChangeReader(self.stack.kafka_bootstrap, topic_pattern(self.prefix))

    async def retained_wal(self) -> tuple[int, int]:
        """(bytes behind restart_lsn, bytes behind confirmed_flush_lsn) of this test's slot."""
        row = await self.admin.fetchrow(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS restart, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS flushed "
            "FROM pg_replication_slots WHERE slot_name = $1",
            self.slot,
        )
        assert row is not None, f"slot {self.slot} does not exist"
        return int(row["restart"]), int(row["flushed"])

    async def cleanup(self) -> None:
        """Delete the connector, drop the slot, publication, schema and topics."""
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.connect.delete, self.name)
        with contextlib.suppress(TimeoutError):
            await drop_slot(self.admin, self.slot, timeout=60)
        if await slot_info(self.admin, self.slot) is not None:  # pragma: no cover - loud leak
            raise AssertionError(f"replication slot {self.slot} left behind")
        await self.admin.execute(f'DROP PUBLICATION IF EXISTS "{self.where.publication}"')
        await self.admin.execute(f'DROP SCHEMA IF EXISTS "{self.where.schema}" CASCADE')
        await _delete_topics(self.stack, self.prefix)
        self.connect.close()


async def _delete_topics(stack: StackSettings, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
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
async def cdc_rig(stack: StackSettings, unique: str) -> AsyncIterator[CdcRig]:
    """A migrated private legacy schema; everything is removed afterwards."""
    owner = await asyncpg.connect(stack.dsn("legacy_erp", "legacy_app"))
    admin = await asyncpg.connect(stack.dsn("legacy_erp"))
    rig = CdcRig(stack, unique, owner, admin)
    try:
        await rig.migrate()
        yield rig
    finally:
        try:
            await rig.cleanup()
        finally:
            await owner.close()
            await admin.close()


# --- comparing what was written with what arrived -----------------------------------------

KEYS = {
    "products": ("sku",),
    "stock_levels": ("sku", "warehouse"),
    "legacy_customers": ("legacy_id",),
}


def wire(value: Any) -> Any:
    """A Python value as Debezium writes it in JSON (decimals as strings, UTC timestamps)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def row_key(change: RowChange) -> tuple[str, tuple[Any, ...]]:
    """(table, primary key) of a row change."""
    table = change.source.table
    return table, tuple((change.key or {})[k] for k in KEYS[table])


def by_key(events: list[Event]) -> dict[tuple[str, tuple[Any, ...]], list[RowChange]]:
    """Row changes of the data tables per key, in arrival order, replayed duplicates removed."""
    grouped: dict[tuple[str, tuple[Any, ...]], list[RowChange]] = defaultdict(list)
    seen: set[tuple[Any, ...]] = set()
    for event in events:
        if not isinstance(event, RowChange) or event.source.table not in KEYS:
            continue
        identity = (*row_key(event), event.op, event.lsn, event.source.sequence)
        if identity in seen:  # at-least-once: a change replayed after a restart
            continue
        seen.add(identity)
        grouped[row_key(event)].append(event)  # arrival order: one key, one partition
    return grouped


def journal_by_key(journal: list[Applied]) -> dict[tuple[str, tuple[Any, ...]], list[Applied]]:
    """The simulator's committed changes grouped per key, in commit order."""
    grouped: dict[tuple[str, tuple[Any, ...]], list[Applied]] = defaultdict(list)
    for applied in journal:
        if applied.op != "alter":
            grouped[(applied.table, applied.key)].append(applied)
    return grouped


def streamed_count(events: list[Event]) -> int:
    """Distinct streamed (not snapshot) row changes of the data tables."""
    return sum(len([c for c in cs if not c.is_snapshot]) for cs in by_key(events).values())


def tombstones(events: list[Event]) -> list[Tombstone]:
    """The tombstones among events."""
    return [e for e in events if isinstance(e, Tombstone)]
