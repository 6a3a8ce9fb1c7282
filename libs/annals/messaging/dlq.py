"""The dead-letter queue of a consumer group: `<group>.dlq`, the original record plus why."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition

from annals.backoff import Backoff
from annals.messaging.cloudevents import format_time
from annals.messaging.errors import MessagingError, is_retriable
from annals.messaging.security import client_security
from annals.messaging.topics import describe_topics

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
        """Produce the dead letter; False only when stopping before it was acknowledged.

        The record's offset is not committed before the DLQ has it, so this waits (each try
        bounded by the producer's request timeout, back-off between tries) rather than lose it.
        """
        backoff = Backoff(base=0.2, cap=5.0)
        while True:
            try:
                await self.producer.send_and_wait(self.topic, value, key=key, headers=headers)
                self.sent += 1
                return True
            except KafkaError as exc:
                log.warning("DLQ %s not reachable (%s), retrying", self.topic, exc)
            if stopping.is_set():
                return False
            await backoff.sleep(stopping)


async def read_dead_letters(
    bootstrap: str,
    topic: str,
    offsets: Collection[int] | None = None,
    timeout: float = 30.0,
    start: Mapping[int, int] | None = None,
    principal: str = "admin",
) -> list[ConsumerRecord]:
    """The DLQ's records up to its end at the time of the call (only `offsets` when given).

    Reads without a consumer group, so nobody's committed position moves; `start` gives the
    first offset per partition (default: the beginning).
    """
    try:
        infos = await describe_topics(bootstrap, [topic], principal)
    except MessagingError:  # no DLQ yet: nothing ever went there
        return []
    partitions = [TopicPartition(topic, p) for info in infos for p in sorted(info.leaders)]
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        **client_security(principal),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=15_000,
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        firsts = {tp: (start or {}).get(tp.partition, 0) for tp in partitions}
        for tp in partitions:
            consumer.seek(tp, firsts[tp])
        return await _read_to(consumer, ends, firsts, offsets, time.monotonic() + timeout)
    finally:
        await consumer.stop()


def replay_group(group: str) -> str:
    """The consumer group whose committed DLQ offsets say how far a replay got."""
    return f"{group}.dlq-replay"


async def _replay_consumer(bootstrap: str, group: str, principal: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        **client_security(principal),
        group_id=replay_group(group),
        enable_auto_commit=False,
        request_timeout_ms=15_000,
    )
    await consumer.start()
    return consumer


async def replayed_upto(
    bootstrap: str, topic: str, group: str, principal: str = "admin"
) -> dict[int, int]:
    """Per DLQ partition, the offset before which every dead letter was replayed."""
    consumer = await _replay_consumer(bootstrap, group, principal)
    try:
        out: dict[int, int] = {}
        for info in await describe_topics(bootstrap, [topic], principal):
            for p in info.leaders:
                committed = await consumer.committed(TopicPartition(topic, p))
                out[p] = committed or 0
        return out
    except MessagingError:  # no DLQ yet
        return {}
    finally:
        await consumer.stop()


async def mark_replayed(
    bootstrap: str, topic: str, group: str, upto: Mapping[int, int], principal: str = "admin"
) -> None:
    """Store how far a replay got (never moves the main group's offsets)."""
    if not upto:
        return
    consumer = await _replay_consumer(bootstrap, group, principal)
    try:
        partitions = {TopicPartition(topic, p): o for p, o in upto.items()}
        consumer.assign(list(partitions))
        await consumer.commit(partitions)
    finally:
        await consumer.stop()


async def _read_to(
    consumer: AIOKafkaConsumer,
    ends: dict[TopicPartition, int],
    firsts: dict[TopicPartition, int],
    offsets: Collection[int] | None,
    deadline: float,
) -> list[ConsumerRecord]:
    records: list[ConsumerRecord] = []
    reached = {tp: firsts.get(tp, 0) >= end for tp, end in ends.items()}
    while not all(reached.values()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the DLQ was not read to its end ({ends})")
        for tp, batch in (await consumer.getmany(timeout_ms=300)).items():
            for r in batch:
                if r.offset < ends[tp] and (offsets is None or r.offset in offsets):
                    records.append(r)
                if r.offset + 1 >= ends[tp]:
                    reached[tp] = True
    return records
