"""kill -9 of a projector: no revenue counted twice or missed; the other process takes over.

While one of two projector processes is dead and its partitions wait for the survivor,
`annals projections status` must not say `live` (docs/rules.md#delivery: live = applying).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from projector.order_summary import PROJECTION as ORDER_SUMMARY

from annals.messaging.publisher import KafkaPublisher, make_producer
from annals.projections.settings import ProjectorSettings
from annals.projections.status import end_offsets, status
from annals.stack.settings import REPO_ROOT, StackSettings
from tests.integration.projections.helpers import eventually, fetchval
from tests.integration.projections.rig import Rig, create, destroy, produce, recorded

pytestmark = pytest.mark.stack
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


def start(
    rig: Rig, log: Path, names: tuple[str, ...] = ("daily_sales", "order_summary"), **extra: str
) -> subprocess.Popen[bytes]:
    """`annals projections run <names>` as a real process."""
    env = {**os.environ, **rig.env(), "ANNALS_PROJECTOR_SESSION_TIMEOUT_MS": "6000",
           "ANNALS_PROJECTOR_BATCH_RECORDS": "1000", "PYTHONUNBUFFERED": "1", **extra}  # fmt: skip
    args = [sys.executable, "-m", "annals.cli.main", "projections", "run", *names]
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


async def progressed(admin: asyncpg.Connection, database: str, kills: int) -> bool:
    """Past start-up (some batches applied since the last kill) and inside a batch now.

    One connection to the read-model database, the batch looked for last: a batch is a few
    round trips long, so a new connection per look would mostly find it over.
    """
    if await admin.fetchval("SELECT to_regclass('readmodels.daily_sales__applied')") is None:
        return False
    applied = await admin.fetchval("SELECT count(*) FROM readmodels.daily_sales__applied")
    return bool(applied > (kills + 1) * 2000) and await in_transaction(admin, database)


@pytest.mark.slow
async def test_kill_9_mid_batch_counts_revenue_exactly_once(
    stack: StackSettings, unique: str, tmp_path: Path
) -> None:
    rig = await create(stack, unique)
    admin = await asyncpg.connect(stack.dsn(rig.databases["readmodels"]))
    proc: subprocess.Popen[bytes] | None = None
    try:
        events, revenue, counted = history()
        await produce(stack.kafka_bootstrap, rig.topic("orders.events"), "orders", events)
        reader, database = rig.app_dsn("readmodels"), rig.databases["readmodels"]
        kills = 0
        for _ in range(2):
            proc = start(rig, tmp_path / "projector.log")
            deadline = time.monotonic() + 60
            while not await progressed(admin, database, kills):
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


STALL_AFTER = 2.0
MARGIN = 1.5  # status may take this long beyond STALL_AFTER to notice


@dataclass
class Sample:
    """One look at the projection: its status and each partition's stored offset and lag."""

    at: float
    state: str
    stored: dict[tuple[str, int], int]
    lag: dict[tuple[str, int], int]


async def keep_ordering(rig: Rig, stop: asyncio.Event, sent: list[str]) -> None:
    """Place, fill and confirm an order every 20 ms until `stop`."""
    producer = make_producer(rig.stack.kafka_bootstrap)
    await producer.start()
    try:
        publisher = KafkaPublisher(producer, rig.topic("orders.events"), "orders")
        while not stop.is_set():
            oid = f"k{len(sent)}"
            sid = f"order-{oid}"
            item = {"order_id": oid, "sku": "SKU-1", "quantity": 1,
                    "unit_price": {"amount": "1.00", **EUR}}  # fmt: skip
            await publisher.publish([
                recorded(sid, 1, "OrderPlaced", {"order_id": oid, "customer_id": "c", **EUR}),
                recorded(sid, 2, "ItemAdded", item),
                recorded(sid, 3, "OrderConfirmed", {"order_id": oid,
                                                    "total": {"amount": "1.00", **EUR}}),
            ])  # fmt: skip
            sent.append(oid)
            await asyncio.sleep(0.02)
    finally:
        await producer.stop()


async def sample(rig: Rig, settings: ProjectorSettings, started: float) -> Sample:
    """The status as `annals projections status` computes it, with the offsets it judged."""
    ends = await end_offsets(settings, ["orders.events"])
    row = await status(ORDER_SUMMARY, settings, ends)
    conn = await asyncpg.connect(rig.owner_dsn("readmodels"))
    try:
        rows = await conn.fetch(
            "SELECT topic, partition, next_offset FROM order_summary_v1._offsets"
        )
    finally:
        await conn.close()
    stored = {(r[0], r[1]): r[2] for r in rows}
    lag = {tp: max(0, end - stored.get(tp, 0)) for tp, end in ends.items()}
    return Sample(time.monotonic() - started, row.state, stored, lag)


