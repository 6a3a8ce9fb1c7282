"""Forget reaches every kept version of a read model, not only the live one (docs/rules.md#privacy).

A version retired by `rebuild --keep-old` stops consuming, so it would keep a forgotten
subject's personal data for as long as it is kept. When the live version applies an event its
projection declares as an erasure (`Projection.erasures`), the same handler runs on every
retired version in the same transaction, and the stream's parked rows there are deleted. A
retired version whose erasure fails is dropped instead: a copy that cannot be wiped goes.
Retired versions are also dropped once older than `ProjectorSettings.keep_retired_s`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

import asyncpg

from annals.projections.events import Event
from annals.projections.projection import Projection, Rows
from annals.projections.tables import Key, quote
from annals.projections.versions import drop_version

log = logging.getLogger(__name__)
RETIRED = (
    "SELECT version, schema_name FROM projections.versions WHERE name = $1 AND state = 'retired' "
    "ORDER BY version"
)
# Retired before `now() - $2 seconds`: the version after it was switched to that long ago.
EXPIRED = (
    "SELECT v.version FROM projections.versions v WHERE v.name = $1 AND v.state = 'retired' "
    "AND (SELECT min(n.switched_at) FROM projections.versions n WHERE n.name = v.name "
    "AND n.version > v.version) < now() - make_interval(secs => $2)"
)


async def erase_retired(
    conn: asyncpg.Connection, projection: Projection, events: Sequence[Event]
) -> list[int]:
    """Apply erasure events to every retired version (caller's transaction); versions touched."""
    if not events:
        return []
    touched = []
    for version, schema in await conn.fetch(RETIRED, projection.name):
        try:
            async with conn.transaction():
                await _erase_in(conn, projection, schema, events)
        except (asyncpg.PostgresError, LookupError, KeyError, TypeError, ValueError) as exc:
            log.warning(
                "erasure failed in a retired version: dropping it",
                extra={"projection": projection.name, "version": version, "error": repr(exc)},
            )
            await drop_schema(conn, projection.name, version, schema)
        touched.append(version)
    return touched


async def _erase_in(
    conn: asyncpg.Connection, projection: Projection, schema: str, events: Sequence[Event]
) -> None:
    rows = Rows(projection.table_sql(schema))
    wanted: dict[str, set[Key]] = defaultdict(set)
    for event in events:
        for table, key in projection.keys(event):
            wanted[table].add(key)
    await rows.load(conn, wanted)
    for event in events:
        projection.handlers[event.type](rows, event)
    await rows.flush(conn)
    streams = sorted({e.stream_id for e in events if e.stream_id})
    await conn.execute(f"DELETE FROM {quote(schema)}._parked WHERE stream_id = ANY($1)", streams)


async def drop_schema(conn: asyncpg.Connection, name: str, version: int, schema: str) -> None:
    """Drop a version that is not live (no version lock: for retired versions only)."""
    await conn.execute(f"DROP SCHEMA IF EXISTS {quote(schema)} CASCADE")
    await conn.execute(
        "UPDATE projections.versions SET state = 'dropped', note = 'erasure failed' "
        "WHERE name = $1 AND version = $2",
        name,
        version,
    )


async def drop_expired(conn: asyncpg.Connection, name: str, keep_s: float) -> list[int]:
    """Drop the retired versions of a projection kept longer than `keep_s`; their numbers."""
    dropped = []
    for (version,) in await conn.fetch(EXPIRED, name, float(keep_s)):
        await drop_version(conn, name, version)
        dropped.append(version)
    if dropped:
        log.info("retired versions dropped", extra={"projection": name, "versions": dropped})
    return dropped
