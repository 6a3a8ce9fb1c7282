"""PostgreSQL adapters of the key store (crypto-shredding) and the snapshot store."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence

from annals.eventstore.encoding import to_json
from annals.eventstore.errors import SubjectForgotten
from annals.eventstore.keywrap import (
    KEY_BYTES,
    KeyWrapper,
    MasterKeyUnavailable,
    configured_wrapper,
    wrapped_by,
)
from annals.eventstore.pool import Queries
from annals.eventstore.ports import Snapshot

GET_OR_CREATE_KEY = """
WITH ins AS (
    INSERT INTO eventstore.subject_keys (subject, key) VALUES ($1, $2)
    ON CONFLICT (subject) DO NOTHING RETURNING key)
SELECT key FROM ins
UNION ALL
SELECT key FROM eventstore.subject_keys WHERE subject = $1
LIMIT 1
"""


KEY_STATUS = """
SELECT CASE WHEN key IS NULL THEN 'forgotten'
            WHEN length(key) = 32 THEN 'unwrapped'
            ELSE 'wrapped by ' || convert_from(substring(key FROM 3 FOR get_byte(key, 1)), 'UTF8')
       END, count(*)
  FROM eventstore.subject_keys GROUP BY 1 ORDER BY 1
"""
KEY_PAGE = (
    "SELECT subject, key FROM eventstore.subject_keys "
    "WHERE subject > $1 AND key IS NOT NULL ORDER BY subject LIMIT $2"
)
# Compare-and-set in eventstore.rewrap_keys: a key forgotten meanwhile (key NULL) or re-wrapped by
# another run is left alone. It and forget_subject are security-definer functions: the service
# role may not UPDATE subject_keys itself.
REWRAP = "SELECT eventstore.rewrap_keys($1::text[], $2::bytea[], $3::bytea[])"
FORGET = "SELECT eventstore.forget_subject($1)"


class PostgresKeyStore:
    """Per-subject AES keys in eventstore.subject_keys; forget() deletes the key material.

    With master keys (ANNALS_MASTER_KEYS, or `wrapper`) the stored keys are wrapped by the
    current master key; see annals.eventstore.keywrap.
    """

    def __init__(self, pool: Queries, wrapper: KeyWrapper | None = None) -> None:
        self._pool = pool
        self._wrapper = wrapper if wrapper is not None else configured_wrapper()

    def bound_to(self, queries: Queries) -> PostgresKeyStore:
        """The same key store (same master keys) querying through `queries`, e.g. a transaction."""
        bound = copy.copy(self)
        bound._pool = queries
        return bound

    async def get_or_create(self, subject: str) -> bytes:
        """The subject's key, created when missing; SubjectForgotten after forget()."""
        stored = self._stored(subject, os.urandom(KEY_BYTES))
        for _ in range(3):
            row = await self._pool.fetchrow(GET_OR_CREATE_KEY, subject, stored)
            if row is not None:
                if row[0] is None:
                    raise SubjectForgotten(f"subject {subject!r} was forgotten")
                return self._key(subject, bytes(row[0]))
        raise SubjectForgotten(f"no key could be created for subject {subject!r}")

    async def get_many(self, subjects: Sequence[str]) -> dict[str, bytes]:
        """Keys of the subjects that still have one."""
        rows = await self._pool.fetch(
            "SELECT subject, key FROM eventstore.subject_keys "
            "WHERE subject = ANY($1::text[]) AND key IS NOT NULL",
            list(subjects),
        )
        return {r[0]: self._key(r[0], bytes(r[1])) for r in rows}

    async def forget(self, subject: str) -> None:
        """Delete the subject's key (a tombstone row refuses new personal data for it)."""
        await self._pool.fetchrow(FORGET, subject)

    async def status(self) -> dict[str, int]:
        """How many keys are wrapped by each master key, unwrapped, or forgotten."""
        return {r[0]: r[1] for r in await self._pool.fetch(KEY_STATUS)}

    async def rotate(self, page: int = 1000) -> int:
        """Re-wrap every key not yet under the current master key; return how many changed."""
        if self._wrapper is None:
            raise MasterKeyUnavailable("rotation needs ANNALS_MASTER_KEYS")
        changed, after = 0, ""
        while rows := await self._pool.fetch(KEY_PAGE, after, page):
            after = rows[-1][0]
            stale = [(r[0], bytes(r[1])) for r in rows if wrapped_by(r[1]) != self._wrapper.current]
            if stale:
                new = [self._wrapper.wrap(s, self._key(s, k)) for s, k in stale]
                subjects, old = [s for s, _ in stale], [k for _, k in stale]
                row = await self._pool.fetchrow(REWRAP, subjects, old, new)
                changed += int(row[0])
        return changed

    def _stored(self, subject: str, key: bytes) -> bytes:
        return key if self._wrapper is None else self._wrapper.wrap(subject, key)

    def _key(self, subject: str, stored: bytes) -> bytes:
        if self._wrapper is not None:
            return self._wrapper.unwrap(subject, stored)
        if len(stored) != KEY_BYTES:
            raise MasterKeyUnavailable(
                f"the key of subject {subject!r} is wrapped by master key "
                f"{wrapped_by(stored)!r}, but ANNALS_MASTER_KEYS is not set"
            )
        return stored


class PostgresSnapshotStore:
    """Aggregate snapshots in eventstore.snapshots, one row per stream."""

    def __init__(self, pool: Queries) -> None:
        self._pool = pool

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The stream's snapshot, if any."""
        row = await self._pool.fetchrow(
            "SELECT version, schema_version, state FROM eventstore.snapshots WHERE stream_id = $1",
            stream_id,
        )
        if row is None:
            return None
        return Snapshot(stream_id, row[0], row[1], json.loads(row[2]))

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store the snapshot unless a newer one is already there."""
        await self._pool.execute(
            "INSERT INTO eventstore.snapshots AS s (stream_id, version, schema_version, state) "
            "VALUES ($1, $2, $3, $4::text::jsonb) ON CONFLICT (stream_id) DO UPDATE "
            "SET version = EXCLUDED.version, schema_version = EXCLUDED.schema_version, "
            "state = EXCLUDED.state, created_at = now() "
            "WHERE s.version <= EXCLUDED.version OR s.schema_version <> EXCLUDED.schema_version",
            snapshot.stream_id,
            snapshot.version,
            snapshot.schema_version,
            to_json(dict(snapshot.state), "snapshot state"),
        )
