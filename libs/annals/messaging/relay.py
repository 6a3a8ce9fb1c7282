"""The relay loop: follow the store's global order, publish, then store the checkpoint.

Delivery rules this loop protects:
- the checkpoint is stored only after the broker acknowledged every event up to it, so a crash
  at any point re-publishes (duplicates) but never skips;
- batch N+1 is sent only after batch N was fully acknowledged (reading N+1 overlaps the wait),
  so a failed batch can never be overtaken by a later one of the same stream; within a batch
  the idempotent producer keeps each partition in send order across retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from annals.eventstore.ports import Checkpoint, RecordedEvent
from annals.messaging.ports import CheckpointStore, Publisher

log = logging.getLogger(__name__)
Reader = Callable[[Checkpoint, int], Awaitable[list[RecordedEvent]]]


@dataclass
class RelayStats:
    """What a relay did since it started."""

    started_from: Checkpoint | None = None
    checkpoint: Checkpoint | None = None
    published: int = 0
    batches: int = 0
    last_publish_at: float | None = None  # time.time() of the last acknowledged batch


class Relay:
    """Publishes every event after the stored checkpoint, woken by `wake` or by polling."""

    def __init__(
        self,
        name: str,
        read: Reader,
        publisher: Publisher,
        checkpoints: CheckpointStore,
        *,
        batch_size: int = 2000,
        min_poll: float = 0.01,
        max_poll: float = 0.5,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self.read = read
        self.publisher = publisher
        self.checkpoints = checkpoints
        self.batch_size = batch_size
        self.min_poll = min_poll
        self.max_poll = max_poll
        self.on_batch = on_batch
        self.wake = asyncio.Event()
        self.stats = RelayStats()
        self._stopping = False

    def stop(self) -> None:
        """Finish the batch in flight, store its checkpoint, then return from run()."""
        self._stopping = True
        self.wake.set()

    async def run(self) -> RelayStats:
        """Publish until stop(); errors of the store, Kafka or the checkpoint propagate.

        Every wait is bounded by its adapter (statement timeout of the store's session, the
        publisher's request timeout), so an error surfaces instead of a hang.
        """
        checkpoint = await self.checkpoints.load(self.name)
        self.stats.started_from = self.stats.checkpoint = checkpoint
        log.info("publisher %s: resuming after %s", self.name, checkpoint)
        delay = self.min_poll
        self.wake.clear()
        batch = await self.read(checkpoint, self.batch_size)
        while not self._stopping:
            if not batch:
                try:
                    await asyncio.wait_for(self.wake.wait(), delay)
                    delay = self.min_poll
                except TimeoutError:
                    delay = min(delay * 2, self.max_poll)
                self.wake.clear()
                batch = await self.read(checkpoint, self.batch_size)
                continue
            upto = batch[-1].checkpoint
            sending = asyncio.ensure_future(self.publisher.publish(batch))
            try:
                following = await self._following(batch, sending)
            except BaseException:
                sending.cancel()
                with contextlib.suppress(BaseException):
                    await sending
                raise
            await self.checkpoints.save(self.name, upto, len(batch))
            self.stats.checkpoint = checkpoint = upto
            self.stats.published += len(batch)
            self.stats.batches += 1
            self.stats.last_publish_at = time.time()
            if self.on_batch is not None:
                self.on_batch(len(batch))
            batch, delay = following, self.min_poll
        return self.stats

    async def _following(
        self, batch: list[RecordedEvent], sending: asyncio.Future[None]
    ) -> list[RecordedEvent]:
        """The batch after `batch`, read while it is sent; none yet after a short batch.

        A short batch was all the store had readable when it was read, and `wake` was cleared
        before that read: an append committed since notifies after its commit, so it sets
        `wake` again and the idle wait reads at once; one hidden then behind an older open
        transaction is found by the idle wait's polls, as it was before. Reading again right
        away would mostly find nothing: at low rates, one query more per event.
        """
        if len(batch) < self.batch_size:
            await sending
            return []
        self.wake.clear()
        following = await self.read(batch[-1].checkpoint, self.batch_size)
        await sending
        return following


async def drain(relay: Relay, until: Checkpoint, timeout: float = 60.0) -> RelayStats:
    """Run `relay` until it stored `until` (or later); for benchmarks and tests."""
    task = asyncio.ensure_future(relay.run())
    deadline = time.monotonic() + timeout
    try:
        while relay.stats.checkpoint is None or relay.stats.checkpoint < until:
            if task.done():
                return task.result()
            if time.monotonic() > deadline:
                raise TimeoutError(f"relay {relay.name} did not reach {until} in {timeout}s")
            await asyncio.sleep(0.005)
    finally:
        relay.stop()
        await task
    return relay.stats
