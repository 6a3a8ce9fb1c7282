"""Migrations (idempotent, concurrent-safe), privileges and the append-only events table."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from annals.eventstore import NewEvent
from annals.eventstore.migrations import MIGRATIONS, migrate
from annals.eventstore.postgres import PostgresEventStore
from annals.eventstore.schema import metadata
from tests.integration.eventstore.conftest import APP, ScratchDatabase

pytestmark = pytest.mark.stack


async def test_migrate_twice_and_concurrently_is_safe(es_database: ScratchDatabase) -> None:
    assert await migrate(es_database.owner_dsn, APP) == []
    results = await asyncio.gather(*(migrate(es_database.owner_dsn, APP) for _ in range(4)))
    assert results == [[], [], [], []]
    conn = await asyncpg.connect(es_database.app_dsn)
    try:
        versions = await conn.fetch(
            "SELECT version FROM annals.migrations WHERE component = 'eventstore'"
        )
        assert sorted(r[0] for r in versions) == [m.version for m in MIGRATIONS]
    finally:
        await conn.close()


async def test_database_matches_the_metadata(es_database: ScratchDatabase) -> None:
    conn = await asyncpg.connect(es_database.owner_dsn)
    try:
        for table in metadata.sorted_tables:
            rows = await conn.fetch(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'eventstore' AND table_name = $1",
                table.name,
            )
            assert {r[0] for r in rows} == {c.name for c in table.columns}, table.name
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE eventstore.events SET data = '{}' WHERE stream_id = $1",
        "DELETE FROM eventstore.events WHERE stream_id = $1",
    ],
)
async def test_events_are_append_only(
    pg_store: PostgresEventStore, es_database: ScratchDatabase, statement: str
) -> None:
    stream = f"locked-{uuid.uuid4().hex[:12]}"
    await pg_store.append(stream, [NewEvent("Kept", {"a": 1})])
    app = await asyncpg.connect(es_database.app_dsn)
    owner = await asyncpg.connect(es_database.owner_dsn)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute(statement, stream)
        with pytest.raises(asyncpg.PostgresError, match="append-only") as exc:
            await owner.execute(statement, stream)
        assert exc.value.sqlstate == "ES004"
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await owner.execute("TRUNCATE eventstore.events")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("TRUNCATE eventstore.events")
    finally:
        await app.close()
        await owner.close()
    assert [e.data for e in await pg_store.read_stream(stream)] == [{"a": 1}]


async def test_writer_sessions_have_timeouts(pg_store: PostgresEventStore) -> None:
    async with pg_store.database.acquire() as conn:
        idle = await conn.fetchval("SHOW idle_in_transaction_session_timeout")
        statement = await conn.fetchval("SHOW statement_timeout")
    assert idle == "5s" and statement == "30s"
