"""Versions of a projection: one schema per version, a registry of the live one, stable views.

Each version `<name>_v<N>` holds the projection's tables and its bookkeeping (consumed
positions, applied stream versions, parked events, dead letters). Readers query views in the
projection's view schema; switching versions replaces the registry entry and the views in one
transaction, so a reader sees either the old or the new version, never a mix or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from annals import migrations
from annals.projections.health import WORKERS_DDL
from annals.projections.projection import Projection
from annals.projections.tables import quote

CHANNEL = "annals_projections"
REGISTRY_DDL = """
CREATE SCHEMA IF NOT EXISTS projections;
CREATE TABLE IF NOT EXISTS projections.registry (
    name text PRIMARY KEY,
    live_version int,
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS projections.versions (
    name text NOT NULL,
    version int NOT NULL,
    schema_name text NOT NULL,
    state text NOT NULL,
    source text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    switched_at timestamptz,
    note text NOT NULL DEFAULT '',
    PRIMARY KEY (name, version));
"""
BOOKKEEPING_DDL = """
CREATE TABLE {s}._offsets (
    topic text NOT NULL, partition int NOT NULL, next_offset bigint NOT NULL,
    last_event_at timestamptz, updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition));
CREATE TABLE {s}._checkpoints (
    source text PRIMARY KEY, tx_id bigint NOT NULL, position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE {s}._streams (
    stream_id text PRIMARY KEY, version int NOT NULL, parked_at int, event_id text);
CREATE INDEX ON {s}._streams (parked_at) WHERE parked_at IS NOT NULL;
CREATE TABLE {s}._parked (
    stream_id text NOT NULL, version int NOT NULL, event_type text NOT NULL,
    schema_version int NOT NULL, data jsonb NOT NULL, event_time timestamptz NOT NULL,
    topic text NOT NULL, partition int NOT NULL, "offset" bigint NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(), event_id text, PRIMARY KEY (stream_id, version));
CREATE TABLE {s}._dead_letters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, topic text, partition int,
    "offset" bigint, stream_id text, version int, event_type text, reason text NOT NULL,
    error text NOT NULL, at timestamptz NOT NULL DEFAULT now());
"""
# Idempotent DDL: a database whose registry predates the one runner runs it once more, harmlessly.
STEPS = (
    migrations.Step("projections", 1, "registry, versions, workers", REGISTRY_DDL + WORKERS_DDL),
)
# Columns added to the bookkeeping after versions were created without them (table, column).
ADDED_COLUMNS = (("_streams", "event_id text"), ("_parked", "event_id text"))
# Views beside the tables' own: what the query API needs about freshness.
BOOKKEEPING_VIEWS = {"applied": "_streams", "offsets": "_offsets"}


@dataclass(frozen=True)
class VersionInfo:
    """One version of a projection."""

    name: str
    version: int
    schema: str
    state: str
    source: str
    created_at: datetime | None = None
    switched_at: datetime | None = None


def schema_name(name: str, version: int) -> str:
    """The schema of a projection version."""
    return f"{name}_v{version}"


async def migrate_registry(conn: asyncpg.Connection) -> None:
    """Apply the registry's steps (annals.migrations; as the projector's role)."""
    await migrations.apply(conn, STEPS)


def bookkeeping_steps(schema: str) -> tuple[migrations.Step, ...]:
    """A version's own steps: columns added to its bookkeeping after it may have been created.

    Each ALTER is guarded by a look at the catalog, so a version that has the column (every
    version created since) takes no table lock.
    """
    alters = []
    for table, column in ADDED_COLUMNS:
        target = f"{quote(schema)}.{quote(table)}"
        alters.append(
            f"IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{target}'::regclass "
            f"AND attname = '{column.split()[0]}' AND NOT attisdropped) THEN "
            f"ALTER TABLE {target} ADD COLUMN {column}; END IF;"
        )
    sql = "DO $do$ BEGIN " + " ".join(alters) + " END $do$"
    return (migrations.Step(f"projection.{schema}", 1, "event ids of applied and parked", sql),)


async def upgrade_bookkeeping(conn: asyncpg.Connection, schema: str) -> None:
    """Bring a version's bookkeeping up to date (a version created by an older release)."""
    await migrations.apply(conn, bookkeeping_steps(schema))


async def lock(conn: asyncpg.Connection, name: str) -> None:
    """Serialize version changes of one projection (transaction-scoped)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('annals.projection.' || $1))", name)


async def live(conn: asyncpg.Connection, name: str) -> VersionInfo | None:
    """The live version of a projection, if any."""
    row = await conn.fetchrow(
        "SELECT v.name, v.version, v.schema_name, v.state, v.source, v.created_at, v.switched_at "
        "FROM projections.registry r JOIN projections.versions v "
        "ON v.name = r.name AND v.version = r.live_version WHERE r.name = $1",
        name,
    )
    return None if row is None else VersionInfo(*row)


async def versions(conn: asyncpg.Connection, name: str | None = None) -> list[VersionInfo]:
    """Every recorded version (of one projection, or all), oldest first."""
    rows = await conn.fetch(
        "SELECT name, version, schema_name, state, source, created_at, switched_at "
        "FROM projections.versions WHERE $1::text IS NULL OR name = $1 ORDER BY name, version",
        name,
    )
    return [VersionInfo(*r) for r in rows]


async def create_version(
    conn: asyncpg.Connection, projection: Projection, source: str, state: str = "building"
) -> VersionInfo:
    """Create the next version's schema with empty tables and bookkeeping (in a transaction)."""
    async with conn.transaction():
        await lock(conn, projection.name)
        number = await conn.fetchval(
            "SELECT coalesce(max(version), 0) + 1 FROM projections.versions WHERE name = $1",
            projection.name,
        )
        schema = schema_name(projection.name, number)
        await conn.execute(f"DROP SCHEMA IF EXISTS {quote(schema)} CASCADE")
        await conn.execute(f"CREATE SCHEMA {quote(schema)}")
        for sql in projection.table_sql(schema).values():
            for statement in sql.ddl():
                await conn.execute(statement)
        await conn.execute(BOOKKEEPING_DDL.format(s=quote(schema)))
        await conn.execute(
            "INSERT INTO projections.versions (name, version, schema_name, state, source) "
            "VALUES ($1, $2, $3, $4, $5)",
            projection.name,
            number,
            schema,
            state,
            source,
        )
    return VersionInfo(projection.name, number, schema, state, source)


