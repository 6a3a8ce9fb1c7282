"""Order command handlers: `(command, target, deps)` -> the order after its new events."""

from __future__ import annotations

from dataclasses import dataclass

from annals.commands.executor import CommandExecutor, Outcome, Target
from annals.commands.uow import UnitOfWork
from annals.eventstore.codec import EventCodec
from annals.eventstore.postgres import PostgresEventStore
from annals.eventstore.registry import EventRegistry
from orders.adapters.customer_directory import CustomerDirectory
from orders.domain.commands import Command, PlaceOrder
from orders.domain.events import ORDER_EVENTS
from orders.domain.order import Order, OrderState


def registry() -> EventRegistry:
    """The registry of order events."""
    return EventRegistry(ORDER_EVENTS)


@dataclass(frozen=True)
class Deps:
    """What order handlers use."""

    executor: CommandExecutor[OrderState]
    customers: CustomerDirectory | None = None

    @classmethod
    def build(cls, store: PostgresEventStore, retries: int, cache_size: int) -> Deps:
        """Handlers' dependencies on an open store."""
        codec = EventCodec(registry(), store.keys)
        executor = CommandExecutor(store, codec, Order, retries=retries, cache_size=cache_size)
        return cls(executor, CustomerDirectory(store.pool))


async def handle(
    command: Command, target: Target, uow: UnitOfWork | None, deps: Deps
) -> Outcome[OrderState]:
    """Every order command: load the order, decide, append (retried on concurrent changes).

    PlaceOrder first asks the customer directory (the replica of customer status): unknown
    and deactivated customers are refused with 422. In a unit of work every lookup runs on
    its connection.
    """
    if isinstance(command, PlaceOrder) and deps.customers is not None:
        await deps.customers.check(command.customer_id, None if uow is None else uow.conn)
    return await deps.executor.execute(target, command, uow)
