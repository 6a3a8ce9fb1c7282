"""Idempotency-Key: the first successful response per (actor, key) is stored and replayed.

The key is claimed in the same transaction as the command's append, so a key yields at most
one set of events; a concurrent duplicate waits for the first and then replays its response.
A failed request (any error) rolls the claim back, so the key can be retried. A key is kept
for a time to live (24 hours by default): past it, the key counts as new, and a purge task of
each service worker deletes expired keys in small batches.

No response body is stored: a stored response is its status, kept headers, aggregate and
version, and a replay renders the aggregate at that version again for the caller (masked
without `read:pii`). The request fingerprint is an HMAC (annals.eventstore.blindindex), since a
plain hash of a command is a hash of the personal data in it. Forget turns the subject's rows
into tombstones (annals.commands.tables.forget_responses): a replay then answers 410.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from annals.commands.uow import UnitOfWork
from annals.eventstore.blindindex import BlindIndex
from annals.eventstore.ports import Database
from annals.web.problems import Problem

log = logging.getLogger(__name__)

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# An expired key is claimed afresh; the conflict's row lock orders concurrent claims.
CLAIM = """
INSERT INTO api.idempotency_keys AS k (actor, key, request_hash) VALUES ($1, $2, $3)
ON CONFLICT (actor, key) DO UPDATE
   SET request_hash = excluded.request_hash, status = 0, headers = '{}', aggregate_id = NULL,
       version = NULL, created_at = now()
 WHERE k.created_at < now() - $4::interval
RETURNING 1
"""
STORED = (
    "SELECT request_hash, status, headers::text, aggregate_id, version FROM api.idempotency_keys "
    "WHERE actor = $1 AND key = $2"
)
PURGE = """
DELETE FROM api.idempotency_keys WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM api.idempotency_keys WHERE created_at < now() - $1::interval LIMIT $2))
"""
DEFAULT_TTL = timedelta(hours=24)
FORGOTTEN_STATUS = 410  # the status a tombstone of storage.forget_responses holds
SAVE = (
    "UPDATE api.idempotency_keys SET status = $3, headers = $4::jsonb, aggregate_id = $5, "
    "version = $6 "
    "WHERE actor = $1 AND key = $2"
)


@dataclass(frozen=True)
class StoredResponse:
    """A response kept for replay: no body, the aggregate and version to render again."""

    status: int
    headers: Mapping[str, str]
    aggregate_id: str | None
    version: int | None

    @property
    def forgotten(self) -> bool:
        """Whether Forget wiped this response (its aggregate's personal data is gone)."""
        return self.aggregate_id is None or self.version is None


def check_key(key: str) -> str:
    """The key when it is 1-255 visible ASCII characters, else a 400 problem."""
    if not _KEY.match(key):
        raise Problem(
            400,
            "Malformed Idempotency-Key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
            slug="malformed-idempotency-key",
        )
    return key


def request_hashes(index: BlindIndex, method: str, path: str, payload: object) -> list[str]:
    """Fingerprints of a request (method, path, canonical JSON), under each key, current first."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return index.candidates(f"{method} {path}\n{canonical}")


class Claim:
    """A claimed key inside its transaction: run the command with `uow`, then `save`."""

    def __init__(self, uow: UnitOfWork, actor: str, key: str) -> None:
        self.uow = uow
        self._actor = actor
        self._key = key
        self.saved = False

    async def save(
        self, status: int, headers: Mapping[str, str], aggregate_id: str, version: int
    ) -> None:
        """Store the response to replay (in the command's transaction), without its body."""
        await self.uow.execute(
            SAVE, self._actor, self._key, status, json.dumps(dict(headers)), aggregate_id, version
        )
        self.saved = True


class IdempotencyStore:
    """Keys in the service database's `api.idempotency_keys` (they survive restarts)."""

    def __init__(self, database: Database, index: BlindIndex, ttl: timedelta = DEFAULT_TTL) -> None:
        self.database = database
        self.index = index
        self.ttl = ttl

    @asynccontextmanager
    async def claim(
        self, actor: str, key: str, fingerprints: list[str]
    ) -> AsyncIterator[Claim | StoredResponse]:
        """Yield a Claim for a new key, or the StoredResponse of a used one (422 if reused).

        `fingerprints` are the request's under every key (request_hashes); the first is stored.
        """
        async with self.database.transaction() as uow:
            claimed = await uow.fetchval(CLAIM, actor, key, fingerprints[0], self.ttl)
            if claimed is None:
                row = await uow.fetchrow(STORED, actor, key)
                if row[1] == FORGOTTEN_STATUS:
                    yield StoredResponse(row[1], {}, None, None)
                    return
                if row[0] not in fingerprints:
                    raise Problem(
                        422,
                        "Idempotency-Key reused",
                        "this Idempotency-Key was used with another request",
                        slug="idempotency-key-reused",
                        rule="idempotency-key-reused",
                    )
                yield StoredResponse(row[1], json.loads(row[2]), row[3], row[4])
                return
            claim = Claim(uow, actor, key)
            yield claim
            if not claim.saved:
                raise RuntimeError("an idempotency claim ended without a stored response")

    async def purge(self, batch: int = 5_000) -> int:
        """Delete expired keys, a batch per statement; return how many went."""
        total = 0
        while True:
            status = await self.database.execute(PURGE, self.ttl, batch)
            deleted = int(status.rsplit(" ", 1)[-1])
            total += deleted
            if deleted < batch:
                return total

    async def purge_forever(self, every: float = 600.0) -> None:
        """Purge now and then every `every` seconds; failures are logged and retried later."""
        while True:
            try:
                if deleted := await self.purge():
                    log.info("purged %d expired idempotency keys", deleted)
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
                log.warning("idempotency key purge failed (retried later): %s", exc)
            await asyncio.sleep(every)
