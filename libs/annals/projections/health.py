"""Whether a projector makes progress: state, last error, heartbeat (docs/rules.md#delivery).

A worker is `live` only while it really applies records: its last applied batch, or its last
fetch that found nothing to do, is younger than `stall_after`. It is `stalled` when the last
attempt failed (the error is kept until a batch applies or a fetch finds it caught up) or
when nothing moved for `stall_after`, which also catches a loop that hangs. The state is
computed when asked (metrics scrape, heartbeat), never only when the loop turns.

Each worker upserts a heartbeat row (projections.workers, in the projection's database) from
its loop; the row says until when it is to be believed (`stale_at`), so a worker killed with
kill -9 or hung stops owning its partitions in `annals projections status` within seconds.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass, field

import asyncpg

WORKERS_DDL = """
CREATE TABLE IF NOT EXISTS projections.workers (
    name text NOT NULL, member text NOT NULL, version int, state text NOT NULL,
    partitions text[] NOT NULL DEFAULT '{}', last_error text NOT NULL DEFAULT '',
    error_at timestamptz, progress_at timestamptz, caught_up_at timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(), beat_at timestamptz NOT NULL DEFAULT now(),
    stale_at timestamptz NOT NULL, pid int, host text, PRIMARY KEY (name, member));
"""
_AGO = "now() - make_interval(secs => {})"
BEAT_SQL = f"""
INSERT INTO projections.workers AS w (name, member, version, state, partitions, last_error,
    error_at, progress_at, caught_up_at, beat_at, stale_at, pid, host)
VALUES ($1, $2, $3, $4, $5, $6, {_AGO.format("$7")}, {_AGO.format("$8")}, {_AGO.format("$9")},
    now(), now() + make_interval(secs => $10), $11, $12)
ON CONFLICT (name, member) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state,
    partitions = EXCLUDED.partitions, last_error = EXCLUDED.last_error,
    error_at = EXCLUDED.error_at, progress_at = EXCLUDED.progress_at,
    caught_up_at = EXCLUDED.caught_up_at, beat_at = now(), stale_at = EXCLUDED.stale_at
"""
FORGET_OLD_SQL = (
    "DELETE FROM projections.workers WHERE name = $1 AND stale_at < now() - interval '1 hour'"
)


def member_id() -> str:
    """A name for this worker that no other process uses."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _age(moment: float | None, now: float) -> float | None:
    return None if moment is None else max(0.0, now - moment)


@dataclass
class Health:
    """What one worker knows about its own progress (monotonic clock)."""

    stall_after: float = 10.0
    started_at: float = field(default_factory=time.monotonic)
    progress_at: float | None = None  # last applied batch
    caught_up_at: float | None = None  # last fetch that found nothing to apply
    error: str = ""
    error_at: float | None = None
    stopped: bool = False
    stuck_at: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> next offset

    def progressed(self) -> None:
        """A batch was applied."""
        self.progress_at = time.monotonic()
        self.error = ""

    def caught_up(self) -> None:
        """A fetch found nothing to apply."""
        self.caught_up_at = time.monotonic()
        self.error = ""

    def failed(self, error: BaseException) -> None:
        """The last attempt failed with `error`."""
        self.error = f"{type(error).__name__}: {error}"[:1000]
        self.error_at = time.monotonic()

    def last_progress(self) -> float | None:
        """When the worker last applied or was caught up."""
        moments = [m for m in (self.progress_at, self.caught_up_at) if m is not None]
        return max(moments) if moments else None

    def state(self, now: float | None = None) -> str:
        """starting, live, stalled or stopped, as of now."""
        now = time.monotonic() if now is None else now
        if self.stopped:
            return "stopped"
        if self.error:
            return "stalled"
        last = self.last_progress()
        if last is None:
            return "starting" if now - self.started_at < self.stall_after else "stalled"
        return "live" if now - last <= self.stall_after else "stalled"

    def seconds_since_progress(self) -> float:
        """Seconds since the last progress (since the start when none yet)."""
        now = time.monotonic()
        return now - (self.last_progress() or self.started_at)


async def beat(
    conn: asyncpg.Connection,
    health: Health,
    *,
    name: str,
    member: str,
    version: int | None,
    partitions: list[str],
    interval: float,
) -> None:
    """Upsert the worker's heartbeat row (believed for three intervals)."""
    now = time.monotonic()
    await conn.execute(
        BEAT_SQL, name, member, version, health.state(now), partitions, health.error,
        _age(health.error_at if health.error else None, now), _age(health.progress_at, now),
        _age(health.caught_up_at, now), max(3 * interval, 1.0), os.getpid(),
        socket.gethostname(),
    )  # fmt: skip
