"""Replication slots of Debezium PostgreSQL connectors: retained WAL, and dropping a slot."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

import asyncpg

from annals.connect.secrets import resolve

POSTGRES_CLASS = "io.debezium.connector.postgresql.PostgresConnector"


@dataclass(frozen=True)
class SlotInfo:
    """A replication slot: whether a walsender uses it and how much WAL it holds back."""

    name: str
    active: bool
    retained_bytes: int
    confirmed_flush_lsn: str | None


def slot_dsn(config: Mapping[str, str]) -> str | None:
    """A DSN from a Debezium PostgreSQL config (its own user, the password its `${file:...}`
    reference names), or None for other connectors."""
    if config.get("connector.class") != POSTGRES_CLASS:
        return None
    user = quote(config.get("database.user", ""), safe="")
    password = quote(resolve(config.get("database.password", "")), safe="")
    host, port = config.get("database.hostname", ""), config.get("database.port", "5432")
    return f"postgresql://{user}:{password}@{host}:{port}/{config.get('database.dbname', '')}"


async def slot_info(conn: asyncpg.Connection, slot: str) -> SlotInfo | None:
    """The slot's state, or None when it does not exist."""
    row = await conn.fetchrow(
        "SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained, "
        "confirmed_flush_lsn::text AS flushed FROM pg_replication_slots WHERE slot_name = $1",
        slot,
    )
    if row is None:
        return None
    return SlotInfo(slot, bool(row["active"]), int(row["retained"] or 0), row["flushed"])


async def drop_slot(conn: asyncpg.Connection, slot: str, timeout: float = 30.0) -> bool:
    """Drop a slot once no walsender uses it; True when it existed."""
    async with asyncio.timeout(timeout):
        while True:
            info = await slot_info(conn, slot)
            if info is None:
                return False
            if not info.active:
                try:
                    await conn.execute("SELECT pg_drop_replication_slot($1)", slot)
                except asyncpg.ObjectInUseError:
                    await asyncio.sleep(0.5)
                    continue
                except asyncpg.UndefinedObjectError:
                    return False
                return True
            await asyncio.sleep(0.5)


async def connector_slot(config: Mapping[str, str], timeout: float = 5.0) -> SlotInfo | None:
    """The slot of a Debezium PostgreSQL connector, read with the connector's own credentials."""
    dsn = slot_dsn(config)
    if dsn is None:
        return None
    conn = await asyncpg.connect(dsn, timeout=timeout)
    try:
        return await slot_info(conn, config.get("slot.name", "debezium"))
    finally:
        await conn.close()


async def drop_connector_slot(config: Mapping[str, str], timeout: float = 30.0) -> bool:
    """Drop the slot of a deleted Debezium PostgreSQL connector (REPLICATION role suffices)."""
    dsn = slot_dsn(config)
    if dsn is None:
        return False
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await drop_slot(conn, config.get("slot.name", "debezium"), timeout)
    finally:
        await conn.close()
