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
    """Waits for projections to apply stream versions; woken by the projectors' NOTIFY.

    Waiters of one projection share one watcher: each notification (or a slow poll) runs a
    single query for every stream still awaited, however many requests wait.
    """

    def __init__(self, pool: asyncpg.Pool, dsn: str, view_schema: str) -> None:
        self.pool = pool
        self.dsn = dsn
        self.view_schema = view_schema
        self._watchers: dict[str, _Watcher] = {}
        self._listener: asyncpg.Connection | None = None

    async def start(self) -> None:
        """LISTEN to the projectors' notifications (falls back to polling when it fails)."""
        try:
            self._listener = await asyncpg.connect(self.dsn)
            await self._listener.add_listener(CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError):
            self._listener = None

    async def close(self) -> None:
        """Stop listening and watching."""
        for watcher in self._watchers.values():
            watcher.close()
        if self._listener is not None:
            await self._listener.close()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        watcher = self._watchers.get(payload.rsplit(":", 1)[-1])
        if watcher is not None:
            watcher.wake.set()

    def _watcher(self, projection: str) -> _Watcher:
        watcher = self._watchers.get(projection)
        if watcher is None:
            view = f'"{self.view_schema}"."{projection}__applied"'
            watcher = self._watchers[projection] = _Watcher(self.pool, view)
        return watcher

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
                version = await self._watcher(projection).wait(token, deadline)
                key = token.stream_id
                applied[key] = min(applied.get(key, version), version)
                satisfied = satisfied and version >= token.version
        return Outcome(satisfied, applied, (time.monotonic() - started) * 1000)


class _Watcher:
    """The streams awaited in one projection, checked together after each notification."""

    def __init__(self, pool: asyncpg.Pool, view: str) -> None:
        self.pool = pool
        self.one = f"SELECT version FROM {view} WHERE stream_id = $1"
        self.many = f"SELECT stream_id, version FROM {view} WHERE stream_id = ANY($1::text[])"
        self.wake = asyncio.Event()
        self.waiting: dict[str, list[tuple[int, asyncio.Future[int]]]] = {}
        self.task: asyncio.Task[None] | None = None

    async def wait(self, token: Token, deadline: float) -> int:
        """The applied version once it reaches the token's, or what it is at the deadline."""
        version = await self._applied(token.stream_id)
        remaining = deadline - time.monotonic()
        if version >= token.version or remaining <= 0:
            return version
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(token.stream_id, []).append((token.version, future))
        self.wake.set()  # it may have been applied since the look above
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._watch())
        try:
            return await asyncio.wait_for(asyncio.shield(future), remaining)
        except TimeoutError:
            entries = self.waiting.get(token.stream_id, [])
            if (token.version, future) in entries:
                entries.remove((token.version, future))
            if not entries:
                self.waiting.pop(token.stream_id, None)
            return await self._applied(token.stream_id)

    async def _applied(self, stream_id: str) -> int:
        try:
            return int(await self.pool.fetchval(self.one, stream_id) or 0)
        except asyncpg.UndefinedTableError:  # not deployed yet: nothing applied
            return 0

    async def _watch(self) -> None:
        while self.waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), POLL)
            self.wake.clear()
            try:
                rows = await self.pool.fetch(self.many, list(self.waiting))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                continue
            for stream_id, version in rows:
                entries = self.waiting.get(stream_id, [])
                for wanted, future in [e for e in entries if e[0] <= version]:
                    entries.remove((wanted, future))
                    if not future.done():
                        future.set_result(version)
                if not entries:
                    self.waiting.pop(stream_id, None)

    def close(self) -> None:
        """Stop watching."""
        if self.task is not None:
            self.task.cancel()