def wrongly_live(samples: list[Sample]) -> list[str]:
    """Samples saying live while a partition with waiting records had not moved for long."""
    wrong = []
    for i, now in enumerate(samples):
        if now.state != "live":
            continue
        for before in samples[:i]:
            if now.at - before.at < STALL_AFTER + MARGIN:
                break
            for tp, waiting in before.lag.items():
                if waiting and before.stored.get(tp, 0) == now.stored.get(tp, 0):
                    wrong.append(f"t={now.at:.1f}s live, {tp} stuck since t={before.at:.1f}s")
    return wrong


async def owners(rig: Rig) -> dict[int, list[str]]:
    """pid -> partitions of the worker heartbeats that are still believed."""
    conn = await asyncpg.connect(rig.owner_dsn("readmodels"))
    try:
        if not await conn.fetchval("SELECT to_regclass('projections.workers') IS NOT NULL"):
            return {}
        rows = await conn.fetch(
            "SELECT pid, partitions FROM projections.workers WHERE name = 'order_summary' "
            "AND stale_at > now() AND state <> 'stopped'"
        )
    finally:
        await conn.close()
    return {r[0]: list(r[1]) for r in rows}


@pytest.mark.slow
async def test_kill_9_of_one_of_two_projectors_the_other_takes_over_never_live_when_stuck(
    stack: StackSettings, unique: str, tmp_path: Path
) -> None:
    rig = await create(stack, unique)
    extra = {"ANNALS_PROJECTOR_STALL_AFTER_S": str(STALL_AFTER),
             "ANNALS_PROJECTOR_BEAT_INTERVAL_S": "0.5"}  # fmt: skip
    settings = rig.settings(stall_after_s=STALL_AFTER)
    ports = [free_port(), free_port()]
    procs = [
        start(rig, tmp_path / f"p{i}.log", ("order_summary",), **extra,
              ANNALS_PROJECTOR_METRICS_PORT=str(port))
        for i, port in enumerate(ports, 1)
    ]  # fmt: skip
    stop, sent = asyncio.Event(), []
    producing = asyncio.create_task(keep_ordering(rig, stop, sent))
    try:
        shared = await eventually(lambda: _both_own(rig, procs), timeout=60, interval=0.2)
        # Every partition of its topics (a snapshot during the first rebalance may list one twice).
        everything = sorted({p for parts in shared.values() for p in parts})
        started = time.monotonic()
        samples = [await sample(rig, settings, started)]
        victim = procs[0]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        killed_at = time.monotonic() - started
        survivor = procs[1].pid
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            samples.append(await sample(rig, settings, started))
            taken = (await owners(rig)).get(survivor, [])
            if len(taken) == len(everything) and samples[-1].at > killed_at + 6 + 2 * STALL_AFTER:
                break
            await asyncio.sleep(0.2)
        stop.set()
        await producing
        reader = rig.app_dsn("readmodels")
        confirmed = "SELECT count(*) FROM readmodels.order_summary WHERE status = 'confirmed'"
        await eventually(lambda: _is(reader, confirmed, len(sent)), timeout=60, interval=0.3)
        final = await eventually(lambda: _live_caught_up(rig, settings), timeout=30)
        logs = _logs(tmp_path)
        assert len(shared) == 2, shared
        assert {f"orders.events:{p}" for p in range(6)} <= set(everything)
        assert sorted((await owners(rig))[survivor]) == everything
        after = [s for s in samples if s.at > killed_at]
        assert any(s.state == "stalled" for s in after), ([s.state for s in samples], logs)
        assert not wrongly_live(samples), (wrongly_live(samples)[:5], logs)
        assert final.state == "live" and final.lag_records == 0
        scraped = await asyncio.to_thread(scrape, ports[1])
        assert 'annals_projection_state{projection="order_summary",state="live"} 1.0' in scraped
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await producing
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        await destroy(rig)


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> str:
    """The /metrics text of a projector process."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        return str(answer.read().decode())


def _logs(folder: Path) -> str:
    return "\n".join(p.read_text()[-2000:] for p in sorted(folder.glob("p*.log")))


async def _both_own(rig: Rig, procs: list[subprocess.Popen[bytes]]) -> dict[int, list[str]] | None:
    found = await owners(rig)
    pids = {p.pid for p in procs}
    return found if set(found) == pids and all(found.values()) else None


async def _live_caught_up(rig: Rig, settings: ProjectorSettings) -> Any:
    row = await status(ORDER_SUMMARY, settings)
    return row if row.state == "live" and row.lag_records == 0 else None
