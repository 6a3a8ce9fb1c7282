"""One active publisher per database and topic: a session advisory lock on its own connection.

The lock lives as long as the holder's session. The holder reads events and writes its
checkpoint through that same connection, so a publisher whose session is gone (and whose lock
another publisher may already hold) fails on its next read before it can produce anything.

A holder that vanishes without closing its socket (host gone, network cut) must not keep the
lock for the kernel's default two hours: the server probes the session with TCP keepalives
(tcp_keepalives_* below) and ends it after ~11 s of silence, which releases the lock; the
client sets the same probes (and TCP_USER_TIMEOUT) on its socket, so a leader cut off from
the server notices too and stops instead of waiting on a dead connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from annals.backoff import Backoff

log = logging.getLogger(__name__)

KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 5, 2, 3
USER_TIMEOUT_MS = 15_000  # unacknowledged writes fail after this long
CONNECT_TIMEOUT = 10.0
# The server notices a silently vanished holder through TCP keepalives and ends its session.
KEEPALIVE = {
    "tcp_keepalives_idle": str(KEEPALIVE_IDLE),
    "tcp_keepalives_interval": str(KEEPALIVE_INTERVAL),
    "tcp_keepalives_count": str(KEEPALIVE_COUNT),
    "statement_timeout": "30000",
    "idle_in_transaction_session_timeout": "5000",
}
APPLICATION_PREFIX = "annals-publisher "
CLAIM = """
INSERT INTO messaging.publisher_checkpoints AS c (name, leader, leader_since)
VALUES ($1, $2, now())
ON CONFLICT (name) DO UPDATE SET leader = EXCLUDED.leader, leader_since = now()
"""


def lock_key(name: str) -> int:
    """The advisory lock key (signed 64-bit) of a publisher name."""
    digest = hashlib.blake2b(f"annals.publisher:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def instance_id() -> str:
    """host:pid of this process, recorded as the leader."""
    return f"{socket.gethostname()}:{os.getpid()}"


def application_name(me: str) -> str:
    """The session's application_name: names this process in pg_stat_activity (63 bytes)."""
    return (APPLICATION_PREFIX + me)[:63]


def set_keepalive(conn: asyncpg.Connection) -> bool:
    """Turn on TCP keepalives (and a user timeout) on the connection's socket; True when set."""
    transport = conn._transport  # asyncpg exposes no socket options
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
        ("TCP_KEEPCNT", KEEPALIVE_COUNT),
        ("TCP_USER_TIMEOUT", USER_TIMEOUT_MS),
    ):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
    return True


class Leadership:
    """Waits for the advisory lock of `name`; the holder uses `connection` for all its SQL."""

    def __init__(
        self,
        dsn: str,
        name: str,
        poll: float = 1.0,
        server_settings: Mapping[str, str] | None = None,
    ) -> None:
        self.dsn = dsn
        self.name = name
        self.poll = poll
        self.key = lock_key(name)
        self.me = instance_id()
        self._settings = {
            **KEEPALIVE,
            "application_name": application_name(self.me),
            **(server_settings or {}),
        }
        self.connection: asyncpg.Connection | None = None
        self.leading = False
        self.error: BaseException | None = None  # why the last try failed (None: it answered)

    async def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this instance now leads."""
        if self.connection is None or self.connection.is_closed():
            self.connection = await asyncpg.connect(
                self.dsn, server_settings=self._settings, timeout=CONNECT_TIMEOUT
            )
            set_keepalive(self.connection)
        got = await self.connection.fetchval("SELECT pg_try_advisory_lock($1)", self.key)
        if got:
            await self.connection.execute(CLAIM, self.name, self.me)
        self.leading, self.error = bool(got), None
        return self.leading

    async def acquire(self, stop: asyncio.Event | None = None) -> asyncpg.Connection | None:
        """Wait until this instance leads; the lock's connection, or None when `stop` is set."""
        announced = False
        backoff = Backoff(base=self.poll, cap=max(self.poll, 10.0))
        while stop is None or not stop.is_set():
            try:
                if await self.try_acquire():
                    assert self.connection is not None
                    log.info("publisher %s: active (%s holds the lock)", self.name, self.me)
                    return self.connection
                if not announced:
                    log.info("publisher %s: standby, another instance is active", self.name)
                    announced = True
                backoff.reset()
                await _sleep_or_stop(self.poll, stop)
            except Exception as exc:  # the standby must never die: any error is retried
                self.error = exc
                if isinstance(exc, OSError | TimeoutError | asyncpg.PostgresError):
                    log.warning("publisher %s: database unreachable (%s), retrying", self.name, exc)
                else:
                    log.exception("publisher %s: standby failed, retrying", self.name)
                await self.release()
                await backoff.sleep(stop)
        return None

    async def release(self) -> None:
        """Give up the lock by closing the session (also when it is already broken)."""
        conn, self.connection = self.connection, None
        self.leading = False
        if conn is None or conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), 5)
        except Exception:  # a broken session: drop it without the goodbye
            conn.terminate()


async def _sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def current_leader(dsn: str, name: str) -> tuple[str | None, bool]:
    """The recorded leader of `name` and whether some session holds its lock now."""
    conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT)
    try:
        leader = await conn.fetchval(
            "SELECT leader FROM messaging.publisher_checkpoints WHERE name = $1", name
        )
        held = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1",
            lock_key(name),
        )
        return leader, bool(held)
    finally:
        await conn.close()


HOLDER = """
SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start, c.leader, c.leader_since
  FROM pg_locks l
  JOIN pg_stat_activity a ON a.pid = l.pid
  LEFT JOIN messaging.publisher_checkpoints c ON c.name = $2
 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
   AND ((l.classid::bigint << 32) | l.objid::bigint) = $1
"""


@dataclass(frozen=True)
class LockHolder:
    """The session holding a publisher's lock, as the server sees it."""

    backend_pid: int
    application_name: str
    client_addr: str | None
    since: datetime | None

    @property
    def instance(self) -> str:
        """host:pid of the holding process (from its application_name), else the client address."""
        if self.application_name.startswith(APPLICATION_PREFIX):
            return self.application_name[len(APPLICATION_PREFIX) :]
        return self.application_name or (self.client_addr or "?")


async def lock_holder(conn: asyncpg.Connection, name: str) -> LockHolder | None:
    """Who holds the advisory lock of publisher `name` now (pg_locks + pg_stat_activity)."""
    row = await conn.fetchrow(HOLDER, lock_key(name), name)
    if row is None:
        return None
    me = str(row[1] or "")
    since = row[5] if row[4] and me.endswith(str(row[4])) else row[3]
    return LockHolder(int(row[0]), me, row[2], since)
