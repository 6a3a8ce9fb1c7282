"""Idempotency-Key: the first successful response per (actor, key) is stored and replayed.

The key is claimed in the same transaction as the command's append, so a key yields at most
one set of events; a concurrent duplicate waits for the first and then replays its response.
A failed request (any error) rolls the claim back, so the key can be retried.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from annals.commands.uow import UnitOfWork, unit_of_work
from annals.eventstore.postgres import PostgresEventStore
from annals.web.problems import Problem

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
CLAIM = (
    "INSERT INTO api.idempotency_keys (actor, key, request_hash) VALUES ($1, $2, $3) "
    "ON CONFLICT (actor, key) DO NOTHING RETURNING 1"
)
STORED = (
    "SELECT request_hash, status, headers::text, body FROM api.idempotency_keys "
    "WHERE actor = $1 AND key = $2"
)
SAVE = (
    "UPDATE api.idempotency_keys SET status = $3, headers = $4::jsonb, body = $5 "
    "WHERE actor = $1 AND key = $2"
)


@dataclass(frozen=True)
class StoredResponse:
    """A response kept for replay."""

    status: int
    headers: Mapping[str, str]
    body: str


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


def request_hash(method: str, path: str, payload: object) -> str:
    """A fingerprint of a request: method, path and the canonical JSON of its command."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


class Claim:
    """A claimed key inside its transaction: run the command with `uow`, then `save`."""

    def __init__(self, uow: UnitOfWork, actor: str, key: str) -> None:
        self.uow = uow
        self._actor = actor
        self._key = key
        self.saved = False

    async def save(self, status: int, headers: Mapping[str, str], body: str) -> None:
        """Store the response to replay (in the command's transaction)."""
        await self.uow.conn.execute(
            SAVE, self._actor, self._key, status, json.dumps(dict(headers)), body
        )
        self.saved = True


class IdempotencyStore:
    """Keys in the service database's `api.idempotency_keys` (they survive restarts)."""

    def __init__(self, store: PostgresEventStore) -> None:
        self.store = store

    @asynccontextmanager
    async def claim(
        self, actor: str, key: str, fingerprint: str
    ) -> AsyncIterator[Claim | StoredResponse]:
        """Yield a Claim for a new key, or the StoredResponse of a used one (422 if reused)."""
        async with unit_of_work(self.store) as uow:
            claimed = await uow.conn.fetchval(CLAIM, actor, key, fingerprint)
            if claimed is None:
                row = await uow.conn.fetchrow(STORED, actor, key)
                if row[0] != fingerprint:
                    raise Problem(
                        422,
                        "Idempotency-Key reused",
                        "this Idempotency-Key was used with another request",
                        slug="idempotency-key-reused",
                        rule="idempotency-key-reused",
                    )
                yield StoredResponse(row[1], json.loads(row[2]), row[3])
                return
            claim = Claim(uow, actor, key)
            yield claim
            if not claim.saved:
                raise RuntimeError("an idempotency claim ended without a stored response")
