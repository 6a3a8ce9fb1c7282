"""A command service's database: event store + its own tables, migrated or checked at start."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from annals import migrations as runner
from annals.commands.tables import SCHEMA, TableStep
from annals.eventstore import migrations as es_migrations
from annals.eventstore.database import PostgresDatabase
from annals.migrations import Step

CONNECT_TIMEOUT = 5.0
OLD_BOOKKEEPING = "api.schema_migrations"  # the former runner's: its steps are adopted


class DatabaseNotReady(Exception):
    """The service's database is unreachable, refuses the login, or is not migrated."""


def _where(dsn: str) -> str:
    parts = urlsplit(dsn)
    return f"{parts.username}@{parts.hostname}:{parts.port}{parts.path}"


def _quote(role: str) -> str:
    return '"' + role.replace('"', '""') + '"'


def api_steps(steps: Sequence[TableStep]) -> list[Step]:
    """A service's own table steps as the runner's (component `api`, numbered as before).

    Each creates the schema if it must, so a database of the former runner, which made the
    schema and recorded its steps in api.schema_migrations, adopts them all and lacks nothing.
    """
    schema = f"CREATE SCHEMA IF NOT EXISTS {SCHEMA};\n"
    return [
        Step(SCHEMA, t.version, t.name, schema + t.sql, recorded_in=OLD_BOOKKEEPING) for t in steps
    ]


def database_steps(steps: Sequence[TableStep]) -> list[Step]:
    """Everything a command service's database needs: the event store, then its own tables."""
    return [*es_migrations.MIGRATIONS, *api_steps(steps)]


def role_grants(app_role: str, table_grants: Sequence[str]) -> list[str]:
    """The service role's grants on the event store and on its own tables."""
    role = _quote(app_role)
    own = [
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {role};",
        *(g.format(app=role) for g in table_grants),
    ]
    return [es_migrations.grants_sql(app_role), "\n".join(own)]


async def migrate_tables(
    owner_dsn: str, app_role: str, steps: Sequence[TableStep], grants: Sequence[str]
) -> list[int]:
    """Migrate the event store, then the service's own tables, as the owner; grant the role.

    The versions applied: the event store's, then the service's own plus 1000.
    """
    applied = await runner.migrate(owner_dsn, database_steps(steps), role_grants(app_role, grants))
    own = [s.version + 1000 for s in applied if s.component == SCHEMA]
    return [s.version for s in applied if s.component != SCHEMA] + own


async def check_migrated(dsn: str, steps: Sequence[TableStep]) -> None:
    """Raise DatabaseNotReady unless every event-store and service step is applied."""
    missing = await runner.check(dsn, database_steps(steps), timeout=CONNECT_TIMEOUT)
    if missing:
        by: dict[str, list[int]] = {}
        for step in missing:
            by.setdefault(step.component, []).append(step.version)
        listed = ", ".join(f"{component} {versions}" for component, versions in by.items())
        raise DatabaseNotReady(f"not migrated (missing: {listed})")


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
    except runner.MigrationFailed as exc:
        raise DatabaseNotReady(f"{service}: {exc}") from None
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = _where(owner_dsn if migrate else dsn)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatabaseNotReady(
            f"{service}: database {where} is unreachable or refuses the service ({reason}); "
            f"is the stack up (`make up`)? DSNs: ANNALS_{service.upper()}_DSN / _OWNER_DSN"
        ) from None
