"""Operators' repairs of a projection: DLQ replay and unpark, through the normal apply path.

Both run in a transaction of their own that first locks the stored offsets of the partitions
they touch (FOR UPDATE, the row the live worker locks for every batch), so they never race a
worker over a stream's marks, and neither moves a stored or committed offset: the live
workers' positions are untouched.

- replay: each dead letter is decoded exactly as the worker decodes (intake.py) and staged by
  the projection's live Applier. Idempotent on (stream, version): a version already applied,
  or parked behind a still missing one, is skipped. A record that fails again changes
  nothing (its transaction rolls back) and is reported; it stays in the DLQ. When the
  replayed version is the one its stream waits for, the parked versions after it follow.
  Records without a stream version (CDC changes) are applied again as they are; the
  products read model ignores a change whose LSN it has already applied.
- unpark: an operator decides that a parked stream's missing versions will never come: the
  gap before each parked version is skipped and the parked versions are applied in order;
  a stream that waits for a dead letter with nothing parked behind it skips that version.
  A later replay of a skipped version is then a no-op (its version counts as applied).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from annals.eventstore.ports import KeyStore
from annals.eventstore.registry import EventRegistry
from annals.messaging.dlq import HEADER_PREFIX, read_dlq_headers
from annals.projections import versions
from annals.projections.admission import admission_for
from annals.projections.engine import Applier, BatchResult, Item, where
from annals.projections.events import Event
from annals.projections.intake import decode_records
from annals.projections.projection import Projection
from annals.projections.settings import ProjectorSettings
from annals.projections.tables import quote


@dataclass
class ReplayResult:
    """What a replay did, per dead letter (DLQ offsets)."""

    applied: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    unparked: int = 0


@dataclass
class UnparkResult:
    """What an unpark did."""

    parked: bool
    applied: int = 0
    gaps_skipped: int = 0
    still_parked: bool = False
    dead: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Original:
    """The record a dead letter was made of, where it was read (what decoding needs)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp: int | None


class _StillFailing(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def original(letter: Any) -> Original:
    """The original record of a DLQ record (its dlq_* headers say where it came from)."""
    origin = read_dlq_headers(list(letter.headers or ()))
    headers = [(k, v) for k, v in (letter.headers or ()) if not k.startswith(HEADER_PREFIX)]
    stamp = origin.get("original_timestamp") or None
    return Original(
        origin["original_topic"], int(origin["original_partition"]),
        int(origin["original_offset"]), letter.key, letter.value, headers,
        int(stamp) if stamp else letter.timestamp,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def live_applier(
    projection: Projection, settings: ProjectorSettings, keys: KeyStore | None = None
) -> AsyncIterator[tuple[asyncpg.Connection, Applier]]:
    """A connection and the Applier of the projection's live version."""
    conn = await asyncpg.connect(settings.dsn(projection.database), timeout=10)
    try:
        info = await versions.live(conn, projection.name)
        if info is None:
            raise LookupError(f"{projection.name} has no live version")
        await versions.upgrade_bookkeeping(conn, info.schema)
        yield conn, Applier(projection, info.version, info.schema, live=True, keys=keys)
    finally:
        await conn.close()


async def replay(
    projection: Projection,
    settings: ProjectorSettings,
    letters: Sequence[Any],
    *,
    registries: Mapping[str, EventRegistry] | None = None,
    keys: KeyStore | None = None,
) -> ReplayResult:
    """Apply the records of dead letters (DLQ records) once each, in DLQ order."""
    out = ReplayResult()
    async with live_applier(projection, settings, keys) as (conn, applier):
        for letter in letters:
            record = original(letter)
            [item] = await decode_records(
                [record], settings.logical, projection, registries or {}, keys,
                admission_for(settings.check_records),
            )  # fmt: skip
            try:
                result = await _replay_one(conn, applier, item)
            except _StillFailing as failing:
                out.failed.append((letter.offset, failing.why))
                continue
            except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
                out.failed.append((letter.offset, f"write failed: {type(exc).__name__}: {exc}"))
                continue
            done = result.applied + result.ignored > 0 or (
                item.stream_id is None and not result.dead
            )
            (out.applied if done else out.skipped).append(letter.offset)
            out.unparked += result.unparked
    return out


async def _replay_one(conn: asyncpg.Connection, applier: Applier, item: Item) -> BatchResult:
    s = quote(applier.schema)
    async with conn.transaction():
        await applier.check_live(conn)
        await conn.execute(
            f"SELECT 1 FROM {s}._offsets WHERE topic = $1 AND partition = $2 FOR UPDATE",
            item.topic,
            item.partition,
        )
        staged = await applier.stage(conn, [item])
        mine = [d for d in staged.result.dead if (d.topic, d.partition, d.offset) == where(item)]
        if mine:
            raise _StillFailing(f"{mine[0].reason}: {mine[0].error}")
        await applier.write(conn, staged)
    return staged.result


async def unpark(
    projection: Projection,
    settings: ProjectorSettings,
    stream_id: str,
    keys: KeyStore | None = None,
) -> UnparkResult:
    """Skip a parked stream's missing versions and apply what is parked, in order."""
    async with live_applier(projection, settings, keys) as (conn, applier):
        s = quote(applier.schema)
        async with conn.transaction():
            await applier.check_live(conn)
            await conn.execute(f"SELECT 1 FROM {s}._offsets ORDER BY topic, partition FOR UPDATE")
            mark = await conn.fetchrow(
                f"SELECT version, parked_at, event_id FROM {s}._streams WHERE stream_id = $1 "
                "FOR UPDATE",
                stream_id,
            )
            if mark is None or mark[1] is None:
                return UnparkResult(parked=False)
            events = [_event(r) for r in await conn.fetch(applier.sql_parked, [stream_id])]
            await applier.open_parked(events)
            await conn.execute(f"DELETE FROM {s}._parked WHERE stream_id = $1", stream_id)
            applied = mark[0] if events else max(mark[0], mark[1])
            out = UnparkResult(parked=True, gaps_skipped=applied - mark[0])
            await conn.execute(
                f"UPDATE {s}._streams SET version = $2, parked_at = NULL WHERE stream_id = $1",
                stream_id,
                applied,
            )
            staged = await applier.stage(conn, events, skip_gaps=True)
            await applier.write(conn, staged)
        out.applied = staged.result.applied + staged.result.ignored
        out.gaps_skipped += staged.result.gaps_skipped
        out.still_parked = staged.marks.get(stream_id, (0, None, None))[1] is not None
        out.dead = [f"v{d.version} {d.reason}: {d.error}" for d in staged.result.dead]
        return out


def _event(r: Any) -> Event:
    return Event(r[2], json.loads(r[4]), r[5], r[0], r[1], r[3], r[6], r[7], r[8], id=r[9])
