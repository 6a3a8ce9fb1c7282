"""Publisher checkpoints in the service database, their migration step, and an in-memory twin."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from annals import migrations as runner
from annals.eventstore.migrations import OUTBOX_PUBLICATION_SQL, outbox_reader_grants_sql
from annals.eventstore.ports import START, Checkpoint
from annals.migrations import Step

log = logging.getLogger(__name__)
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
SCHEMA_SQL = (
    """
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
"""
    + OUTBOX_PUBLICATION_SQL
)  # the events table's publication is the event store's SQL


# Idempotent DDL: databases migrated before the one runner run it once more, harmlessly.
STEPS = (Step("messaging", 1, "publisher checkpoints, outbox publication", SCHEMA_SQL),)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grants_sql(app_role: str, debezium_role: str | None) -> str:
    """The app role reads and writes checkpoints; Debezium (when that role exists) may read the
    events table."""
    app = _ident(app_role)
    sql = f"""
GRANT USAGE ON SCHEMA messaging TO {app};
GRANT SELECT, INSERT, UPDATE ON messaging.publisher_checkpoints TO {app};
"""
    if debezium_role:
        sql += outbox_reader_grants_sql(debezium_role)
    return sql


async def migrate_messaging(
    owner_dsn: str, app_role: str, debezium_role: str | None = "debezium"
) -> None:
    """Apply the messaging step and grants as the owner (after the event store's steps)."""
    await runner.migrate(owner_dsn, STEPS, [grants_sql(app_role, debezium_role)])


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
