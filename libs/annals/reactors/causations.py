"""Which events a reactor already answered: the causations port and its two adapters."""

from __future__ import annotations

from typing import Protocol

from annals.commands.tables import TableStep
from annals.commands.uow import UnitOfWork
from annals.eventstore.memory import InMemoryEventStore

REACTIONS_TABLE = """
CREATE TABLE IF NOT EXISTS api.reactions (
    reactor text NOT NULL,
    causation text NOT NULL,
    reacted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (reactor, causation)
);
"""
REACTIONS_STEP = TableStep(101, "reactions (causations a reactor answered)", REACTIONS_TABLE)
REACTIONS_GRANT = "GRANT SELECT, INSERT ON api.reactions TO {app};"
RECORD = (
    "INSERT INTO api.reactions (reactor, causation) VALUES ($1, $2) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)


class Causations(Protocol):
    """Records, in a unit of work, that a reactor answers a causation (once)."""

    async def first(self, uow: UnitOfWork, reactor: str, causation: str) -> bool:
        """Record it; False when it was recorded before (the event was redelivered)."""
        ...


class PostgresCausations:
    """Causations in the service database's `api.reactions` (they commit with the command)."""

    async def first(self, uow: UnitOfWork, reactor: str, causation: str) -> bool:
        """Insert the row; False when it was there."""
        return await uow.fetchval(RECORD, reactor, causation) is not None


class MemoryCausations:
    """Causations kept with an in-memory store's rows (a failed transaction forgets them)."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self.store = store

    async def first(self, uow: UnitOfWork, reactor: str, causation: str) -> bool:
        """Add it to the store's `reactions` rows; False when it was there."""
        seen = self.store.rows.setdefault("reactions", {})
        if (reactor, causation) in seen:
            return False
        seen[reactor, causation] = True
        return True
