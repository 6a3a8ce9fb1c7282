"""Shipment command handlers: `(command, target, uow, deps)` -> the aggregate after it."""

from __future__ import annotations

from dataclasses import dataclass

from annals.commands.executor import CommandExecutor, Outcome, Target
from annals.commands.uow import UnitOfWork
from annals.eventstore.codec import EventCodec
from annals.eventstore.ports import Database, TransactionalEventStore
from annals.eventstore.registry import EventRegistry
from shipping.domain.aggregate import Shipment, ShipmentState
from shipping.domain.commands import Command
from shipping.domain.events import EVENTS


def registry() -> EventRegistry:
    """The registry of Shipment events."""
    return EventRegistry(EVENTS)


@dataclass(frozen=True)
class Deps:
    """What the handlers use."""

    executor: CommandExecutor[ShipmentState]

    @classmethod
    def build(cls, database: Database, store: TransactionalEventStore, retries: int = 3) -> Deps:
        """The handlers' dependencies on an open database and its event store."""
        codec = EventCodec(registry(), store.keys)
        return cls(CommandExecutor(database, store, codec, Shipment, retries=retries))


async def handle(
    command: Command, target: Target, uow: UnitOfWork | None, deps: Deps
) -> Outcome[ShipmentState]:
    """Every command: load, decide, append (retried on concurrent changes)."""
    return await deps.executor.execute(target, command, uow)
