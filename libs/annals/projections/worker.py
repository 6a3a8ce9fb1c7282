"""A projector worker: one projection, one member of its consumer group `projector.<name>`.

Kafka offsets are only a hint for tools: the positions that count are stored with the rows
(engine.py). On every assignment the worker seeks to the stored offsets, so a restart after a
crash (kill -9 mid-batch included) resumes exactly after the last committed batch.

Nothing stops it silently (docs/rules.md#delivery): a record that fails goes to `<group>.dlq`
(a batch whose write fails is split in halves until the record is found); any other error is
logged with its traceback, counted, shown as `stalled` (health.py) and the worker restarts
with back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from annals.backoff import Backoff
from annals.eventstore.ports import KeyStore
from annals.eventstore.registry import EventRegistry
from annals.messaging.dlq import DeadLetters, dlq_topic
from annals.messaging.errors import MessagingError
from annals.messaging.security import client_security
from annals.messaging.topics import TopicSpec, ensure_topics
from annals.projections import health, versions
from annals.projections.admission import admission_for
from annals.projections.engine import (
    RECORD_WRITE_FAULTS,
    Applier,
    DeadLetter,
    Failure,
    Fenced,
    Item,
    VersionSwitched,
    spans_of,
    where,
)
from annals.projections.erasure import drop_expired
from annals.projections.events import CDC_PREFIX
from annals.projections.intake import decode_records
from annals.projections.letters import VersionGap, letter_headers, log_dead
from annals.projections.metrics import ProjectionMetrics
from annals.projections.projection import Projection
from annals.projections.settings import ProjectorSettings
from annals.tracing.spans import apply_spans

log = logging.getLogger(__name__)
TRANSIENT = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, TimeoutError)
CONTENTION = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
EXPECTED = (*TRANSIENT, KafkaError, asyncpg.PostgresError, MessagingError)  # a topic missing


def group_of(projection: Projection, settings: ProjectorSettings) -> str:
    """The consumer group of a projection's workers (`projector.<name>`, topic prefix first)."""
    return f"{settings.topic_prefix}projector.{projection.name}"


def topic_specs(settings: ProjectorSettings, projection: Projection) -> list[TopicSpec]:
    """The projection's topics as they should exist (CDC topics as Debezium makes them)."""
    return [
        TopicSpec(settings.topic(t), 3 if t.startswith(CDC_PREFIX) else 6)
        for t in projection.topics
    ]


def worker_topics(
    settings: ProjectorSettings, projection: Projection, group: str | None = None
) -> list[TopicSpec]:
    """The topics a projection's workers need: its sources and its dead-letter topic."""
    dlq = dlq_topic(group or group_of(projection, settings))
    return [*topic_specs(settings, projection), TopicSpec(dlq, 1)]


async def prepare(projections: Sequence[Projection], settings: ProjectorSettings) -> None:
    """The admin step before workers start: create their topics (a projector may not)."""
    specs = {s.name: s for p in projections for s in worker_topics(settings, p)}
    await ensure_topics(settings.bootstrap, list(specs.values()))


