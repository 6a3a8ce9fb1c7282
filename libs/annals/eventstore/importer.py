"""Bulk import of NDJSON history through COPY, in chunked transactions that keep streams right.

One JSON object per line: `stream_id`, `event_type`, `data` (required) and `stream_type`,
`version`, `event_id`, `schema_version`, `metadata`, `recorded_at` (optional). Versions, when
given, must continue the stream without a gap; otherwise they are assigned.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from annals.eventstore.encoding import check_stream_id, default_stream_type, to_json
from annals.eventstore.errors import ImportConflict, InvalidEvent
from annals.eventstore.ports import uuid7
from annals.eventstore.subscription import CHANNEL

COPY_COLUMNS = [
    "stream_id",
    "stream_type",
    "version",
    "event_id",
    "event_type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
]
NEW_STREAMS = """
INSERT INTO eventstore.streams (stream_id, stream_type, version)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[]) ORDER BY 1
ON CONFLICT (stream_id) DO NOTHING
"""
LOCK_STREAMS = """
SELECT stream_id, stream_type, version, deleted_at IS NOT NULL FROM eventstore.streams
 WHERE stream_id = ANY($1::text[]) ORDER BY stream_id FOR UPDATE
"""
SET_VERSIONS = """
UPDATE eventstore.streams s SET version = u.version, updated_at = now()
  FROM unnest($1::text[], $2::int[]) AS u(stream_id, version) WHERE s.stream_id = u.stream_id
"""


@dataclass(frozen=True, slots=True)
class ImportLine:
    """One parsed input line."""

    line_no: int
    stream_id: str
    stream_type: str
    version: int | None
    event_id: uuid.UUID
    event_type: str
    schema_version: int
    data: str
    metadata: str
    recorded_at: datetime


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


def parse_line(line_no: int, raw: str | bytes, now: datetime) -> ImportLine:
    """Parse and check one NDJSON line, or raise InvalidEvent naming the line."""
    try:
        obj = json.loads(raw)
        stream_id = check_stream_id(obj["stream_id"])
        data = obj["data"]
        if not isinstance(data, dict):
            raise InvalidEvent("data must be an object")
        version = obj.get("version")
        if version is not None and (type(version) is not int or version < 1):
            raise InvalidEvent(f"version must be an int >= 1: {version!r}")
        schema_version = obj.get("schema_version", 1)
        if type(schema_version) is not int or schema_version < 1:
            raise InvalidEvent(f"schema_version must be an int >= 1: {schema_version!r}")
        event_type = obj["event_type"]
        if not isinstance(event_type, str) or not event_type:
            raise InvalidEvent("event_type must be a non-empty string")
        recorded = obj.get("recorded_at")
        return ImportLine(
            line_no,
            stream_id,
            obj.get("stream_type") or default_stream_type(stream_id),
            version,
            uuid.UUID(obj["event_id"]) if obj.get("event_id") else uuid7(),
            event_type,
            schema_version,
            to_json(data, "data"),
            to_json(obj.get("metadata") or {}, "metadata"),
            datetime.fromisoformat(recorded) if recorded else now,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidEvent(f"line {line_no}: {exc!r}") from exc


def read_lines(lines: Iterable[str | bytes], chunk_size: int) -> Iterator[list[ImportLine]]:
    """Parsed lines in chunks of `chunk_size`, blank lines skipped."""
    now = datetime.now(UTC)
    chunk: list[ImportLine] = []
    for no, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        chunk.append(parse_line(no, raw, now))
        if len(chunk) >= chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def import_chunk(conn: asyncpg.Connection, chunk: list[ImportLine]) -> int:
    """Import one chunk in one transaction; return how many new streams it started."""
    types: dict[str, str] = {}
    for line in chunk:
        types.setdefault(line.stream_id, line.stream_type)
    ids = list(types)
    async with conn.transaction():
        await conn.execute(NEW_STREAMS, ids, list(types.values()), [0] * len(ids))
        rows = await conn.fetch(LOCK_STREAMS, ids)
        current = {r[0]: r[2] for r in rows}
        new_streams = sum(1 for r in rows if r[2] == 0)
        for r in rows:
            if r[3]:
                raise ImportConflict(f"stream {r[0]!r} is deleted")
            if r[1] != types[r[0]]:
                raise ImportConflict(f"stream {r[0]!r} has type {r[1]!r}, not {types[r[0]]!r}")
        records: list[tuple[Any, ...]] = []
        for line in chunk:
            version = current[line.stream_id] + 1
            if line.version is not None and line.version != version:
                raise ImportConflict(
                    f"line {line.line_no}: stream {line.stream_id!r} is at version "
                    f"{version - 1}, the line has version {line.version}"
                )
            current[line.stream_id] = version
            records.append(
                (
                    line.stream_id,
                    line.stream_type,
                    version,
                    line.event_id,
                    line.event_type,
                    line.schema_version,
                    line.data,
                    line.metadata,
                    line.recorded_at,
                )
            )
        try:
            await conn.copy_records_to_table(
                "events", schema_name="eventstore", records=records, columns=COPY_COLUMNS
            )
        except asyncpg.UniqueViolationError as exc:
            raise ImportConflict(f"already in the store: {exc.detail or exc}") from exc
        await conn.execute(SET_VERSIONS, ids, [current[s] for s in ids])
    return new_streams


async def import_lines(
    conn: asyncpg.Connection,
    lines: Iterable[str | bytes],
    *,
    chunk_size: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> ImportStats:
    """Import NDJSON lines; each chunk commits on its own (stats count committed events)."""
    stats = ImportStats()
    started = time.perf_counter()
    try:
        for chunk in read_lines(lines, chunk_size):
            stats.streams += await import_chunk(conn, chunk)
            stats.events += len(chunk)
            if progress is not None:
                progress(len(chunk))
    except (ImportConflict, InvalidEvent) as exc:
        raise type(exc)(f"{exc} ({stats.events} events were imported before)") from exc
    finally:
        stats.seconds = time.perf_counter() - started
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
    return stats


async def import_file(
    dsn: str,
    path: Path,
    *,
    chunk_size: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> ImportStats:
    """Import an NDJSON file into the event store at `dsn`."""
    conn = await asyncpg.connect(dsn)
    try:
        with path.open("rb") as handle:
            return await import_lines(conn, handle, chunk_size=chunk_size, progress=progress)
    finally:
        await conn.close()
