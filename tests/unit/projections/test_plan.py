"""Which events a batch applies: duplicates skipped, gaps parked, a filled gap unparks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from projector.order_summary import PROJECTION

from annals.projections.engine import Applier, BatchResult, Poison, spans_of
from annals.projections.events import Event

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class NoDatabase:
    """A connection that must not be used (marks are in memory)."""

    async def fetch(self, *args: Any) -> Any:
        raise AssertionError("no query expected")


def event(stream: str, version: int, offset: int) -> Event:
    return Event("orders.OrderShipped", {}, NOW, stream, version, 1, "orders.events", 0, offset)


async def plan(known: dict[str, tuple[int, int | None]], items: list) -> tuple:
    applier = Applier(PROJECTION, 1, "order_summary_v1", live=False)
    applier.known = known
    result = BatchResult()
    planned = await applier._plan(NoDatabase(), items, result, frozenset())  # type: ignore[arg-type]
    return planned, result


async def test_duplicates_are_skipped_and_versions_advance() -> None:
    (events, marks, parks, unparks), result = await plan(
        {"order-a": (2, None)}, [event("order-a", 1, 0), event("order-a", 3, 1),
                                 event("order-a", 3, 2), event("order-b", 1, 3)]
    )  # fmt: skip
    assert [(e.stream_id, e.version) for e in events] == [("order-a", 3), ("order-b", 1)]
    assert marks == {"order-a": (3, None), "order-b": (1, None)}
    assert result.skipped == 2 and not parks and not unparks


async def test_a_gap_parks_and_the_missing_version_unparks_in_order() -> None:
    (events, marks, parks, _), result = await plan(
        {}, [event("order-a", 1, 0), event("order-a", 3, 1), event("order-a", 4, 2)]
    )
    assert [e.version for e in events] == [1]
    assert [e.version for e in parks] == [3, 4]
    assert marks["order-a"] == (1, 2)
    assert [d.reason for d in result.dead] == ["version gap", "version gap"]

    (events, marks, _, unparks), result = await plan(
        {}, [event("order-a", 1, 0), event("order-a", 3, 1), event("order-a", 2, 2)]
    )
    assert [e.version for e in events] == [1, 2, 3]
    assert unparks == [("order-a", 3)] and marks["order-a"] == (3, None)
    assert result.unparked == 1


async def test_poison_and_forced_records_are_dead_letters_that_move_the_stream_on() -> None:
    poison = Poison("orders.events", 0, 5, b"k", b"{", [], "not JSON")
    forced = event("order-a", 1, 6)
    applier = Applier(PROJECTION, 1, "order_summary_v1", live=False)
    applier.known = {}
    result = BatchResult()
    events, marks, _, _ = await applier._plan(
        NoDatabase(),  # type: ignore[arg-type]
        [poison, forced],
        result,
        frozenset({("orders.events", 0, 6)}),
    )
    assert not events and marks == {"order-a": (1, None)}
    assert [d.reason for d in result.dead] == ["undecodable", "write failed"]


def test_spans_cover_each_partition() -> None:
    items = [event("order-a", 1, 7), event("order-b", 1, 8)]
    items.append(Poison("orders.events", 1, 3, None, None, [], "x"))
    spans = spans_of(items)
    assert spans[("orders.events", 0)].first == 7 and spans[("orders.events", 0)].next == 9
    assert spans[("orders.events", 1)].next == 4
    assert spans[("orders.events", 1)].last_time is None


@pytest.mark.parametrize("stored", [None, (0, None)])
async def test_an_unknown_stream_starts_at_version_one(stored: tuple | None) -> None:
    known = {} if stored is None else {"order-z": stored}
    (events, *_), _ = await plan(known, [event("order-z", 1, 0)])
    assert len(events) == 1
