"""A column added mid-run reaches a running consumer; neither connector nor consumer stops."""

from __future__ import annotations

import asyncio

import pytest
from legacy.sandbox import sandbox
from legacy.schema import SCHEMA_CHANGE_COLUMN
from legacy.simulator import Applied, Simulator

from annals.cdc import Event, RowChange, SchemaChange
from annals.stack.settings import StackSettings
from tests.integration.cdc.rig import by_key, journal_by_key

pytestmark = pytest.mark.stack


async def test_new_column_reaches_consumers_without_restarts(stack: StackSettings, unique: str):
    async with sandbox(stack, unique) as rig:
        started = await rig.start()
        task_workers = [(t.id, t.worker_id) for t in started.tasks]
        states: list[str] = []
        events: list[Event] = []
        stop = asyncio.Event()

        async def watch_connector() -> None:
            while not stop.is_set():
                status = await asyncio.to_thread(rig.connect.status, rig.name)
                states.extend(t.state for t in status.tasks)
                await asyncio.sleep(0.5)

        async def consume() -> None:  # one consumer, never restarted
            async with rig.reader() as reader:
                while not stop.is_set():
                    events.extend(await reader.poll(timeout_ms=200))

        watcher, consumer = asyncio.create_task(watch_connector()), asyncio.create_task(consume())
        journal: list[Applied] = []
        summary = await Simulator(rig.owner, rig.where, seed=11, journal=journal).run(
            rate=100, duration=8, schema_change_at=3
        )
        try:
            async with asyncio.timeout(60):
                while True:
                    if sum(len(c) for c in by_key(events).values()) >= summary.changes:
                        break
                    await asyncio.sleep(0.2)
        finally:
            stop.set()
            await asyncio.gather(watcher, consumer)
        final = await rig.wait_running(5)

    assert summary.schema_changed_at is not None
    assert set(states) == {"RUNNING"}, states  # the streaming task never stopped
    assert [(t.id, t.worker_id) for t in final.tasks] == task_workers
    [schema_change] = [e for e in events if isinstance(e, SchemaChange)]
    assert schema_change.table == f"{rig.where.schema}.products"
    assert schema_change.added == (SCHEMA_CHANGE_COLUMN,)
    assert schema_change.removed == ()

    # every change arrived; product rows written after the ALTER carry the new column's value
    altered_at = next(a.txn for a in journal if a.op == "alter")
    arrived = by_key(events)
    for key, written in journal_by_key(journal).items():
        got = arrived[key]
        assert [c.op.value for c in got] == [a.op for a in written], key
        if key[0] != "products":
            continue
        for change, applied in zip(got, written, strict=True):
            assert isinstance(change, RowChange)
            if change.after is not None and applied.after is not None:
                has_column = SCHEMA_CHANGE_COLUMN in change.after
                assert has_column == (applied.txn > altered_at), (key, change.after)
                if has_column:
                    expected = applied.after[SCHEMA_CHANGE_COLUMN]
                    assert change.after[SCHEMA_CHANGE_COLUMN] == (
                        None if expected is None else str(expected)
                    )
    assert any(
        a.table == "products" and a.txn > altered_at and a.after and a.after[SCHEMA_CHANGE_COLUMN]
        for a in journal
    )
