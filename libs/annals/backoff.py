"""Capped exponential back-off with full jitter: the one retry delay rule of the platform
(docs/messaging-failures.md, docs/projection-failures.md).

Every loop that reconnects or retries (relay, projectors, subscribers, the CLI, pools) takes its
delays from a `Backoff`, so no two places disagree about how fast to hammer a dependency that is
away, and a fleet of workers restarted together does not retry in lock-step.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays base·2^n capped at `cap`, each drawn uniformly from [delay/2, delay] (jitter)."""

    base: float = 0.2
    cap: float = 10.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def ceiling(self) -> float:
        """The un-jittered delay of the current attempt."""
        return min(self.cap, self.base * 2 ** min(self.attempt, 30))

    def next_delay(self) -> float:
        """The delay before the next try; each call counts one more failed attempt."""
        ceiling = self.ceiling()
        self.attempt += 1
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """Progress was made: start again from `base`."""
        self.attempt = 0

    async def sleep(self, stopping: asyncio.Event | None = None) -> float:
        """Wait the next delay (returning early when `stopping` is set); the delay waited."""
        delay = self.next_delay()
        if stopping is None:
            await asyncio.sleep(delay)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
        return delay
