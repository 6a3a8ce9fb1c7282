"""Reading CDC topics with aiokafka: decoded events, topics picked up as Debezium creates them."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from types import TracebackType

from aiokafka import AIOKafkaConsumer

from annals.cdc.changes import Event
from annals.cdc.decode import ChangeDecoder
from annals.messaging.security import client_security


def topic_pattern(prefix: str) -> str:
    """A regex matching every CDC topic of a Debezium topic.prefix (not the heartbeat topic)."""
    return f"^{re.escape(prefix)}\\..+"


class ChangeReader:
    """Follows the CDC topics matching a pattern from a start offset and decodes their records.

    Without a group id the reader takes every partition and starts at `auto_offset_reset`
    (earliest by default); with one it joins the group and commits nothing by itself.
    """

    def __init__(
        self,
        bootstrap: str,
        pattern: str,
        *,
        group_id: str | None = None,
        auto_offset_reset: str = "earliest",
        metadata_max_age_ms: int = 1000,
    ) -> None:
        self.pattern = pattern
        self.decoder = ChangeDecoder()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            **client_security("projector"),
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset=auto_offset_reset,
            metadata_max_age_ms=metadata_max_age_ms,
        )

    async def __aenter__(self) -> ChangeReader:
        await self._consumer.start()
        self._consumer.subscribe(pattern=self.pattern)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._consumer.stop()

    async def poll(self, timeout_ms: int = 500) -> list[Event]:
        """The events of the records fetched by one poll (in order within each partition)."""
        batch = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=5000)
        events: list[Event] = []
        for records in batch.values():
            for record in records:
                events.extend(self.decoder.feed(record))
        return events

    async def read_until(
        self,
        done: Callable[[Sequence[Event]], bool],
        timeout: float = 60.0,
        into: list[Event] | None = None,
    ) -> list[Event]:
        """Poll until `done(events so far)` holds; TimeoutError after `timeout` seconds."""
        events: list[Event] = [] if into is None else into
        deadline = time.monotonic() + timeout
        while not done(events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(events)} events after {timeout:.0f}s, condition unmet")
            events.extend(await self.poll())
            await asyncio.sleep(0)
        return events
