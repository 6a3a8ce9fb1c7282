"""What a publisher process is doing, written where `annals publishers status` can read it.

A relay that cannot make progress must say so even while its database is away, so its state
(standby, active, reconnecting, stopped), last error and time of last publish go to a small
JSON file next to its pid file (rewritten atomically about once a second), not to the database.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg

from annals.messaging.leadership import CONNECT_TIMEOUT, lock_holder
from annals.stack.settings import StackSettings

STALE_AFTER = 10.0  # a status file not rewritten for this long belongs to a dead process


@dataclass
class PublisherHealth:
    """State of one publisher process."""

    service: str
    publisher: str
    pid: int = field(default_factory=os.getpid)
    state: str = "starting"  # starting | standby | active | reconnecting | stopped
    state_since: float = field(default_factory=time.time)
    last_error: str = ""
    last_error_at: float | None = None
    last_publish_at: float | None = None
    published: int = 0
    restarts: int = 0
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def enter(self, state: str) -> None:
        """Move to `state` (keeps state_since when it does not change)."""
        if state != self.state:
            self.state, self.state_since = state, time.time()

    def failed(self, error: BaseException, restart: bool = True) -> None:
        """Record an error and go to `reconnecting` (counting a restart unless told not to)."""
        self.last_error = f"{type(error).__name__}: {error}"[:500]
        self.last_error_at = time.time()
        self.restarts += restart
        self.enter("reconnecting")

    def seconds_since_publish(self, now: float | None = None) -> float:
        """Seconds since the last publish (since start when none yet)."""
        return (now or time.time()) - (self.last_publish_at or self.started_at)

    def stale(self, now: float | None = None) -> bool:
        """True when the file was not rewritten lately (its process is gone or hung)."""
        return (now or time.time()) - self.updated_at > STALE_AFTER


def _safe(publisher: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in publisher)


def status_dir(status_dir: str = "", stack: StackSettings | None = None) -> Path:
    """Where publishers write their status: ANNALS_<SVC>_PUBLISHER_STATUS_DIR, else .stack/run."""
    return Path(status_dir) if status_dir else (stack or StackSettings()).run_dir


def status_path(publisher: str, folder: Path, pid: int | None = None) -> Path:
    """The status file of one process of a publisher name."""
    return folder / f"publisher-{_safe(publisher)}.{pid or os.getpid()}.status.json"


def read_statuses(publisher: str, folder: Path) -> list[PublisherHealth]:
    """The status of every process of a publisher name that wrote one (stale ones included)."""
    paths = sorted(folder.glob(f"publisher-{_safe(publisher)}.*.status.json"))
    found = (read_status(p) for p in paths)
    return [h for h in found if h is not None and h.publisher == publisher]


def write_status(path: Path, health: PublisherHealth) -> None:
    """Rewrite the status file atomically."""
    health.updated_at = time.time()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(health)))
    os.replace(tmp, path)


def read_status(path: Path) -> PublisherHealth | None:
    """The status in `path`, or None when there is none (or it does not parse)."""
    try:
        data = json.loads(path.read_text())
        return PublisherHealth(**data)
    except (OSError, ValueError, TypeError):
        return None


@dataclass(frozen=True)
class Leadership:
    """Who leads a publisher now and what each of its processes reports."""

    holder: str | None  # host:pid of the lock's holder, from the server's pg_locks
    holder_since: str | None
    processes: list[PublisherHealth]
    error: str = ""
    detail: str = ""  # the holder's server pid, application_name and client address

    @property
    def active(self) -> PublisherHealth | None:
        """The fresh status of an active process, if one reports."""
        fresh = [h for h in self.processes if not h.stale() and h.state == "active"]
        return fresh[0] if fresh else None


async def leadership(dsn: str, publisher: str, folder: Path) -> Leadership:
    """The lock holder of `publisher` (as the database sees it) and its processes' status."""
    processes = read_statuses(publisher, folder)
    try:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return Leadership(None, None, processes, f"{type(exc).__name__}: {exc}")
    try:
        holder = await lock_holder(conn, publisher)
    except asyncpg.PostgresError as exc:
        return Leadership(None, None, processes, f"{type(exc).__name__}: {exc}")
    finally:
        await conn.close()
    if holder is None:
        return Leadership(None, None, processes)
    since = holder.since.isoformat(timespec="seconds") if holder.since else None
    detail = (
        f"server pid {holder.backend_pid}, application_name {holder.application_name!r}, "
        f"client {holder.client_addr or 'local'}"
    )
    return Leadership(holder.instance, since, processes, detail=detail)
