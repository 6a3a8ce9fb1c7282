"""kill -9 of a projector in the middle of a batch: no revenue counted twice or missed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from annals.stack.settings import REPO_ROOT, StackSettings
from tests.integration.projections.helpers import eventually, fetchval
from tests.integration.projections.rig import Rig, create, destroy, produce, recorded

ORDERS = 12_000
EUR = {"currency": "EUR"}


def history() -> tuple[list, Decimal, int]:
    """Every order's events, the revenue of the confirmed ones and how many count."""
    events, revenue, counted = [], Decimal("0"), 0
    for i in range(ORDERS):
        oid, sid = f"o{i}", f"order-o{i}"
        price = Decimal(f"{i % 50 + 1}.25")
        item = {"order_id": oid, "sku": f"SKU-{i % 9}", "quantity": 2,
                "unit_price": {"amount": str(price), **EUR}}  # fmt: skip
        total = {"amount": str(price * 2), **EUR}
        events += [
            recorded(sid, 1, "OrderPlaced", {"order_id": oid, "customer_id": f"c{i % 40}", **EUR}),
            recorded(sid, 2, "ItemAdded", item),
            recorded(sid, 3, "OrderConfirmed", {"order_id": oid, "total": total}),
        ]
        if i % 10 == 0:
            events.append(recorded(sid, 4, "OrderCancelled", {"order_id": oid, "reason": "x"}))
        else:
            revenue += price * 2
            counted += 1
    return events, revenue, counted


def start(rig: Rig, log: Path) -> subprocess.Popen[bytes]:
    """`annals projections run daily_sales order_summary` as a real process."""
    env = {**os.environ, **rig.env(), "ANNALS_PROJECTOR_SESSION_TIMEOUT_MS": "6000",
           "ANNALS_PROJECTOR_BATCH_RECORDS": "1000", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    args = [sys.executable, "-m", "annals.cli.main", "projections", "run", "daily_sales",
            "order_summary"]  # fmt: skip
    with open(log, "ab") as out:
        return subprocess.Popen(args, env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)


async def in_transaction(admin: asyncpg.Connection, database: str) -> bool:
    """Whether the daily_sales worker has a transaction open right now."""
    return bool(
        await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = "
            "'projector:daily_sales' AND xact_start IS NOT NULL AND state <> 'idle'",
            database,
        )
    )


async def progressed(
    stack: StackSettings, admin: asyncpg.Connection, database: str, kills: int
) -> bool:
    """Past start-up (some batches applied since the last kill) and inside a batch now."""
    if not await in_transaction(admin, database):
        return False
    conn = await asyncpg.connect(stack.dsn(database))
    try:
        view = await conn.fetchval("SELECT to_regclass('readmodels.daily_sales__applied')")
        if view is None:
            return False
        applied = await conn.fetchval("SELECT count(*) FROM readmodels.daily_sales__applied")
    finally:
        await conn.close()
    return bool(applied > (kills + 1) * 2000) and await in_transaction(admin, database)


@pytest.mark.slow
async def test_kill_9_mid_batch_counts_revenue_exactly_once(
    stack: StackSettings, unique: str, tmp_path: Path
) -> None:
    rig = await create(stack, unique)
    admin = await asyncpg.connect(stack.dsn())
    proc: subprocess.Popen[bytes] | None = None
    try:
        events, revenue, counted = history()
        await produce(stack.kafka_bootstrap, rig.topic("orders.events"), "orders", events)
        reader, database = rig.app_dsn("readmodels"), rig.databases["readmodels"]
        kills = 0
        for _ in range(2):
            proc = start(rig, tmp_path / "projector.log")
            deadline = time.monotonic() + 60
            while not await progressed(stack, admin, database, kills):
                assert time.monotonic() < deadline, (tmp_path / "projector.log").read_text()[-3000:]
                await asyncio.sleep(0.002)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
        done = await fetchval(reader, "SELECT coalesce(sum(orders), 0) FROM readmodels.daily_sales")
        assert done < counted, "the kills should land before the end"
        proc = start(rig, tmp_path / "projector.log")
        sql = "SELECT count(*) FROM readmodels.daily_sales_orders WHERE counted_day IS NOT NULL"
        await eventually(lambda: _is(reader, sql, counted), timeout=90, interval=0.2)
        applied = "SELECT count(*) FROM readmodels.daily_sales__applied"
        await eventually(lambda: _is(reader, applied, ORDERS), timeout=60)
        got = await fetchval(reader, "SELECT sum(revenue) FROM readmodels.daily_sales")
        assert got == revenue
        assert await fetchval(reader, "SELECT sum(orders) FROM readmodels.daily_sales") == counted
        await eventually(
            lambda: _is(reader, "SELECT count(*) FROM readmodels.order_summary", ORDERS), timeout=60
        )
        assert kills == 2
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        await admin.close()
        await destroy(rig)


async def _is(dsn: str, sql: str, want: object) -> bool:
    return await fetchval(dsn, sql) == want
