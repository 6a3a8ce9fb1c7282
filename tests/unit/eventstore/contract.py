"""One contract for every EventStore adapter (in-memory in unit tests, PostgreSQL in integration).

Subclasses provide a `store` fixture yielding an adapter with `.keys` and `.snapshots`.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from annals.eventstore import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    Checkpoint,
    DuplicateEventId,
    EventTooLarge,
    InvalidEvent,
    InvalidExpectedVersion,
    NewEvent,
    StreamDeleted,
    StreamTypeMismatch,
    WrongExpectedVersion,
)


def ev(n: int = 0, kind: str = "Happened", **data: Any) -> NewEvent:
    """A small NewEvent."""
    return NewEvent(kind, {"n": n, **data})


def sid(prefix: str = "test") -> str:
    """A fresh stream id."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class EventStoreContract:
    """Behaviour every adapter must show."""

    async def test_append_and_read_stream(self, store: Any) -> None:
        s = sid()
        first = await store.append(s, [ev(1), ev(2)], NO_STREAM)
        assert (first.version, first.first_version, len(first.positions)) == (2, 1, 2)
        second = await store.append(s, [ev(3)], 2, {"correlation_id": "c-1"})
        assert second.version == 3 and second.positions[0] > first.positions[-1]
        events = await store.read_stream(s)
        assert [e.version for e in events] == [1, 2, 3]
        assert [e.data["n"] for e in events] == [1, 2, 3]
        assert events[2].metadata == {"correlation_id": "c-1"}
        assert events[0].stream_type == "test"
        assert [e.version for e in await store.read_stream(s, 2)] == [2, 3]
        assert [e.version for e in await store.read_stream(s, backwards=True)] == [3, 2, 1]
        assert [e.version for e in await store.read_stream(s, 2, backwards=True, limit=1)] == [2]
        assert await store.read_stream(sid()) == []
        info = await store.get_stream(s)
        assert info.version == 3 and info.stream_type == "test"

    async def test_expected_versions(self, store: Any) -> None:
        s = sid()
        with pytest.raises(WrongExpectedVersion) as exc:
            await store.append(s, [ev()], STREAM_EXISTS)
        assert exc.value.current_version == 0
        with pytest.raises(WrongExpectedVersion):
            await store.append(s, [ev()], 1)
        await store.append(s, [ev()], ANY)
        await store.append(s, [ev()], STREAM_EXISTS)
        with pytest.raises(WrongExpectedVersion) as exc:
            await store.append(s, [ev()], NO_STREAM)
        assert exc.value.current_version == 2 and exc.value.retriable
        with pytest.raises(WrongExpectedVersion) as exc:
            await store.append(s, [ev()], 1)
        assert exc.value.current_version == 2
        assert (await store.append(s, [ev()], 2)).version == 3

    @pytest.mark.parametrize("bad", ["1", -1, 1.0, True, None, "any", object()])
    async def test_unknown_expected_version_form(self, store: Any, bad: object) -> None:
        s = sid()
        with pytest.raises(InvalidExpectedVersion):
            await store.append(s, [ev()], bad)
        assert await store.get_stream(s) is None

    async def test_bad_events_write_nothing(self, store: Any) -> None:
        s = sid()
        await store.append(s, [ev(1)], NO_STREAM)
        bad_batches: list[tuple[list[Any], type[Exception]]] = [
            ([ev(2), NewEvent("X", {"when": object()})], InvalidEvent),
            ([ev(2), NewEvent("X", {"f": float("nan")})], InvalidEvent),
            ([ev(2), NewEvent("X", {"s": "nul\x00"})], InvalidEvent),
            ([ev(2), NewEvent("X", {"big": "x" * (store.max_event_bytes + 1)})], EventTooLarge),
            ([ev(2), NewEvent("", {})], InvalidEvent),
            ([NewEvent("X", {}, schema_version=0)], InvalidEvent),
            ([NewEvent("X", ["not", "a", "mapping"])], InvalidEvent),  # type: ignore[arg-type]
            ([{"event_type": "X"}], InvalidEvent),
            ([], InvalidEvent),
        ]
        for batch, error in bad_batches:
            with pytest.raises(error) as exc:
                await store.append(s, batch, 1)
            assert not exc.value.retriable
        e = ev(2)
        with pytest.raises(InvalidEvent):
            await store.append(s, [e, e], 1)
        with pytest.raises(InvalidEvent):
            await store.append("", [ev()])
        assert [e.version for e in await store.read_stream(s)] == [1]
        assert (await store.get_stream(s)).version == 1

    async def test_idempotent_append(self, store: Any) -> None:
        s = sid()
        batch = [ev(1), ev(2)]
        first = await store.append(s, batch, NO_STREAM)
        await store.append(s, [ev(3)], 2)
        assert await store.append(s, batch, NO_STREAM) == first
        assert await store.append(s, batch, ANY) == first
        assert await store.append(s, batch, 2) == first
        changed = [batch[0], NewEvent("Happened", {"n": 99}, event_id=batch[1].event_id)]
        with pytest.raises(DuplicateEventId):
            await store.append(s, changed, ANY)
        with pytest.raises(DuplicateEventId):
            await store.append(sid(), batch, ANY)
        with pytest.raises(DuplicateEventId):
            await store.append(s, [batch[0], ev(4)], ANY)
        assert (await store.get_stream(s)).version == 3

    async def test_stream_type_is_fixed(self, store: Any) -> None:
        s = sid("order")
        await store.append(s, [ev()], stream_type="order")
        with pytest.raises(StreamTypeMismatch):
            await store.append(s, [ev()], stream_type="customer")

    async def test_read_all_order_filters_and_checkpoints(self, store: Any) -> None:
        start = await self._head(store)
        a, b = sid("alpha"), sid("beta")
        await store.append(a, [ev(1, "A1"), ev(2, "A2")])
        await store.append(b, [ev(1, "B1")])
        await store.append(a, [ev(3, "A1")])
        mine = {a, b}
        seen = [e for e in await store.read_all(start, 10_000) if e.stream_id in mine]
        assert [(e.stream_id, e.version) for e in seen] == [(a, 1), (a, 2), (b, 1), (a, 3)]
        checkpoints = [e.checkpoint for e in seen]
        assert checkpoints == sorted(checkpoints)
        rest = await store.read_all(seen[1].checkpoint, 10_000)
        assert [(e.stream_id, e.version) for e in rest if e.stream_id in mine] == [(b, 1), (a, 3)]
        typed = await store.read_all(start, 10_000, event_types=["A1"])
        assert [(e.stream_id, e.version) for e in typed if e.stream_id in mine] == [(a, 1), (a, 3)]
        by_stream_type = await store.read_all(start, 10_000, stream_types=["beta"])
        assert [e.stream_id for e in by_stream_type if e.stream_id in mine] == [b]
        paged: list[Any] = []
        cursor = start
        while page := await store.read_all(cursor, 1):
            paged.extend(page)
            cursor = page[-1].checkpoint
        assert [e.event_id for e in paged if e.stream_id in mine] == [e.event_id for e in seen]

    async def test_catch_up_pages_to_the_head(self, store: Any) -> None:
        start = await self._head(store)
        s = sid("page")
        for i in range(7):
            await store.append(s, [ev(i)])
        got = [
            e.version
            for page in [p async for p in store.catch_up(start, batch_size=3)]
            for e in page
            if e.stream_id == s
        ]
        assert got == list(range(1, 8))

    async def _head(self, store: Any) -> Checkpoint:
        head = Checkpoint(0, 0)
        while page := await store.read_all(head, 10_000):
            head = page[-1].checkpoint
        return head

    async def test_subscribe_all_follows_new_events(self, store: Any) -> None:
        start = await self._head(store)
        s = sid("sub")
        got: list[Any] = []

        async def follow() -> None:
            async for e in store.subscribe_all(start, stream_types=["sub"]):
                got.append(e)
                if len(got) == 3:
                    return

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.05)
        await store.append(s, [ev(1)])
        await asyncio.sleep(0.02)
        await store.append(s, [ev(2), ev(3)])
        await asyncio.wait_for(task, 5)
        assert [e.version for e in got] == [1, 2, 3]

    async def test_max_count_and_max_age(self, store: Any) -> None:
        s = sid()
        await store.append(s, [ev(i) for i in range(1, 6)])
        await store.set_stream_metadata(s, max_count=2)
        assert [e.version for e in await store.read_stream(s)] == [4, 5]
        assert [e.version for e in await store.read_stream(s, backwards=True)] == [5, 4]
        await store.set_stream_metadata(s, max_age=timedelta(0))
        await asyncio.sleep(0.01)
        assert await store.read_stream(s) == []
        await store.set_stream_metadata(s, max_age=timedelta(hours=1))
        assert len(await store.read_stream(s)) == 5
        with pytest.raises(InvalidEvent):
            await store.set_stream_metadata(s, max_count=0)
        with pytest.raises(WrongExpectedVersion):
            await store.set_stream_metadata(sid(), max_count=3)

    async def test_tombstone(self, store: Any) -> None:
        s = sid()
        await store.append(s, [ev(1), ev(2)])
        with pytest.raises(WrongExpectedVersion):
            await store.delete_stream(s, 1)
        await store.delete_stream(s, 2)
        assert (await store.get_stream(s)).deleted
        with pytest.raises(StreamDeleted):
            await store.read_stream(s)
        with pytest.raises(StreamDeleted):
            await store.append(s, [ev(3)])
        with pytest.raises(StreamDeleted):
            await store.delete_stream(s)
        never = sid()
        await store.delete_stream(never, NO_STREAM)
        with pytest.raises(StreamDeleted):
            await store.append(never, [ev()], NO_STREAM)

    async def test_keys_and_forget(self, store: Any) -> None:
        subject = sid("customer")
        key = await store.keys.get_or_create(subject)
        assert len(key) == 32 and await store.keys.get_or_create(subject) == key
        assert await store.keys.get_many([subject, "nobody"]) == {subject: key}
        await store.keys.forget(subject)
        assert await store.keys.get_many([subject]) == {}
