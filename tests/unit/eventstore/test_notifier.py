"""The debounced NOTIFY: every commit is followed by a NOTIFY that starts after it, and a steady
load of appends carries them all (no trailing NOTIFY transactions of their own)."""

from __future__ import annotations

import asyncio
from typing import Any

from annals.eventstore.subscription import Notifier

INTERVAL = 0.01


class FakePool:
    """Records the trailing NOTIFYs."""

    def __init__(self) -> None:
        self.notified: list[float] = []

    async def execute(self, query: str, *args: Any) -> str:
        self.notified.append(asyncio.get_running_loop().time())
        return "SELECT 1"


async def test_a_steady_load_carries_every_notify_in_its_appends() -> None:
    pool = FakePool()
    interval = 0.05  # wide, so that a stall of this shared machine is not a pause of the load
    notifier = Notifier(pool, "ch", interval)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    started, token = loop.time(), None
    while loop.time() - started < 4 * interval:  # 4 intervals of appends 2 ms apart
        token = notifier.carry()
        await asyncio.sleep(0.002)
        notifier.appended(token)
    assert pool.notified == []
    await asyncio.sleep(4 * interval)  # the burst's last commits get one trailing NOTIFY
    assert len(pool.notified) == (token is None)
    await notifier.close()


async def test_a_commit_no_carrier_covers_gets_a_trailing_notify() -> None:
    pool = FakePool()
    notifier = Notifier(pool, "ch", INTERVAL)  # type: ignore[arg-type]
    first = notifier.carry()
    assert first is not None
    notifier.appended(first)
    early = notifier.carry()  # within the interval: carries nothing
    assert early is None
    notifier.appended(early)
    await asyncio.sleep(4 * INTERVAL)
    assert len(pool.notified) == 1
    await notifier.close()


async def test_a_carrier_that_started_before_a_commit_does_not_cover_it() -> None:
    pool = FakePool()
    notifier = Notifier(pool, "ch", INTERVAL)  # type: ignore[arg-type]
    await asyncio.sleep(INTERVAL)
    carrier = notifier.carry()  # starts, then another append commits, then the carrier commits
    assert carrier is not None
    notifier.appended(None)
    notifier.appended(carrier)
    await asyncio.sleep(4 * INTERVAL)
    assert len(pool.notified) == 1
    await notifier.close()


async def test_failing_carriers_leave_the_trailing_notify_bounded() -> None:
    pool = FakePool()
    notifier = Notifier(pool, "ch", INTERVAL)  # type: ignore[arg-type]
    notifier.appended(None)  # one commit, then carriers that all fail (never appended)
    loop = asyncio.get_running_loop()
    committed = loop.time()
    while not pool.notified and loop.time() - committed < 1:
        notifier.carry()
        await asyncio.sleep(0.002)
    assert pool.notified
    assert pool.notified[0] - committed <= (Notifier.CAP + 2) * INTERVAL
    await notifier.close()
