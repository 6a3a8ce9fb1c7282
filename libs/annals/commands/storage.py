"""A command service's database: event store + its own tables, migrated or checked at start."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from annals.eventstore import migrations as es_migrations
from annals.eventstore.postgres import PostgresEventStore

SCHEMA = "api"
LOCK_KEY = 0x616E6E616C74  # one service-table migration per database at a time
CONNECT_TIMEOUT = 5.0

IDEMPOTENCY_TABLE = """
CREATE TABLE IF NOT EXISTS api.idempotency_keys (
    actor text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    status int NOT NULL DEFAULT 0,
    headers jsonb NOT NULL DEFAULT '{}'::jsonb,
    body text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_idx ON api.idempotency_keys (created_at);
"""


@dataclass(frozen=True)
class TableStep:
    """One numbered step of a service's own schema (`api`); `{app}` names the service role."""

    version: int
    name: str
    sql: str


# Responses are kept as status, headers, aggregate and version, never as a body: the body is
# rendered again for whoever replays (masked without read:pii), so no plaintext copy of personal
# data sits here. Rows from before lose their bodies; the consistency token header names the
# stream and version they answered with, which is all a replay needs.
IDEMPOTENCY_RESPONSES = """
ALTER TABLE api.idempotency_keys
    ADD COLUMN IF NOT EXISTS aggregate_id text, ADD COLUMN IF NOT EXISTS version int;
UPDATE api.idempotency_keys
   SET version = split_part(headers->>'x-consistency-token', '@', 2)::int,
       aggregate_id = substring(split_part(headers->>'x-consistency-token', '@', 1)
                                FROM position('-' IN headers->>'x-consistency-token') + 1)
 WHERE headers->>'x-consistency-token' ~ '^[^@-]+-[^@]+@[0-9]{1,9}$';
DELETE FROM api.idempotency_keys WHERE status <> 0 AND version IS NULL;
ALTER TABLE api.idempotency_keys DROP COLUMN IF EXISTS body;
CREATE INDEX IF NOT EXISTS idempotency_keys_aggregate_idx ON api.idempotency_keys (aggregate_id);
"""
IDEMPOTENCY_STEP = TableStep(1, "idempotency keys", IDEMPOTENCY_TABLE)
# Library steps of the `api` schema after the first are numbered from 100 (services use 2-99).
IDEMPOTENCY_STEPS = (
    IDEMPOTENCY_STEP,
    TableStep(100, "idempotency responses without bodies", IDEMPOTENCY_RESPONSES),
)
# Forget: the subject's stored responses become tombstones (a replay answers 410, it does not run
# the command again); rows still being claimed (status 0) are saved by their own request.
FORGET_RESPONSES = """
UPDATE api.idempotency_keys
   SET status = 410, headers = '{}', aggregate_id = NULL, version = NULL, request_hash = ''
 WHERE aggregate_id = $1 AND status <> 0
"""
IDEMPOTENCY_GRANT = "GRANT SELECT, INSERT, UPDATE, DELETE ON api.idempotency_keys TO {app};"


async def forget_responses(conn: asyncpg.Connection, aggregate_id: str) -> None:
    """Wipe the stored idempotent responses of an aggregate (in the Forget's transaction)."""
    await conn.execute(FORGET_RESPONSES, aggregate_id)


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


async def open_service_store(
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
) -> PostgresEventStore:
    """Migrate (or check) the database, open the store; DatabaseNotReady says why not.

    `pool_options` go to PostgresEventStore.connect (acquire, connect and command timeouts,
    the Availability the pool reports to).
    """
    try:
        if migrate:
            await migrate_tables(owner_dsn, app_role, steps, grants)
        else:
            await check_migrated(dsn, steps)
        return await PostgresEventStore.connect(
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
