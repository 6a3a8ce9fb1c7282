"""Order command handlers: `(command, target, deps)` -> the order after its new events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from annals.commands.executor import CommandExecutor, Outcome, Target
from annals.commands.uow import UnitOfWork
from annals.eventstore.codec import EventCodec
from annals.eventstore.ports import Database, TransactionalEventStore
from annals.eventstore.registry import EventRegistry
from orders.domain.commands import Command, PlaceOrder
from orders.domain.events import ORDER_EVENTS
from orders.domain.order import Order, OrderState


def registry() -> EventRegistry:
    """The registry of order events."""
    return EventRegistry(ORDER_EVENTS)


class Customers(Protocol):
    """Who may place orders (the customer directory, or a fake in tests)."""

    async def check(self, customer_id: str, on: UnitOfWork | None = None) -> None:
        """Raise RuleBroken unless the customer exists and is active (queried in `on`)."""
        ...


@dataclass(frozen=True)
class Deps:
    """What order handlers use."""

    executor: CommandExecutor[OrderState]
    customers: Customers | None = None

    @classmethod
    def build(
        cls,
        database: Database,
        store: TransactionalEventStore,
        customers: Customers | None,
        *,
        retries: int = 3,
        cache_size: int = 0,
    ) -> Deps:
        """Handlers' dependencies on an open database and its event store."""
        codec = EventCodec(registry(), store.keys)
        executor = CommandExecutor(
            database, store, codec, Order, retries=retries, cache_size=cache_size
        )
        return cls(executor, customers)


async def handle(
    command: Command, target: Target, uow: UnitOfWork | None, deps: Deps
) -> Outcome[OrderState]:
    """Every order command: load the order, decide, append (retried on concurrent changes).

    PlaceOrder first asks the customer directory (the replica of customer status): unknown
    and deactivated customers are refused with 422. In a unit of work every lookup runs on
    its connection.
    """
    if isinstance(command, PlaceOrder) and deps.customers is not None:
        await deps.customers.check(command.customer_id, uow)
    return await deps.executor.execute(target, command, uow)
