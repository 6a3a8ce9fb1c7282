"""The projector's Kafka offset commits (hints for tools) are throttled, never lost on a stop."""

from __future__ import annotations

import asyncio

from aiokafka.structs import OffsetAndMetadata, TopicPartition
from projector.order_summary import PROJECTION as ORDER_SUMMARY

from annals.projections.settings import ProjectorSettings
from annals.projections.worker import Worker

TP = TopicPartition("orders.events", 0)


class FakeConsumer:
    """What the hints use of a consumer: its assignment and commit()."""

    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, OffsetAndMetadata]] = []

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.commits.append(dict(offsets))


def worker(interval: float) -> tuple[Worker, FakeConsumer]:
    found = Worker(ORDER_SUMMARY, ProjectorSettings(hint_interval_s=interval))
    consumer = FakeConsumer()
    found._consumer = consumer  # type: ignore[assignment]
    return found, consumer


def hint(w: Worker, offset: int) -> None:
    w._hint({TP: OffsetAndMetadata(offset, "")})


async def test_batches_within_an_interval_share_one_commit_of_the_newest_offset() -> None:
    w, consumer = worker(0.3)
    hint(w, 1)
    await asyncio.sleep(0.05)  # the first commit goes at once
    for offset in range(2, 40):
        hint(w, offset)
        await asyncio.sleep(0.001)
    assert [c[TP].offset for c in consumer.commits] == [1]
    await asyncio.sleep(0.4)
    assert [c[TP].offset for c in consumer.commits] == [1, 39]


async def pending_hint() -> tuple[Worker, FakeConsumer]:
    """A worker that committed offset 1 and holds offset 7 for the next, 30 s away."""
    w, consumer = worker(30.0)
    hint(w, 1)
    await asyncio.sleep(0.05)
    hint(w, 7)
    return w, consumer


async def test_a_stop_sends_the_pending_hint_without_waiting_out_the_interval() -> None:
    w, consumer = await pending_hint()
    w.stop()
    await asyncio.wait_for(w._finish_hints(), 1)
    assert [c[TP].offset for c in consumer.commits] == [1, 7]


async def test_after_an_error_the_pending_hint_is_dropped_not_waited_for() -> None:
    w, consumer = await pending_hint()
    await asyncio.wait_for(w._finish_hints(), 1)  # not stopping: run() failed
    assert [c[TP].offset for c in consumer.commits] == [1]
    assert w._hinting is None
