"""One batch, one transaction: read-model rows, applied stream versions and consumed positions.

Rules this module protects (docs/rules.md#delivery):
- everything a batch changes commits together, so a crash at any point leaves either all of
  the batch or none of it, and a restart resumes exactly after the last committed batch;
- an event is applied only when its version is the stream's applied version + 1; lower
  versions are duplicates (skipped), higher ones park the stream until the gap is filled;
- a Kafka partition's stored offset is locked (FOR UPDATE) before use, so two workers that
  both believe they own a partition during a rebalance can never apply the same records:
  the second one finds the offset moved, drops what was applied and re-seeks;
- a live worker holds the registry row FOR SHARE, so a version switch waits for its batch and
  the next batch notices the switch;
- a record that fails (its keys(), prepare() or handler raising, or undecodable) is planned
  again as a dead letter (planner.py): the batch is staged as if it had never come.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from annals.eventstore.ports import KeyStore
from annals.projections.erasure import erase_retired
from annals.projections.events import Event, decrypt_personal, has_envelope, stored_data
from annals.projections.planner import Planner
from annals.projections.projection import Projection, Rows
from annals.projections.records import (
    BatchResult,
    DeadLetter,
    Failure,
    Item,
    Mark,
    Partition,
    Poison,
    RawRecord,
    Span,
    Where,
    poison_event,
    poison_of,
    spans_of,
    where,
)
from annals.projections.tables import Key, TableSql, quote
from annals.projections.versions import CHANNEL

__all__ = [
    "RECORD_WRITE_FAULTS", "Applier", "BatchFailed", "BatchResult", "DeadLetter", "Failure",
    "Fenced", "Item", "Mark",
    "Partition", "Poison", "RawRecord", "Span", "Staged", "VersionSwitched", "Where",
    "poison_event", "poison_of", "spans_of", "where",
]  # fmt: skip


@dataclass
class Staged:
    """A batch planned and handled, ready to be written."""

    result: BatchResult
    rows: Rows
    marks: dict[str, Mark]
    parks: list[Event]
    unparks: list[tuple[str, int]]
    planned: bool
    erasures: list[Event] = field(default_factory=list)


class Fenced(Exception):
    """Another worker moved a partition's stored offset: seek to these offsets and retry."""

    def __init__(self, offsets: dict[Partition, int]) -> None:
        super().__init__(f"stored offsets moved: {offsets}")
        self.offsets = offsets


class VersionSwitched(Exception):
    """The projection's live version changed since the worker loaded it."""


class BatchFailed(Exception):
    """prepare() failed for the batch but for none of its records alone: split the batch."""


