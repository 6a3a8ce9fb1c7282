"""Every shipment command through its handler, on the in-memory database."""

from __future__ import annotations

import pytest
from shipping.domain import commands as c
from shipping.domain import events as e
from shipping.domain.aggregate import ShipmentState
from shipping.service_layer.handlers import Deps, handle

from annals.commands.errors import AlreadyExists, NotFound, RuleBroken
from annals.commands.executor import Outcome, PreconditionFailed, Target
from annals.commands.uow import UnitOfWork
from annals.eventstore.memorydb import InMemoryDatabase
from annals.testing import HandlerSpec

OPENED = e.ShipmentOpened(shipment_id="o1", order_id="o1")
DISPATCH = c.DispatchShipment(carrier="DHL", tracking_number="JD0146000")
DISPATCHED = e.ShipmentDispatched(
    shipment_id="o1", order_id="o1", carrier="DHL", tracking_number="JD0146000"
)


def spec() -> HandlerSpec[ShipmentState]:
    database = InMemoryDatabase()
    deps = Deps.build(database, database.store)

    async def run(
        command: c.Command, target: Target, uow: UnitOfWork | None
    ) -> Outcome[ShipmentState]:
        return await handle(command, target, uow, deps)

    return HandlerSpec(run, deps.executor, "o1")


@pytest.mark.parametrize("in_transaction", [False, True])
async def test_open_shipment(in_transaction: bool) -> None:
    open_ = c.OpenShipment(order_id="o1")
    outcome = await spec().given().when(open_, in_transaction=in_transaction).then(OPENED)
    assert outcome.version == 1
    await spec().given(OPENED).when(open_).then_fails(AlreadyExists)


async def test_dispatch_shipment() -> None:
    outcome = await spec().given(OPENED).when(DISPATCH, expected_version=1).then(DISPATCHED)
    assert outcome.state.tracking_number == "JD0146000"
    await spec().given(OPENED).when(DISPATCH, expected_version=2).then_fails(PreconditionFailed)
    await spec().given().when(DISPATCH).then_fails(NotFound)


async def test_confirm_delivery() -> None:
    delivered = e.ShipmentDelivered(shipment_id="o1", order_id="o1")
    await (
        spec()
        .given(OPENED, DISPATCHED)
        .when(c.ConfirmDelivery(), in_transaction=True)
        .then(delivered)
    )
    await spec().given(OPENED).when(c.ConfirmDelivery()).then_fails(RuleBroken)
