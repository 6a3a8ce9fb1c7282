"""Operators repair a projection: `annals dlq replay` after the fix, `annals projections unpark`.

A handler bug is deployed (order_summary fails on one item), its record goes to the DLQ and its
order's later versions park behind it; the fixed projection is deployed and the dead letters
are replayed with the CLI: the record is applied once, the parked versions follow, the
projector's positions do not move; replaying again changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from projector import order_summary
from projector.order_summary import PROJECTION as ORDER_SUMMARY
from typer.testing import CliRunner

from annals.cli.main import app
from annals.messaging.dlq import read_dead_letters
from annals.messaging.security import client_security
from annals.projections.events import Event
from annals.projections.projection import Rows
from annals.projections.worker import Worker, group_of
from tests.integration.projections.helpers import eventually, fetchval
from tests.integration.projections.rig import Rig, checksum, produce, recorded

pytestmark = pytest.mark.stack
EUR = {"currency": "EUR"}


def _buggy_item_added(rows: Rows, event: Event) -> None:
    if event.data["sku"] == "BUG":
        raise RuntimeError("the deployed handler cannot add this item")
    order_summary.item_added(rows, event)


BUGGY = dataclasses.replace(
    ORDER_SUMMARY, handlers={**ORDER_SUMMARY.handlers, "orders.ItemAdded": _buggy_item_added}
)


def order(order_id: str, *, skus: tuple[str, ...], skip: int | None = None) -> list:
    """An order's events (version `skip` left out: it never arrives)."""
    sid = f"order-{order_id}"
    out = [recorded(sid, 1, "OrderPlaced", {"order_id": order_id, "customer_id": "c", **EUR})]
    for sku in skus:
        data = {"order_id": order_id, "sku": sku, "quantity": 1,
                "unit_price": {"amount": "5.00", **EUR}}  # fmt: skip
        out.append(recorded(sid, len(out) + 1, "ItemAdded", data))
    total = {"amount": f"{5 * len(skus)}.00", **EUR}
    out.append(
        recorded(sid, len(out) + 1, "OrderConfirmed", {"order_id": order_id, "total": total})
    )
    return [e for e in out if e.version != skip]


async def _run(worker: Worker) -> asyncio.Task:
    task = asyncio.create_task(worker.run_forever())
    await eventually(lambda: _true(worker.started.is_set()), timeout=60)
    return task


async def _true(value: bool) -> bool:
    return value


async def _positions(rig: Rig, group: str) -> tuple[list, dict]:
    stored = await _rows(rig, "SELECT topic, partition, next_offset FROM order_summary_v1._offsets "
                              "ORDER BY 1, 2")  # fmt: skip
    admin = AIOKafkaAdminClient(
        bootstrap_servers=rig.stack.kafka_bootstrap, **client_security("admin")
    )
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return stored, {(tp.topic, tp.partition): meta.offset for tp, meta in committed.items()}


async def _rows(rig: Rig, sql: str) -> list:
    import asyncpg

    conn = await asyncpg.connect(rig.owner_dsn("readmodels"))
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def _cli(monkeypatch: pytest.MonkeyPatch, rig: Rig, *args: str) -> Any:
    for name, value in rig.env().items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(app, list(args))


async def test_replay_after_the_fix_applies_once_and_unpark_skips_a_gap(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = rig.settings(stall_after_s=5.0, beat_interval_s=0.5)
    group = group_of(ORDER_SUMMARY, settings)
    bootstrap, topic = rig.stack.kafka_bootstrap, rig.topic("orders.events")
    read = rig.app_dsn("readmodels")
    buggy = Worker(BUGGY, settings)
    task = await _run(buggy)
    events = [*order("fix", skus=("OK", "BUG", "OK2")), *order("ok", skus=("OK",)),
              *order("gap", skus=("OK",), skip=2)]  # fmt: skip
    await produce(bootstrap, topic, "orders", events)
    status = "SELECT status FROM readmodels.order_summary WHERE order_id = $1"
    await eventually(lambda: _is(read, status, "confirmed", "ok"))
    await eventually(lambda: _dead(bootstrap, f"{group}.dlq", 4))
    assert await fetchval(read, status, "fix") == "open"  # v2 applied; v3 dead, v4-v5 parked
    buggy.stop()
    await asyncio.wait_for(task, 30)

    fixed = Worker(ORDER_SUMMARY, settings)  # the fix is deployed
    task = await _run(fixed)
    try:
        before = await _positions(rig, group)
        done = await asyncio.to_thread(_cli, monkeypatch, rig, "dlq", "replay", group, "--all")
        assert done.exit_code == 0, done.output
        assert "1 applied" in done.output and "2 parked versions followed" in done.output
        assert await fetchval(read, status, "fix") == "confirmed"
        items = "SELECT item_count FROM readmodels.order_summary WHERE order_id = 'fix'"
        assert await fetchval(read, items) == 3
        assert await _positions(rig, group) == before
        sums = await checksum(rig.owner_dsn("readmodels"), "order_summary_v1", ORDER_SUMMARY)

        again = await asyncio.to_thread(_cli, monkeypatch, rig, "dlq", "replay", group, "--all")
        assert again.exit_code == 0, again.output
        assert "0 applied" in again.output
        assert (
            await checksum(rig.owner_dsn("readmodels"), "order_summary_v1", ORDER_SUMMARY) == sums
        )

        listed = await asyncio.to_thread(_cli, monkeypatch, rig, "dlq", "list", group, "--json")
        rows = [json.loads(line) for line in listed.output.splitlines()]
        assert sorted(r["reason"] for r in rows) == ["handler failed", *["version gap"] * 3]
        [failed] = [r for r in rows if r["reason"] == "handler failed"]
        assert failed["stream_id"] == "order-fix" and failed["stream_version"] == "3"
        shown = await asyncio.to_thread(
            _cli, monkeypatch, rig, "dlq", "show", group, str(failed["offset"])
        )
        assert "RuntimeError" in shown.output and "original_offset" in shown.output

        assert await fetchval(read, status, "gap") == "open"  # v3 parked, v2 never comes
        unparked = await asyncio.to_thread(
            _cli, monkeypatch, rig, "projections", "unpark", "order_summary", "order-gap"
        )
        assert unparked.exit_code == 0, unparked.output
        assert "1 missing versions skipped, 1 parked versions applied" in unparked.output
        assert await fetchval(read, status, "gap") == "confirmed"
    finally:
        fixed.stop()
        await asyncio.wait_for(task, 30)


async def _is(dsn: str, sql: str, want: object, *args: Any) -> bool:
    return await fetchval(dsn, sql, *args) == want


async def _dead(bootstrap: str, topic: str, count: int) -> list | None:
    found = await read_dead_letters(bootstrap, topic)
    return found if len(found) >= count else None
