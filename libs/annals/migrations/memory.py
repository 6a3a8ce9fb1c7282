"""The runner's session port in process memory: a database whose statements are only recorded.

A transaction keeps its statements and records apart until it ends without error; a statement
in `failing` raises. Sessions made by `session()` share one database and its lock, as two
processes migrating one PostgreSQL database do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from annals.migrations.runner import Step


class StatementFailed(Exception):
    """A statement the fake database was told to refuse."""


@dataclass
class MemoryDatabase:
    """What a migrated database would hold: the statements run, the bookkeeping, old tables."""

    name: str = "memory"
    executed: list[str] = field(default_factory=list)
    records: dict[tuple[str, int], str | None] = field(default_factory=dict)
    old_tables: dict[str, set[int]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def session(self) -> MemorySession:
        """One more connection to this database."""
        return MemorySession(self)


class _Locked:
    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db
        self.executed: list[str] = []
        self.records: dict[tuple[str, int], str | None] = {}

    async def applied(self) -> set[tuple[str, int]]:
        return set(self.db.records) | set(self.records)

    async def recorded_before(self, table: str, version: int) -> bool:
        return version in self.db.old_tables.get(table, set())

    async def execute(self, sql: str) -> None:
        await asyncio.sleep(0)  # let a concurrent session run into the lock
        if sql in self.db.failing:
            raise StatementFailed(f"refused: {sql}")
        self.executed.append(sql)

    async def record(self, step: Step, adopted_from: str | None) -> None:
        self.records[step.key] = adopted_from


class MemorySession:
    """The Session port on a MemoryDatabase."""

    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db
        self.database = db.name

    async def applied(self) -> set[tuple[str, int]]:
        """The committed records."""
        return set(self.db.records)

    async def recorded_before(self, table: str, version: int) -> bool:
        """Whether an old table holds the version."""
        return version in self.db.old_tables.get(table, set())

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[_Locked]:
        """Holds the database's lock; commits the statements and records on a clean exit."""
        async with self.db.lock:
            tx = _Locked(self.db)
            yield tx
            self.db.executed.extend(tx.executed)
            self.db.records.update(tx.records)
