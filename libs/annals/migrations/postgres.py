"""The runner on PostgreSQL: `annals.migrations` is the bookkeeping, one advisory lock per database.

Roles that may create objects in the database (its owner, a projector) record the steps they
apply; every role may read the table (a service that starts without migrating checks it). Row
security keeps roles without CREATE on the database from recording anything, and lets a role
forget only the records it made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import asyncpg

from annals.migrations.runner import Step, pending, run

# Advisory locks are per database: one key serializes every migration of a database (the key
# of the event store's former runner, so an older release migrating at the same time waits too).
LOCK_KEY = 0x616E6E616C73
LOCK_TIMEOUT = "60s"  # a migration waits this long for the lock or a table lock, then fails
CONNECT_TIMEOUT = 10.0
TABLE = "annals.migrations"
BOOKKEEPING = """
CREATE SCHEMA IF NOT EXISTS annals;
CREATE TABLE annals.migrations (
    component text NOT NULL,
    version int NOT NULL,
    name text NOT NULL,
    applied_by text NOT NULL DEFAULT current_user,
    applied_at timestamptz NOT NULL DEFAULT now(),
    adopted_from text,
    PRIMARY KEY (component, version)
);
ALTER TABLE annals.migrations ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON annals.migrations FOR SELECT USING (true);
CREATE POLICY recorded_by_creators ON annals.migrations FOR INSERT
    WITH CHECK (has_database_privilege(current_database(), 'CREATE'));
CREATE POLICY forgotten_by_recorder ON annals.migrations FOR DELETE
    USING (applied_by = current_user);
GRANT USAGE ON SCHEMA annals TO PUBLIC;
GRANT SELECT, INSERT, DELETE ON annals.migrations TO PUBLIC;
"""
# A scan of pg_class, not to_regclass: the catalog caches may not yet see a table that a
# concurrent run created while this one waited for the advisory lock.
EXISTS = (
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = split_part($1, '.', 1) "
    "AND tablename = split_part($1, '.', 2))"
)
APPLIED = "SELECT component, version FROM annals.migrations"
RECORD = (
    "INSERT INTO annals.migrations (component, version, name, adopted_from) VALUES ($1, $2, $3, $4)"
)


class _Locked:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def applied(self) -> set[tuple[str, int]]:
        return {(r[0], r[1]) for r in await self.conn.fetch(APPLIED)}

    async def recorded_before(self, table: str, version: int) -> bool:
        return await _recorded_before(self.conn, table, version)

    async def execute(self, sql: str) -> None:
        await self.conn.execute(sql)

    async def record(self, step: Step, adopted_from: str | None) -> None:
        await self.conn.execute(RECORD, step.component, step.version, step.name, adopted_from)


async def _recorded_before(conn: asyncpg.Connection, table: str, version: int) -> bool:
    if not await conn.fetchval(EXISTS, table):
        return False
    try:
        return bool(await conn.fetchval(f"SELECT 1 FROM {table} WHERE version = $1", version))
    except asyncpg.InsufficientPrivilegeError:
        return False


class PostgresSession:
    """The Session port on one open connection (the runner opens its own transactions)."""

    def __init__(self, conn: asyncpg.Connection, database: str) -> None:
        self.conn = conn
        self.database = database

    async def applied(self) -> set[tuple[str, int]]:
        """Recorded pairs (none while the table does not exist)."""
        if not await self.conn.fetchval(EXISTS, TABLE):
            return set()
        return {(r[0], r[1]) for r in await self.conn.fetch(APPLIED)}

    async def recorded_before(self, table: str, version: int) -> bool:
        """Whether an older runner's table records the version."""
        return await _recorded_before(self.conn, table, version)

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[_Locked]:
        """A transaction holding the migration lock; creates the bookkeeping on first use."""
        async with self.conn.transaction():
            await self.conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            await self.conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
            # Checked, not CREATE ... IF NOT EXISTS: that needs CREATE on the schema, which a
            # second role (the projector beside the owner) does not have once the table exists.
            if not await self.conn.fetchval(EXISTS, TABLE):
                await self.conn.execute(BOOKKEEPING)
            yield _Locked(self.conn)


async def apply(
    conn: asyncpg.Connection, steps: Sequence[Step], always: Sequence[str] = (), database: str = ""
) -> list[Step]:
    """Run the missing steps and `always` on an open connection; the steps applied."""
    database = database or await conn.fetchval("SELECT current_database()")
    return await run(PostgresSession(conn, database), steps, always)


async def migrate(dsn: str, steps: Sequence[Step], always: Sequence[str] = ()) -> list[Step]:
    """Connect (as the role that migrates), run the missing steps and `always`, disconnect."""
    conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT)
    try:
        return await apply(conn, steps, always, _database_of(dsn))
    finally:
        await conn.close()


async def check(dsn: str, steps: Sequence[Step], timeout: float = CONNECT_TIMEOUT) -> list[Step]:
    """The steps a database still lacks, read as any role (nothing is changed)."""
    conn = await asyncpg.connect(dsn, timeout=timeout)
    try:
        return await pending(PostgresSession(conn, _database_of(dsn)), steps)
    finally:
        await conn.close()


async def forget(conn: asyncpg.Connection, component: str) -> None:
    """Drop a component's records (its objects were dropped, e.g. a test schema or a projection
    version); a role other than the table's owner forgets only those it recorded."""
    if await conn.fetchval(EXISTS, TABLE):
        await conn.execute("DELETE FROM annals.migrations WHERE component = $1", component)


def _database_of(dsn: str) -> str:
    parts = urlsplit(dsn)
    return f"{parts.hostname}:{parts.port}{parts.path}"
