"""Where the Debezium role may connect (issue 12): a CDC source's database always (`annals stack
up` grants it), a service's database only while a Debezium connector of that database is applied
(Debezium publisher mode). `annals stack up` revokes the latter; applying a connector grants it,
deleting the connector revokes it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import asyncpg

from annals.connect.slots import POSTGRES_CLASS
from annals.stack.settings import APP_ROLES, StackSettings


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def target(config: Mapping[str, str]) -> tuple[str, str] | None:
    """(role, database) a Debezium PostgreSQL connector logs in as and reads, else None."""
    if config.get("connector.class") != POSTGRES_CLASS:
        return None
    role, database = config.get("database.user"), config.get("database.dbname")
    return (role, database) if role and database else None


def allow(settings: StackSettings, config: Mapping[str, str]) -> str | None:
    """GRANT CONNECT on the connector's database to its role (as the superuser); the database."""
    return asyncio.run(_grant(settings, config, "GRANT", "TO"))


def disallow(settings: StackSettings, config: Mapping[str, str]) -> str | None:
    """REVOKE that CONNECT again, unless the role always connects there (a CDC source)."""
    found = target(config)
    if found is None or found[1] in APP_ROLES.get(found[0], ()):
        return None
    return asyncio.run(_grant(settings, config, "REVOKE", "FROM"))


async def _grant(
    settings: StackSettings, config: Mapping[str, str], verb: str, preposition: str
) -> str | None:
    found = target(config)
    if found is None:
        return None
    role, database = found
    conn = await asyncpg.connect(settings.dsn(database), timeout=10)
    try:
        await conn.execute(
            f"{verb} CONNECT ON DATABASE {_ident(database)} {preposition} {_ident(role)}"
        )
    finally:
        await conn.close()
    return database