def view_names(projection: Projection) -> dict[str, str]:
    """View name -> table name in the version schema."""
    out = {t.name: t.name for t in projection.tables}
    for suffix, table in BOOKKEEPING_VIEWS.items():
        out[f"{projection.name}__{suffix}"] = table
    return out


async def _point_views(
    conn: asyncpg.Connection, projection: Projection, schema: str, readers: list[str]
) -> None:
    vs = quote(projection.view_schema)
    # Grants and CREATE SCHEMA of different projections race on the same catalog rows.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('annals.projections.views'))")
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {vs}")
    for reader in readers:
        await conn.execute(f"GRANT USAGE ON SCHEMA {vs} TO {quote(reader)}")
    version_view = f"{vs}.{quote(projection.name + '__version')}"
    await conn.execute(f"DROP VIEW IF EXISTS {version_view}")
    number = int(schema.rsplit("_v", 1)[1])
    await conn.execute(f"CREATE VIEW {version_view} AS SELECT {number}::int AS version")
    for reader in readers:
        await conn.execute(f"GRANT SELECT ON {version_view} TO {quote(reader)}")
    for view, table in view_names(projection).items():
        target = f"{vs}.{quote(view)}"
        await conn.execute(f"DROP VIEW IF EXISTS {target}")
        await conn.execute(f"CREATE VIEW {target} AS SELECT * FROM {quote(schema)}.{quote(table)}")
        for reader in readers:
            await conn.execute(f"GRANT SELECT ON {target} TO {quote(reader)}")


async def switch(
    conn: asyncpg.Connection, projection: Projection, version: int, readers: list[str]
) -> int | None:
    """Make `version` live: registry, states and views in one transaction; the old version."""
    async with conn.transaction():
        await lock(conn, projection.name)
        await conn.execute(
            "INSERT INTO projections.registry (name) VALUES ($1) ON CONFLICT DO NOTHING",
            projection.name,
        )
        # Workers take this row FOR SHARE in every batch: the switch waits for batches in
        # flight on the old version, and later batches see the new one.
        old = await conn.fetchval(
            "SELECT live_version FROM projections.registry WHERE name = $1 FOR UPDATE",
            projection.name,
        )
        await conn.execute(
            "UPDATE projections.versions SET state = 'retired' WHERE name = $1 AND version = $2",
            projection.name,
            old,
        )
        await conn.execute(
            "UPDATE projections.versions SET state = 'live', switched_at = now() "
            "WHERE name = $1 AND version = $2",
            projection.name,
            version,
        )
        await conn.execute(
            "UPDATE projections.registry SET live_version = $2, updated_at = now() WHERE name = $1",
            projection.name,
            version,
        )
        await _point_views(conn, projection, schema_name(projection.name, version), readers)
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"switch:{projection.name}")
    return old


async def drop_version(conn: asyncpg.Connection, name: str, version: int) -> None:
    """Drop a version that is not live (its schema and tables)."""
    async with conn.transaction():
        await lock(conn, name)
        current = await conn.fetchval(
            "SELECT live_version FROM projections.registry WHERE name = $1", name
        )
        if current == version:
            raise ValueError(f"{name} v{version} is live; switch to another version first")
        await conn.execute(f"DROP SCHEMA IF EXISTS {quote(schema_name(name, version))} CASCADE")
        await migrations.forget(conn, f"projection.{schema_name(name, version)}")
        await conn.execute(
            "UPDATE projections.versions SET state = 'dropped' WHERE name = $1 AND version = $2",
            name,
            version,
        )


async def mark(conn: asyncpg.Connection, name: str, version: int, state: str, note: str) -> None:
    """Record a version's state (e.g. failed) with a note."""
    await conn.execute(
        "UPDATE projections.versions SET state = $3, note = $4 WHERE name = $1 AND version = $2",
        name,
        version,
        state,
        note,
    )


async def ensure_live(
    conn: asyncpg.Connection, projection: Projection, readers: list[str]
) -> VersionInfo:
    """The live version, creating and switching to version 1 when the projection is new."""
    await migrate_registry(conn)
    async with conn.transaction():
        await lock(conn, projection.name)
        current = await live(conn, projection.name)
        if current is not None:
            return current
        created = await create_version(conn, projection, "live")
        await switch(conn, projection, created.version, readers)
    found = await live(conn, projection.name)
    assert found is not None
    return found
