"""What the registry needs of its storage: one transaction at a time over subjects and ids."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a subject: its number, the global id of its schema, the schema text."""

    subject: str
    version: int
    id: int
    schema: str
    deleted: bool = False


class Transaction(Protocol):
    """The registry's reads and writes inside one serialized transaction."""

    async def subjects(self) -> list[str]:
        """Every subject with at least one version row (soft-deleted ones included)."""

    async def versions(self, subject: str) -> list[Version]:
        """The subject's versions, oldest first (soft-deleted ones included)."""

    async def schema(self, schema_id: int) -> str | None:
        """The schema text of a global id (kept after its versions are deleted)."""

    async def id_of(self, schema: str) -> int | None:
        """The global id of a canonical schema text, if it was ever registered."""

    async def new_id(self, schema: str) -> int:
        """A new global id for a canonical schema text (never one used before)."""

    async def add(self, version: Version) -> None:
        """Store a new version."""

    async def mark_deleted(self, subject: str, version: int) -> None:
        """Soft-delete one version."""

    async def remove(self, subject: str, version: int) -> None:
        """Hard-delete one version (its schema and id stay)."""

    async def uses(self, schema_id: int) -> list[Version]:
        """The live versions whose schema has this id."""

    async def level(self, subject: str | None) -> str | None:
        """The compatibility level set for a subject (None: the global one), if any."""

    async def set_level(self, subject: str | None, level: str | None) -> None:
        """Set (or with None, clear) a subject's or the global compatibility level."""


class RegistryStore(Protocol):
    """Storage of the registry: hands out serialized transactions."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """One transaction; registrations and deletes never interleave."""
