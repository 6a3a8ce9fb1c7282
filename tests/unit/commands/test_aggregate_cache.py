"""The aggregate cache: its bound, its ordering rule, and the executor's use of it (in memory)."""

from __future__ import annotations

import tracemalloc

import pytest

from annals.commands.cache import AggregateCache
from annals.commands.errors import RuleBroken
from annals.commands.executor import CommandExecutor, Target
from annals.eventstore.codec import EventCodec
from annals.eventstore.memorydb import InMemoryDatabase
from annals.eventstore.ports import RecordedEvent
from tests.support.counter import REGISTRY, Close, Count, Counter, CounterState


def test_least_recently_used_entries_go_first() -> None:
    cache = AggregateCache[str](2)
    cache.put("a", 1, "a1")
    cache.put("b", 1, "b1")
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", 1, "c1")
    assert cache.get("b") is None and len(cache) == 2 and cache.evictions == 1
    assert [cache.get(k).state for k in ("a", "c")] == ["a1", "c1"]  # type: ignore[union-attr]


def test_an_older_version_never_replaces_a_newer_one() -> None:
    cache = AggregateCache[str](4)
    cache.put("a", 3, "v3")
    cache.put("a", 2, "v2")  # a slower task of the same process committed earlier
    hit = cache.get("a")
    assert hit is not None and (hit.version, hit.state) == (3, "v3")
    cache.evict("a")
    assert cache.get("a") is None


def test_size_zero_keeps_nothing() -> None:
    cache = AggregateCache[str](0)
    cache.put("a", 1, "a1")
    assert not cache.enabled and len(cache) == 0 and cache.get("a") is None


def test_memory_stays_within_the_bound() -> None:
    bound, written = 100, 5_000
    cache = AggregateCache[bytes](bound)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(written):
            cache.put(f"stream-{i}", 1, bytes(1024) + i.to_bytes(4, "big"))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cache) == bound and cache.evictions == written - bound
    assert grown < bound * 2 * 1024  # the entries kept, not the 5 MB written


class CountingStore:
    """The in-memory store, counting stream reads (a cache hit reads nothing)."""

    def __init__(self, database: InMemoryDatabase) -> None:
        self.inner = database.store
        self.reads = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def read_stream(self, *args: object, **kwargs: object) -> list[RecordedEvent]:
        self.reads += 1
        return await self.inner.read_stream(*args, **kwargs)  # type: ignore[arg-type]


def executor(
    database: InMemoryDatabase, size: int
) -> tuple[CommandExecutor[CounterState], CountingStore]:
    store = CountingStore(database)
    codec = EventCodec(REGISTRY, database.store.keys)
    return CommandExecutor(database, store, codec, Counter, cache_size=size), store  # type: ignore[arg-type]


async def test_a_new_then_cached_aggregate_is_never_read() -> None:
    run, store = executor(InMemoryDatabase(), 10)
    for _ in range(3):
        await run.execute(Target("c1"), Count())
    assert store.reads == 0 and run.cache.hits == 2


async def test_an_evicted_aggregate_is_loaded_again() -> None:
    run, store = executor(InMemoryDatabase(), 1)
    await run.execute(Target("c1"), Count())
    await run.execute(Target("c2"), Count())  # evicts c1
    outcome = await run.execute(Target("c1"), Count())  # presumed new: the append says no
    assert store.reads == 1 and outcome.state.count == 2 and outcome.version == 2


async def test_cache_off_loads_every_time() -> None:
    run, store = executor(InMemoryDatabase(), 0)
    for _ in range(3):
        await run.execute(Target("c1"), Count())
    assert store.reads == 3 and len(run.cache) == 0


async def test_a_refusal_on_a_stale_entry_is_decided_again_on_a_fresh_load() -> None:
    database = InMemoryDatabase()
    a, _ = executor(database, 10)
    b, _ = executor(database, 10)
    await a.execute(Target("c1"), Count())
    await b.execute(Target("c1"), Close())
    await a.execute(Target("c1"), Close())  # stale "open" in a's cache: a fresh load says no-op
    with pytest.raises(RuleBroken):
        await a.execute(Target("c1"), Count())
    await b.execute(Target("c1"), Close())
    assert (await a.load("c1")).version == 2


async def test_a_command_in_a_callers_transaction_is_not_cached() -> None:
    run, _ = executor(InMemoryDatabase(), 10)
    async with run.transaction() as uow:
        await run.execute(Target("c1"), Count(), uow)
    assert len(run.cache) == 0