class Worker:
    """Consumes the projection's topics and applies batches until stop()."""

    def __init__(
        self,
        projection: Projection,
        settings: ProjectorSettings | None = None,
        *,
        group: str | None = None,
        keys: KeyStore | None = None,
        registries: Mapping[str, EventRegistry] | None = None,
        metrics: ProjectionMetrics | None = None,
    ) -> None:
        self.projection = projection
        self.settings = settings or ProjectorSettings()
        self.group = group or group_of(projection, self.settings)
        self.keys = keys
        self.registries = registries or {}
        self.admission = admission_for(self.settings.check_records)
        self.metrics = metrics or ProjectionMetrics(projection.name)
        self.stopping = asyncio.Event()
        self.started = asyncio.Event()
        self.applied_batches = 0
        self.records = 0  # records in applied batches
        self.first_record_at: float | None = None  # time.monotonic() of the first fetch
        self.applier: Applier | None = None
        self._conn: asyncpg.Connection | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._dead: DeadLetters | None = None
        self._next: dict[TopicPartition, int] = {}
        self._times: dict[TopicPartition, datetime] = {}
        # Kafka offset commits are hints (the stored offsets count): sent beside the batches,
        # one at a time and at most every hint_interval_s, the newest offsets of the batches
        # applied meanwhile in the next one (at low rates a batch per record would otherwise
        # cost a commit per record per projection); a stop sends the last one at once.
        self._hints: dict[TopicPartition, OffsetAndMetadata] = {}
        self._hinting: asyncio.Task[None] | None = None
        self._hinted_at = -float("inf")
        # The connection serves batches and the rebalance listener, never both at once.
        self._lock = asyncio.Lock()
        self.health = health.Health(self.settings.stall_after_s)
        self.metrics.watch(self.health)
        self.member = health.member_id()
        self._beat_at = 0.0
        self._said: str = "starting"

    def stop(self) -> None:
        """Finish the batch in hand and return from run()."""
        self.stopping.set()

    async def run_forever(self) -> None:
        """run() again after any error, with capped back-off and jitter, until stop()."""
        backoff = Backoff(base=0.5, cap=30.0)
        while not self.stopping.is_set():
            before = self.health.last_progress()
            try:
                await self.run()
            except Exception as exc:
                if self.health.last_progress() != before:
                    backoff.reset()
                self._failed(exc, backoff.ceiling())
                await self._beat_apart()
                await backoff.sleep(self.stopping)
        self.health.stopped = True
        await self._beat_apart()

    def _failed(self, exc: Exception, delay: float) -> None:
        if self._next:  # where each partition's next batch starts again
            self.health.stuck_at = {
                f"{self.settings.logical(tp.topic)}:{tp.partition}": offset
                for tp, offset in self._next.items()
            }
        self.health.failed(exc)
        self.metrics.failed(exc)
        where = f"stuck at {self.health.stuck_at or '-'}, {self._since()}"
        if isinstance(exc, EXPECTED):
            log.warning(
                "%s stalled: %s: %s; %s; restarting within %.1fs",
                self.group, type(exc).__name__, exc, where, delay,
            )  # fmt: skip
        else:
            log.error(
                "%s stalled: unexpected %s; %s; restarting within %.1fs",
                self.group, type(exc).__name__, where, delay, exc_info=exc,
            )  # fmt: skip
        self._said = "stalled"

    def _since(self) -> str:
        return f"last progress {self.health.seconds_since_progress():.0f}s ago"

    async def run(self) -> None:
        """Consume and apply until stop()."""
        settings, projection = self.settings, self.projection
        dlq = dlq_topic(self.group)
        # As itself: its topics exist (prepare(), as admin) or it says which and retries.
        await ensure_topics(
            settings.bootstrap, worker_topics(settings, projection, self.group), "projector",
            reconcile=False,
        )  # fmt: skip
        self._conn = await asyncpg.connect(
            settings.dsn(projection.database),
            server_settings={"application_name": f"projector:{projection.name}"},
        )
        await self._load_version()
        await self._conn.execute(health.FORGET_OLD_SQL, projection.name)
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap,
            **client_security("projector"),
            acks="all",
            enable_idempotence=True,
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            **client_security("projector"),
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            fetch_min_bytes=settings.fetch_min_bytes,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.session_timeout_ms // 3,
        )
        consumer.subscribe([settings.topic(t) for t in projection.topics], listener=_Listener(self))
        self._consumer = consumer
        await producer.start()
        try:
            await consumer.start()
            self._dead = DeadLetters(producer, dlq)
            self.started.set()
            await self._loop(consumer)
        finally:
            await self._finish_hints()
            with contextlib.suppress(KafkaError, OSError):
                await consumer.stop()
            await producer.stop()
            await self._close_conn()

    async def _close_conn(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), 5)
            self._conn = None

    async def _load_version(self) -> None:
        assert self._conn is not None
        readers = self.settings.readers.get(self.projection.database, [])
        info = await versions.ensure_live(self._conn, self.projection, readers)
        await drop_expired(self._conn, self.projection.name, self.settings.keep_retired_s)
        await versions.upgrade_bookkeeping(self._conn, info.schema)
        self.applier = Applier(
            self.projection, info.version, info.schema, live=True, keys=self.keys
        )
        self.metrics.version.set(info.version)

    async def stored_offsets(
        self, partitions: Sequence[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """Offsets stored with the live version's rows for these partitions."""
        assert self._conn is not None and self.applier is not None
        rows = await self._conn.fetch(
            f'SELECT topic, partition, next_offset FROM "{self.applier.schema}"._offsets'
        )
        stored = {(r[0], r[1]): r[2] for r in rows}
        out = {}
        for tp in partitions:
            offset = stored.get((self.settings.logical(tp.topic), tp.partition))
            if offset is not None:
                out[tp] = offset
        return out

    async def seek_stored(self, partitions: Sequence[TopicPartition]) -> None:
        """Seek partitions to their stored offsets (the beginning when none is stored)."""
        consumer = self._consumer
        assert consumer is not None
        stored = await self.stored_offsets(partitions)
        fresh = [tp for tp in partitions if tp not in stored]
        for tp, offset in stored.items():
            consumer.seek(tp, offset)
            self._next[tp] = offset
        if fresh:  # never consumed: from the beginning (known, so lag and stalls show)
            for tp, offset in (await consumer.beginning_offsets(fresh)).items():
                consumer.seek(tp, offset)
                self._next[tp] = offset
        log.info("%s: positions %s", self.group, {str(tp): stored.get(tp, 0) for tp in partitions})

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        while not self.stopping.is_set():
            records = await self._fetch(consumer)
            if records:
                await self._handle(records)
            elif not self.stopping.is_set():
                self.health.caught_up()
            self._report_lag(consumer)
            await self._maybe_beat(consumer)

    async def _maybe_beat(self, consumer: AIOKafkaConsumer) -> None:
        """Log a change of state; write the heartbeat row every beat interval."""
        state = self.health.state()
        if state != self._said and state in ("live", "stalled"):
            if state == "stalled":
                log.error("%s stalled: stuck at %s, %s", self.group, self.health.stuck_at,
                          self._since())  # fmt: skip
            else:
                log.info("%s is live", self.group)
            self._said = state
        interval = self.settings.beat_interval_s
        if time.monotonic() - self._beat_at < interval or self._conn is None:
            return
        self._beat_at = time.monotonic()
        parts = sorted(f"{self.settings.logical(tp.topic)}:{tp.partition}"
                       for tp in consumer.assignment())  # fmt: skip
        async with self._lock:
            await health.beat(
                self._conn, self.health, name=self.projection.name, member=self.member,
                version=self.applier.version if self.applier else None, partitions=parts,
                interval=interval,
            )  # fmt: skip

    async def _beat_apart(self) -> None:
        """Best effort: the heartbeat row after a failure or stop, on a connection of its own."""
        with contextlib.suppress(Exception):
            conn = await asyncpg.connect(self.settings.dsn(self.projection.database), timeout=3)
            try:
                await asyncio.wait_for(
                    health.beat(
                        conn, self.health, name=self.projection.name, member=self.member,
                        version=self.applier.version if self.applier else None, partitions=[],
                        interval=self.settings.beat_interval_s,
                    ),
                    3,
                )  # fmt: skip
            finally:
                await conn.close()

    async def _fetch(self, consumer: AIOKafkaConsumer) -> list:
        limit = self.settings.batch_records
        getting = asyncio.ensure_future(consumer.getmany(timeout_ms=500, max_records=limit))
        stopping = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not getting.done():
            getting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await getting
            return []
        records = [r for batch in getting.result().values() for r in batch]
        deadline = time.monotonic() + self.settings.batch_ms / 1000
        while records and len(records) < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = await consumer.getmany(
                timeout_ms=max(1, int(remaining * 1000)), max_records=limit - len(records)
            )
            if not more:
                break
            records.extend(r for batch in more.values() for r in batch)
        return records

    async def decode(self, records: Sequence) -> list[Item]:
        """Events (upcast, personal data decrypted) and poison records of consumer records."""
        return await decode_records(
            records, self.settings.logical, self.projection, self.registries, self.keys,
            self.admission,
        )  # fmt: skip

    async def _handle(self, records: Sequence) -> None:
        if self.first_record_at is None:
            self.first_record_at = time.monotonic()
        items = await self.decode(records)
        async with self._lock:
            await self._apply_or_split(items)

    async def _apply_or_split(self, items: list[Item]) -> bool:
        """Apply; a write that fails on a record splits the batch until that record is found."""
        try:
            return await self._apply(items)
        except CONTENTION as exc:  # transient: read the records again from the stored offsets
            log.info("%s: %s; retrying from the stored offsets", self.group, exc)
            assert self._consumer is not None
            await self.seek_stored(sorted(self._consumer.assignment()))
            return False
        except RECORD_WRITE_FAULTS as exc:
            if len(items) == 1:
                log.warning("%s: %s:%s@%s cannot be written: %s", self.group, items[0].topic,
                            items[0].partition, items[0].offset, exc)  # fmt: skip
                return await self._apply(items, {where(items[0]): Failure.of("write failed", exc)})
            log.info("%s: a batch of %d failed (%s); splitting it", self.group, len(items), exc)
            half = len(items) // 2
            return await self._apply_or_split(items[:half]) and await self._apply_or_split(
                items[half:]
            )

    async def _apply(self, items: Sequence[Item], force: dict | None = None) -> bool:
        assert self._conn is not None and self.applier is not None and self._consumer is not None
        spans = spans_of(items)
        started = time.perf_counter()
        try:
            with apply_spans(self.projection.name, items):
                result = await self.applier.apply(
                    self._conn, items, spans=spans, send_dead=self._send_dead, force_dead=force
                )
        except Fenced as fenced:
            log.info("%s: %s; seeking", self.group, fenced)
            for (topic, partition), offset in fenced.offsets.items():
                tp = TopicPartition(self.settings.topic(topic), partition)
                if tp in self._consumer.assignment():
                    self._consumer.seek(tp, offset)
            return False
        except VersionSwitched as switched:
            log.info("%s: %s; following it", self.group, switched)
            await self._load_version()
            await self.seek_stored(sorted(self._consumer.assignment()))
            return False
        self.metrics.batch(result, time.perf_counter() - started)
        self.health.progressed()
        self.applied_batches += 1
        self.records += len(items)
        commits = {}
        for (topic, partition), span in spans.items():
            tp = TopicPartition(self.settings.topic(topic), partition)
            self._next[tp] = span.next
            if span.last_time is not None:
                self._times[tp] = span.last_time
            commits[tp] = OffsetAndMetadata(span.next, "")
        if result.parked or result.unparked or result.dead:
            await self._count_parked()
        self._hint(commits)
        return True

    def _hint(self, commits: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Commit these offsets to Kafka beside the next batches (never waited for)."""
        self._hints.update(commits)
        if self._hinting is None or self._hinting.done():
            self._hinting = asyncio.create_task(self._send_hints())

    async def _finish_hints(self) -> None:
        """Send the last hint on a stop (bounded: a hint only); drop it after an error, whose
        restart must not wait out a pause."""
        task, self._hinting = self._hinting, None
        if task is None:
            return
        if not self.stopping.is_set():
            task.cancel()
        await asyncio.wait({task}, timeout=5)
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.debug("%s: last offset commit failed: %s", self.group, task.exception())

    async def _send_hints(self) -> None:
        while self._hints and self._consumer is not None:
            pause = self._hinted_at + self.settings.hint_interval_s - time.monotonic()
            if pause > 0 and not self.stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), pause)
            self._hinted_at = time.monotonic()
            consumer, hints, self._hints = self._consumer, self._hints, {}
            owned = {tp: o for tp, o in hints.items() if tp in consumer.assignment()}
            if not owned:
                continue
            try:
                await consumer.commit(owned)
            except (KafkaError, OSError) as exc:  # a hint only: the stored offsets count
                log.debug("%s: offset commit failed: %s", self.group, exc)

    async def _count_parked(self) -> None:
        assert self._conn is not None and self.applier is not None
        count = await self._conn.fetchval(
            f'SELECT count(*) FROM "{self.applier.schema}"._streams WHERE parked_at IS NOT NULL'
        )
        self.metrics.parked_streams.set(count)

    async def _send_dead(self, letters: Sequence[DeadLetter]) -> None:
        assert self._dead is not None
        for d in letters:
            log_dead(self.group, d)
            headers = letter_headers(d, self.settings.topic(d.topic), self.group)
            if not await self._dead.send(d.key, d.value, headers, self.stopping):
                raise KafkaError("stopping before the DLQ acknowledged a dead letter")

    def _report_lag(self, consumer: AIOKafkaConsumer) -> None:
        now = datetime.now(UTC)
        worst = 0.0
        stuck: dict[str, int] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None or tp not in self._next:
                continue
            behind = max(0, high - self._next[tp])
            name = f"{self.settings.logical(tp.topic)}:{tp.partition}"
            self.metrics.lag(self.settings.logical(tp.topic), tp.partition, behind, self._next[tp])
            if behind:
                stuck[name] = self._next[tp]
            seen = self._times.get(tp)
            if behind and seen is not None:
                worst = max(worst, (now - seen).total_seconds())
        self.metrics.lag_seconds.set(worst)
        self.health.stuck_at = stuck


class _Listener(ConsumerRebalanceListener):
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            self.worker._next.pop(tp, None)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if assigned:
            async with self.worker._lock:
                await self.worker.seek_stored(sorted(assigned))


__all__ = ["VersionGap", "Worker", "group_of", "topic_specs"]
