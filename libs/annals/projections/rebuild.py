"""Rebuild = replay: a new version beside the live one, caught up, then switched to atomically.

Order of the steps, and why nothing is lost or counted twice:
1. the Kafka end offsets E0 of the store-backed topics are taken BEFORE the store is read:
   every event in Kafka below E0 was committed before it was published, so the store read
   that follows contains it;
2. the store is replayed in its global order into the new version;
3. Kafka is consumed from E0 (offset 0 for topics without a store); events the store
   already gave are skipped by their (stream, version) marks;
4. once caught up, the switch makes the version live: live workers notice it in their next
   batch and continue from the positions the rebuild stored with the new version's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from annals.collector import fewer_collections
from annals.eventstore import queries
from annals.eventstore.ports import Checkpoint, KeyStore, RecordedEvent
from annals.eventstore.registry import EventRegistry
from annals.messaging.security import client_security
from annals.messaging.topics import ensure_topics
from annals.projections import versions
from annals.projections.admission import admission_for
from annals.projections.engine import (
    RECORD_WRITE_FAULTS,
    Applier,
    Failure,
    Item,
    Staged,
    spans_of,
    where,
)
from annals.projections.erasure import drop_expired
from annals.projections.events import Event, stored_event
from annals.projections.intake import decode_records, open_items
from annals.projections.projection import Projection, Rows
from annals.projections.settings import STORE_OF_TOPIC, ProjectorSettings
from annals.projections.tables import quote
from annals.projections.worker import topic_specs

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int | None], None]


@dataclass
class RebuildResult:
    """What a rebuild did."""

    name: str
    version: int
    previous: int | None
    store_events: int = 0
    kafka_records: int = 0
    seconds: float = 0.0
    dropped_previous: bool = False

    @property
    def rate(self) -> float:
        """Events (store + Kafka) per second."""
        total = self.store_events + self.kafka_records
        return total / self.seconds if self.seconds else 0.0


def _quiet(phase: str, done: int, total: int | None) -> None:
    return None


class Rebuild:
    """One rebuild of one projection."""

    def __init__(
        self,
        projection: Projection,
        settings: ProjectorSettings | None = None,
        *,
        source: str = "store",
        keep_old: bool = False,
        keys: KeyStore | None = None,
        registries: Mapping[str, EventRegistry] | None = None,
        progress: Progress = _quiet,
        switch: bool = True,
    ) -> None:
        if source not in ("store", "kafka"):
            raise ValueError("source must be 'store' or 'kafka'")
        self.projection = projection
        self.settings = settings or ProjectorSettings()
        self.source = source
        self.keep_old = keep_old
        self.keys = keys
        self.registries = registries or {}
        self.progress = progress
        self.switch = switch
        self.storeless: set[str] = set()  # topics whose service's store holds no event store

    def store_topics(self) -> list[str]:
        """The projection's topics replayed from an event store."""
        if self.source != "store":
            return []
        return [
            t for t in self.projection.topics if t in STORE_OF_TOPIC and t not in self.storeless
        ]

    async def _find_storeless(self) -> None:
        """Topics whose service database has no event store yet: read from Kafka's beginning.

        Such a service never appended, so its topic holds no event the store would have given;
        reading it from offset 0 loses nothing. A store that does not answer still fails.
        """
        for topic in self.store_topics():
            service = STORE_OF_TOPIC[topic]
            try:
                store = await asyncpg.connect(self.settings.store_dsns[service])
            except asyncpg.InvalidCatalogNameError:
                migrated = False
            else:
                try:
                    migrated = await queries.is_migrated(store)
                finally:
                    await store.close()
            if not migrated:
                log.warning("%s: %s has no event store; %s is read from Kafka's beginning",
                            self.projection.name, service, topic)  # fmt: skip
                self.storeless.add(topic)

    async def run(self) -> RebuildResult:
        """Build, catch up, switch, drop the previous version (unless keep_old)."""
        started = time.perf_counter()
        settings, projection = self.settings, self.projection
        await ensure_topics(settings.bootstrap, topic_specs(settings, projection))
        conn = await asyncpg.connect(settings.dsn(projection.database))
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap, **client_security("projector"),
            enable_auto_commit=False,
            fetch_max_wait_ms=settings.fetch_max_wait_ms, max_partition_fetch_bytes=8 << 20,
        )  # fmt: skip
        await consumer.start()
        try:
            await versions.migrate_registry(conn)
            previous = await versions.live(conn, projection.name)
            info = await versions.create_version(conn, projection, self.source)
            result = RebuildResult(
                projection.name, info.version, None if previous is None else previous.version
            )
            applier = Applier(projection, info.version, info.schema, live=False, keys=self.keys)
            try:
                await self._find_storeless()
                partitions = await self._start_offsets(conn, consumer, info.schema)
                with fewer_collections():
                    for topic in self.store_topics():
                        result.store_events += await self._replay_store(conn, applier, topic)
                    result.kafka_records = await self._catch_up(conn, consumer, applier, partitions)
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    await versions.mark(conn, projection.name, info.version, "failed", repr(exc))
                    await conn.execute(f"DROP SCHEMA IF EXISTS {quote(info.schema)} CASCADE")
                raise
            if self.switch:
                readers = settings.readers.get(projection.database, [])
                await versions.switch(conn, projection, info.version, readers)
                if previous is not None and not self.keep_old:
                    await versions.drop_version(conn, projection.name, previous.version)
                    result.dropped_previous = True
                await drop_expired(conn, projection.name, settings.keep_retired_s)
            result.seconds = time.perf_counter() - started
            return result
        finally:
            await stop_consumer(consumer)
            await conn.close()

    async def _start_offsets(
        self, conn: asyncpg.Connection, consumer: AIOKafkaConsumer, schema: str
    ) -> list[TopicPartition]:
        """Store where Kafka consumption starts: E0 after a store replay, else the beginning."""
        partitions: list[TopicPartition] = []
        for topic in self.projection.topics:
            physical = self.settings.topic(topic)
            ids = await partitions_of(consumer, physical)
            partitions += [TopicPartition(physical, p) for p in ids]
        if not partitions:
            return []
        store = {self.settings.topic(t) for t in self.store_topics()}
        ends = await consumer.end_offsets(partitions)
        begins = await consumer.beginning_offsets(partitions)
        rows = [
            (
                self.settings.logical(tp.topic),
                tp.partition,
                ends[tp] if tp.topic in store else begins[tp],
            )
            for tp in partitions
        ]
        await conn.executemany(
            f"INSERT INTO {quote(schema)}._offsets (topic, partition, next_offset) "
            "VALUES ($1, $2, $3)",
            rows,
        )
        return partitions

    async def _replay_store(self, conn: asyncpg.Connection, applier: Applier, topic: str) -> int:
        """Replay one event store in its global order, batch N+1 staged while N is written.

        The rebuild is the new version's only writer: its stream marks stay in memory and
        batch N+1 reads the rows of batch N from memory (`carry`), the older ones from the
        database, where batch N-1 has committed by then.
        """
        service = STORE_OF_TOPIC[topic]
        store = await asyncpg.connect(self.settings.store_dsns[service])
        reader = await asyncpg.connect(self.settings.dsn(self.projection.database))
        applier.known = {}
        writing: asyncio.Future[None] | None = None
        try:
            total = await queries.count_events(store)
            size, done = self.settings.rebuild_batch, 0
            self.progress(f"{service} store", 0, total)

            async def page(after: tuple[int, int]) -> list[RecordedEvent]:
                return await queries.read_all(store, Checkpoint(*after), size)

            async def write(staged: Staged, upto: tuple[int, int]) -> None:
                async with conn.transaction():
                    await applier.write(conn, staged, checkpoint=(service, *upto))

            carry: Rows | None = None
            in_flight = 0
            rows = await page((0, 0))
            while rows:
                upto = (rows[-1].tx_id, rows[-1].global_position)
                following = asyncio.ensure_future(page(upto))
                events = await self._prepare([stored_event(r, service, topic) for r in rows])
                staged = await applier.stage(reader, events, carry=carry)
                if writing is not None:
                    await writing
                    done += in_flight
                    self.progress(f"{service} store", done, max(total, done))
                writing, carry = asyncio.ensure_future(write(staged, upto)), staged.rows
                in_flight = len(rows)
                rows = await following
            if writing is not None:
                await writing
                writing = None
                done += in_flight
            self.progress(f"{service} store", done, max(total, done))
            return done
        finally:
            applier.known = None
            if writing is not None:
                writing.cancel()
                with contextlib.suppress(BaseException):
                    await writing
            await reader.close()
            await store.close()

    async def _prepare(self, events: Sequence[Event]) -> Sequence[Item]:
        if not self.registries and not (self.projection.personal and self.keys is not None):
            return events
        return await open_items(events, self.projection, self.registries, self.keys)

    async def _catch_up(
        self,
        conn: asyncpg.Connection,
        consumer: AIOKafkaConsumer,
        applier: Applier,
        partitions: list[TopicPartition],
    ) -> int:
        """Consume from the stored offsets up to the end offsets, then return (to switch).

        Under steady writes the end offsets keep moving: they are chased until at most
        `switch_lag` records are left, then fixed; what is written after that is applied by
        the live workers, which continue from the offsets stored with the new version.
        """
        if not partitions:
            return 0
        consumer.assign(partitions)
        rows = await conn.fetch(
            f"SELECT topic, partition, next_offset FROM {quote(applier.schema)}._offsets"
        )
        position = {TopicPartition(self.settings.topic(r[0]), r[1]): r[2] for r in rows}
        for tp in partitions:
            consumer.seek(tp, position[tp])
        done = 0
        target: dict[TopicPartition, int] | None = None
        while True:
            ends = target or await consumer.end_offsets(partitions)
            waiting = sum(max(0, ends[tp] - position[tp]) for tp in partitions)
            self.progress("kafka", done, done + waiting)
            if not waiting:
                return done
            if target is None and waiting <= self.settings.switch_lag:
                target = ends
            batch = await consumer.getmany(timeout_ms=1000, max_records=self.settings.rebuild_batch)
            records = [r for rs in batch.values() for r in rs]
            if not records:
                continue
            items = await decode_records(
                records, self.settings.logical, self.projection, self.registries, self.keys,
                admission_for(self.settings.check_records),
            )  # fmt: skip
            spans = spans_of(items)
            await apply_splitting(conn, applier, items)
            for (topic, partition), span in spans.items():
                position[TopicPartition(self.settings.topic(topic), partition)] = span.next
            done += len(records)


async def apply_splitting(
    conn: asyncpg.Connection, applier: Applier, items: Sequence[Item]
) -> None:
    """Apply with stored offsets; a write failing on one record splits the batch to find it."""
    try:
        await applier.apply(conn, items, spans=spans_of(items))
    except RECORD_WRITE_FAULTS as exc:
        if len(items) == 1:
            failure = Failure.of("write failed", exc)
            await applier.apply(
                conn, items, spans=spans_of(items), force_dead={where(items[0]): failure}
            )
            return
        half = len(items) // 2
        await apply_splitting(conn, applier, items[:half])
        await apply_splitting(conn, applier, items[half:])


async def partitions_of(consumer: AIOKafkaConsumer, topic: str, timeout: float = 10.0) -> list[int]:
    """Partition ids of a topic, waiting for its metadata."""
    deadline = time.monotonic() + timeout
    while True:
        found = consumer.partitions_for_topic(topic)
        if found:
            return sorted(found)
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} has no partitions (does it exist?)")
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """Stop a consumer; aiokafka may surface the cancellation of its own internal task."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
