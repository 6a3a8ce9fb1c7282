"""Steady appends to many streams while a fault happens; what was appended, per stream."""

from __future__ import annotations

import asyncio
import time

from annals.eventstore.ports import NewEvent
from annals.eventstore.postgres import PostgresEventStore


class Appender:
    """Appends `total` single-event commands round-robin over `streams` at `rate` per second."""

    def __init__(self, store: PostgresEventStore, streams: list[str], total: int, rate: float):
        self.store = store
        self.streams = streams
        self.total = total
        self.rate = rate
        self.appended = dict.fromkeys(streams, 0)
        self.count = 0  # appended
        self.reserved = 0  # appended or being appended

    async def run(self, workers: int = 10) -> None:
        """Append everything; each worker owns some streams, so versions stay sequential."""
        started = time.monotonic()

        async def worker(mine: list[str]) -> None:
            i = 0
            while self.reserved < self.total:
                self.reserved += 1
                stream = mine[i % len(mine)]
                i += 1
                await self.store.append(
                    stream, [NewEvent("OrderPlaced", {"n": self.appended[stream] + 1})]
                )
                self.appended[stream] += 1
                self.count += 1
                ahead = self.reserved / self.rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)

        await asyncio.gather(*(worker(self.streams[w::workers]) for w in range(workers)))
