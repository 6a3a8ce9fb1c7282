"""Subscribing to event topics: consumer groups, retries, the DLQ, rebalances, shutdown.

Delivery rules this runtime protects:
- a partition's records are handled one after the other, in offset order;
- an offset is committed only after its record was handled or acknowledged by the DLQ, so a
  crash redelivers (at-least-once) and never skips; handlers are idempotent on
  (subject, streamversion);
- before partitions are revoked the handled offsets are committed, under the same lock that
  processing holds, so the next owner starts exactly after what this member handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaConnectionError, KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition

from annals.eventstore.domain import DomainEvent
from annals.eventstore.ports import KeyStore
from annals.messaging.cloudevents import CloudEvent, from_kafka
from annals.messaging.decoding import EventDecoder, Registries
from annals.messaging.dlq import DeadLetters, dlq_headers, dlq_topic
from annals.messaging.errors import MalformedEvent, is_retriable
from annals.messaging.settings import KafkaSettings
from annals.messaging.topics import TopicSpec, ensure_topics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Received:
    """An event handed to a handler: the CloudEvent, its typed event, and where it came from."""

    cloudevent: CloudEvent
    event: DomainEvent | None
    topic: str
    partition: int
    offset: int
    key: bytes | None

    @property
    def type(self) -> str:
        """The CloudEvents type, e.g. `orders.OrderPlaced`."""
        return self.cloudevent.type

    @property
    def subject(self) -> str | None:
        """The stream id."""
        return self.cloudevent.subject

    @property
    def version(self) -> int | None:
        """The event's version in its stream."""
        return self.cloudevent.streamversion

    @property
    def data(self) -> Any:
        """The raw event data (JSON)."""
        return self.cloudevent.data


Handler = Callable[[Received], Awaitable[None]]


@dataclass
class SubscriberStats:
    """Counts since start."""

    handled: int = 0
    retries: int = 0
    dead_lettered: int = 0
    commits: int = 0


class _Stopped(Exception):
    """Raised inside processing when shutdown interrupts a retry."""


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
        self.consumer_options = consumer_options or {}
        self.stats = SubscriberStats()
        self.stopping = asyncio.Event()
        self.started = asyncio.Event()
        self._lock = asyncio.Lock()
        self._handled: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None

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
        """Consume, handle, retry, dead-letter and commit until stop()."""
        delay = 0.5
        while not self.stopping.is_set():
            try:
                await self._run_once()
                return
            except (KafkaConnectionError, OSError) as exc:
                if self.started.is_set():
                    raise
                log.warning("%s: Kafka unreachable (%s), retrying in %.1fs", self.group, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            delay = min(delay * 2, 10.0)

    async def _run_once(self) -> None:
        await ensure_topics(self.bootstrap, [TopicSpec(self.dlq_topic, partitions=1)])
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
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
        self._consumer = consumer
        try:
            dead = DeadLetters(producer, self.dlq_topic)
            self.started.set()
            try:
                await self._loop(consumer, dead)
            finally:
                async with self._lock:
                    await self._commit()
                await consumer.stop()
        finally:
            self._consumer = None
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
            async with self._lock:
                try:
                    for tp, records in batches.items():
                        for record in records:
                            if tp not in consumer.assignment():
                                break  # revoked meanwhile: its next owner handles the rest
                            await self._process(record, dead)
                            self._handled[tp] = record.offset + 1
                except _Stopped:
                    pass
                await self._commit()

    async def _process(self, record: ConsumerRecord, dead: DeadLetters) -> None:
        headers = list(record.headers or ())
        try:
            cloudevent = from_kafka(record.value, headers)
            event = await self.decoder.decode(cloudevent)
        except MalformedEvent as exc:
            await self._dead_letter(record, headers, dead, "undecodable", exc, 0)
            return
        received = Received(
            cloudevent, event, record.topic, record.partition, record.offset, record.key
        )
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.handler(received)
                self.stats.handled += 1
                return
            except Exception as exc:
                retriable = is_retriable(exc)
                if not retriable or attempt >= self.max_attempts:
                    reason = "retries exhausted" if retriable else "permanent error"
                    await self._dead_letter(record, headers, dead, reason, exc, attempt)
                    return
                delay = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
                delay *= 0.8 + 0.4 * random.random()
                log.info(
                    "%s@%s:%s attempt %d failed (%s), retrying in %.2fs",
                    record.topic, record.partition, record.offset, attempt, exc, delay,
                )  # fmt: skip
                self.stats.retries += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                if self.stopping.is_set():
                    raise _Stopped from exc

    async def _dead_letter(
        self,
        record: ConsumerRecord,
        headers: list[tuple[str, bytes]],
        dead: DeadLetters,
        reason: str,
        error: BaseException,
        attempts: int,
    ) -> None:
        log.warning(
            "%s@%s:%s goes to %s: %s (%s: %s)",
            record.topic, record.partition, record.offset, self.dlq_topic, reason,
            type(error).__name__, error,
        )  # fmt: skip
        letter = dlq_headers(
            headers,
            reason=reason,
            error=error,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=record.timestamp,
            group=self.group,
            attempts=attempts,
        )
        if not await dead.send(record.key, record.value, letter, self.stopping):
            raise _Stopped
        self.stats.dead_lettered += 1

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


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.subscriber.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s: assigned %s", self.subscriber.group, sorted(map(str, assigned)))
