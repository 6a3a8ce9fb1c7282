"""Reads of the event store's tables on a given connection, for tools outside the store.

The relay (on its leader's connection), the rebuild, the publisher status, the console and the
privacy report read the store through these functions, so the tables' SQL and columns stay in
annals.eventstore.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from annals.eventstore.ports import Checkpoint, RecordedEvent
from annals.eventstore.postgres import COLUMNS, READ_ALL, to_records

COUNT = "SELECT count(*) FROM eventstore.events"
COUNT_AFTER = (
    "SELECT count(*) FROM eventstore.events "
    "WHERE (tx_id, global_position) > ($1::bigint::text::xid8, $2::bigint)"
)
STREAMS_OF_TYPE = """
SELECT stream_id, version, updated_at FROM eventstore.streams
 WHERE stream_type = $1 AND deleted_at IS NULL ORDER BY updated_at DESC LIMIT $2
"""
STREAMS_LIKE = """
SELECT stream_id, version, updated_at FROM eventstore.streams
 WHERE stream_id LIKE $1 || '%' AND deleted_at IS NULL ORDER BY updated_at DESC LIMIT $2
"""
# Rows naming a subject: of its streams, or holding a value encrypted with its key. Parked rows
# of read models keep the same columns (stream_id, data), so privacy reports reuse it there.
OF_SUBJECT = (
    "stream_id = ANY($1::text[]) OR EXISTS (SELECT 1 FROM jsonb_each(data) f "
    "WHERE jsonb_typeof(f.value) = 'object' AND f.value ? '$pii' AND f.value->>'s' = $2)"
)
SUBJECT_DATA = f"SELECT data FROM eventstore.events WHERE {OF_SUBJECT}"
HAS_EVENTS = "SELECT to_regclass('eventstore.events') IS NOT NULL"
SUBJECT_KEY = "SELECT key IS NOT NULL, forgotten_at FROM eventstore.subject_keys WHERE subject = $1"
CORRELATED = f"""
SELECT {COLUMNS} FROM eventstore.events
 WHERE metadata->>'correlation_id' = $1 ORDER BY recorded_at, global_position LIMIT $2
"""


class Reads(Protocol):
    """A connection or pool to read with."""

    async def fetch(self, query: str, *args: Any) -> Any:
        """All rows."""
        ...

    async def fetchval(self, query: str, *args: Any) -> Any:
        """The first value."""
        ...

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """The first row, or None."""
        ...


class StreamHead(NamedTuple):
    """A stream's id, version and last change."""

    stream_id: str
    version: int
    updated_at: datetime


async def read_all(conn: Reads, after: Checkpoint, limit: int) -> list[RecordedEvent]:
    """The next events after a checkpoint in the global order (as the store's read_all)."""
    return to_records(await conn.fetch(READ_ALL, after.tx_id, after.position, limit, None, None))


async def is_migrated(conn: Reads) -> bool:
    """Whether this database holds an event store (a service never started has none)."""
    return bool(await conn.fetchval("SELECT to_regclass('eventstore.events') IS NOT NULL"))


async def count_events(conn: Reads) -> int:
    """How many events the store holds."""
    return int(await conn.fetchval(COUNT))


async def count_after(conn: Reads, after: Checkpoint) -> int:
    """How many events lie after a checkpoint (a reader's lag)."""
    return int(await conn.fetchval(COUNT_AFTER, after.tx_id, after.position))


async def find_streams(conn: Reads, text: str, limit: int) -> list[StreamHead]:
    """Live streams whose type is `text`, else whose id starts with it, newest first."""
    rows = await conn.fetch(STREAMS_OF_TYPE, text, limit)
    rows = rows or await conn.fetch(STREAMS_LIKE, text, limit)
    return [StreamHead(r[0], r[1], r[2]) for r in rows]


async def correlated(conn: Reads, correlation_id: str, limit: int) -> list[RecordedEvent]:
    """Events whose metadata carries the correlation id, in recorded order."""
    return to_records(await conn.fetch(CORRELATED, correlation_id, limit))


async def subject_data(conn: Reads, streams: Sequence[str], subject: str) -> list[str] | None:
    """The data (JSON text) of every event of `streams` or sealed with `subject`'s key.

    None when the database holds no event store (not created yet).
    """
    if not await conn.fetchval(HAS_EVENTS):
        return None
    return [r[0] for r in await conn.fetch(SUBJECT_DATA, list(streams), subject)]


class SubjectKey(NamedTuple):
    """Whether a subject's key is held, and when it was forgotten."""

    present: bool
    forgotten_at: datetime | None


async def subject_key(conn: Reads, subject: str) -> SubjectKey | None:
    """The state of a subject's key; None when it never had one."""
    row = await conn.fetchrow(SUBJECT_KEY, subject)
    return None if row is None else SubjectKey(bool(row[0]), row[1])