SendDead = Callable[[Sequence[DeadLetter]], Awaitable[None]]
# Errors of a write that one record of the batch may cause: the batch is split to find it.
RECORD_WRITE_FAULTS = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    BatchFailed,
)
# Errors of the database or the network: never a record's fault (the batch is retried).
NOT_RECORD_FAULTS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class Applier:
    """Applies batches of one projection version.

    A record that fails (undecodable, its keys(), prepare() or handler raising, or the write
    failing on it) is dead-lettered and its stream parks at that version: later versions of
    the stream are parked behind it (version gap) until the record is replayed from the DLQ
    or the stream is unparked, so nothing is applied past a dead letter silently.
    """

    def __init__(
        self,
        projection: Projection,
        version: int,
        schema: str,
        *,
        live: bool,
        keys: KeyStore | None = None,
    ) -> None:
        self.projection = projection
        self.version = version
        self.schema = schema
        self.live = live
        # Parked rows hold personal data encrypted: opened with these keys when unparked.
        self.keys = keys if projection.personal else None
        # Marks kept in memory by a sole writer (a rebuild) instead of read back every batch.
        self.known: dict[str, Mark] | None = None
        self.tables: dict[str, TableSql] = projection.table_sql(schema)
        s = quote(schema)
        self.sql_streams = (
            f"SELECT stream_id, version, parked_at, event_id FROM {s}._streams "
            "WHERE stream_id = ANY($1::text[])"
        )
        self.sql_marks = (
            f"INSERT INTO {s}._streams (stream_id, version, parked_at, event_id) "
            "SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::text[]) "
            "ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, "
            "parked_at = EXCLUDED.parked_at, event_id = EXCLUDED.event_id"
        )
        self.sql_parked = (
            f"SELECT stream_id, version, event_type, schema_version, data, event_time, topic, "
            f'partition, "offset", event_id FROM {s}._parked WHERE stream_id = ANY($1::text[]) '
            "ORDER BY stream_id, version"
        )
        self.sql_park = (
            f"INSERT INTO {s}._parked (stream_id, version, event_type, schema_version, data, "
            f'event_time, topic, partition, "offset", event_id) SELECT * FROM unnest($1::text[], '
            "$2::int[], $3::text[], $4::int[], $5::jsonb[], $6::timestamptz[], $7::text[], "
            "$8::int[], $9::bigint[], $10::text[]) ON CONFLICT DO NOTHING"
        )
        self.sql_unpark = (
            f"DELETE FROM {s}._parked WHERE (stream_id, version) IN "
            "(SELECT * FROM unnest($1::text[], $2::int[]))"
        )
        self.sql_dead = (
            f'INSERT INTO {s}._dead_letters (topic, partition, "offset", stream_id, version, '
            "event_type, reason, error) SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], "
            "$4::text[], $5::int[], $6::text[], $7::text[], $8::text[])"
        )
        # One statement: insert the partitions first seen, lock all of them, return the stored
        # offsets (a conflicting row is "updated" to itself, which locks it like FOR UPDATE).
        self.sql_offsets_lock = (
            f"INSERT INTO {s}._offsets AS o (topic, partition, next_offset) "
            "SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[]) ORDER BY 1, 2 "
            "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = o.next_offset "
            "RETURNING topic, partition, next_offset"
        )
        self.sql_offsets_save = (
            f"UPDATE {s}._offsets o SET next_offset = n.next_offset, updated_at = now(), "
            "last_event_at = coalesce(n.last_event_at, o.last_event_at) FROM unnest($1::text[], "
            "$2::int[], $3::bigint[], $4::timestamptz[]) AS n(topic, partition, next_offset, "
            "last_event_at) WHERE o.topic = n.topic AND o.partition = n.partition"
        )
        # A batch's bookkeeping when it has no parks, unparks or dead letters, in one round
        # trip: the streams' marks, the consumed offsets and (when $10) the notify. Each CTE
        # writes a table of its own, so none depends on another's change.
        self.sql_bookkeeping = (
            f"WITH marks AS (INSERT INTO {s}._streams (stream_id, version, parked_at, event_id) "
            "SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::text[]) "
            "ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, "
            "parked_at = EXCLUDED.parked_at, event_id = EXCLUDED.event_id), "
            f"saved AS (UPDATE {s}._offsets o SET next_offset = n.next_offset, "
            "updated_at = now(), last_event_at = coalesce(n.last_event_at, o.last_event_at) "
            "FROM unnest($5::text[], $6::int[], $7::bigint[], $8::timestamptz[]) "
            "AS n(topic, partition, next_offset, last_event_at) "
            "WHERE o.topic = n.topic AND o.partition = n.partition) "
            "SELECT pg_notify($9, $11) WHERE $10::bool"
        )
        self.sql_checkpoint = (
            f"INSERT INTO {s}._checkpoints (source, tx_id, position) VALUES ($1, $2, $3) "
            "ON CONFLICT (source) DO UPDATE SET tx_id = EXCLUDED.tx_id, "
            "position = EXCLUDED.position, updated_at = now()"
        )

    async def apply(
        self,
        conn: asyncpg.Connection,
        items: Sequence[Item],
        *,
        spans: dict[Partition, Span] | None = None,
        checkpoint: tuple[str, int, int] | None = None,
        send_dead: SendDead | None = None,
        force_dead: Mapping[Where, Failure] | None = None,
    ) -> BatchResult:
        """Apply a batch in one transaction (Fenced / VersionSwitched roll it back)."""
        async with conn.transaction():
            # First, and on its own: a statement naming this version's tables fails (or waits
            # on the DROP) once a switch has dropped them, so the switch must be seen before.
            await self.check_live(conn)
            if spans:
                items = await self._fence(conn, items, spans)
            staged = await self.stage(conn, items, force_dead=force_dead)
            await self.write(conn, staged, spans=spans, checkpoint=checkpoint, send_dead=send_dead)
        return staged.result

    async def check_live(self, conn: asyncpg.Connection) -> None:
        """VersionSwitched unless this is still the live version (row held FOR SHARE)."""
        if not self.live:
            return
        current = await conn.fetchval(
            "SELECT live_version FROM projections.registry WHERE name = $1 FOR SHARE",
            self.projection.name,
        )
        if current != self.version:
            raise VersionSwitched(f"{self.projection.name} is now v{current}")

    async def stage(
        self,
        conn: asyncpg.Connection,
        items: Sequence[Item],
        *,
        force_dead: Mapping[Where, Failure] | None = None,
        carry: Rows | None = None,
        skip_gaps: bool = False,
    ) -> Staged:
        """Plan the batch, load its rows and run the handlers (reads only, nothing written).

        Records whose keys(), prepare() or handler fail are planned again as dead letters
        (their streams park), so the batch is staged as if they had never been applied.
        `carry` (a sole writer's previous batch, not yet committed) supplies the rows it
        wrote, so a rebuild can stage batch N+1 while batch N is being written. `skip_gaps`
        (an operator's unpark) applies a version after a gap as if the gap were filled.
        """
        failed: dict[Where, Failure] = dict(force_dead or {})
        while True:
            result = BatchResult()
            plan, marks, parks, unparks = await self._plan(conn, items, result, failed, skip_gaps)
            rows = Rows(self.tables)
            if carry is not None:
                rows.seed(carry)
            found = await self._run(conn, rows, plan, result)
            if not found:
                break
            failed.update(found)
        if self.known is not None:
            self.known.update(marks)
        erasures = [e for e in plan if e.type in self.projection.erasures]
        return Staged(result, rows, marks, parks, unparks, bool(plan), erasures)

    async def write(
        self,
        conn: asyncpg.Connection,
        staged: Staged,
        *,
        spans: dict[Partition, Span] | None = None,
        checkpoint: tuple[str, int, int] | None = None,
        send_dead: SendDead | None = None,
    ) -> None:
        """Write a staged batch with its positions (inside the caller's transaction)."""
        await staged.rows.flush(conn)
        if self.live and staged.erasures:
            await erase_retired(conn, self.projection, staged.erasures)
        dead = staged.result.dead
        notify = staged.planned or bool(staged.marks)
        if spans and not (staged.parks or staged.unparks or dead):
            await self._write_marks_and_offsets(conn, staged.marks, spans, notify)
            notify = False
        else:
            await self._write_bookkeeping(conn, staged.marks, staged.parks, staged.unparks, dead)
            if spans:
                await self._save_offsets(conn, spans)
        if checkpoint is not None:
            await conn.execute(self.sql_checkpoint, *checkpoint)
        if notify:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, self.projection.name)
        if dead and send_dead is not None:
            # Before the commit: a crash now re-sends (a DLQ duplicate), never loses one.
            await send_dead(dead)

    async def _fence(
        self, conn: asyncpg.Connection, items: Sequence[Item], spans: dict[Partition, Span]
    ) -> list[Item]:
        """Lock the batch's partitions; the items not applied yet, or Fenced."""
        topics = [tp[0] for tp in spans]
        parts = [tp[1] for tp in spans]
        firsts = [s.first for s in spans.values()]
        rows = await conn.fetch(self.sql_offsets_lock, topics, parts, firsts)
        stored = {(r[0], r[1]): r[2] for r in rows}
        behind = {tp: off for tp, off in stored.items() if spans[tp].first > off}
        if behind:
            raise Fenced(behind)
        return [i for i in items if i.offset >= stored[(i.topic, i.partition)]]

    async def _plan(
        self,
        conn: asyncpg.Connection,
        items: Sequence[Item],
        result: BatchResult,
        failed: Mapping[Where, Failure],
        skip_gaps: bool = False,
    ) -> tuple[list[Event], dict[str, Mark], list[Event], list[tuple[str, int]]]:
        """Which events to apply, in order; the streams' new marks; events to park / unpark."""
        streams = {i.stream_id for i in items if i.stream_id}
        marks: dict[str, Mark] = {}
        if self.known is not None:
            marks = self.known
        elif streams:
            rows = await conn.fetch(self.sql_streams, list(streams))
            marks = {r[0]: (r[1], r[2], r[3]) for r in rows}
        parked: dict[str, dict[int, Event]] = {}
        waiting = [s for s in streams if s in marks and marks[s][1] is not None]
        if waiting:
            for r in await conn.fetch(self.sql_parked, waiting):
                parked.setdefault(r[0], {})[r[1]] = Event(
                    r[2], json.loads(r[4]), r[5], r[0], r[1], r[3], r[6], r[7], r[8], id=r[9]
                )
            await self.open_parked([e for held in parked.values() for e in held.values()])
        planner = Planner(marks, parked, result, failed)
        planner.skip_gaps = skip_gaps
        for item in items:
            planner.add(item)
        return planner.events, planner.changed, planner.parks, planner.unparks

    async def open_parked(self, events: list[Event]) -> None:
        """Decrypt parked events for their handlers (a forgotten subject's values become None).

        A value that does not open (it opened when the event was parked) is applied as None.
        """
        if self.keys is None or not events:
            return
        for event, _error in await decrypt_personal(events, self.keys):
            event.sealed = event.data
            event.data = {k: None if has_envelope(v) else v for k, v in event.data.items()}

    async def _run(
        self, conn: asyncpg.Connection, rows: Rows, plan: list[Event], result: BatchResult
    ) -> dict[Where, Failure]:
        """Run the handlers of the plan; the records that failed (none: the batch is staged)."""
        projection = self.projection
        handlers = projection.handlers
        wanted: dict[str, set[Key]] = defaultdict(set)
        failed: dict[Where, Failure] = {}
        for event in plan:
            if event.type in handlers:
                try:
                    for table, key in projection.keys(event):
                        wanted[table].add(key)
                except Exception as exc:
                    failed[where(event)] = Failure.of("keys failed", exc)
        if failed:
            return failed
        await rows.load(conn, wanted)
        if projection.prepare is not None and plan:
            failed = await self._prepare(conn, rows, plan)
            if failed:
                return failed
        for event in plan:
            handler = handlers.get(event.type)
            if handler is None:
                result.ignored += 1
                continue
            rows.begin_event()
            try:
                handler(rows, event)
            except Exception as exc:
                rows.end_event(False)
                failed[where(event)] = Failure.of("handler failed", exc)
                continue
            rows.end_event(True)
            result.applied += 1
        return failed

    async def _prepare(
        self, conn: asyncpg.Connection, rows: Rows, plan: list[Event]
    ) -> dict[Where, Failure]:
        """prepare() for the batch, or one by one to find the records it fails on."""
        prepare = self.projection.prepare
        assert prepare is not None
        try:
            await prepare(conn, plan, rows)
            return {}
        except NOT_RECORD_FAULTS:
            raise
        except Exception:
            pass
        failed: dict[Where, Failure] = {}
        for event in plan:
            try:
                await prepare(conn, [event], rows)
            except NOT_RECORD_FAULTS:
                raise
            except Exception as exc:
                failed[where(event)] = Failure.of("prepare failed", exc)
        rows.lookups.clear()
        if not failed:
            raise BatchFailed(f"{self.projection.name}: prepare() failed for the batch only")
        return failed

    async def _write_bookkeeping(
        self,
        conn: asyncpg.Connection,
        marks: dict[str, Mark],
        parks: list[Event],
        unparks: list[tuple[str, int]],
        dead: list[DeadLetter],
    ) -> None:
        if marks:
            ids = list(marks)
            await conn.execute(
                self.sql_marks,
                ids,
                [marks[s][0] for s in ids],
                [marks[s][1] for s in ids],
                [marks[s][2] for s in ids],
            )
        if parks:
            await conn.execute(
                self.sql_park,
                [e.stream_id for e in parks],
                [e.version for e in parks],
                [e.type for e in parks],
                [e.schema_version for e in parks],
                [json.dumps(stored_data(e), default=str) for e in parks],
                [e.time for e in parks],
                [e.topic for e in parks],
                [e.partition for e in parks],
                [e.offset for e in parks],
                [e.id for e in parks],
            )
        if unparks:
            await conn.execute(self.sql_unpark, [u[0] for u in unparks], [u[1] for u in unparks])
        if dead:
            await conn.execute(
                self.sql_dead,
                [d.topic for d in dead],
                [d.partition for d in dead],
                [d.offset for d in dead],
                [d.stream_id for d in dead],
                [d.version for d in dead],
                [d.event_type for d in dead],
                [d.reason for d in dead],
                [f"{d.error_class.rsplit('.', 1)[-1]}: {d.error}"[:2000] for d in dead],
            )

    async def _write_marks_and_offsets(
        self,
        conn: asyncpg.Connection,
        marks: dict[str, Mark],
        spans: dict[Partition, Span],
        notify: bool,
    ) -> None:
        ids = list(marks)
        await conn.execute(
            self.sql_bookkeeping,
            ids,
            [marks[s][0] for s in ids],
            [marks[s][1] for s in ids],
            [marks[s][2] for s in ids],
            [tp[0] for tp in spans],
            [tp[1] for tp in spans],
            [s.next for s in spans.values()],
            [s.last_time for s in spans.values()],
            CHANNEL,
            notify,
            self.projection.name,
        )

    async def _save_offsets(self, conn: asyncpg.Connection, spans: dict[Partition, Span]) -> None:
        await conn.execute(
            self.sql_offsets_save,
            [tp[0] for tp in spans],
            [tp[1] for tp in spans],
            [s.next for s in spans.values()],
            [s.last_time for s in spans.values()],
        )


def describe_batch(result: BatchResult) -> dict[str, Any]:
    """A loggable summary of a batch."""
    return {
        "applied": result.applied,
        "skipped": result.skipped,
        "parked": result.parked,
        "unparked": result.unparked,
        "dead": len(result.dead),
        "ignored": result.ignored,
        "conflicts": result.conflicts,
    }
