"""Read-your-writes: consistency tokens `<stream id>@<version>` and a bounded wait for them.

A write answers with the stream version; the client sends `X-Consistency-Token: order-o1@3`
(or `?consistency=`). The API waits until every projection the endpoint reads, that consumes
the stream's topic, has applied that version; projectors NOTIFY after each batch, so waiting
costs no polling (a slow poll backs it up in case a notification is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from annals.web.problems import Problem

CHANNEL = "annals_projections"
_TOKEN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.:-]{0,199})@([1-9][0-9]{0,9})$")
# Which topic a stream's events are published to, by the stream id's kind.
TOPIC_OF_KIND = {"order": "orders.events", "customer": "customers.events"}
# Which topics each projection consumes (what the query API reads).
TOPICS = {
    "order_summary": ("orders.events",),
    "customer_orders": ("customers.events", "orders.events"),
    "daily_sales": ("orders.events",),
    "products": ("legacy.public.products",),
}
POLL = 0.25


@dataclass(frozen=True)
class Token:
    """A stream version the reader wants to see."""

    stream_id: str
    version: int

    @property
    def topic(self) -> str | None:
        """The topic the stream's events go to (None: unknown kind)."""
        return TOPIC_OF_KIND.get(self.stream_id.split("-", 1)[0])

    def __str__(self) -> str:
        return f"{self.stream_id}@{self.version}"


def parse_tokens(header: str | None, param: str | None) -> list[Token]:
    """Tokens of the header and the query parameter (comma-separated); 400 when malformed."""
    out = []
    for raw in (header, param):
        for part in (raw or "").split(","):
            part = part.strip()
            if not part:
                continue
            match = _TOKEN.match(part)
            if match is None:
                raise Problem(
                    400,
                    "Malformed consistency token",
                    f"{part[:80]!r} is not <stream id>@<version>, e.g. order-o1@3",
                    slug="malformed-consistency-token",
                )
            out.append(Token(match.group(1), int(match.group(2))))
    return out


@dataclass
class Outcome:
    """How fresh the answer is relative to the tokens."""

    satisfied: bool
    applied: dict[str, int]
    waited_ms: float

    def headers(self) -> dict[str, str]:
        """Response headers that say it."""
        if not self.applied:
            return {}
        applied = ", ".join(f"{s}@{v}" for s, v in sorted(self.applied.items()))
        return {
            "X-Consistency": "satisfied" if self.satisfied else "stale",
            "X-Consistency-Applied": applied,
            "X-Consistency-Waited-Ms": f"{self.waited_ms:.1f}",
        }


class Consistency:
    """Waits for projections to apply stream versions; woken by the projectors' NOTIFY."""

    def __init__(self, pool: asyncpg.Pool, dsn: str, view_schema: str) -> None:
        self.pool = pool
        self.dsn = dsn
        self.view_schema = view_schema
        self._wakers: dict[str, asyncio.Event] = {}
        self._listener: asyncpg.Connection | None = None

    async def start(self) -> None:
        """LISTEN to the projectors' notifications (falls back to polling when it fails)."""
        try:
            self._listener = await asyncpg.connect(self.dsn)
            await self._listener.add_listener(CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError):
            self._listener = None

    async def close(self) -> None:
        """Stop listening."""
        if self._listener is not None:
            await self._listener.close()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        name = payload.rsplit(":", 1)[-1]
        waker = self._wakers.pop(name, None)
        if waker is not None:
            waker.set()

    async def applied(self, projection: str, stream_id: str) -> int:
        """The version of a stream the projection's live version has applied (0: none)."""
        view = f'"{self.view_schema}"."{projection}__applied"'
        try:
            version = await self.pool.fetchval(
                f"SELECT version FROM {view} WHERE stream_id = $1", stream_id
            )
        except asyncpg.UndefinedTableError:
            return 0
        return int(version or 0)

    async def wait(
        self, tokens: Sequence[Token], projections: Sequence[str], timeout: float
    ) -> Outcome:
        """Wait (at most `timeout` s) until the projections applied every token's version."""
        started = time.monotonic()
        deadline = started + timeout
        applied: dict[str, int] = {}
        satisfied = True
        for token in tokens:
            for projection in projections:
                if token.topic not in TOPICS.get(projection, ()):
                    continue
                version = await self._wait_one(projection, token, deadline)
                key = token.stream_id
                applied[key] = min(applied.get(key, version), version)
                satisfied = satisfied and version >= token.version
        return Outcome(satisfied, applied, (time.monotonic() - started) * 1000)

    async def _wait_one(self, projection: str, token: Token, deadline: float) -> int:
        while True:
            waker = self._wakers.setdefault(projection, asyncio.Event())
            version = await self.applied(projection, token.stream_id)
            remaining = deadline - time.monotonic()
            if version >= token.version or remaining <= 0:
                return version
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waker.wait(), min(remaining, POLL))
