"""Kafka Connect killed (SIGKILL) while the legacy application writes: no change is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from legacy.sandbox import sandbox
from legacy.simulator import Applied, Simulator

from annals.stack import connect
from annals.stack.procs import pid_alive, read_pid
from annals.stack.settings import StackSettings
from tests.integration.cdc.rig import by_key, journal_by_key, published

pytestmark = pytest.mark.stack


def _kill_connect(settings: StackSettings) -> int:
    pid = read_pid(settings.pid_file(connect.NAME))
    assert pid is not None, "the Connect worker is not running"
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid)
    return pid


async def test_every_change_arrives_after_connect_is_killed_mid_run(
    stack: StackSettings, unique: str
):
    if read_pid(stack.pid_file(connect.NAME)) is None:
        pytest.skip("Kafka Connect is not a process of the native stack here")
    async with sandbox(stack, unique) as rig:
        await rig.start()
        journal: list[Applied] = []
        simulator = Simulator(rig.owner, rig.where, seed=3, journal=journal)
        writing = asyncio.create_task(simulator.run(rate=100, duration=14))
        try:
            await asyncio.sleep(4)
            killed = await asyncio.to_thread(_kill_connect, stack)
            down_at = len(journal)
            await asyncio.sleep(3)  # the legacy application keeps writing while Connect is down
        finally:
            # whatever happened, bring the worker back for the tests that follow
            await asyncio.to_thread(connect.start, stack)
        summary = await writing
        assert read_pid(stack.pid_file(connect.NAME)) not in (None, killed)
        await rig.wait_running(120)
        async with rig.reader() as reader:
            events = await reader.read_until(
                lambda es: sum(len(c) for c in by_key(list(es)).values()) >= summary.changes,
                timeout=120,
            )

    assert 0 < down_at < summary.changes
    arrived = by_key(events)
    written = journal_by_key(journal)
    assert set(arrived) == set(written)
    for key, changes in written.items():
        got = arrived[key]
        assert [c.op.value for c in got] == [a.op for a in changes], key
        for change, applied in zip(got, changes, strict=True):
            if applied.after is not None:
                assert change.after == published(applied.table, applied.after), key
