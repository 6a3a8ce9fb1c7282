"""The dead-letter queue of a consumer group: `<group>.dlq`, the original record plus why."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from annals.messaging.cloudevents import format_time
from annals.messaging.errors import is_retriable

log = logging.getLogger(__name__)
HEADER_PREFIX = "dlq_"
MAX_MESSAGE = 2000


def dlq_topic(group: str) -> str:
    """The DLQ topic of a consumer group."""
    return f"{group}.dlq"


def dlq_headers(
    original: Sequence[tuple[str, bytes]],
    *,
    reason: str,
    error: BaseException,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    group: str,
    attempts: int,
) -> list[tuple[str, bytes]]:
    """The original headers followed by dlq_* headers saying why, where from and when."""
    now = format_time(datetime.now(UTC))
    extra = {
        "reason": reason,
        "error_class": f"{type(error).__module__}.{type(error).__qualname__}",
        "error_message": str(error)[:MAX_MESSAGE],
        "retriable": str(is_retriable(error)).lower(),
        "attempts": str(attempts),
        "group": group,
        "original_topic": topic,
        "original_partition": str(partition),
        "original_offset": str(offset),
        "original_timestamp": "" if timestamp_ms is None else str(timestamp_ms),
        "timestamp": now,
    }
    kept = [(k, v) for k, v in original if not k.startswith(HEADER_PREFIX)]
    return kept + [(HEADER_PREFIX + k, v.encode()) for k, v in extra.items()]


def read_dlq_headers(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    """The dlq_* headers of a dead letter, without the prefix."""
    return {
        k[len(HEADER_PREFIX) :]: v.decode(errors="replace")
        for k, v in headers
        if k.startswith(HEADER_PREFIX)
    }


class DeadLetters:
    """Sends dead letters and waits for the broker's ack, retrying until it succeeds or stops."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self.sent = 0

    async def send(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        stopping: asyncio.Event,
    ) -> bool:
        """Produce the dead letter; False only when stopping before it was acknowledged."""
        delay = 0.2
        while True:
            try:
                await self.producer.send_and_wait(self.topic, value, key=key, headers=headers)
                self.sent += 1
                return True
            except KafkaError as exc:
                log.warning("DLQ %s not reachable (%s), retrying", self.topic, exc)
            if stopping.is_set():
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
