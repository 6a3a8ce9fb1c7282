"""The registry's storage in its own database `registry` (owner migrates, `registry_app` serves).

Ids come from an identity column, so a rolled back or deleted registration never frees one; a
schema row is never deleted, which keeps an id bound to its text for good. Each transaction takes
one advisory lock: registrations (check, then insert) never interleave.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from annals import migrations as runner
from annals.migrations import Step
from annals.registry.ports import Transaction, Version
from annals.registry.settings import RegistrySettings

LOCK_KEY = 0x5EC0_0018
TABLES = """
CREATE SCHEMA IF NOT EXISTS registry;
CREATE TABLE IF NOT EXISTS registry.schemas (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schema text NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS registry.versions (
    subject text NOT NULL,
    version int NOT NULL,
    schema_id bigint NOT NULL REFERENCES registry.schemas (id),
    deleted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (subject, version)
);
CREATE INDEX IF NOT EXISTS versions_by_schema ON registry.versions (schema_id);
CREATE TABLE IF NOT EXISTS registry.levels (
    subject text PRIMARY KEY,  -- '' is the global level
    level text NOT NULL
);
"""
GRANTS = """
GRANT USAGE ON SCHEMA registry TO {app};
GRANT SELECT, INSERT ON registry.schemas TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON registry.versions, registry.levels TO {app};
"""
# Idempotent DDL: a registry database created before the one runner runs it once more, harmlessly.
STEPS = (Step("registry", 1, "schemas, versions, levels", TABLES),)
_VERSION = "SELECT subject, version, schema_id, schema, deleted FROM registry.versions v "
_VERSION += "JOIN registry.schemas s ON s.id = v.schema_id "


def migrate(owner_dsn: str, app_role: str) -> None:
    """Create the registry's tables as the owner and grant the serving role."""
    asyncio.run(_migrate(owner_dsn, app_role))


async def _migrate(owner_dsn: str, app_role: str) -> None:
    await runner.migrate(owner_dsn, STEPS, [GRANTS.format(app=f'"{app_role}"')])


def _version(row: Any) -> Version:
    return Version(row["subject"], row["version"], row["schema_id"], row["schema"], row["deleted"])


class _Tx:
    """The Transaction port on one connection inside a transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def subjects(self) -> list[str]:
        """Every subject."""
        rows = await self.conn.fetch("SELECT DISTINCT subject FROM registry.versions ORDER BY 1")
        return [r[0] for r in rows]

    async def versions(self, subject: str) -> list[Version]:
        """A subject's versions, oldest first."""
        rows = await self.conn.fetch(_VERSION + "WHERE subject = $1 ORDER BY version", subject)
        return [_version(r) for r in rows]

    async def schema(self, schema_id: int) -> str | None:
        """The text of an id."""
        found: str | None = await self.conn.fetchval(
            "SELECT schema FROM registry.schemas WHERE id = $1", schema_id
        )
        return found

    async def id_of(self, schema: str) -> int | None:
        """The id of a text."""
        found: int | None = await self.conn.fetchval(
            "SELECT id FROM registry.schemas WHERE schema = $1", schema
        )
        return found

    async def new_id(self, schema: str) -> int:
        """A new id."""
        new: int = await self.conn.fetchval(
            "INSERT INTO registry.schemas (schema) VALUES ($1) RETURNING id", schema
        )
        return new

    async def add(self, version: Version) -> None:
        """Insert a version."""
        await self.conn.execute(
            "INSERT INTO registry.versions (subject, version, schema_id) VALUES ($1, $2, $3)",
            version.subject, version.version, version.id,
        )  # fmt: skip

    async def mark_deleted(self, subject: str, version: int) -> None:
        """Soft-delete a version."""
        await self.conn.execute(
            "UPDATE registry.versions SET deleted = true WHERE subject = $1 AND version = $2",
            subject, version,
        )  # fmt: skip

    async def remove(self, subject: str, version: int) -> None:
        """Hard-delete a version."""
        await self.conn.execute(
            "DELETE FROM registry.versions WHERE subject = $1 AND version = $2", subject, version
        )

    async def uses(self, schema_id: int) -> list[Version]:
        """Live versions of an id."""
        rows = await self.conn.fetch(
            _VERSION + "WHERE schema_id = $1 AND NOT deleted ORDER BY subject, version", schema_id
        )
        return [_version(r) for r in rows]

    async def level(self, subject: str | None) -> str | None:
        """A level set."""
        found: str | None = await self.conn.fetchval(
            "SELECT level FROM registry.levels WHERE subject = $1", subject or ""
        )
        return found

    async def set_level(self, subject: str | None, level: str | None) -> None:
        """Set or clear a level."""
        if level is None:
            await self.conn.execute("DELETE FROM registry.levels WHERE subject = $1", subject or "")
            return
        await self.conn.execute(
            "INSERT INTO registry.levels VALUES ($1, $2) "
            "ON CONFLICT (subject) DO UPDATE SET level = excluded.level",
            subject or "", level,
        )  # fmt: skip


class PostgresStore:
    """The registry's storage on a pool of `registry_app` connections."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, settings: RegistrySettings) -> PostgresStore:
        """Migrate (when the settings say so) and open the pool."""
        if settings.migrate:
            await _migrate(settings.owner_dsn, settings.app_role)
        pool = await asyncpg.create_pool(
            settings.dsn, min_size=1, max_size=4, timeout=settings.connect_timeout,
            server_settings=settings.server_settings,
        )  # fmt: skip
        return cls(pool)

    async def close(self) -> None:
        """Close the pool."""
        await self.pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One transaction holding the registry's advisory lock."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
            yield _Tx(conn)
