"""One active publisher per database and topic: a session advisory lock on its own connection.

The lock lives as long as the holder's session. The holder reads events and writes its
checkpoint through that same connection, so a publisher whose session is gone (and whose lock
another publisher may already hold) fails on its next read before it can produce anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Mapping

import asyncpg

log = logging.getLogger(__name__)

# The server notices a silently vanished holder through TCP keepalives and ends its session.
KEEPALIVE = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "statement_timeout": "30000",
    "idle_in_transaction_session_timeout": "5000",
}
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
        self._settings = {**KEEPALIVE, **(server_settings or {})}
        self.connection: asyncpg.Connection | None = None

    async def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this instance now leads."""
        if self.connection is None or self.connection.is_closed():
            self.connection = await asyncpg.connect(self.dsn, server_settings=self._settings)
        got = await self.connection.fetchval("SELECT pg_try_advisory_lock($1)", self.key)
        if got:
            await self.connection.execute(CLAIM, self.name, self.me)
        return bool(got)

    async def acquire(self, stop: asyncio.Event | None = None) -> asyncpg.Connection | None:
        """Wait until this instance leads; the lock's connection, or None when `stop` is set."""
        announced = False
        while stop is None or not stop.is_set():
            try:
                if await self.try_acquire():
                    assert self.connection is not None
                    log.info("publisher %s: active (%s holds the lock)", self.name, self.me)
                    return self.connection
                if not announced:
                    log.info("publisher %s: standby, another instance is active", self.name)
                    announced = True
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("publisher %s: database unreachable (%s), retrying", self.name, exc)
                await self.release()
            await _sleep_or_stop(self.poll, stop)
        return None

    async def release(self) -> None:
        """Give up the lock by closing the session (also when it is already broken)."""
        conn, self.connection = self.connection, None
        if conn is None or conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), 5)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            conn.terminate()


async def _sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def current_leader(dsn: str, name: str) -> tuple[str | None, bool]:
    """The recorded leader of `name` and whether some session holds its lock now."""
    conn = await asyncpg.connect(dsn)
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
