"""Customer command handlers: `(command, target, deps)` -> the customer after its new events."""

from __future__ import annotations

from dataclasses import dataclass

from annals.commands.errors import NotFound
from annals.commands.executor import CommandExecutor, Outcome, Target, check_precondition
from annals.commands.storage import forget_responses
from annals.commands.uow import UnitOfWork, unit_of_work
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
    """Forget: delete the customer's key (crypto-shredding), wipe their idempotent responses
    and record CustomerForgotten, all in one transaction.

    Privacy rule: the key's deletion and the event commit together or not at all, so a failed
    append leaves the customer as they were and a retry forgets them completely; never a
    deleted key with an event (and read models) that never heard of it.
    """
    if uow is None:
        async with unit_of_work(deps.executor.store) as own:
            return await forget(command, target, own, deps)
    customer = await deps.executor.load(target.aggregate_id, uow)
    if customer.version == 0:
        raise NotFound(KIND, target.aggregate_id)
    check_precondition(target.expected_version, customer.version)
    await uow.store.keys.forget(target.aggregate_id)
    await forget_responses(uow.conn, target.aggregate_id)
    return await deps.executor.execute(target, command, uow)


async def handle(
    command: c.Command, target: Target, uow: UnitOfWork | None, deps: Deps
) -> Outcome[CustomerState]:
    """Every customer command: load, decide, append (email reservation in the same transaction)."""
    if isinstance(command, c.Forget):
        return await forget(command, target, uow, deps)
    return await deps.executor.execute(target, command, uow)
