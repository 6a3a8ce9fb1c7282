"""Follow topics as they are written: the live log's records, from Kafka without a group.

The console reads with its own Kafka principal's options (client_security) and commits
nothing, so no consumer group moves. It starts a few records before each partition's end, so
a page opened just after an event still shows it, then follows.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition

from annals.messaging.cloudevents import from_kafka
from annals.messaging.errors import MalformedEvent
from annals.messaging.security import client_security
from annals.projections.rebuild import partitions_of
from annals.projections.settings import ProjectorSettings


@dataclass(frozen=True)
class Filter:
    """Which records the live log shows: a type (full or short) and a stream id, if given."""

    event_type: str = ""
    stream: str = ""

    def keeps(self, entry: dict[str, Any]) -> bool:
        """Whether the entry passes the filter."""
        if self.event_type and self.event_type not in (entry["type"], entry["short_type"]):
            return False
        return not self.stream or entry["stream"] == self.stream


def entry(record: ConsumerRecord, logical: str) -> dict[str, Any]:
    """A record as the live log shows it (data still with its personal envelopes)."""
    where = f"{logical}/{record.partition}@{record.offset}"
    try:
        event = from_kafka(record.value, list(record.headers or ()))
    except MalformedEvent:
        key = record.key.decode(errors="replace") if record.key else ""
        return {"where": where, "topic": logical, "type": "(not a CloudEvent)", "short_type": "",
                "stream": key, "version": None, "time": "", "correlation": "",
                "data": _raw(record.value)}  # fmt: skip
    return {"where": where, "topic": logical, "type": event.type,
            "short_type": event.type.rsplit(".", 1)[-1], "stream": event.subject or "",
            "version": event.streamversion,
            "time": event.time.isoformat(timespec="milliseconds") if event.time else "",
            "correlation": event.correlationid or "", "data": event.data}  # fmt: skip


def _raw(value: bytes | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value.decode(errors="replace")


async def follow(
    topics: list[str], backlog: int, stopped: Callable[[], Any], idle_s: float = 1.0
) -> AsyncGenerator[dict[str, Any] | None, None]:
    """Entries of the topics as they come (None after each quiet second, for keep-alives)."""
    settings = ProjectorSettings()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap, **client_security("admin"),
        enable_auto_commit=False, request_timeout_ms=15_000,
    )  # fmt: skip
    await consumer.start()
    try:
        known = await consumer.topics()
        partitions = [
            TopicPartition(settings.topic(t), p)
            for t in topics if settings.topic(t) in known
            for p in await partitions_of(consumer, settings.topic(t), timeout=5)
        ]  # fmt: skip
        if partitions:
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            for tp in partitions:
                consumer.seek(tp, max(0, ends[tp] - backlog))
        while not await stopped():
            if not partitions:
                await asyncio.sleep(idle_s)
                yield None
                continue
            batches = await consumer.getmany(timeout_ms=int(idle_s * 1000))
            if not batches:
                yield None
            for tp, records in batches.items():
                for record in records:
                    yield entry(record, settings.logical(tp.topic))
    finally:
        await consumer.stop()
