"""While the legacy database is idle and other databases write, heartbeats keep the slot moving."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest
from legacy.sandbox import Sandbox, sandbox

from annals.stack.settings import StackSettings

pytestmark = pytest.mark.stack
MiB = 1024 * 1024
BOUND = 24 * MiB
PAD, ROWS = "repeat('x', 1000)", "generate_series(1, 3000) g"  # ~3 MiB of WAL per insert


async def test_retained_wal_stays_bounded_with_heartbeats_and_grows_without(
    stack: StackSettings, unique: str
):
    control_id = uuid.uuid4().hex[:12]
    async with sandbox(stack, unique) as beating, sandbox(stack, control_id) as silent:
        await beating.start(**{"heartbeat.interval.ms": "1000"})
        await silent.start(**{"heartbeat.interval.ms": "0"})
        # WAL written elsewhere on the same server (another database): the legacy tables idle
        other = await asyncpg.connect(stack.dsn("postgres"))
        table = f"wal_filler_{unique}"
        await other.execute(f"CREATE TABLE {table} (id int, pad text)")
        try:
            start_lsn = await other.fetchval("SELECT pg_current_wal_lsn()")
            flushed_lags: list[int] = []
            started = time.monotonic()
            while time.monotonic() - started < 16:
                await other.execute(f"INSERT INTO {table} SELECT g, {PAD} FROM {ROWS}")
                await asyncio.sleep(1)
                if time.monotonic() - started > 4:
                    flushed_lags.append((await beating.retained_wal())[1])
            written = await other.fetchval(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::bigint", start_lsn
            )
            await other.execute("CHECKPOINT")  # logs running xacts: restart_lsn may move on
            await _restart_lsn_within(beating, BOUND, timeout=30)
            silent_restart, silent_flushed = await silent.retained_wal()
        finally:
            await other.execute(f"DROP TABLE IF EXISTS {table}")
            await other.close()

    assert written > 40 * MiB
    # the heartbeat slot trails by a few seconds of WAL (decoding, offset flush), not by all of it
    median = sorted(flushed_lags)[len(flushed_lags) // 2]
    assert median < BOUND, str([lag // MiB for lag in flushed_lags])
    assert min(flushed_lags[-4:]) < BOUND, str([lag // MiB for lag in flushed_lags])
    # the control slot (no heartbeats) pins everything written since the legacy tables went idle
    assert silent_flushed >= written * 0.9
    assert silent_restart >= written * 0.9


async def _restart_lsn_within(rig: Sandbox, bound: int, timeout: float) -> None:
    """Wait until the slot's restart_lsn trails the WAL end by less than bound bytes."""
    async with asyncio.timeout(timeout):
        while True:
            if (await rig.retained_wal())[0] < bound:
                return
            await asyncio.sleep(0.5)
