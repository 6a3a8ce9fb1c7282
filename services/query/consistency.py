"""Read-your-writes: consistency tokens `<stream id>@<version>` and a bounded wait for them.

A write answers with the stream version; the client sends `X-Consistency-Token: order-o1@3`
(or `?consistency=`). The API waits until every projection the endpoint reads, that consumes
the stream's topic, has applied that version; projectors NOTIFY after each batch, so waiting
costs no polling (a slow poll backs it up in case a notification is lost).

Work per request is bounded: at most MAX_TOKENS tokens (more is a 400), one query per
projection for all of them, and the wait ends at its deadline whatever the database does. At
the deadline the answer is the documented one: 200 with `X-Consistency: stale` and the versions
last seen (`X-Consistency-Applied`), never a hang and never an error of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from annals.eventstore.streams import kind_of
from annals.topology import topology
from annals.web.problems import FieldError, Problem

CHANNEL = "annals_projections"
MAX_TOKENS = 16
MAX_VERSION = 2**31 - 1  # stream versions are int columns
_TOKEN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.:-]{0,199})@([1-9][0-9]{0,9})$")
POLL = 0.25
CHECK_FLOOR = 1.0  # the first look runs even with ?wait=0, bounded by this much
WATCH_BOUND = 2.0  # one watcher query never blocks the watcher longer than this
SOURCES = ("header.X-Consistency-Token", "query.consistency")


def topic_of_kind() -> dict[str, str]:
    """Which topic a stream's events are published to, by the stream id's kind (declared)."""
    return topology().topic_of_stream_type


def topics_read(projection: str) -> tuple[str, ...]:
    """The topics a declared projection consumes (none for an unknown name)."""
    found = topology().projections.get(projection)
    return found.topics if found is not None else ()


@dataclass(frozen=True)
class Token:
    """A stream version the reader wants to see."""

    stream_id: str
    version: int

    @property
    def topic(self) -> str | None:
        """The topic the stream's events go to (None: unknown kind)."""
        return topic_of_kind().get(kind_of(self.stream_id))

    def __str__(self) -> str:
        return f"{self.stream_id}@{self.version}"


def _malformed(where: str, message: str, kind: str, detail: str | None = None) -> Problem:
    return Problem(
        400,
        "Malformed consistency token",
        detail or message,
        slug="malformed-consistency-token",
        errors=[FieldError(field=where, message=message, type=kind)],
    )


def _token(part: str, where: str) -> Token:
    match = _TOKEN.match(part)
    if match is None:
        message = f"{part[:80]!r} is not <stream id>@<version>, e.g. order-o1@3"
        raise _malformed(where, message, "token-syntax")
    token = Token(match.group(1), int(match.group(2)))
    if token.version > MAX_VERSION:
        raise _malformed(where, f"{part[:80]!r}: a version is at most {MAX_VERSION}", "version")
    if token.topic is None:
        kinds = ", ".join(sorted(topic_of_kind()))
        message = f"{part[:80]!r} is not a stream of this platform (kinds: {kinds})"
        raise _malformed(where, message, "stream-kind")
    return token


def parse_tokens(header: str | None, param: str | None) -> list[Token]:
    """Tokens of the header and the query parameter (comma-separated); 400 when malformed.

    At most MAX_TOKENS in all; a stream named twice keeps its highest version.
    """
    parts: list[tuple[str, str]] = []
    for raw, where in zip((header, param), SOURCES, strict=True):
        # Split at most so far: a longer list is refused without looking at all of it.
        split = (raw or "").split(",", 4 * MAX_TOKENS)
        parts += [(p.strip(), where) for p in split if p.strip()]
    if len(parts) > MAX_TOKENS:
        message = f"at most {MAX_TOKENS} consistency tokens per request"
        raise Problem(
            400,
            "Too many consistency tokens",
            f"{message}; ask for the streams you wrote last",
            slug="too-many-consistency-tokens",
            errors=[FieldError(field=parts[-1][1], message=message, type="too-many-tokens")],
        )
    wanted: dict[str, int] = {}
    for part, where in parts:
        token = _token(part, where)
        wanted[token.stream_id] = max(wanted.get(token.stream_id, 0), token.version)
    return [Token(s, v) for s, v in wanted.items()]


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
            self._listener = await asyncpg.connect(self.dsn, timeout=5)
            await self._listener.add_listener(CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            self._listener = None

    async def close(self) -> None:
        """Stop listening and watching."""
        tasks = [w.close() for w in self._watchers.values()]
        await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)
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

    def wanted(self, tokens: Sequence[Token], projection: str) -> list[Token]:
        """The tokens whose stream's topic the projection consumes."""
        return [t for t in tokens if t.topic in topics_read(projection)]

    async def look_and_read(
        self, wanted: Sequence[Token], projection: str, sql: str, args: Sequence[object]
    ) -> Look | None:
        """One round trip: the applied versions of `wanted` and the row `sql` reads.

        Both come from one statement, so one snapshot: the row is at least as new as the
        versions. When a token is behind, the look says the versions it saw (the wait starts
        from them); None when the look fails.
        """
        started = time.monotonic()
        view = f'"{self.view_schema}"."{projection}__applied"'
        n = len(args) + 1
        statement = (
            f"SELECT (SELECT array_agg(stream_id || '@' || version) FROM {view} "
            f"WHERE stream_id = ANY(${n}::text[])) AS __applied, r.* "
            f"FROM (SELECT 1) AS __one LEFT JOIN LATERAL "
            f"(SELECT true AS __found, q.* FROM ({sql}) AS q) AS r ON true"
        )
        try:
            row = await asyncio.wait_for(
                self.pool.fetchrow(statement, *args, [t.stream_id for t in wanted]), CHECK_FLOOR
            )
        except (asyncpg.UndefinedTableError, TimeoutError):
            return None
        assert row is not None  # the LEFT JOIN always answers one row
        versions = dict(p.rsplit("@", 1) for p in row["__applied"] or ())
        applied = {t.stream_id: int(versions.get(t.stream_id, 0)) for t in wanted}
        if any(applied[t.stream_id] < t.version for t in wanted):
            return Look(applied)
        found = None
        if row["__found"]:
            found = {k: v for k, v in row.items() if k not in ("__applied", "__found")}
        return Look(applied, Outcome(True, applied, (time.monotonic() - started) * 1000), found)

    async def wait(
        self,
        tokens: Sequence[Token],
        projections: Sequence[str],
        timeout: float,
        seen: Mapping[str, int] | None = None,
    ) -> Outcome:
        """Wait (at most `timeout` s) until the projections applied every token's version.

        `seen`: the versions a look of the one projection just read (its first check is skipped).
        """
        started = time.monotonic()
        deadline = started + timeout
        plans = {
            p: [t for t in tokens if t.topic in topics_read(p)] for p in dict.fromkeys(projections)
        }
        plans = {p: ts for p, ts in plans.items() if ts}
        known = seen if seen is not None and len(plans) == 1 else None
        found = await asyncio.gather(
            *(self._watcher(p).wait(ts, deadline, known) for p, ts in plans.items())
        )
        applied: dict[str, int] = {}
        satisfied = True
        for wanted, versions in zip(plans.values(), found, strict=True):
            for token in wanted:
                version = versions.get(token.stream_id, 0)
                key = token.stream_id
                applied[key] = min(applied.get(key, version), version)
                satisfied = satisfied and version >= token.version
        return Outcome(satisfied, applied, (time.monotonic() - started) * 1000)


