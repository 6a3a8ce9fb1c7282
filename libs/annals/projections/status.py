"""What `annals projections list|status` shows: versions, lag, parked streams, dead letters."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from annals.projections import versions
from annals.projections.projection import Projection
from annals.projections.rebuild import partitions_of, stop_consumer
from annals.projections.settings import ProjectorSettings
from annals.projections.tables import quote


@dataclass
class ProjectionStatus:
    """One projection: its live version, the other versions, lag and trouble."""

    name: str
    database: str
    live: int | None = None
    state: str = "missing"
    others: list[str] = field(default_factory=list)
    lag_records: int | None = None
    lag_seconds: float | None = None
    parked_streams: int = 0
    dead_letters: int = 0
    updated_at: datetime | None = None
    error: str = ""


async def end_offsets(settings: ProjectorSettings, topics: list[str]) -> dict[tuple[str, int], int]:
    """End offsets of the partitions of (logical) topics."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = []
        for topic in topics:
            physical = settings.topic(topic)
            with contextlib.suppress(TimeoutError):  # a topic not created yet has no lag
                for p in await partitions_of(consumer, physical, timeout=3):
                    partitions.append(TopicPartition(physical, p))
        ends = await consumer.end_offsets(partitions) if partitions else {}
        return {(settings.logical(tp.topic), tp.partition): off for tp, off in ends.items()}
    finally:
        await stop_consumer(consumer)


async def status(
    projection: Projection,
    settings: ProjectorSettings,
    ends: dict[tuple[str, int], int] | None = None,
) -> ProjectionStatus:
    """The status of one projection (Kafka end offsets given, or fetched)."""
    out = ProjectionStatus(projection.name, projection.database)
    try:
        conn = await asyncpg.connect(settings.dsn(projection.database), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        out.error = str(exc)
        return out
    try:
        exists = await conn.fetchval("SELECT to_regclass('projections.versions') IS NOT NULL")
        if not exists:
            return out
        for info in await versions.versions(conn, projection.name):
            if info.state == "live":
                out.live, out.state = info.version, "live"
            elif info.state not in ("dropped",):
                out.others.append(f"v{info.version} {info.state}")
        if out.live is None:
            return out
        s = quote(versions.schema_name(projection.name, out.live))
        rows = await conn.fetch(
            f"SELECT topic, partition, next_offset, last_event_at FROM {s}._offsets"
        )
        out.parked_streams = await conn.fetchval(
            f"SELECT count(*) FROM {s}._streams WHERE parked_at IS NOT NULL"
        )
        out.dead_letters = await conn.fetchval(f"SELECT count(*) FROM {s}._dead_letters")
        stored = {(r[0], r[1]): (r[2], r[3]) for r in rows}
        times = [r[3] for r in rows if r[3] is not None]
        out.updated_at = max(times) if times else None
    finally:
        await conn.close()
    if ends is None:
        with contextlib.suppress(Exception):
            ends = await end_offsets(settings, list(projection.topics))
    if ends is not None:
        lag = 0
        for tp, end in ends.items():
            if tp[0] in projection.topics:
                lag += max(0, end - stored.get(tp, (0, None))[0])
        out.lag_records = lag
        out.lag_seconds = 0.0
        if lag and out.updated_at is not None:
            out.lag_seconds = (datetime.now(UTC) - out.updated_at).total_seconds()
    return out
