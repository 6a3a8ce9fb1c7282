"""Typed events over any adapter: upcasting, crypto-shredding, aggregates and snapshots."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annals.eventstore import (
    REDACTED,
    DomainEvent,
    NewEvent,
    Snapshot,
    SubjectForgotten,
    UndecodableEvent,
    UnknownEventType,
    WrongExpectedVersion,
)
from annals.eventstore.codec import EventCodec
from annals.eventstore.repository import Repository
from tests.unit.eventstore.model import (
    CustomerRegistered,
    ItemAdded,
    Order,
    OrderConfirmed,
    OrderPlaced,
    OrderState,
    add_item,
    registry,
)


def sid(prefix: str) -> str:
    """A fresh stream id."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


item_events = st.builds(ItemAdded, sku=st.sampled_from(["a", "b", "c"]), quantity=st.integers(1, 5))
order_histories = st.lists(
    st.one_of(
        item_events, st.builds(OrderPlaced, customer_id=st.just("c"), currency=st.just("EUR"))
    ),
    min_size=0,
    max_size=23,
)


class TypedContract:
    """Typed behaviour over a `store` fixture with `.keys` and `.snapshots`."""

    async def test_upcasting_v1_v2_to_v3(self, store: Any) -> None:
        codec = EventCodec(registry, store.keys)
        s = sid("order")
        await store.append(s, [NewEvent("OrderPlaced", {"customer": "c-1"}, schema_version=1)])
        await store.append(
            s, [NewEvent("OrderPlaced", {"customer_id": "c-2", "currency": "USD"}, 2)]
        )
        await store.append(
            s, await codec.encode(s, [OrderPlaced(customer_id="c-3", currency="GBP")])
        )
        decoded = [e.event for e in await codec.decode(await store.read_stream(s))]
        assert decoded == [
            OrderPlaced(customer_id="c-1", currency="EUR"),
            OrderPlaced(customer_id="c-2", currency="USD"),
            OrderPlaced(customer_id="c-3", currency="GBP"),
        ]

    async def test_unknown_type_or_version_on_read(self, store: Any) -> None:
        codec = EventCodec(registry, store.keys)
        s = sid("order")
        await store.append(s, [NewEvent("Mystery", {"x": 1})])
        with pytest.raises(UnknownEventType) as exc:
            await codec.decode(await store.read_stream(s))
        assert not exc.value.retriable
        t = sid("order")
        await store.append(t, [NewEvent("ItemAdded", {"sku": "a", "quantity": 1}, 9)])
        with pytest.raises(UnknownEventType):
            await codec.decode(await store.read_stream(t))
        u = sid("order")
        await store.append(u, [NewEvent("ItemAdded", {"sku": "a", "quantity": "many"})])
        with pytest.raises(UndecodableEvent):
            await codec.decode(await store.read_stream(u))

    async def test_forget_redacts_personal_fields(self, store: Any) -> None:
        codec = EventCodec(registry, store.keys)
        customer = sid("cust")
        event = CustomerRegistered(customer_id=customer, email="ann@example.com", name="Ann")
        s = sid("customer")
        await store.append(s, await codec.encode(s, [event]))
        raw = (await store.read_stream(s))[0]
        assert "ann@example.com" not in raw.data_json and "Ann" not in raw.data_json
        assert [e.event for e in await codec.decode([raw])] == [event]
        await store.keys.forget(customer)
        [redacted] = [e.event for e in await codec.decode(await store.read_stream(s))]
        assert redacted.email == REDACTED and redacted.name is None
        assert redacted.customer_id == customer and redacted.country == "NL"
        with pytest.raises(SubjectForgotten):
            await codec.encode(s, [event])

    async def test_idempotent_typed_reappend_with_personal_data(self, store: Any) -> None:
        codec = EventCodec(registry, store.keys)
        s = sid("customer")
        event = CustomerRegistered(customer_id=s, email="bo@example.com")
        ids = [uuid.uuid4()]
        first = await store.append(s, await codec.encode(s, [event], event_ids=ids))
        again = await store.append(s, await codec.encode(s, [event], event_ids=ids))
        assert again == first

    async def test_repository_decide_evolve_and_conflict(self, store: Any) -> None:
        repo = Repository(store, EventCodec(registry, store.keys), Order, store.snapshots)
        s = sid("order")
        order = await repo.load(s)
        order.record(OrderPlaced(customer_id="c", currency="EUR"))
        order.execute(add_item("a", 2))
        assert (await repo.save(order)).version == 2
        stale = await repo.load(s)
        fresh = await repo.load(s)
        fresh.execute(add_item("b", 1))
        await repo.save(fresh)
        stale.record(OrderConfirmed())
        with pytest.raises(WrongExpectedVersion) as exc:
            await repo.save(stale)
        assert exc.value.current_version == 3
        loaded = await repo.load(s)
        assert loaded.state.items == {"a": 2, "b": 1} and loaded.version == 3

    async def test_stale_snapshot_is_ignored(self, store: Any) -> None:
        repo = Repository(store, EventCodec(registry, store.keys), Order, store.snapshots)
        s = sid("order")
        order = await repo.load(s)
        order.record(*[ItemAdded(sku="a", quantity=1) for _ in range(6)])
        await repo.save(order)
        snap = await store.snapshots.load_snapshot(s)
        assert snap is not None and snap.version == 6
        bogus = {**snap.state, "items": {"zzz": 99}}
        await store.snapshots.save_snapshot(Snapshot(s, 6, Order.state_schema_version + 1, bogus))
        assert (await repo.load(s)).state.items == {"a": 6}

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(history=order_histories, chunks=st.lists(st.integers(1, 4), min_size=1))
    async def test_snapshot_load_equals_full_replay(
        self, store: Any, history: list[DomainEvent], chunks: list[int]
    ) -> None:
        codec = EventCodec(registry, store.keys)
        with_snapshots = Repository(store, codec, Order, store.snapshots)
        s = sid("order")
        i = 0
        while i < len(history):
            order = await with_snapshots.load(s)
            step = chunks[i % len(chunks)]
            order.record(*history[i : i + step])
            await with_snapshots.save(order)
            i += step
        loaded = await with_snapshots.load(s)
        replayed = Order.replay(OrderState(), history)
        assert loaded.state == replayed and loaded.version == len(history)
        if len(history) >= Order.snapshot_every:
            assert await store.snapshots.load_snapshot(s) is not None