@dataclass
class Look:
    """What one look saw: the applied versions, and the outcome and row when they suffice."""

    applied: dict[str, int]
    outcome: Outcome | None = None
    row: object = None


@dataclass(eq=False)
class _Waiter:
    """One awaited stream version; `latest` is the version the watcher saw last."""

    version: int
    future: asyncio.Future[int]
    latest: int = 0


class _Watcher:
    """The streams awaited in one projection, checked together after each notification."""

    def __init__(self, pool: asyncpg.Pool, view: str) -> None:
        self.pool = pool
        self.many = f"SELECT stream_id, version FROM {view} WHERE stream_id = ANY($1::text[])"
        self.wake = asyncio.Event()
        self.waiting: dict[str, list[_Waiter]] = {}
        self.task: asyncio.Task[None] | None = None

    async def wait(
        self, tokens: Sequence[Token], deadline: float, known: Mapping[str, int] | None = None
    ) -> dict[str, int]:
        """Applied versions of the tokens' streams once all are reached, or at the deadline.

        With `known` (versions just read) the first check is not run again.
        """
        ids = [t.stream_id for t in tokens]
        if known is not None and all(i in known for i in ids):
            versions = {i: known[i] for i in ids}
        else:
            versions = await self._check(ids, deadline)
        behind = [t for t in tokens if versions.get(t.stream_id, 0) < t.version]
        remaining = deadline - time.monotonic()
        if not behind or remaining <= 0:
            return versions
        loop = asyncio.get_running_loop()
        waiters = {t.stream_id: _Waiter(t.version, loop.create_future()) for t in behind}
        for stream_id, waiter in waiters.items():
            waiter.latest = versions.get(stream_id, 0)
            self.waiting.setdefault(stream_id, []).append(waiter)
        self.wake.set()  # it may have been applied since the look above
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._watch())
        try:
            await asyncio.wait([w.future for w in waiters.values()], timeout=remaining)
        finally:
            self._forget(waiters)
        for stream_id, waiter in waiters.items():
            versions[stream_id] = max(versions.get(stream_id, 0), waiter.latest)
        return versions

    async def _check(self, stream_ids: list[str], deadline: float) -> dict[str, int]:
        """One query for every stream; nothing known when it cannot answer in time."""
        bound = max(deadline - time.monotonic(), CHECK_FLOOR)
        try:
            rows = await asyncio.wait_for(self.pool.fetch(self.many, stream_ids), bound)
        except asyncpg.UndefinedTableError:  # not deployed yet: nothing applied
            return {}
        except TimeoutError:
            return {}
        return {stream_id: int(version) for stream_id, version in rows}

    def _forget(self, waiters: dict[str, _Waiter]) -> None:
        for stream_id, waiter in waiters.items():
            entries = self.waiting.get(stream_id, [])
            if waiter in entries:
                entries.remove(waiter)
            if not entries:
                self.waiting.pop(stream_id, None)

    async def _watch(self) -> None:
        while self.waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), POLL)
            self.wake.clear()
            try:
                rows = await asyncio.wait_for(
                    self.pool.fetch(self.many, list(self.waiting)), WATCH_BOUND
                )
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                continue
            for stream_id, version in rows:
                for waiter in self.waiting.get(stream_id, []):
                    waiter.latest = max(waiter.latest, int(version))
                    if waiter.latest >= waiter.version and not waiter.future.done():
                        waiter.future.set_result(waiter.latest)

    def close(self) -> asyncio.Task[None] | None:
        """Stop watching; the cancelled task, to await."""
        if self.task is not None:
            self.task.cancel()
        return self.task
