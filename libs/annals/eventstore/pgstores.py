"""PostgreSQL adapters of the key store (crypto-shredding) and the snapshot store."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from annals.eventstore.encoding import to_json
from annals.eventstore.errors import SubjectForgotten
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


class PostgresKeyStore:
    """Per-subject AES keys in eventstore.subject_keys; forget() deletes the key material."""

    def __init__(self, pool: Queries) -> None:
        self._pool = pool

    async def get_or_create(self, subject: str) -> bytes:
        """The subject's key, created when missing; SubjectForgotten after forget()."""
        for _ in range(3):
            row = await self._pool.fetchrow(GET_OR_CREATE_KEY, subject, os.urandom(32))
            if row is not None:
                if row[0] is None:
                    raise SubjectForgotten(f"subject {subject!r} was forgotten")
                return bytes(row[0])
        raise SubjectForgotten(f"no key could be created for subject {subject!r}")

    async def get_many(self, subjects: Sequence[str]) -> dict[str, bytes]:
        """Keys of the subjects that still have one."""
        rows = await self._pool.fetch(
            "SELECT subject, key FROM eventstore.subject_keys "
            "WHERE subject = ANY($1::text[]) AND key IS NOT NULL",
            list(subjects),
        )
        return {r[0]: bytes(r[1]) for r in rows}

    async def forget(self, subject: str) -> None:
        """Delete the subject's key (a tombstone row refuses new personal data for it)."""
        await self._pool.execute(
            "INSERT INTO eventstore.subject_keys (subject, key, forgotten_at) "
            "VALUES ($1, NULL, now()) ON CONFLICT (subject) "
            "DO UPDATE SET key = NULL, forgotten_at = now()",
            subject,
        )


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
