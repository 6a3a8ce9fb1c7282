"""Bulk import of NDJSON history through COPY, in chunked transactions that keep streams right.

One JSON object per line: `stream_id`, `event_type`, `data` (required) and `stream_type`,
`version`, `event_id`, `schema_version`, `metadata`, `recorded_at` (optional). Versions, when
given, must continue the stream without a gap; otherwise they are assigned in file order.

The lines go to the server as they are (COPY into a temporary table); PostgreSQL parses them
and moves them into the events table in the same transaction, so Python never re-encodes JSON.
The exception is personal data: given the service's registry, lines of event types with personal
fields are encrypted first by the append encoding (annals.eventstore.importseal).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from annals.eventstore.codec import EventCodec
from annals.eventstore.errors import ImportConflict, InvalidEvent
from annals.eventstore.importseal import PersonalDataSealer
from annals.eventstore.pgstores import PostgresKeyStore
from annals.eventstore.ports import uuid7
from annals.eventstore.registry import EventRegistry
from annals.eventstore.subscription import CHANNEL

PIPELINE = 2  # chunks in flight: one stages and parses while the other moves rows
# A chunk's staging tables and sorts stay in memory instead of spilling to disk.
SESSION = {"work_mem": "64MB", "temp_buffers": "128MB"}
STAGE = """
CREATE TEMP TABLE IF NOT EXISTS import_lines (
    line_no bigint GENERATED ALWAYS AS IDENTITY, doc jsonb NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS import_rows (
    line_no bigint, stream_id text, stream_type text, n int, doc jsonb);
CREATE TEMP TABLE IF NOT EXISTS import_streams (
    stream_id text PRIMARY KEY, stream_type text, version int, deleted boolean);
TRUNCATE import_lines, import_rows, import_streams;
ALTER TABLE import_lines ALTER line_no RESTART;
"""
PREPARE = """
INSERT INTO import_rows
SELECT l.line_no, l.doc->>'stream_id' AS stream_id,
       coalesce(l.doc->>'stream_type', split_part(l.doc->>'stream_id', '-', 1)) AS stream_type,
       row_number() OVER (PARTITION BY l.doc->>'stream_id' ORDER BY l.line_no)::int AS n,
       l.doc
  FROM import_lines l
"""
BAD_LINE = """
SELECT line_no, problem FROM (SELECT line_no, CASE
    WHEN jsonb_typeof(doc) <> 'object' THEN 'not an object'
    WHEN jsonb_typeof(doc->'stream_id') IS DISTINCT FROM 'string' OR stream_id = ''
        OR length(stream_id) > 200 THEN 'stream_id must be a non-empty string'
    WHEN jsonb_typeof(doc->'event_type') IS DISTINCT FROM 'string' OR doc->>'event_type' = ''
        THEN 'event_type must be a non-empty string'
    WHEN jsonb_typeof(doc->'data') IS DISTINCT FROM 'object' THEN 'data must be an object'
    WHEN doc ? 'version' AND (jsonb_typeof(doc->'version') <> 'number'
        OR (doc->>'version')::numeric < 1) THEN 'version must be an int >= 1'
    WHEN doc ? 'schema_version' AND (jsonb_typeof(doc->'schema_version') <> 'number'
        OR (doc->>'schema_version')::numeric < 1) THEN 'schema_version must be an int >= 1'
    WHEN doc ? 'metadata' AND jsonb_typeof(doc->'metadata') NOT IN ('object', 'null')
        THEN 'metadata must be an object'
    END AS problem
  FROM import_rows) checked WHERE problem IS NOT NULL ORDER BY line_no LIMIT 1
"""
LOCK_STREAMS = """
WITH wanted AS (
    SELECT DISTINCT ON (stream_id) stream_id, stream_type FROM import_rows ORDER BY stream_id)
INSERT INTO eventstore.streams (stream_id, stream_type, version)
SELECT stream_id, stream_type, 0 FROM wanted ORDER BY stream_id
ON CONFLICT (stream_id) DO NOTHING
"""
# The chunk's streams, locked and copied aside: the statements below join this small table,
# never the whole streams table (a hash join over it made imports into big stores slow).
LOCK = """
WITH locked AS (
    INSERT INTO import_streams
    SELECT stream_id, stream_type, version, deleted_at IS NOT NULL FROM eventstore.streams
     WHERE stream_id = ANY(ARRAY(SELECT DISTINCT stream_id FROM import_rows))
     ORDER BY stream_id FOR UPDATE
    RETURNING version)
SELECT count(*) FILTER (WHERE version = 0) FROM locked
"""
CONFLICTS = """
SELECT r.line_no, s.stream_id, s.version + r.n - 1, s.stream_type, r.stream_type,
       s.deleted, (r.doc->>'version')::int
  FROM import_rows r JOIN import_streams s USING (stream_id)
 WHERE s.deleted OR s.stream_type <> r.stream_type
    OR (r.doc ? 'version' AND (r.doc->>'version')::int <> s.version + r.n)
 ORDER BY r.line_no LIMIT 1
"""
# Lines without an event_id get a UUIDv7 (see `id_prefix`): time-ordered ids land at the end
# of the event_id index, which makes this statement about a third faster than random ids.
MOVE = """
INSERT INTO eventstore.events
    (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata,
     recorded_at)
SELECT r.stream_id, s.stream_type, s.version + r.n,
       coalesce((r.doc->>'event_id')::uuid, ($1 || lpad(to_hex(r.line_no), 8, '0'))::uuid),
       r.doc->>'event_type',
       coalesce((r.doc->>'schema_version')::int, 1), r.doc->'data',
       coalesce(nullif(r.doc->'metadata', 'null'::jsonb), '{}'::jsonb),
       coalesce((r.doc->>'recorded_at')::timestamptz, now())
  FROM import_rows r JOIN import_streams s USING (stream_id)
 ORDER BY r.line_no
"""
SET_VERSIONS = """
UPDATE eventstore.streams s SET version = s.version + c.n, updated_at = now()
  FROM (SELECT stream_id, max(n) AS n FROM import_rows GROUP BY stream_id) c
 WHERE s.stream_id = ANY(ARRAY(SELECT stream_id FROM import_streams))
   AND s.stream_id = c.stream_id
"""


@dataclass
class ImportStats:
    """What an import did."""

    events: int = 0
    streams: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds else 0.0


def id_prefix() -> str:
    """The first 24 hex digits of a chunk's event ids; the last 8 are the chunk's line number.

    A fresh UUIDv7 per chunk: millisecond time, version and variant bits, and 42 random bits,
    so generated ids sort by import time and chunks do not collide.
    """
    return str(uuid7())[:-8]


def copy_text(line: bytes) -> bytes:
    """One NDJSON line as a COPY text-format field (backslashes doubled, tabs escaped)."""
    line = line.strip()
    if b"\\" in line:
        line = line.replace(b"\\", b"\\\\")
    if b"\t" in line:
        line = line.replace(b"\t", b" ")
    if b"\r" in line:
        line = line.replace(b"\r", b" ")
    return line + b"\n"


def read_chunks(lines: Iterable[bytes], chunk_size: int) -> Iterator[tuple[int, list[bytes]]]:
    """(first line number, stripped lines) of up to chunk_size non-blank lines."""
    chunk: list[bytes] = []
    first = 1
    for no, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        if not chunk:
            first = no
        chunk.append(raw.strip())
        if len(chunk) >= chunk_size:
            yield first, chunk
            chunk = []
    if chunk:
        yield first, chunk


Seal = Callable[[int, list[bytes]], Awaitable[list[bytes]]]


class _Turn:
    """Hand-over between consecutive chunks: streams locked, then committed (or failed)."""

    def __init__(self) -> None:
        self.locked = asyncio.Event()
        self.finished = asyncio.Event()
        self.ok = False


async def import_chunk(
    conn: asyncpg.Connection,
    first_line: int,
    lines: list[bytes],
    previous: _Turn | None = None,
    turn: _Turn | None = None,
) -> int:
    """Import one chunk in one transaction; return how many new streams it started.

    With `previous`, staging overlaps the previous chunk, but this chunk locks its streams only
    after the previous one did and commits only after it committed, so versions follow the
    file and a failed chunk leaves nothing after it.
    """
    turn = turn or _Turn()
    try:
        async with conn.transaction():
            await conn.execute(STAGE)
            try:
                await conn.copy_to_table("import_lines", source=_Source(lines), columns=["doc"])
            except asyncpg.DataError as exc:
                raise InvalidEvent(f"lines from {first_line}: not JSON ({exc})") from exc
            await conn.execute(PREPARE)

            bad = await conn.fetchrow(BAD_LINE)
            if bad is not None:
                raise InvalidEvent(f"line {first_line + bad[0] - 1}: {bad[1]}")
            await _after(previous, previous.locked if previous else None)
            await conn.execute(LOCK_STREAMS)
            new_streams = await conn.fetchval(LOCK)
            turn.locked.set()
            conflict = await conn.fetchrow(CONFLICTS)
            if conflict is not None:
                raise ImportConflict(_describe(first_line + conflict[0] - 1, conflict))
            try:
                await conn.execute(MOVE, id_prefix())
            except asyncpg.UniqueViolationError as exc:
                raise ImportConflict(f"already in the store: {exc.detail or exc}") from exc
            except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
                raise InvalidEvent(f"lines from {first_line}: {exc}") from exc
            await conn.execute(SET_VERSIONS)
            await _after(previous, previous.finished if previous else None)
        turn.ok = True
        return int(new_streams)
    finally:
        turn.locked.set()
        turn.finished.set()


async def _after(previous: _Turn | None, event: asyncio.Event | None) -> None:
    if previous is None or event is None:
        return
    await event.wait()
    if previous.finished.is_set() and not previous.ok:
        raise asyncio.CancelledError("an earlier chunk failed")


def _describe(line: int, row: asyncpg.Record) -> str:
    _, stream, current, stored_type, line_type, deleted, wanted = row
    if deleted:
        return f"line {line}: stream {stream!r} is deleted"
    if stored_type != line_type:
        return f"line {line}: stream {stream!r} has type {stored_type!r}, not {line_type!r}"
    return f"line {line}: stream {stream!r} is at version {current}, the line has version {wanted}"


class _Source:
    """An async iterable of COPY data for asyncpg."""

    def __init__(self, lines: list[bytes]) -> None:
        self._data = b"".join(lines)

    def __aiter__(self) -> _Source:
        return self

    async def __anext__(self) -> bytes:
        if not self._data:
            raise StopAsyncIteration
        data, self._data = self._data, b""
        return data


async def import_lines(
    conns: Sequence[asyncpg.Connection],
    lines: Iterable[bytes],
    *,
    chunk_size: int = 50_000,
    progress: Callable[[int], None] | None = None,
    seal: Seal | None = None,
) -> ImportStats:
    """Import NDJSON lines, chunks pipelined over `conns`; each chunk commits on its own.

    `seal` rewrites each chunk's lines before COPY (PersonalDataSealer.seal encrypts them).
    """
    stats = ImportStats()
    started = time.perf_counter()
    running: deque[tuple[asyncio.Task[int], int]] = deque()
    previous: _Turn | None = None

    async def settle_oldest() -> None:
        task, count = running.popleft()
        stats.streams += await task
        stats.events += count
        if progress is not None:
            progress(count)

    try:
        for index, (first, chunk) in enumerate(read_chunks(lines, chunk_size)):
            if len(running) >= len(conns):
                await settle_oldest()
            if seal is not None:
                chunk = await seal(first, chunk)
            chunk = [copy_text(line) for line in chunk]
            turn = _Turn()
            conn = conns[index % len(conns)]
            task = asyncio.create_task(import_chunk(conn, first, chunk, previous, turn))
            running.append((task, len(chunk)))
            previous = turn
        while running:
            await settle_oldest()
    except (ImportConflict, InvalidEvent) as exc:
        raise type(exc)(f"{exc} ({stats.events} events were imported before)") from exc
    finally:
        for task, _ in running:
            task.cancel()
        await asyncio.gather(*(t for t, _ in running), return_exceptions=True)
        stats.seconds = time.perf_counter() - started
    await conns[0].execute("SELECT pg_notify($1, '')", CHANNEL)
    return stats


async def import_file(
    dsn: str,
    path: Path,
    *,
    chunk_size: int = 50_000,
    progress: Callable[[int], None] | None = None,
    registry: EventRegistry | None = None,
) -> ImportStats:
    """Import an NDJSON file into the event store at `dsn`.

    With the service's `registry`, personal fields are encrypted as append encrypts them (the
    subject keys are read and made on a connection of their own).
    """
    sealing = registry is not None and any(registry.personal(t) for t in registry.event_types)
    conns = await asyncio.gather(
        *(asyncpg.connect(dsn, server_settings=SESSION) for _ in range(PIPELINE + sealing))
    )
    seal = None
    if registry is not None and sealing:
        seal = PersonalDataSealer(EventCodec(registry, PostgresKeyStore(conns[-1]))).seal
    try:
        with path.open("rb") as handle:
            return await import_lines(
                conns[:PIPELINE], handle, chunk_size=chunk_size, progress=progress, seal=seal
            )
    finally:
        await asyncio.gather(*(c.close() for c in conns))
