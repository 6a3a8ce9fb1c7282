"""Findings in the databases: the subject's key, its events, idempotency records, read models
(every kept version) and parked rows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import asyncpg

from annals.eventstore import queries
from annals.privacy.report import (
    ABSENT,
    READABLE,
    UNKNOWN,
    UNREADABLE,
    WIPED,
    Finding,
    counted,
    sealed_state,
    state_of,
    tally,
)
from annals.privacy.sources import Sources
from annals.projections.events import load_json
from annals.projections.tables import quote
from annals.topology import topology

FORGOTTEN_STATUS = 410
KEPT_VERSIONS = (
    "SELECT name, version, schema_name, state FROM projections.versions "
    "WHERE state NOT IN ('dropped', 'failed') ORDER BY name, version"
)


@contextlib.asynccontextmanager
async def connected(dsn: str, seconds: float) -> AsyncIterator[asyncpg.Connection]:
    """A short-lived read-only connection: connecting and all its queries within `seconds`."""
    # One deadline for the whole visit of a database, so the report never hangs: a server that
    # accepts the connection and then never answers a query costs `seconds`, no more.
    try:
        async with asyncio.timeout(seconds):
            conn = await asyncpg.connect(dsn, timeout=seconds)
            try:
                await conn.execute("SET default_transaction_read_only = on")
                yield conn
            except asyncio.CancelledError:
                conn.terminate()  # a query may still be running: do not wait for a goodbye
                raise
            finally:
                if not conn.is_closed():
                    await conn.close()
    except TimeoutError as exc:
        raise TimeoutError(f"the database did not answer within {seconds:g} s") from exc


async def key_finding(sources: Sources, subject: str) -> tuple[Finding, bool, bool]:
    """The subject's key: (finding, key present, forgotten)."""
    place = f"{topology().key_holder.name} subject key"
    try:
        async with connected(sources.keys_dsn, sources.database_seconds) as conn:
            row = await queries.subject_key(conn, subject)
    except asyncpg.UndefinedTableError:
        row = None
    except (OSError, asyncpg.PostgresError) as exc:  # cannot tell: the key may exist
        return Finding("event store", place, UNKNOWN, repr(exc)[:200]), True, False
    if row is None:
        return Finding("event store", place, ABSENT, "no key: nothing was encrypted"), False, False
    if row.present:
        return Finding("event store", place, READABLE, "key present"), True, False
    return (
        Finding("event store", place, UNREADABLE, f"key deleted at {row.forgotten_at}"),
        False,
        True,
    )


async def store_findings(
    sources: Sources,
    subject: str,
    streams: Sequence[str],
    names: frozenset[str],
    key: bool,
    forgotten: bool = False,
) -> list[Finding]:
    """Per event store: the subject's events, and the idempotency records naming it."""
    out = []
    for service, dsn in sorted(sources.store_dsns.items()):
        try:
            async with connected(dsn, sources.database_seconds) as conn:
                out.append(await _events(conn, service, subject, streams, names, key))
                found = await _responses(conn, service, subject, key, forgotten)
                if found is not None:
                    out.append(found)
        except (OSError, asyncpg.PostgresError) as exc:
            out.append(Finding("event store", f"{service} events", UNKNOWN, repr(exc)[:200]))
    return out


async def _events(
    conn: asyncpg.Connection,
    service: str,
    subject: str,
    streams: Sequence[str],
    names: frozenset[str],
    key: bool,
) -> Finding:
    rows = await queries.subject_data(conn, streams, subject)
    if rows is None:
        return Finding("event store", f"{service} events", ABSENT, "store not created")
    plain, sealed = tally((_json(r) for r in rows), subject, names)
    detail = counted(plain, sealed, f"{len(rows)} events")
    return Finding("event store", f"{service} events", state_of(plain, sealed, key), detail)


async def _responses(
    conn: asyncpg.Connection, service: str, subject: str, key: bool, forgotten: bool
) -> Finding | None:
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM api.idempotency_keys WHERE aggregate_id = $1 AND status <> $2",
            subject,
            FORGOTTEN_STATUS,
        )
    except asyncpg.UndefinedTableError:
        return None
    place = f"{service} api.idempotency_keys"
    if count:
        detail = f"{count} stored responses: no body, a replay renders the events"
        return Finding("idempotency", place, sealed_state(key), detail)
    if forgotten:  # Forget turned them into tombstones, which name no aggregate
        return Finding("idempotency", place, WIPED, "no stored response names it")
    return Finding("idempotency", place, ABSENT, "no stored response names it")


async def read_model_findings(
    sources: Sources, subject: str, streams: Sequence[str], names: frozenset[str], key: bool
) -> list[Finding]:
    """Every kept version of every projection: its personal columns, and its parked rows."""
    out = []
    for database, dsn in sorted(sources.database_dsns.items()):
        try:
            async with connected(dsn, sources.database_seconds) as conn:
                for name, version, schema, state in await _kept(conn):
                    out += await _version(conn, name, version, schema, state, subject)
                    out += await _parked(conn, f"{name} v{version}", schema, subject, streams,
                                         names, key)  # fmt: skip
        except (OSError, asyncpg.PostgresError) as exc:
            out.append(Finding("read model", database, UNKNOWN, repr(exc)[:200]))
    return out


async def _kept(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    try:
        return await conn.fetch(KEPT_VERSIONS)
    except asyncpg.UndefinedTableError:
        return []


async def _version(
    conn: asyncpg.Connection, name: str, version: int, schema: str, state: str, subject: str
) -> list[Finding]:
    projection = topology().projections.get(name)
    if projection is None:
        return []
    out = []
    for table in projection.tables:
        columns = projection.personal_columns.get(table.name, ())
        if not columns:
            continue
        pk = next(iter(table.primary_key.columns)).name
        cols = ", ".join(quote(c) for c in columns)
        row = await conn.fetchrow(
            f"SELECT {cols} FROM {quote(schema)}.{quote(table.name)} WHERE {quote(pk)} = $1",
            subject,
        )
        place = f"{name} v{version} ({state}) {table.name}"
        if row is None:
            out.append(Finding("read model", place, ABSENT, "no row"))
        elif any(v is not None for v in row.values()):
            held = ", ".join(c for c, v in zip(columns, row.values(), strict=True) if v is not None)
            out.append(Finding("read model", place, READABLE, f"in clear: {held}"))
        else:
            out.append(Finding("read model", place, WIPED, f"{', '.join(columns)} are null"))
    return out


async def _parked(
    conn: asyncpg.Connection,
    place: str,
    schema: str,
    subject: str,
    streams: Sequence[str],
    names: frozenset[str],
    key: bool,
) -> list[Finding]:
    rows = await conn.fetch(f"SELECT data FROM {quote(schema)}._parked WHERE {queries.OF_SUBJECT}",
                            streams, subject)  # fmt: skip
    if not rows:
        return []
    plain, sealed = tally((_json(r[0]) for r in rows), subject, names)
    detail = counted(plain, sealed, f"{len(rows)} parked events")
    return [Finding("parked rows", place, state_of(plain, sealed, key), detail)]


def _json(value: object) -> object:
    return load_json(value) if isinstance(value, str) else value
