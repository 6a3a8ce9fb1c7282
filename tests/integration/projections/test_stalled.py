"""A projection that cannot make progress says so: `stalled`, its last error, where it is stuck.

A fault that is no record's fault (here: the database refuses a statement of every batch) is
not dead-lettered: the worker restarts with back-off, and status, metrics and logs say stalled
with the error and the offset it is stuck at, until the cause is fixed; then it is live again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence

import asyncpg
import pytest
from projector.order_summary import PROJECTION as ORDER_SUMMARY

from annals.projections.events import Event
from annals.projections.projection import Rows
from annals.projections.status import status
from annals.projections.worker import Worker
from tests.integration.projections.helpers import eventually, metric
from tests.integration.projections.rig import Rig, produce, recorded

pytestmark = pytest.mark.stack
EUR = {"currency": "EUR"}


async def _broken(conn: asyncpg.Connection, events: Sequence[Event], rows: Rows) -> None:
    await conn.fetch("SELECT * FROM a_table_dropped_by_mistake")


BROKEN = dataclasses.replace(ORDER_SUMMARY, prepare=_broken)


async def test_a_projection_that_cannot_progress_is_stalled_until_fixed(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    settings = rig.settings(stall_after_s=3.0, beat_interval_s=0.3)
    placed = [{"order_id": f"s{i}", "customer_id": "c", **EUR} for i in range(20)]
    events = [recorded(f"order-{d['order_id']}", 1, "OrderPlaced", d) for d in placed]
    await produce(rig.stack.kafka_bootstrap, rig.topic("orders.events"), "orders", events)
    broken = Worker(BROKEN, settings)
    task = asyncio.create_task(broken.run_forever())
    try:
        await _stalled(broken, settings, caplog)
    finally:
        broken.stop()
        await asyncio.wait_for(task, 30)

    fixed = Worker(ORDER_SUMMARY, settings)
    task = asyncio.create_task(fixed.run_forever())
    try:
        row = await eventually(lambda: _state(settings, "live"), timeout=30)
        assert row.lag_records == 0 and not row.stuck and row.last_error == ""
    finally:
        fixed.stop()
        await asyncio.wait_for(task, 30)


async def _stalled(broken: Worker, settings: object, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "annals.projections.worker"):
        row = await eventually(lambda: _state(settings, "stalled", lag=True), timeout=30)
    assert "a_table_dropped_by_mistake" in row.last_error  # type: ignore[attr-defined]
    assert row.lag_records == 20 and row.stuck  # type: ignore[attr-defined]
    assert all(s.endswith("@0") for s in row.stuck)  # type: ignore[attr-defined]
    assert broken.health.state() == "stalled"
    assert metric("annals_projection_state", projection="order_summary", state="stalled") == 1
    assert metric("annals_projection_worker_errors_total", projection="order_summary",
                  error="UndefinedTableError") >= 1  # fmt: skip
    assert any("stalled" in r.getMessage() and "UndefinedTable" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    assert broken.health.stuck_at and set(broken.health.stuck_at.values()) == {0}


async def _state(settings: object, want: str, lag: bool = False) -> object:
    row = await status(ORDER_SUMMARY, settings)  # type: ignore[arg-type]
    if row.state == want and (not lag or (row.lag_records and row.last_error)):
        return row
    return None
