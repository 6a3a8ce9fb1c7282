"""Customer command handlers: `(command, target, deps)` -> the customer after its new events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from annals.commands.errors import NotFound
from annals.commands.executor import CommandExecutor, Outcome, Target, check_precondition
from annals.commands.tables import forget_responses
from annals.commands.uow import UnitOfWork
from annals.eventstore.codec import EventCodec
from annals.eventstore.ports import Database, TransactionalEventStore
from annals.eventstore.registry import EventRegistry
from customers.domain import commands as c
from customers.domain.customer import KIND, Customer, CustomerState
from customers.domain.events import CUSTOMER_EVENTS
from customers.service_layer.reservations import Reservations, update_reservation

# Wipes an aggregate's stored idempotent responses in the unit of work (Forget).
ForgetResponses = Callable[[UnitOfWork, str], Awaitable[None]]


def registry() -> EventRegistry:
    """The registry of customer events."""
    return EventRegistry(CUSTOMER_EVENTS)


@dataclass(frozen=True)
class Deps:
    """What customer handlers use."""

    executor: CommandExecutor[CustomerState]
    forget_responses: ForgetResponses = forget_responses

    @classmethod
    def build(
        cls,
        database: Database,
        store: TransactionalEventStore,
        *,
        retries: int = 3,
        reservations: Reservations = update_reservation,
        responses: ForgetResponses = forget_responses,
    ) -> Deps:
        """Handlers' dependencies (personal fields encrypted per customer, emails reserved)."""
        codec = EventCodec(registry(), store.keys)
        executor = CommandExecutor(
            database, store, codec, Customer, retries=retries, on_append=reservations
        )
        return cls(executor, responses)


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
        async with deps.executor.transaction() as own:
            return await forget(command, target, own, deps)
    customer = await deps.executor.load(target.aggregate_id, uow)
    if customer.version == 0:
        raise NotFound(KIND, target.aggregate_id)
    check_precondition(target.expected_version, customer.version)
    await deps.executor.bound(uow).keys.forget(target.aggregate_id)
    await deps.forget_responses(uow, target.aggregate_id)
    return await deps.executor.execute(target, command, uow)


async def handle(
    command: c.Command, target: Target, uow: UnitOfWork | None, deps: Deps
) -> Outcome[CustomerState]:
    """Every customer command: load, decide, append (email reservation in the same transaction)."""
    if isinstance(command, c.Forget):
        return await forget(command, target, uow, deps)
    return await deps.executor.execute(target, command, uow)
