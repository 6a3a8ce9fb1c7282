"""Concurrency on real PostgreSQL: optimistic versions and the gap-free global order."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from annals.eventstore import NO_STREAM, Checkpoint, NewEvent, RecordedEvent, WrongExpectedVersion
from annals.eventstore.appendsql import APPEND_SQL
from annals.eventstore.metrics import measure_holdback
from annals.eventstore.postgres import PostgresEventStore
from tests.integration.eventstore.conftest import ScratchDatabase

pytestmark = pytest.mark.stack


async def test_sixteen_writers_one_stream(pg_store: PostgresEventStore) -> None:
    stream = f"race-{uuid.uuid4().hex[:12]}"
    rounds = 25

    async def attempt(task: int, expected: int) -> Any:
        try:
            event = NewEvent("Raced", {"task": task, "expected": expected})
            return await pg_store.append(stream, [event], expected or NO_STREAM)
        except WrongExpectedVersion as exc:
            return exc

    for expected in range(rounds):
        outcomes = await asyncio.gather(*(attempt(t, expected) for t in range(16)))
        winners = [o for o in outcomes if not isinstance(o, WrongExpectedVersion)]
        losers = [o for o in outcomes if isinstance(o, WrongExpectedVersion)]
        assert len(winners) == 1, outcomes
        assert winners[0].version == expected + 1
        assert len(losers) == 15
        assert {e.current_version for e in losers} == {expected + 1}
    events = await pg_store.read_stream(stream)
    assert [e.version for e in events] == list(range(1, rounds + 1))
    assert [e.data["expected"] for e in events] == list(range(rounds))


async def _head(store: PostgresEventStore) -> Checkpoint:
    head = Checkpoint(0, 0)
    while page := await store.read_all(head, 10_000):
        head = page[-1].checkpoint
    return head


async def test_reader_sees_every_event_once_despite_a_late_commit(
    pg_store: PostgresEventStore, es_database: ScratchDatabase
) -> None:
    tag = uuid.uuid4().hex[:8]
    start = await _head(pg_store)
    writers, per_writer = 8, 40
    slow_conn = await asyncpg.connect(es_database.app_dsn)
    slow_tx = slow_conn.transaction()
    await slow_tx.start()
    slow_id = uuid.uuid4()
    row = await slow_conn.fetchrow(
        APPEND_SQL["none", False, False],
        f"slow-{tag}",
        "slow",
        [slow_id],
        ["Slow"],
        [1],
        ['{"late": true}'],
        ["{}"],
    )
    slow_position = row["global_position"]
    seen: list[RecordedEvent] = []
    expected_ids = {slow_id}
    done = asyncio.Event()

    async def reader() -> None:
        async for event in pg_store.subscribe_all(start, batch_size=50):
            if tag in event.stream_id:
                seen.append(event)
                if {e.event_id for e in seen} >= expected_ids:
                    done.set()
                    return

    async def writer(w: int) -> None:
        for i in range(per_writer):
            event = NewEvent("Written", {"w": w, "i": i})
            expected_ids.add(event.event_id)
            await pg_store.append(f"w{w}-{tag}", [event], i or NO_STREAM)

    read_task = asyncio.create_task(reader())
    await asyncio.gather(*(writer(w) for w in range(writers)))
    later = [e for e in await pg_store.read_all(start, 10_000) if tag in e.stream_id]
    assert later == [], "events after the open transaction must be held back"
    await asyncio.sleep(0.2)
    assert seen == []
    holdback = await measure_holdback(pg_store.database, "test")
    assert holdback.held_events >= writers * per_writer
    await slow_tx.commit()
    await slow_conn.close()
    await asyncio.wait_for(done.wait(), 10)
    read_task.cancel()

    ids = [e.event_id for e in seen]
    assert len(ids) == len(set(ids)) == writers * per_writer + 1
    assert set(ids) == expected_ids
    assert [e.checkpoint for e in seen] == sorted(e.checkpoint for e in seen)
    slow = next(e for e in seen if e.event_id == slow_id)
    assert slow.global_position == slow_position
    assert any(e.global_position > slow_position for e in seen), "later positions existed"
    again = [e for e in await pg_store.read_all(start, 100_000) if tag in e.stream_id]
    assert [e.event_id for e in again] == ids, "the order is stable across reads"
    assert (await measure_holdback(pg_store.database, "test")).held_events >= 0
