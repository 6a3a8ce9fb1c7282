"""The platform's back-off rule: capped, exponential, jittered, reset by progress."""

from __future__ import annotations

import asyncio
import random

from annals.backoff import Backoff


def test_delays_grow_exponentially_and_stay_under_the_cap():
    backoff = Backoff(base=0.1, cap=2.0, rng=random.Random(1))
    ceilings = []
    for _ in range(10):
        ceilings.append(backoff.ceiling())
        delay = backoff.next_delay()
        assert ceilings[-1] / 2 <= delay <= ceilings[-1]
    assert ceilings[:5] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert ceilings[5:] == [2.0] * 5


def test_jitter_spreads_workers_that_fail_together():
    delays = {
        Backoff(base=1.0, cap=8.0, attempt=3, rng=random.Random(i)).next_delay() for i in range(20)
    }
    assert len(delays) == 20
    assert all(4.0 <= d <= 8.0 for d in delays)


def test_reset_after_progress_starts_from_base():
    backoff = Backoff(base=0.5, cap=10.0)
    for _ in range(6):
        backoff.next_delay()
    backoff.reset()
    assert backoff.ceiling() == 0.5


async def test_sleep_returns_early_when_stopping():
    stopping = asyncio.Event()
    stopping.set()
    backoff = Backoff(base=30.0, cap=30.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await backoff.sleep(stopping)
    assert loop.time() - started < 1.0
