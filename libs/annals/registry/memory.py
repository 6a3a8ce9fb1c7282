"""The registry's storage in memory: for tests and a throwaway local registry."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from annals.registry.ports import Transaction, Version


class MemoryStore:
    """Subjects, ids and levels in dicts; one lock serializes transactions (no rollback)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._versions: dict[str, list[Version]] = {}
        self._schemas: dict[int, str] = {}
        self._levels: dict[str | None, str] = {}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """The store itself, under the lock."""
        async with self._lock:
            yield self

    async def subjects(self) -> list[str]:
        """Every subject with versions."""
        return sorted(s for s, v in self._versions.items() if v)

    async def versions(self, subject: str) -> list[Version]:
        """The subject's versions, oldest first."""
        return list(self._versions.get(subject, []))

    async def schema(self, schema_id: int) -> str | None:
        """The schema text of an id."""
        return self._schemas.get(schema_id)

    async def id_of(self, schema: str) -> int | None:
        """The id of a schema text."""
        return next((i for i, s in self._schemas.items() if s == schema), None)

    async def new_id(self, schema: str) -> int:
        """The next id."""
        schema_id = max(self._schemas, default=0) + 1
        self._schemas[schema_id] = schema
        return schema_id

    async def add(self, version: Version) -> None:
        """Append a version."""
        self._versions.setdefault(version.subject, []).append(version)

    async def mark_deleted(self, subject: str, version: int) -> None:
        """Soft-delete a version."""
        self._versions[subject] = [
            dataclasses.replace(v, deleted=True) if v.version == version else v
            for v in self._versions[subject]
        ]

    async def remove(self, subject: str, version: int) -> None:
        """Hard-delete a version."""
        self._versions[subject] = [v for v in self._versions[subject] if v.version != version]

    async def uses(self, schema_id: int) -> list[Version]:
        """Live versions of an id."""
        found = [v for vs in self._versions.values() for v in vs]
        return [v for v in found if v.id == schema_id and not v.deleted]

    async def level(self, subject: str | None) -> str | None:
        """A level set."""
        return self._levels.get(subject)

    async def set_level(self, subject: str | None, level: str | None) -> None:
        """Set or clear a level."""
        if level is None:
            self._levels.pop(subject, None)
        else:
            self._levels[subject] = level
