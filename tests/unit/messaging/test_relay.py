"""The relay loop with in-memory adapters: order, checkpoints after acks, resume after failure."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest

from annals.eventstore.memory import InMemoryEventStore
from annals.eventstore.ports import Checkpoint, NewEvent, RecordedEvent
from annals.messaging.checkpoints import InMemoryCheckpointStore
from annals.messaging.errors import PublishError
from annals.messaging.publisher import InMemoryPublisher
from annals.messaging.relay import Relay, drain


async def filled_store(streams: int = 5, per_stream: int = 7) -> InMemoryEventStore:
    store = InMemoryEventStore()
    for round_ in range(per_stream):
        for s in range(streams):
            await store.append(f"order-{s}", [NewEvent("OrderPlaced", {"round": round_})])
    return store


def relay_of(store, publisher, checkpoints, batch_size=4) -> Relay:
    async def read(after: Checkpoint, limit: int) -> list[RecordedEvent]:
        return await store.read_all(after, limit)

    return Relay(
        "orders.events", read, publisher, checkpoints, batch_size=batch_size, max_poll=0.02
    )


def versions_by_stream(publisher: InMemoryPublisher) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for record in publisher.records:
        envelope = json.loads(record.value)
        out.setdefault(envelope["subject"], []).append(envelope["streamversion"])
    return out


async def test_every_event_is_published_in_stream_order_and_checkpointed():
    store = await filled_store()
    publisher, checkpoints = InMemoryPublisher("orders"), InMemoryCheckpointStore()
    last = (await store.read_all(None, 1000))[-1]
    stats = await drain(relay_of(store, publisher, checkpoints), last.checkpoint, timeout=5)

    assert stats.published == 35
    assert versions_by_stream(publisher) == {f"order-{s}": list(range(1, 8)) for s in range(5)}
    assert await checkpoints.load("orders.events") == last.checkpoint
    assert checkpoints.published["orders.events"] == 35


class SpyCheckpoints(InMemoryCheckpointStore):
    def __init__(self, publisher: InMemoryPublisher) -> None:
        super().__init__()
        self.publisher = publisher
        self.seen_at_save: list[int] = []

    async def save(self, name: str, checkpoint: Checkpoint, published: int = 0) -> None:
        self.seen_at_save.append(len(self.publisher.records))
        await super().save(name, checkpoint, published)


async def test_checkpoint_is_saved_only_after_its_batch_was_published():
    store = await filled_store()
    publisher = InMemoryPublisher("orders")
    checkpoints = SpyCheckpoints(publisher)
    events = await store.read_all(None, 1000)
    await drain(relay_of(store, publisher, checkpoints), events[-1].checkpoint, timeout=5)
    # batch_size 4: after the k-th save at least 4k events were acknowledged
    assert checkpoints.seen_at_save == [min(4 * (k + 1), 35) for k in range(9)]


class FailingOnce(InMemoryPublisher):
    """Takes part of the failing batch (as a broker may) and then raises."""

    def __init__(self) -> None:
        super().__init__("orders")
        self.failed = False

    async def publish(self, events: Sequence[RecordedEvent]) -> None:
        if self.batches == 3 and not self.failed:
            self.failed = True
            await super().publish(events[:2])
            raise PublishError("broker gone")
        await super().publish(events)


async def test_after_a_failure_the_relay_resumes_from_the_stored_checkpoint():
    store = await filled_store()
    publisher, checkpoints = FailingOnce(), InMemoryCheckpointStore()
    events = await store.read_all(None, 1000)
    with pytest.raises(PublishError):
        await drain(relay_of(store, publisher, checkpoints), events[-1].checkpoint, timeout=5)
    assert await checkpoints.load("orders.events") == events[11].checkpoint

    await drain(relay_of(store, publisher, checkpoints), events[-1].checkpoint, timeout=5)

    ids = [json.loads(r.value)["id"] for r in publisher.records]
    assert set(ids) == {str(e.event_id) for e in events}
    assert len(ids) == 35 + 2  # the two taken before the failure come again
    for versions in versions_by_stream(publisher).values():
        first_seen = list(dict.fromkeys(versions))
        assert first_seen == sorted(first_seen) == list(range(1, 8))


async def test_new_events_are_published_when_the_relay_is_woken():
    store = await filled_store(1, 1)
    publisher, checkpoints = InMemoryPublisher("orders"), InMemoryCheckpointStore()
    relay = relay_of(store, publisher, checkpoints)
    task = asyncio.ensure_future(relay.run())
    await asyncio.sleep(0.05)
    await store.append("order-9", [NewEvent("OrderPlaced", {})])
    relay.wake.set()
    for _ in range(100):
        if len(publisher.records) == 2:
            break
        await asyncio.sleep(0.01)
    relay.stop()
    await task
    assert [json.loads(r.value)["subject"] for r in publisher.records] == ["order-0", "order-9"]


class SlowPublisher(InMemoryPublisher):
    """Acknowledges each batch after a pause, so appends can land while one is sent."""

    async def publish(self, events: Sequence[RecordedEvent]) -> None:
        await asyncio.sleep(0.05)
        await super().publish(events)


async def test_a_short_batch_is_not_followed_by_a_read_until_woken_or_polled():
    store = await filled_store(1, 1)
    publisher, checkpoints = SlowPublisher("orders"), InMemoryCheckpointStore()
    reads: list[Checkpoint] = []

    async def read(after: Checkpoint, limit: int) -> list[RecordedEvent]:
        reads.append(after)
        return await store.read_all(after, limit)

    relay = Relay("orders.events", read, publisher, checkpoints, batch_size=4, max_poll=30)
    relay.min_poll = 30  # no poll in this test: only a wake makes it read
    task = asyncio.ensure_future(relay.run())
    await asyncio.sleep(0.02)  # the first (short) batch is being sent
    await store.append("order-9", [NewEvent("OrderPlaced", {})])
    relay.wake.set()  # as the append's notification would, while the batch is in flight
    for _ in range(100):
        if relay.stats.published == 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # idle now, waiting for a wake
    read_before_stop = len(reads)
    relay.stop()
    await asyncio.wait_for(task, 5)
    assert [json.loads(r.value)["subject"] for r in publisher.records] == ["order-0", "order-9"]
    assert read_before_stop == 2  # the start's and the wake's: none after either short batch
