"""A record whose keys(), prepare() or handler fails is dead-lettered; the rest applies."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from annals.projections.engine import Applier, BatchFailed
from annals.projections.events import Event
from annals.projections.health import Health
from annals.projections.projection import Projection, Rows

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DOCS = sa.Table("docs", sa.MetaData(), sa.Column("id", sa.Text, primary_key=True),
                sa.Column("n", sa.Integer))  # fmt: skip


def _keys(event: Event) -> Iterable[tuple[str, Any]]:
    if event.data.get("bad") == "keys":
        raise KeyError("order_id")
    return ()


async def _prepare(conn: Any, events: Sequence[Event], rows: Rows) -> None:
    if any(e.data.get("bad") == "prepare" for e in events):
        raise ValueError("no sku")
    if len(events) > 1 and all(e.data.get("bad") == "together" for e in events):
        raise ValueError("only together")


def _handler(rows: Rows, event: Event) -> None:
    if event.data.get("bad") == "handler":
        raise TypeError("unsupported operand")
    rows.put("docs", {"id": event.stream_id, "n": event.version})


PROJECTION = Projection("p", ("t",), (DOCS,), {"s.E": _handler}, keys=_keys, prepare=_prepare)


def event(stream: str, version: int, offset: int, **data: Any) -> Event:
    return Event("s.E", data, NOW, stream, version, 1, "t", 0, offset, id=f"{stream}-{version}")


@pytest.mark.parametrize("stage", ["keys", "prepare", "handler"])
async def test_one_failing_record_is_dead_and_its_stream_parks(stage: str) -> None:
    applier = Applier(PROJECTION, 1, "s", live=False)
    applier.known = {}
    items = [event("a", 1, 0, bad=stage), event("a", 2, 1), event("b", 1, 2), event("c", 1, 3)]
    staged = await applier.stage(None, items)  # type: ignore[arg-type]
    dead = [(d.stream_id, d.version, d.reason) for d in staged.result.dead]
    assert dead == [("a", 1, f"{stage} failed"), ("a", 2, "version gap")]
    assert set(staged.rows.puts["docs"]) == {("b",), ("c",)}
    assert staged.result.applied == 2
    assert staged.marks["a"] == (0, 1, None) and staged.marks["b"] == (1, None, "b-1")


async def test_prepare_failing_only_for_the_batch_asks_for_a_split() -> None:
    applier = Applier(PROJECTION, 1, "s", live=False)
    applier.known = {}
    with pytest.raises(BatchFailed):
        await applier.stage(
            None, [event("a", 1, 0, bad="together"), event("b", 1, 1, bad="together")]
        )  # type: ignore[arg-type]


def test_health_is_live_only_while_it_progresses() -> None:
    health = Health(stall_after=5)
    assert health.state(health.started_at + 1) == "starting"
    assert health.state(health.started_at + 6) == "stalled"
    health.caught_up()
    assert health.state() == "live"
    assert health.progress_at is None and health.caught_up_at is not None
    assert health.state(health.caught_up_at + 6) == "stalled"
    health.failed(RuntimeError("boom"))
    assert health.state() == "stalled" and health.error == "RuntimeError: boom"
    health.progressed()
    assert health.state() == "live" and not health.error
    health.stopped = True
    assert health.state() == "stopped"
