"""Two publisher processes on one database: one is active, the standby takes over after kill -9."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from annals.eventstore.ports import NewEvent
from annals.eventstore.postgres import PostgresEventStore
from annals.messaging.leadership import current_leader
from annals.stack.settings import StackSettings
from tests.integration.messaging.support import (
    PublisherProcess,
    ScratchDatabase,
    caught_up,
    checkpoint_row,
    delivery,
    read_topic,
    wait_for,
)

pytestmark = [pytest.mark.stack, pytest.mark.slow]


async def test_only_one_publisher_is_active_and_the_standby_takes_over(
    stack: StackSettings,
    msg_db: ScratchDatabase,
    store: PostgresEventStore,
    topic: str,
    unique: str,
    tmp_path: Path,
):
    host = socket.gethostname()
    streams = [f"order-{unique}-{i}" for i in range(10)]
    appended = {s: 0 for s in streams}
    sampling = True

    async def append_rounds(rounds: int) -> None:
        for _ in range(rounds):
            await asyncio.gather(*(store.append(s, [NewEvent("OrderPlaced", {})]) for s in streams))
            for s in streams:
                appended[s] += 1
            await asyncio.sleep(0.02)

    async def leader() -> str | None:
        return (await checkpoint_row(msg_db, topic))[3]

    first = PublisherProcess(msg_db, topic, tmp_path, "first").start()
    second = PublisherProcess(msg_db, topic, tmp_path, "second")
    try:
        await wait_for(
            lambda: _is(leader, f"{host}:{first.pid}"), 30, what="first publisher active"
        )
        second.start()
        await wait_for(lambda: _logged(second, "standby"), 30, what="second publisher standby")

        holders: list[bool] = []

        async def sample() -> None:
            while sampling:
                holders.append((await current_leader(msg_db.app_dsn, topic))[1])
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        t0 = time.monotonic()
        await append_rounds(20)
        print(f"appends {time.monotonic() - t0:.2f}s")
        assert await leader() == f"{host}:{first.pid}"
        assert ": active (" not in second.output()

        first.kill9()
        killed_at = time.monotonic()
        await wait_for(lambda: _is(leader, f"{host}:{second.pid}"), 15, what="standby taking over")
        takeover = time.monotonic() - killed_at
        await append_rounds(20)
        sampling = False
        await sampler

        await caught_up(msg_db, topic)
        records = await read_topic(stack.kafka_bootstrap, topic, sum(appended.values()), 60)
    finally:
        sampling = False
        t0 = time.monotonic()
        first.stop()
        second.stop()
        print(f"stopping {time.monotonic() - t0:.2f}s")

    assert takeover < 5, f"takeover took {takeover:.1f}s"
    assert holders and all(holders[: len(holders) // 3])  # the lock had a holder
    got = delivery(records)
    assert got.problems(appended) == [], second.output()[-3000:]
    print(f"takeover after {takeover:.2f}s, duplicates {got.duplicates}")


async def _is(read, expected: str) -> bool:
    return await read() == expected


async def _logged(process: PublisherProcess, text: str) -> bool:
    return text in process.output()
