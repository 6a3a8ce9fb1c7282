"""Customer command handlers: `(command, target, deps)` -> the customer after its new events."""

from __future__ import annotations

from dataclasses import dataclass

from annals.commands.errors import NotFound
from annals.commands.executor import CommandExecutor, Outcome, Target, check_precondition
from annals.commands.uow import UnitOfWork
from annals.eventstore.codec import EventCodec
from annals.eventstore.ports import KeyStore
from annals.eventstore.postgres import PostgresEventStore
from annals.eventstore.registry import EventRegistry
from customers.domain import commands as c
from customers.domain.customer import KIND, Customer, CustomerState
from customers.domain.events import CUSTOMER_EVENTS
from customers.service_layer.reservations import update_reservation


def registry() -> EventRegistry:
    """The registry of customer events."""
    return EventRegistry(CUSTOMER_EVENTS)


@dataclass(frozen=True)
class Deps:
    """What customer handlers use."""

    executor: CommandExecutor[CustomerState]
    keys: KeyStore

    @classmethod
    def build(cls, store: PostgresEventStore, retries: int) -> Deps:
        """Handlers' dependencies on an open store (personal fields encrypted per customer)."""
        codec = EventCodec(registry(), store.keys)
        executor = CommandExecutor(
            store, codec, Customer, retries=retries, on_append=update_reservation
        )
        return cls(executor, store.keys)


async def forget(
    command: c.Forget, target: Target, uow: UnitOfWork | None, deps: Deps
) -> Outcome[CustomerState]:
    """Forget: delete the customer's key first (crypto-shredding), then record CustomerForgotten.

    In a unit of work the load and the key's deletion run on its connection (and commit with
    the event).
    """
    customer = await deps.executor.load(target.aggregate_id, uow)
    if customer.version == 0:
        raise NotFound(KIND, target.aggregate_id)
    check_precondition(target.expected_version, customer.version)
    keys = deps.keys if uow is None else uow.store.keys
    await keys.forget(target.aggregate_id)
    return await deps.executor.execute(target, command, uow)


async def handle(
    command: c.Command, target: Target, uow: UnitOfWork | None, deps: Deps
) -> Outcome[CustomerState]:
    """Every customer command: load, decide, append (email reservation in the same transaction)."""
    if isinstance(command, c.Forget):
        return await forget(command, target, uow, deps)
    return await deps.executor.execute(target, command, uow)
