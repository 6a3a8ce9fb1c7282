"""Which events a batch applies: duplicates skipped, gaps parked, dead letters park the stream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from projector.order_summary import PROJECTION

from annals.projections.engine import Applier, BatchResult, Failure, Mark, Poison, spans_of
from annals.projections.events import Event

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BROKEN = Failure("handler failed", "builtins.KeyError", "missing field 'order_id'")


class NoDatabase:
    """A connection that must not be used (marks are in memory)."""

    async def fetch(self, *args: Any) -> Any:
        raise AssertionError("no query expected")


def event(stream: str, version: int, offset: int, event_id: str | None = None) -> Event:
    return Event(
        "orders.OrderShipped", {}, NOW, stream, version, 1, "orders.events", 0, offset,
        id=event_id,
    )  # fmt: skip


async def plan(known: dict[str, Mark], items: list, failed: dict | None = None) -> tuple:
    applier = Applier(PROJECTION, 1, "order_summary_v1", live=False)
    applier.known = known
    result = BatchResult()
    planned = await applier._plan(NoDatabase(), items, result, failed or {})  # type: ignore[arg-type]
    return planned, result


async def test_duplicates_are_skipped_and_versions_advance() -> None:
    (events, marks, parks, unparks), result = await plan(
        {"order-a": (2, None, None)}, [event("order-a", 1, 0), event("order-a", 3, 1),
                                       event("order-a", 3, 2), event("order-b", 1, 3)]
    )  # fmt: skip
    assert [(e.stream_id, e.version) for e in events] == [("order-a", 3), ("order-b", 1)]
    assert marks == {"order-a": (3, None, None), "order-b": (1, None, None)}
    assert result.skipped == 2 and not parks and not unparks


async def test_a_gap_parks_and_the_missing_version_unparks_in_order() -> None:
    (events, marks, parks, _), result = await plan(
        {}, [event("order-a", 1, 0), event("order-a", 3, 1), event("order-a", 4, 2)]
    )
    assert [e.version for e in events] == [1]
    assert [e.version for e in parks] == [3, 4]
    assert marks["order-a"][:2] == (1, 2)
    assert [d.reason for d in result.dead] == ["version gap", "version gap"]

    (events, marks, _, unparks), result = await plan(
        {}, [event("order-a", 1, 0), event("order-a", 3, 1), event("order-a", 2, 2)]
    )
    assert [e.version for e in events] == [1, 2, 3]
    assert unparks == [("order-a", 3)] and marks["order-a"][:2] == (3, None)
    assert result.unparked == 1


async def test_a_dead_letter_parks_its_stream_and_later_versions_wait_behind_it() -> None:
    poison = Poison("orders.events", 0, 5, b"k", b"{", [], "not JSON")
    items = [poison, event("order-a", 1, 6), event("order-a", 2, 7), event("order-b", 1, 8)]
    (events, marks, parks, _), result = await plan({}, items, {("orders.events", 0, 6): BROKEN})
    assert [(e.stream_id, e.version) for e in events] == [("order-b", 1)]
    assert marks["order-a"][:2] == (0, 1)  # waits for version 1, the dead letter
    assert [e.version for e in parks] == [2]
    assert [(d.reason, d.version) for d in result.dead] == [
        ("undecodable", None), ("handler failed", 1), ("version gap", 2),
    ]  # fmt: skip
    assert result.dead[1].error_class == "builtins.KeyError"


async def test_poison_with_a_known_stream_parks_it_too() -> None:
    sealed = Poison("orders.events", 0, 9, b"k", b"{}", [], "does not decrypt", "undecryptable",
                    "x.PoisonRecord", "order-c", 1, "orders.OrderPlaced", "e1")  # fmt: skip
    (events, marks, _, _), result = await plan({}, [sealed, event("order-c", 2, 10)])
    assert not events and marks["order-c"][:2] == (0, 1)
    assert [d.reason for d in result.dead] == ["undecryptable", "version gap"]


async def test_a_parked_event_that_fails_leaves_the_park_and_holds_the_rest() -> None:
    held = {2: event("order-a", 2, 1, "e2"), 3: event("order-a", 3, 2, "e3")}
    applier = Applier(PROJECTION, 1, "order_summary_v1", live=False)
    applier.known = {"order-a": (0, 1, None)}

    class Parked(NoDatabase):
        async def fetch(self, sql: str, *args: Any) -> Any:
            return [
                (e.stream_id, e.version, e.type, 1, "{}", NOW, e.topic, 0, e.offset, e.id)
                for e in held.values()
            ]

    result = BatchResult()
    events, marks, _, unparks = await applier._plan(
        Parked(),  # type: ignore[arg-type]
        [event("order-a", 1, 0, "e1")],
        result,
        {("orders.events", 0, 1): BROKEN},
    )
    assert [e.version for e in events] == [1]
    assert unparks == [("order-a", 2)]  # out of the park, into the DLQ
    assert marks["order-a"] == (1, 2, "e1")
    assert [(d.reason, d.version) for d in result.dead] == [("handler failed", 2)]


async def test_the_same_version_with_another_event_id_is_an_alarm_not_a_skip() -> None:
    (events, _, _, _), result = await plan(
        {"order-a": (2, None, "e2")},
        [event("order-a", 2, 0, "e2"), event("order-a", 2, 1, "other"), event("order-a", 1, 2)],
    )
    assert not events
    assert result.skipped == 2 and result.conflicts == 1
    [alarm] = result.dead
    assert alarm.reason == "conflicting duplicate" and "other" in alarm.error


def test_spans_cover_each_partition() -> None:
    items = [event("order-a", 1, 7), event("order-b", 1, 8)]
    items.append(Poison("orders.events", 1, 3, None, None, [], "x"))
    spans = spans_of(items)
    assert spans[("orders.events", 0)].first == 7 and spans[("orders.events", 0)].next == 9
    assert spans[("orders.events", 1)].next == 4
    assert spans[("orders.events", 1)].last_time is None


@pytest.mark.parametrize("stored", [None, (0, None, None)])
async def test_an_unknown_stream_starts_at_version_one(stored: tuple | None) -> None:
    known = {} if stored is None else {"order-z": stored}
    (events, *_), _ = await plan(known, [event("order-z", 1, 0)])
    assert len(events) == 1
