"""A command service's database: event store + its own tables, migrated or checked at start."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from annals.commands.tables import SCHEMA, TableStep
from annals.eventstore import migrations as es_migrations
from annals.eventstore.database import PostgresDatabase

LOCK_KEY = 0x616E6E616C74  # one service-table migration per database at a time
CONNECT_TIMEOUT = 5.0


class DatabaseNotReady(Exception):
    """The service's database is unreachable, refuses the login, or is not migrated."""


def _where(dsn: str) -> str:
    parts = urlsplit(dsn)
    return f"{parts.username}@{parts.hostname}:{parts.port}{parts.path}"


def _quote(role: str) -> str:
    return '"' + role.replace('"', '""') + '"'


async def migrate_tables(
    owner_dsn: str, app_role: str, steps: Sequence[TableStep], grants: Sequence[str]
) -> list[int]:
    """Migrate the event store, then the service's own tables, as the owner; grant the role."""
    applied = await es_migrations.migrate(owner_dsn, app_role)
    conn = await asyncpg.connect(owner_dsn, timeout=CONNECT_TIMEOUT)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS api.schema_migrations (version int PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in await conn.fetch("SELECT version FROM api.schema_migrations")}
            for step in steps:
                if step.version not in done:
                    await conn.execute(step.sql)
                    await conn.execute(
                        "INSERT INTO api.schema_migrations (version, name) VALUES ($1, $2)",
                        step.version,
                        step.name,
                    )
                    applied.append(1000 + step.version)
            role = _quote(app_role)
            await conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {role}")
            await conn.execute(f"GRANT SELECT ON api.schema_migrations TO {role}")
            for grant in grants:
                await conn.execute(grant.format(app=role))
    finally:
        await conn.close()
    return applied


async def check_migrated(dsn: str, steps: Sequence[TableStep]) -> None:
    """Raise DatabaseNotReady unless every event-store and service migration is applied."""
    conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT)
    try:
        missing: list[str] = []
        for table, wanted in (
            ("eventstore.schema_migrations", {m.version for m in es_migrations.MIGRATIONS}),
            ("api.schema_migrations", {s.version for s in steps}),
        ):
            try:
                have = {r[0] for r in await conn.fetch(f"SELECT version FROM {table}")}
            except asyncpg.UndefinedTableError:
                have = set()
            if wanted - have:
                missing.append(f"{table.split('.')[0]} {sorted(wanted - have)}")
    finally:
        await conn.close()
    if missing:
        raise DatabaseNotReady(f"not migrated (missing: {', '.join(missing)})")


async def open_service_database(
    *,
    service: str,
    dsn: str,
    owner_dsn: str,
    app_role: str,
    steps: Sequence[TableStep],
    grants: Sequence[str],
    migrate: bool,
    pool_size: int,
    server_settings: dict[str, str],
    pool_options: Mapping[str, Any] | None = None,
) -> PostgresDatabase:
    """Migrate (or check) the database and open it; DatabaseNotReady says why not.

    `pool_options` go to PostgresDatabase.open (acquire, connect and command timeouts, the
    Availability the pool reports to).
    """
    try:
        if migrate:
            await migrate_tables(owner_dsn, app_role, steps, grants)
        else:
            await check_migrated(dsn, steps)
        return await PostgresDatabase.open(
            dsn,
            min_size=2,
            max_size=pool_size,
            server_settings=server_settings,
            **(pool_options or {}),
        )
    except DatabaseNotReady as exc:
        hint = (
            f"run `annals services migrate {service}` or set ANNALS_{service.upper()}_MIGRATE=true"
        )
        raise DatabaseNotReady(f"{service}: database {_where(dsn)} is {exc}; {hint}") from None
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = _where(owner_dsn if migrate else dsn)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatabaseNotReady(
            f"{service}: database {where} is unreachable or refuses the service ({reason}); "
            f"is the stack up (`make up`)? DSNs: ANNALS_{service.upper()}_DSN / _OWNER_DSN"
        ) from None
