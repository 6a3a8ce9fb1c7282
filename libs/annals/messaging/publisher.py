"""Publisher adapters: Kafka (idempotent, acks=all) and in-memory."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from annals.eventstore.ports import RecordedEvent
from annals.messaging.cloudevents import OutgoingRecord, to_kafka
from annals.messaging.errors import PublishError

MAX_BATCH_BYTES = 256 * 1024


def make_producer(
    bootstrap: str, linger_ms: int = 5, request_timeout_ms: int = 60_000
) -> AIOKafkaProducer:
    """An idempotent producer with acks=all: per-partition order survives retries."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        max_batch_size=MAX_BATCH_BYTES,
        request_timeout_ms=request_timeout_ms,
        retry_backoff_ms=200,
    )


class KafkaPublisher:
    """Produces structured CloudEvents of one service to its topic, key = stream id."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, service: str) -> None:
        self.producer = producer
        self.topic = topic
        self.service = service

    async def publish(self, events: Sequence[RecordedEvent]) -> None:
        """Send every event, then wait until the broker acknowledged all of them."""
        try:
            futures = []
            for event in events:
                record = to_kafka(event, self.service)
                futures.append(
                    await self.producer.send(
                        self.topic, record.value, key=record.key, headers=record.headers
                    )
                )
            await asyncio.gather(*futures)
        except KafkaError as exc:
            raise PublishError(f"Kafka did not take the batch: {exc!r}") from exc


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
