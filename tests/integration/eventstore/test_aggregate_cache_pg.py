"""The aggregate cache on real PostgreSQL: two executors with caches of their own, each on its
own pool (as two service instances), run interleaved and concurrent commands on one stream.

The property (hypothesis over interleavings): no update is lost and no decision is made on a
stale state, with and without snapshots; with the cache off the same sequence gives the same
results and the same stream.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annals.commands.errors import RuleBroken
from annals.commands.executor import CommandExecutor, Target, VersionConflict
from annals.eventstore.codec import EventCodec
from annals.eventstore.postgres import PostgresEventStore
from tests.support.counter import (
    REGISTRY,
    Close,
    Count,
    Counted,
    Counter,
    CounterState,
    SnapshottedCounter,
    check_history,
)
from tests.support.databases import ScratchDatabase

pytestmark = pytest.mark.stack
PROPERTY = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)
commands = st.sampled_from([Count(), Count(), Count(), Close()])
# Steps of one to three commands that run concurrently, each on executor 0 or 1.
steps = st.lists(
    st.lists(st.tuples(st.integers(0, 1), commands), min_size=1, max_size=3),
    min_size=1,
    max_size=8,
)
sequences = st.lists(st.tuples(st.integers(0, 1), commands), min_size=1, max_size=12)


@pytest.fixture
async def stores(es_database: ScratchDatabase) -> AsyncIterator[list[PostgresEventStore]]:
    """Two stores on the scratch database, each with its own pool."""
    opened = [
        await PostgresEventStore.connect(es_database.app_dsn, min_size=1, max_size=4)
        for _ in range(2)
    ]
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


def executors(
    stores: list[PostgresEventStore], cache_size: int, aggregate: type[Counter] = Counter
) -> list[CommandExecutor[CounterState]]:
    """One executor per store, each with its own cache."""
    return [
        CommandExecutor(
            s.database,
            s,
            EventCodec(REGISTRY, s.keys),
            aggregate,
            retries=20,
            cache_size=cache_size,
            snapshots=s.snapshots,
        )
        for s in stores
    ]


async def run(executor: CommandExecutor[CounterState], target: Target, command: Any) -> Any:
    """The outcome of a command, or the refusal it met."""
    try:
        return await executor.execute(target, command)
    except (RuleBroken, VersionConflict) as refused:
        return refused


async def stream(store: PostgresEventStore, stream_id: str) -> list[Any]:
    """The events of a stream, typed."""
    codec = EventCodec(REGISTRY, store.keys)
    return [e.event for e in await codec.decode(await store.read_stream(stream_id))]


@PROPERTY
@given(plan=steps, snapshotted=st.booleans())
async def test_concurrent_commands_lose_nothing_and_never_decide_on_stale_state(
    stores: list[PostgresEventStore], plan: list[list[tuple[int, Any]]], snapshotted: bool
) -> None:
    pair = executors(stores, 100, SnapshottedCounter if snapshotted else Counter)
    target = Target(uuid.uuid4().hex[:12])
    counted = 0
    for step in plan:
        outcomes = await asyncio.gather(*(run(pair[i], target, cmd) for i, cmd in step))
        for outcome in outcomes:
            if isinstance(outcome, RuleBroken):
                assert outcome.rule == "counter-closed"
            elif not isinstance(outcome, VersionConflict):
                counted += sum(isinstance(e, Counted) for e in outcome.events)
                assert outcome.version >= len(outcome.events)
    history = await stream(stores[0], f"counter-{target.aggregate_id}")
    check_history(history)
    assert sum(isinstance(e, Counted) for e in history) == counted  # none lost, none doubled
    for executor in pair:  # each cache is at the stream's head after one more command
        latest = await run(executor, target, Close())
        assert not isinstance(latest, Exception)
        assert latest.state.count == counted and latest.state.closed


@PROPERTY
@given(sequence=sequences)
async def test_cache_off_gives_the_same_results(
    stores: list[PostgresEventStore], sequence: list[tuple[int, Any]]
) -> None:
    results = []
    for size in (100, 0):
        pair = executors(stores, size)
        target = Target(uuid.uuid4().hex[:12])
        outcomes = [await run(pair[i], target, cmd) for i, cmd in sequence]
        seen = [
            repr(o) if isinstance(o, Exception) else (o.version, o.state, o.events)
            for o in outcomes
        ]
        results.append((seen, await stream(stores[0], f"counter-{target.aggregate_id}")))
    assert results[0] == results[1]


async def test_a_rolled_back_transaction_leaves_no_state_in_the_cache(
    stores: list[PostgresEventStore],
) -> None:
    one, other = executors(stores, 100)
    target = Target(uuid.uuid4().hex[:12])
    await one.execute(target, Count())
    with pytest.raises(LookupError):
        async with one.transaction() as uow:
            await one.execute(target, Count(), uow)
            raise LookupError("the caller's transaction fails after the append")
    await other.execute(target, Close())  # the real version 2, from the other instance
    with pytest.raises(RuleBroken):  # decided on the closed counter, not on the rolled-back count
        await one.execute(target, Count())
    check_history(await stream(stores[0], f"counter-{target.aggregate_id}"))
