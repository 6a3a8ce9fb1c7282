"""The benchmarks' order lifecycle through the CommandExecutor: create, 3 x add item, confirm.

Shared by bench/eventstore (library rate, with and without the aggregate cache) and
bench/http_commands (the library rate beside the HTTP one, with per-command latencies).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, replace
from typing import ClassVar

from annals.commands.decider import Decider, DeciderAggregate
from annals.commands.executor import CommandExecutor, Target
from annals.eventstore import DomainEvent, EventRegistry
from annals.eventstore.codec import EventCodec
from annals.eventstore.postgres import PostgresEventStore
from bench.baselines import PAYLOAD

ITEM = json.loads(PAYLOAD)


class OrderCreated(DomainEvent):
    """An order was created."""

    customer_id: str


class ItemAdded(DomainEvent):
    """An item line was added (the baseline's payload)."""

    sku: str
    quantity: int
    unit_price: str
    note: str


class OrderConfirmed(DomainEvent):
    """The order was confirmed."""


REGISTRY = EventRegistry([OrderCreated, ItemAdded, OrderConfirmed])


@dataclass(frozen=True)
class State:
    """What the lifecycle's decisions need."""

    created: bool = False
    items: int = 0
    confirmed: bool = False


@dataclass(frozen=True)
class Create:
    """Create the order."""


@dataclass(frozen=True)
class Add:
    """Add an item."""


@dataclass(frozen=True)
class Confirm:
    """Confirm the order."""


def evolve(state: State, event: DomainEvent) -> State:
    """The state after one event."""
    if isinstance(event, OrderCreated):
        return replace(state, created=True)
    if isinstance(event, ItemAdded):
        return replace(state, items=state.items + 1)
    return replace(state, confirmed=True)


def create(state: State, _id: str, _c: object) -> list[DomainEvent]:
    """Create unless created."""
    assert not state.created
    return [OrderCreated(customer_id="c-1")]


def add(state: State, _id: str, _c: object) -> list[DomainEvent]:
    """Add an item to an open order."""
    assert state.created and not state.confirmed
    return [ItemAdded(**ITEM)]


def confirm(state: State, _id: str, _c: object) -> list[DomainEvent]:
    """Confirm an order with items."""
    assert state.items > 0 and not state.confirmed
    return [OrderConfirmed()]


class Order(DeciderAggregate[State]):
    """The benchmark's order."""

    stream_type = "order"
    decider: ClassVar[Decider[State]] = Decider(
        "order", State, evolve, {Create: create, Add: add, Confirm: confirm}
    )


LIFECYCLE = (Create(), Add(), Add(), Add(), Confirm())


@dataclass
class LifecycleRun:
    """Commands/s of a lifecycle run and each command's latency (ms)."""

    rate: float
    latencies_ms: list[float]


async def lifecycle(
    store: PostgresEventStore, workers: int, seconds: float, cache_size: int = 0
) -> LifecycleRun:
    """`workers` tasks each running order lifecycles through one CommandExecutor."""
    codec = EventCodec(REGISTRY, store.keys)
    executor = CommandExecutor(store.database, store, codec, Order, cache_size=cache_size)
    tag = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    counts = [0] * workers
    deadline = time.perf_counter() + seconds

    async def loop(w: int) -> None:
        order = 0
        while time.perf_counter() < deadline:
            target = Target(f"{tag}-{w}-{order}", metadata={"correlation_id": tag})
            for command in LIFECYCLE:
                sent = time.perf_counter()
                await executor.execute(target, command)
                latencies.append((time.perf_counter() - sent) * 1000)
            counts[w] += len(LIFECYCLE)
            order += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(workers)))
    return LifecycleRun(sum(counts) / (time.perf_counter() - started), latencies)
