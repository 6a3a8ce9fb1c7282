"""An in-memory Database: transactions over an InMemoryEventStore, for tests without I/O.

Transactions run one at a time (a lock), so each sees the store as the last one left it; a
transaction or savepoint whose block fails puts the store's contents back as they were when it
began. There is no SQL: a service's own rows live behind ports with in-memory adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, NoReturn

from annals.eventstore.memory import InMemoryEventStore


def _no_sql(query: str) -> NoReturn:
    raise NotImplementedError(f"the in-memory database runs no SQL: {query.split()[0]} ...")


class NoSql:
    """The query methods of the ports, refused: state in memory is reached through ports."""

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """Not supported: no SQL in memory."""
        _no_sql(query)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """Not supported: no SQL in memory."""
        _no_sql(query)

    async def fetchval(self, query: str, *args: Any) -> Any:
        """Not supported: no SQL in memory."""
        _no_sql(query)

    async def execute(self, query: str, *args: Any) -> str:
        """Not supported: no SQL in memory."""
        _no_sql(query)


class InMemorySession(NoSql):
    """An open in-memory transaction; savepoints restore the store when their block fails."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self.store = store

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: the store is put back if the block fails."""
        saved = self.store.saved()
        try:
            yield
        except BaseException:
            self.store.restore(saved)
            raise


class InMemoryDatabase(NoSql):
    """The Database port over one InMemoryEventStore."""

    retriable_errors: tuple[type[Exception], ...] = ()

    def __init__(self, store: InMemoryEventStore | None = None) -> None:
        self.store = store if store is not None else InMemoryEventStore()
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[InMemorySession]:
        """One transaction at a time; a failing block leaves the store as it found it."""
        async with self._lock:
            session = InMemorySession(self.store)
            async with session.savepoint():
                yield session
