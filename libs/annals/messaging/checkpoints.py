"""Publisher checkpoints in the service database, their migration, and an in-memory twin."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import asyncpg

from annals.eventstore.ports import START, Checkpoint

log = logging.getLogger(__name__)
MIGRATION_LOCK = 0x616E6E616C7350  # serializes messaging migrations per database
PUBLICATION = "annals_outbox"  # the Debezium outbox connectors read the events through it

LOAD = "SELECT tx_id, position FROM messaging.publisher_checkpoints WHERE name = $1"
# Monotonic: a publisher that lost its lock can never move the checkpoint backwards.
SAVE = """
INSERT INTO messaging.publisher_checkpoints AS c (name, tx_id, position, published)
VALUES ($1, $2, $3, $4)
ON CONFLICT (name) DO UPDATE
   SET tx_id = EXCLUDED.tx_id, position = EXCLUDED.position,
       published = c.published + EXCLUDED.published, updated_at = now()
 WHERE (c.tx_id, c.position) <= (EXCLUDED.tx_id, EXCLUDED.position)
"""
SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS messaging;
CREATE TABLE IF NOT EXISTS messaging.publisher_checkpoints (
    name text PRIMARY KEY,
    tx_id bigint NOT NULL DEFAULT 0,
    position bigint NOT NULL DEFAULT 0,
    published bigint NOT NULL DEFAULT 0,
    leader text,
    leader_since timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'annals_outbox') THEN
        CREATE PUBLICATION annals_outbox FOR TABLE eventstore.events WITH (publish = 'insert');
    END IF;
END $$;
"""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grants_sql(app_role: str, debezium_role: str | None) -> str:
    """The app role reads and writes checkpoints; Debezium may read the events table."""
    app = _ident(app_role)
    sql = f"""
GRANT USAGE ON SCHEMA messaging TO {app};
GRANT SELECT, INSERT, UPDATE ON messaging.publisher_checkpoints TO {app};
"""
    if debezium_role:
        dbz = _ident(debezium_role)
        sql += f"""
GRANT USAGE ON SCHEMA eventstore TO {dbz};
GRANT SELECT ON eventstore.events TO {dbz};
"""
    return sql


async def migrate_messaging(
    owner_dsn: str, app_role: str, debezium_role: str | None = "debezium"
) -> None:
    """Create the checkpoint table and the outbox publication (idempotent, as the owner).

    Needs the event store's tables (run the event store migration first). The Debezium grants
    are skipped when that role does not exist.
    """
    conn = await asyncpg.connect(owner_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(SCHEMA_SQL)
            if debezium_role and not await conn.fetchval(
                "SELECT 1 FROM pg_roles WHERE rolname = $1", debezium_role
            ):
                debezium_role = None
            await conn.execute(grants_sql(app_role, debezium_role))
    finally:
        await conn.close()


class Queries(Protocol):
    """What the checkpoint store needs: an asyncpg Connection or Pool."""

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """The first row or None."""
        ...

    async def execute(self, query: str, *args: Any) -> str:
        """The status."""
        ...


class PostgresCheckpointStore:
    """Checkpoints in messaging.publisher_checkpoints, through the given connection."""

    def __init__(self, db: Queries) -> None:
        self.db = db

    async def load(self, name: str) -> Checkpoint:
        """The stored checkpoint of `name` (START when none)."""
        row = await self.db.fetchrow(LOAD, name)
        return START if row is None else Checkpoint(row[0], row[1])

    async def save(self, name: str, checkpoint: Checkpoint, published: int = 0) -> None:
        """Store a checkpoint unless a later one is stored already."""
        await self.db.execute(SAVE, name, checkpoint.tx_id, checkpoint.position, published)


class InMemoryCheckpointStore:
    """The CheckpointStore contract in process memory."""

    def __init__(self) -> None:
        self.checkpoints: dict[str, Checkpoint] = {}
        self.published: dict[str, int] = {}

    async def load(self, name: str) -> Checkpoint:
        """The stored checkpoint of `name` (START when none)."""
        return self.checkpoints.get(name, START)

    async def save(self, name: str, checkpoint: Checkpoint, published: int = 0) -> None:
        """Store a checkpoint unless a later one is stored already."""
        if checkpoint >= self.checkpoints.get(name, START):
            self.checkpoints[name] = checkpoint
            self.published[name] = self.published.get(name, 0) + published
