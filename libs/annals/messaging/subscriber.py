"""Subscribing to event topics: consumer groups, retries, the DLQ, rebalances, shutdown.

Delivery rules this runtime protects:
- a partition's records are handled one after the other, in offset order;
- an offset is committed only after its record was handled or acknowledged by the DLQ, so a
  crash redelivers (at-least-once) and never skips; handlers are idempotent on
  (subject, streamversion);
- one record never stops the subscriber: whatever fails for it (not JSON, not a CloudEvent,
  unknown type or version, data that does not fit, a $pii envelope that does not open, the
  handler after bounded retries) sends it to `<group>.dlq` and the next record is handled;
- stream order stays safe (see ordering.StreamGuard): later records of a stream with a dead
  letter follow it into the DLQ (`parked`), a version seen under another event id is an alarm;
- before partitions are revoked the handled offsets are committed, under the same lock that
  processing holds, so the next owner starts exactly after what this member handled;
- Kafka going away never ends run(): it logs, counts, backs off and starts over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Collection, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition

from annals.backoff import Backoff
from annals.eventstore.ports import KeyStore
from annals.messaging import metrics
from annals.messaging.cloudevents import CloudEvent, from_kafka
from annals.messaging.decoding import EventDecoder, Registries
from annals.messaging.dlq import (
    DeadLetters,
    dlq_headers,
    dlq_topic,
    mark_replayed,
    read_dead_letters,
    read_dlq_headers,
    replayed_upto,
)
from annals.messaging.errors import (
    MalformedEvent,
    StreamParked,
    UnknownEvent,
    VersionConflict,
    is_retriable,
)
from annals.messaging.handling import (
    Failure,
    Handler,
    Received,
    ReplayResult,
    SubscriberHealth,
    SubscriberStats,
)
from annals.messaging.ordering import StreamGuard, Verdict
from annals.messaging.security import client_security
from annals.messaging.settings import KafkaSettings
from annals.messaging.topics import TopicSpec, ensure_topics

log = logging.getLogger(__name__)


class _Stopped(Exception):
    """Raised inside processing when shutdown interrupts a retry."""


TRANSIENT = (KafkaError, OSError, TimeoutError)
SUBSCRIBER = "subscriber"  # the principal it logs in as (ANNALS_KAFKA_PRINCIPAL overrides)
NOT_PARKING = frozenset({"malformed", "version conflict"})  # reasons that park no stream


class Subscriber:
    """Runs `handler` for every event of `topics` as a member of consumer group `group`."""

    def __init__(
        self,
        topics: Sequence[str],
        group: str,
        handler: Handler,
        *,
        registry: Registries | None = None,
        keys: KeyStore | None = None,
        bootstrap: str | None = None,
        max_attempts: int = 5,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
        from_beginning: bool = True,
        dlq: str | None = None,
        max_records: int = 500,
        consumer_options: dict[str, Any] | None = None,
        require_stream: bool = True,
    ) -> None:
        self.topics = list(topics)
        self.group = group
        self.handler = handler
        self.decoder = EventDecoder(registry, keys)
        self.bootstrap = bootstrap or KafkaSettings().bootstrap
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.from_beginning = from_beginning
        self.dlq_topic = dlq or dlq_topic(group)
        self.max_records = max_records
        self.consumer_options = {"request_timeout_ms": 30_000, **(consumer_options or {})}
        self.require_stream = require_stream
        self.stats = SubscriberStats()
        self.health = SubscriberHealth()
        self.guard = StreamGuard()
        self.stopping = asyncio.Event()
        self.started = asyncio.Event()
        self.reconnect = Backoff(base=0.5, cap=max(max_backoff, 0.5))
        self._lock = asyncio.Lock()
        self._handled: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._parking_restored = False

    def stop(self) -> None:
        """Finish the record in hand, commit, leave the group and return from run()."""
        self.stopping.set()

    async def serve(self) -> None:
        """run() until SIGINT or SIGTERM."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        try:
            await self.run()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    async def run(self) -> None:
        """Consume, handle, retry, dead-letter and commit until stop(); errors restart it."""
        try:
            while not self.stopping.is_set():
                try:
                    await self._run_once()
                    return
                except Exception as exc:  # nothing may end the subscriber silently
                    self._failed(exc)
                await self.reconnect.sleep(self.stopping)
        finally:
            self.health.state = "stopped"

    def _failed(self, exc: Exception) -> None:
        name = type(exc).__name__
        self.stats.restarts += 1
        self.health.state = "reconnecting"
        self.health.last_error, self.health.last_error_at = f"{name}: {exc}", time.time()
        metrics.SUBSCRIBER_RESTARTS.labels(self.group, name).inc()
        if isinstance(exc, TRANSIENT):
            log.warning("%s: Kafka unreachable (%s: %s), starting over", self.group, name, exc)
        else:
            log.exception("%s: unexpected error, starting over", self.group)

    async def _run_once(self) -> None:
        async with asyncio.timeout(60):
            # As itself: its DLQ exists (made by the admin step) or it says so and retries.
            dlq = [TopicSpec(self.dlq_topic, partitions=1)]
            await ensure_topics(self.bootstrap, dlq, SUBSCRIBER, reconcile=False)
            if not self._parking_restored:
                await self._restore_parking()
                self._parking_restored = True
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            **client_security(SUBSCRIBER),
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=30_000,
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            **client_security(SUBSCRIBER),
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if self.from_beginning else "latest",
            **self.consumer_options,
        )
        consumer.subscribe(self.topics, listener=_Rebalance(self))
        try:
            await producer.start()
            await consumer.start()
        except BaseException:
            await consumer.stop()
            await producer.stop()
            raise
        self._consumer, self._producer = consumer, producer
        try:
            dead = DeadLetters(producer, self.dlq_topic)
            self.started.set()
            self.health.state = "idle"
            try:
                await self._loop(consumer, dead)
            finally:
                async with self._lock:
                    await self._commit()
                await consumer.stop()
        finally:
            self._consumer = self._producer = None
            await producer.stop()

    async def _loop(self, consumer: AIOKafkaConsumer, dead: DeadLetters) -> None:
        while not self.stopping.is_set():
            getting = asyncio.ensure_future(
                consumer.getmany(timeout_ms=500, max_records=self.max_records)
            )
            stopping = asyncio.ensure_future(self.stopping.wait())
            await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not getting.done():
                getting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getting
                break
            batches = getting.result()
            self.reconnect.reset()
            self.health.state = "live" if batches else "idle"  # live: records are being handled
            async with self._lock:
                try:
                    for tp, records in batches.items():
                        for record in records:
                            if tp not in consumer.assignment():
                                break  # revoked meanwhile: its next owner handles the rest
                            await self._process(record, dead)
                            self._handled[tp] = record.offset + 1
                            self._progress()
                except _Stopped:
                    pass
                await self._commit()

    def _progress(self) -> None:
        self.health.last_progress_at = now = time.time()
        metrics.SUBSCRIBER_LAST_PROGRESS.labels(self.group).set(now)

    async def _process(self, record: ConsumerRecord, dead: DeadLetters) -> None:
        failure = await self._attempt_safely(
            record, (record.topic, record.partition, record.offset)
        )
        if failure is not None:
            await self._dead_letter(record, dead, failure)

    async def _attempt_safely(
        self, record: ConsumerRecord, where: tuple[str, int, int]
    ) -> Failure | None:
        try:
            return await self._attempt(record, where)
        except _Stopped:
            raise
        except Exception as exc:  # a bug of ours must not turn one record into a restart loop
            log.exception("%s: record %s@%s:%s broke the subscriber itself", self.group, *where)
            return Failure("internal error", exc, 0)

    async def _attempt(self, record: ConsumerRecord, where: tuple[str, int, int]) -> Failure | None:
        """Decode, check order and handle one record; the failure, or None when done with it."""
        headers = list(record.headers or ())
        try:
            cloudevent = from_kafka(record.value, headers)
            if self.require_stream and (
                cloudevent.subject is None or cloudevent.streamversion is None
            ):
                raise MalformedEvent("the CloudEvent has no subject or no streamversion")
        except MalformedEvent as exc:
            return Failure("malformed", exc, 0, park=False)
        except Exception as exc:  # whatever else the envelope does to the parser
            return Failure("malformed", MalformedEvent(f"{type(exc).__name__}: {exc}"), 0, False)
        stream = f"{where[0]}/{cloudevent.subject}" if cloudevent.subject is not None else None
        verdict = self.guard.check(stream, cloudevent.streamversion, cloudevent.id)
        if verdict is Verdict.DUPLICATE:
            self.stats.duplicates += 1
            metrics.SUBSCRIBER_RECORDS.labels(self.group, "duplicate").inc()
            return None
        if verdict is Verdict.CONFLICT:
            self.stats.conflicts += 1
            metrics.SUBSCRIBER_CONFLICTS.labels(self.group).inc()
            conflict = VersionConflict(
                f"{cloudevent.subject}@{cloudevent.streamversion} was handled under another "
                f"event id than {cloudevent.id}"
            )
            return Failure("version conflict", conflict, 0, park=False)
        if verdict is Verdict.PARKED:
            parked = StreamParked(
                f"{cloudevent.subject}@{cloudevent.streamversion} waits behind an earlier "
                "record of its stream in the DLQ"
            )
            return Failure("parked", parked, 0)
        failure = await self._handle(cloudevent, record.key, where)
        if failure is None:
            self.guard.handled(stream, cloudevent.streamversion, cloudevent.id)
        return failure

    async def _handle(
        self, cloudevent: CloudEvent, key: bytes | None, where: tuple[str, int, int]
    ) -> Failure | None:
        backoff = Backoff(base=self.backoff, cap=self.max_backoff)
        attempt = 0
        while True:
            attempt += 1
            try:
                event = await self.decoder.decode(cloudevent)
            except UnknownEvent as exc:
                return Failure("unknown type", exc, attempt)
            except MalformedEvent as exc:
                return Failure("undecodable", exc, attempt)
            except Exception as exc:  # the decoder lets only retriable errors by
                error: Exception = exc
            else:
                received = Received(cloudevent, event, *where, key)
                try:
                    await self.handler(received)
                    self.stats.handled += 1
                    metrics.SUBSCRIBER_RECORDS.labels(self.group, "handled").inc()
                    return None
                except Exception as exc:  # the handler's errors are the record's
                    error = exc
            retriable = is_retriable(error)
            if not retriable or attempt >= self.max_attempts:
                reason = "retries exhausted" if retriable else "permanent error"
                return Failure(reason, error, attempt)
            delay = backoff.next_delay()
            log.info(
                "%s@%s:%s attempt %d failed (%s), retrying in %.2fs",
                *where, attempt, error, delay,
            )  # fmt: skip
            self.stats.retries += 1
            metrics.SUBSCRIBER_RECORDS.labels(self.group, "retried").inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            if self.stopping.is_set():
                raise _Stopped from error

    async def _dead_letter(
        self, record: ConsumerRecord, dead: DeadLetters, failure: Failure
    ) -> None:
        error = failure.error
        log.warning(
            "%s@%s:%s goes to %s: %s (%s: %s)",
            record.topic, record.partition, record.offset, self.dlq_topic, failure.reason,
            type(error).__name__, error,
        )  # fmt: skip
        letter = dlq_headers(
            list(record.headers or ()),
            reason=failure.reason,
            error=error,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=record.timestamp,
            group=self.group,
            attempts=failure.attempts,
        )
        if not await dead.send(record.key, record.value, letter, self.stopping):
            raise _Stopped
        if failure.park:
            self._park(record)
        self.stats.dead_lettered += 1
        metrics.SUBSCRIBER_RECORDS.labels(self.group, "dead_lettered").inc()
        metrics.SUBSCRIBER_DEAD_LETTERS.labels(self.group, failure.reason).inc()

    def _park(self, record: ConsumerRecord) -> None:
        try:
            event = from_kafka(record.value, list(record.headers or ()))
        except MalformedEvent:
            return
        if event.subject is not None:
            self.guard.park(f"{record.topic}/{event.subject}", event.streamversion)
            metrics.SUBSCRIBER_PARKED.labels(self.group).set(self.guard.parked_streams)

    async def replay_dead_letters(self, offsets: Collection[int] | None = None) -> ReplayResult:
        """Hand the group's dead letters (those not replayed yet, or those at `offsets`) again.

        Goes through the normal path (decoding, order guard, retries); a record handled
        before under the same event id is skipped, and a record that fails again stays in the
        DLQ (it is not dead-lettered twice). The group's committed offsets do not move; how far
        a full replay got is kept in group `<group>.dlq-replay` (up to its first failure), so
        a restarted subscriber parks again only the streams whose dead letters still wait.
        Run it in the process of the live subscriber to unpark the streams it parked.
        """
        upto = {} if offsets is not None else await replayed_upto(*self._dlq, SUBSCRIBER)
        letters = await read_dead_letters(
            self.bootstrap, self.dlq_topic, offsets, start=upto, principal=SUBSCRIBER
        )
        result = ReplayResult(failed=[])
        done, stuck = dict(upto), set()
        async with self._lock:
            for letter in letters:
                origin = read_dlq_headers(list(letter.headers or ()))
                before = self.stats.duplicates
                failure = await self._attempt_safely(letter, _origin(origin, letter))
                if failure is not None:
                    assert result.failed is not None
                    result.failed.append((letter.offset, f"{failure.reason}: {failure.error}"))
                    stuck.add(letter.partition)
                elif self.stats.duplicates > before:
                    result.skipped += 1
                else:
                    result.handled += 1
                if letter.partition not in stuck:
                    done[letter.partition] = letter.offset + 1
            metrics.SUBSCRIBER_PARKED.labels(self.group).set(self.guard.parked_streams)
        if offsets is None and done != upto:
            await mark_replayed(*self._dlq, done, SUBSCRIBER)
        return result

    @property
    def _dlq(self) -> tuple[str, str, str]:
        return self.bootstrap, self.dlq_topic, self.group

    async def _restore_parking(self) -> None:
        """Park again the streams whose dead letters were not replayed (after a restart)."""
        upto = await replayed_upto(*self._dlq, SUBSCRIBER)
        letters = await read_dead_letters(
            self.bootstrap, self.dlq_topic, start=upto, principal=SUBSCRIBER
        )
        for letter in letters:
            origin = read_dlq_headers(list(letter.headers or ()))
            if origin.get("reason") in NOT_PARKING:
                continue
            try:
                event = from_kafka(letter.value, list(letter.headers or ()))
            except Exception:  # a letter that is no event parks nothing
                continue
            topic = origin.get("original_topic") or letter.topic
            self.guard.park(f"{topic}/{event.subject}", event.streamversion)
        if self.guard.parked_streams:
            log.warning("%s: %d streams parked behind dead letters not yet replayed",
                        self.group, self.guard.parked_streams)  # fmt: skip
        metrics.SUBSCRIBER_PARKED.labels(self.group).set(self.guard.parked_streams)

    async def _commit(self, only: set[TopicPartition] | None = None) -> None:
        consumer = self._consumer
        pending = {
            tp: OffsetAndMetadata(offset, "")
            for tp, offset in self._handled.items()
            if only is None or tp in only
        }
        if consumer is None or not pending:
            return
        try:
            await consumer.commit(pending)
            self.stats.commits += 1
        except (CommitFailedError, KafkaError) as exc:
            log.warning("commit of %s failed (records will be redelivered): %s", pending, exc)
        for tp in pending:
            self._handled.pop(tp, None)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Commit what was handled of the partitions this member is about to lose."""
        async with self._lock:
            await self._commit(set(revoked))


def _origin(origin: dict[str, str], letter: ConsumerRecord) -> tuple[str, int, int]:
    """Where a dead letter was read from first (its dlq_original_* headers)."""
    try:
        partition = int(origin.get("original_partition", ""))
        offset = int(origin.get("original_offset", ""))
    except ValueError:
        return letter.topic, letter.partition, letter.offset
    return origin.get("original_topic") or letter.topic, partition, offset


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.subscriber.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s: assigned %s", self.subscriber.group, sorted(map(str, assigned)))
