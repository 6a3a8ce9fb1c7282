"""What `annals projections list|status` shows: versions, lag, state, parked streams, DLQ.

The state is read from the projection's database and Kafka, so it holds across processes and
after a kill -9 (docs/rules.md#delivery):
- the stored offsets (`_offsets`, written with every batch) against Kafka's end offsets give
  each partition's lag and when it last moved;
- the workers' heartbeat rows (projections.workers) say which partitions each live worker
  owns, its own state and last error, and when it last found itself caught up; a row past
  its `stale_at` (a worker killed or hung) owns nothing.
A projection is `stalled` when a partition has records waiting and nobody owns it, its owner
is stalled, or neither it moved nor its owner was caught up within `stall_after_s`; `live`
when a worker beats and nothing is stalled; `stopped` when no worker beats and nothing waits.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from annals.messaging.security import client_security
from annals.projections import versions
from annals.projections.projection import Projection
from annals.projections.rebuild import partitions_of, stop_consumer
from annals.projections.settings import ProjectorSettings
from annals.projections.tables import quote

Ends = dict[tuple[str, int], int]
WORKERS_SQL = """
SELECT member, state, partitions, last_error, extract(epoch FROM now() - caught_up_at),
       extract(epoch FROM now() - progress_at), error_at
  FROM projections.workers WHERE name = $1 AND stale_at > now() AND state <> 'stopped'
"""


@dataclass
class ProjectionStatus:
    """One projection: its live version, the other versions, lag, state and trouble."""

    name: str
    database: str
    live: int | None = None
    state: str = "missing"
    others: list[str] = field(default_factory=list)
    lag_records: int | None = None
    lag_seconds: float | None = None
    parked_streams: int = 0
    dead_letters: int = 0
    updated_at: datetime | None = None  # newest event applied
    progress_at: datetime | None = None  # last time a stored offset moved
    workers: int = 0
    stuck: list[str] = field(default_factory=list)  # "topic:partition@offset" not advancing
    last_error: str = ""
    error: str = ""


@dataclass
class _Stored:
    next_offset: int
    last_event_at: datetime | None
    idle_s: float  # seconds since the offset last moved


async def end_offsets(settings: ProjectorSettings, topics: list[str]) -> Ends:
    """End offsets of the partitions of (logical) topics."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        **client_security("projector"),
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partitions = []
        known = await consumer.topics()  # a topic not created yet has no lag: no wait for it
        for topic in topics:
            physical = settings.topic(topic)
            if physical not in known:
                continue
            with contextlib.suppress(TimeoutError):  # a topic not created yet has no lag
                for p in await partitions_of(consumer, physical, timeout=3):
                    partitions.append(TopicPartition(physical, p))
        ends = await consumer.end_offsets(partitions) if partitions else {}
        return {(settings.logical(tp.topic), tp.partition): off for tp, off in ends.items()}
    finally:
        await stop_consumer(consumer)


async def status(
    projection: Projection, settings: ProjectorSettings, ends: Ends | None = None
) -> ProjectionStatus:
    """The status of one projection (Kafka end offsets given, or fetched)."""
    out = ProjectionStatus(projection.name, projection.database)
    try:
        conn = await asyncpg.connect(settings.dsn(projection.database), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        out.error = str(exc)
        return out
    try:
        found = await _read(conn, projection, out)
    finally:
        await conn.close()
    if found is None:
        return out
    stored, workers = found
    if ends is None:
        with contextlib.suppress(Exception):
            ends = await end_offsets(settings, list(projection.topics))
    judge(out, projection, settings, stored, workers, ends)
    return out


async def _read(
    conn: asyncpg.Connection, projection: Projection, out: ProjectionStatus
) -> tuple[dict[tuple[str, int], _Stored], list[Any]] | None:
    if not await conn.fetchval("SELECT to_regclass('projections.versions') IS NOT NULL"):
        return None
    for info in await versions.versions(conn, projection.name):
        if info.state == "live":
            out.live, out.state = info.version, "live"
        elif info.state not in ("dropped",):
            out.others.append(f"v{info.version} {info.state}")
    if out.live is None:
        return None
    s = quote(versions.schema_name(projection.name, out.live))
    rows = await conn.fetch(
        f"SELECT topic, partition, next_offset, last_event_at, updated_at, "
        f"extract(epoch FROM now() - updated_at) FROM {s}._offsets"
    )
    out.parked_streams = await conn.fetchval(
        f"SELECT count(*) FROM {s}._streams WHERE parked_at IS NOT NULL"
    )
    out.dead_letters = await conn.fetchval(f"SELECT count(*) FROM {s}._dead_letters")
    stored = {(r[0], r[1]): _Stored(r[2], r[3], float(r[5])) for r in rows}
    times = [r[3] for r in rows if r[3] is not None]
    out.updated_at = max(times) if times else None
    moved = [r[4] for r in rows if r[4] is not None]
    out.progress_at = max(moved) if moved else None
    workers: list[Any] = []
    if await conn.fetchval("SELECT to_regclass('projections.workers') IS NOT NULL"):
        workers = list(await conn.fetch(WORKERS_SQL, projection.name))
    return stored, workers


def judge(
    out: ProjectionStatus,
    projection: Projection,
    settings: ProjectorSettings,
    stored: dict[tuple[str, int], _Stored],
    workers: list[Any],
    ends: Ends | None,
) -> None:
    """Set lag, stuck partitions and the state from stored offsets, heartbeats and ends."""
    out.workers = len(workers)
    owners = {p: w for w in workers for p in w[2]}
    errors = [w for w in workers if w[3]]
    if errors:
        out.last_error = max(errors, key=lambda w: w[6] or datetime.min.replace(tzinfo=UTC))[3]
    limit = settings.stall_after_s
    if ends is not None:
        lag = 0
        for (topic, partition), end in sorted(ends.items()):
            if topic not in projection.topics:
                continue
            mine = stored.get((topic, partition))
            position = mine.next_offset if mine else 0
            behind = max(0, end - position)
            lag += behind
            if not behind:
                continue
            owner = owners.get(f"{topic}:{partition}")
            recent = (mine is not None and mine.idle_s <= limit) or (
                owner is not None and owner[4] is not None and owner[4] <= limit
            )
            if owner is None or owner[1] == "stalled" or not recent:
                out.stuck.append(f"{topic}:{partition}@{position}")
        out.lag_records = lag
        out.lag_seconds = 0.0
        if lag and out.updated_at is not None:
            out.lag_seconds = (datetime.now(UTC) - out.updated_at).total_seconds()
    if out.stuck or any(w[1] == "stalled" for w in workers):
        out.state = "stalled"
    elif not workers:
        out.state = "stopped"
    else:
        out.state = "live"
