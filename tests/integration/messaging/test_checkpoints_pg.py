"""The PostgreSQL checkpoint store fulfils the contract, as the service role."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from annals.messaging.checkpoints import PostgresCheckpointStore, migrate_messaging
from tests.integration.messaging.support import APP, ScratchDatabase
from tests.unit.messaging.checkpoint_contract import CheckpointStoreContract

pytestmark = pytest.mark.stack


class TestPostgresCheckpointStore(CheckpointStoreContract):
    @pytest.fixture
    async def checkpoints(self, msg_db: ScratchDatabase) -> AsyncIterator[PostgresCheckpointStore]:
        pool = await asyncpg.create_pool(msg_db.app_dsn, min_size=1, max_size=2)
        try:
            yield PostgresCheckpointStore(pool)
        finally:
            await pool.close()


async def test_messaging_migration_is_idempotent_and_publishes_the_events_table(
    msg_db: ScratchDatabase,
):
    await migrate_messaging(msg_db.owner_dsn, APP)
    await migrate_messaging(msg_db.owner_dsn, APP)
    conn = await asyncpg.connect(msg_db.admin_dsn)
    try:
        tables = await conn.fetch(
            "SELECT schemaname, tablename FROM pg_publication_tables "
            "WHERE pubname = 'annals_outbox'"
        )
        debezium_can_read = await conn.fetchval(
            "SELECT has_table_privilege('debezium', 'eventstore.events', 'SELECT')"
        )
        app_cannot_delete = not await conn.fetchval(
            "SELECT has_table_privilege($1, 'messaging.publisher_checkpoints', 'DELETE')", APP
        )
    finally:
        await conn.close()
    assert [tuple(t) for t in tables] == [("eventstore", "events")]
    assert debezium_can_read and app_cannot_delete
