"""Reactors: pure reactions, and the runner issuing each command once per event id."""

from __future__ import annotations

from decimal import Decimal

import pytest
from orders.domain import commands as c
from orders.domain import events as e
from orders.domain.money import Money
from orders.service_layer.handlers import Deps, handle

from annals.commands.executor import Outcome, Target
from annals.commands.uow import UnitOfWork
from annals.eventstore.memorydb import InMemoryDatabase
from annals.reactors import MemoryCausations, Reaction, Reactor, ReactorRunner
from annals.testing import Delivery, ReactorSpec

OID = "o1"
EUR = Money(amount=Decimal("9.90"), currency="EUR")
CONFIRMED = e.OrderConfirmed(order_id=OID, total=EUR)


def ship_confirmed(event: e.OrderConfirmed) -> list[Reaction]:
    return [Reaction(event.order_id, c.MarkShipped())]


REACTOR = Reactor("shipper", ("orders.events",), {"orders.OrderConfirmed": ship_confirmed})
DELIVERY = Delivery("ev-1", "orders.OrderConfirmed", CONFIRMED)


class Rig:
    """The orders handler on an in-memory database, an order in it, and the reactor's runner."""

    def __init__(self, *events: e.OrderEvent, fail_first: bool = False) -> None:
        self.database = InMemoryDatabase()
        self.deps = Deps.build(self.database, self.database.store, None)
        self.events = events
        self.fail_first = fail_first
        causations = MemoryCausations(self.database.store)
        self.runner = ReactorRunner(REACTOR, self.run, self.database, causations)

    async def run(self, command: c.Command, target: Target, uow: UnitOfWork | None) -> Outcome:
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("the database went away")
        return await handle(command, target, uow, self.deps)

    async def seed(self) -> Rig:
        aggregate = await self.deps.executor.load(OID)
        aggregate.record(*self.events)
        await self.deps.executor.repository.save(aggregate)
        return self


PLACED = e.OrderPlaced(order_id=OID, customer_id="c1", currency="EUR")
ITEM = e.ItemAdded(order_id=OID, sku="A", quantity=1, unit_price=EUR)


def test_the_reactor_calls_for_its_commands() -> None:
    ReactorSpec(REACTOR).when(DELIVERY).then(Reaction(OID, c.MarkShipped()))
    other = Delivery("ev-2", "orders.OrderPlaced", PLACED)
    ReactorSpec(REACTOR).when(other).then()


async def test_a_redelivered_event_issues_no_second_command() -> None:
    rig = await Rig(PLACED, ITEM, CONFIRMED).seed()
    spec = ReactorSpec(REACTOR, rig.runner)
    await spec.when(DELIVERY).then_issued(1)
    outcome = await spec.given().when(DELIVERY).then_issued(0)
    assert outcome.skipped == 1
    records = await rig.database.store.read_stream(f"order-{OID}")
    assert [r.event_type for r in records][-1] == "OrderShipped"
    assert records[-1].metadata["causation_id"] == "ev-1"
    assert records[-1].metadata["actor"] == "reactor:shipper"


async def test_a_refused_command_stays_answered() -> None:
    rig = await Rig(PLACED).seed()  # not confirmed: MarkShipped is refused
    spec = ReactorSpec(REACTOR, rig.runner)
    first = await spec.when(DELIVERY).then_issued(0)
    assert first.refused and first.skipped == 0
    again = await spec.when(DELIVERY).then_issued(0)
    assert again.skipped == 1


async def test_a_failure_forgets_the_causation_so_the_retry_runs() -> None:
    rig = await Rig(PLACED, ITEM, CONFIRMED, fail_first=True).seed()
    with pytest.raises(RuntimeError):
        await rig.runner.on_event("ev-1", "orders.OrderConfirmed", CONFIRMED)
    await ReactorSpec(REACTOR, rig.runner).when(DELIVERY).then_issued(1)
