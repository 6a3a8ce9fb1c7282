"""Publisher adapters: Kafka (idempotent, acks=all) and in-memory."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder

from annals.eventstore.ports import RecordedEvent
from annals.messaging.cloudevents import (
    IN_REPOSITORY,
    OutgoingRecord,
    SchemaLocation,
    stored_traceparent,
    to_kafka,
)
from annals.messaging.errors import PublishError
from annals.messaging.security import client_security
from annals.tracing import enabled as tracing_enabled
from annals.tracing import traceparent_of
from annals.tracing.spans import end_all, start_publish

MAX_BATCH_BYTES = 256 * 1024
MAX_CACHED_KEYS = 100_000


def make_producer(
    bootstrap: str, linger_ms: int = 0, request_timeout_ms: int = 60_000, principal: str = "admin"
) -> AIOKafkaProducer:
    """An idempotent producer with acks=all: per-partition order survives retries."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        **client_security(principal),
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        max_batch_size=MAX_BATCH_BYTES,
        request_timeout_ms=request_timeout_ms,
        retry_backoff_ms=200,
    )


class KafkaPublisher:
    """Produces structured CloudEvents of one service to its topic, key = stream id.

    Records are appended to one batch per partition (the Java client's murmur2 partitioner of
    the key, as every producer of the topic uses) and each batch is handed to the idempotent
    producer in order, so a partition receives its records in the order of `events`.
    """

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        service: str,
        timeout: float = 90.0,
        schemas: SchemaLocation = IN_REPOSITORY,
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.service = service
        self.timeout = timeout  # bound of one publish(), acks included
        self.schemas = schemas  # records' dataschema: subjects of the declared (logical) topic
        self._partitions: dict[bytes, int] = {}
        self._count = 0

    def _partition(self, key: bytes, count: int) -> int:
        if count != self._count or len(self._partitions) > MAX_CACHED_KEYS:
            self._partitions.clear()
            self._count = count
        partition = self._partitions.get(key)
        if partition is None:
            partition = self._partitions[key] = (murmur2(key) & 0x7FFFFFFF) % count
        return partition

    async def publish(self, events: Sequence[RecordedEvent]) -> None:
        """Send every event, then wait until the broker acknowledged all of them (bounded)."""
        try:
            async with asyncio.timeout(self.timeout):
                await self._publish(events)
        except TimeoutError as exc:
            raise PublishError(f"Kafka did not acknowledge the batch in {self.timeout}s") from exc
        except KafkaError as exc:
            raise PublishError(f"Kafka did not take the batch: {exc!r}") from exc

    async def _publish(self, events: Sequence[RecordedEvent]) -> None:
        if not tracing_enabled():
            await self._send_all(events, None)
            return
        spans = [
            start_publish(self.topic, e.stream_id, e.version, stored_traceparent(e)) for e in events
        ]
        try:
            await self._send_all(events, [traceparent_of(span) for span in spans])
        except BaseException as exc:
            end_all(spans, exc)
            raise
        end_all(spans)

    async def _send_all(
        self, events: Sequence[RecordedEvent], parents: Sequence[str | None] | None
    ) -> None:
        count = len(await self.producer.partitions_for(self.topic))
        builders: dict[int, BatchBuilder] = {}
        futures: list[asyncio.Future[object]] = []
        for at, event in enumerate(events):
            parent = None if parents is None else parents[at]
            record = to_kafka(event, self.service, parent, self.schemas)
            partition = self._partition(record.key, count)
            builder = builders.get(partition)
            if builder is None:
                builder = builders[partition] = self.producer.create_batch()
            if not _append(builder, record):
                futures.append(await self._send(builder, partition))
                builder = builders[partition] = self.producer.create_batch()
                if not _append(builder, record):
                    raise PublishError(
                        f"{event.stream_id}@{event.version} ({len(record.value)} bytes) "
                        "does not fit in a Kafka batch"
                    )
        for partition, builder in builders.items():
            futures.append(await self._send(builder, partition))
        await asyncio.gather(*futures)

    async def _send(self, builder: BatchBuilder, partition: int) -> asyncio.Future[object]:
        future: asyncio.Future[object] = await self.producer.send_batch(
            builder, self.topic, partition=partition
        )
        return future


def _append(builder: BatchBuilder, record: OutgoingRecord) -> bool:
    meta = builder.append(
        timestamp=None, key=record.key, value=record.value, headers=record.headers
    )
    return meta is not None


@dataclass
class InMemoryPublisher:
    """Keeps what it was given; `fail_next` makes the next publish raise PublishError."""

    service: str = "test"
    records: list[OutgoingRecord] = field(default_factory=list)
    batches: int = 0
    fail_next: int = 0

    async def publish(self, events: Sequence[RecordedEvent]) -> None:
        """Record the events' outgoing records."""
        if self.fail_next:
            self.fail_next -= 1
            raise PublishError("injected failure")
        self.batches += 1
        self.records.extend(to_kafka(event, self.service) for event in events)
