"""Every customer command through its handler and the executor, on the in-memory database."""

from __future__ import annotations

import pytest
from customers.domain import commands as c
from customers.domain import events as e
from customers.domain.customer import CustomerState
from customers.service_layer.handlers import Deps, handle
from customers.service_layer.reservations import MemoryReservations

from annals.commands.errors import AlreadyExists, NotFound, RuleBroken
from annals.commands.executor import Outcome, PreconditionFailed, Target
from annals.commands.uow import UnitOfWork
from annals.eventstore.domain import REDACTED
from annals.eventstore.memorydb import InMemoryDatabase
from annals.testing import HandlerSpec

CID = "c1"
ADDRESS = e.Address(line1="1 Main St", city="Springfield", postal_code="12345", country="US")
REGISTERED = e.CustomerRegistered(customer_id=CID, name="Ada", email="ada@example.com")
DEACTIVATED = e.CustomerDeactivated(customer_id=CID, reason="asked")
FORGOTTEN = e.CustomerForgotten(customer_id=CID)


class Responses:
    """Stored idempotent responses: which aggregates Forget wiped (or a failure to wipe them)."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.wiped: list[str] = []

    async def __call__(self, uow: UnitOfWork, aggregate_id: str) -> None:
        if self.fail:
            raise RuntimeError("the idempotency table is away")
        self.wiped.append(aggregate_id)


class Fixture:
    """One customer service on an in-memory database."""

    def __init__(self, customer_id: str = CID, *, fail_wipe: bool = False) -> None:
        self.database = InMemoryDatabase()
        self.reservations = MemoryReservations()
        self.responses = Responses(fail_wipe)
        self.deps = Deps.build(
            self.database,
            self.database.store,
            reservations=self.reservations,
            responses=self.responses,
        )
        self.spec = HandlerSpec(self.run, self.deps.executor, customer_id)

    async def run(
        self, command: c.Command, target: Target, uow: UnitOfWork | None
    ) -> Outcome[CustomerState]:
        return await handle(command, target, uow, self.deps)


@pytest.mark.parametrize("in_transaction", [False, True])
async def test_register_reserves_the_email(in_transaction: bool) -> None:
    fx = Fixture()
    register = c.RegisterCustomer(name="Ada", email="Ada@Example.com")
    registered = e.CustomerRegistered(customer_id=CID, name="Ada", email="Ada@Example.com")
    await fx.spec.given().when(register, in_transaction=in_transaction).then(registered)
    assert fx.reservations.held == {"ada@example.com": CID}
    await fx.spec.given().when(register).then_fails(AlreadyExists)


async def test_register_refuses_an_email_another_active_customer_holds() -> None:
    fx = Fixture("c2")
    fx.reservations.held["ada@example.com"] = CID
    register = c.RegisterCustomer(name="Bob", email="ada@example.com")
    await fx.spec.given().when(register).then_fails(RuleBroken, rule="email-unique")


async def test_change_email_moves_the_reservation() -> None:
    fx = Fixture()
    changed = e.CustomerEmailChanged(customer_id=CID, email="new@example.com")
    await fx.spec.given(REGISTERED).when(c.ChangeEmail(email="new@example.com")).then(changed)
    assert fx.reservations.held == {"new@example.com": CID}


async def test_change_address() -> None:
    changed = e.CustomerAddressChanged(customer_id=CID, address=ADDRESS)
    outcome = (
        await Fixture().spec.given(REGISTERED).when(c.ChangeAddress(address=ADDRESS)).then(changed)
    )
    assert outcome.state.address == ADDRESS


async def test_change_tier() -> None:
    changed = e.CustomerTierChanged(
        customer_id=CID, tier=e.Tier.GOLD, previous_tier=e.Tier.STANDARD
    )
    await Fixture().spec.given(REGISTERED).when(c.ChangeTier(tier=e.Tier.GOLD)).then(changed)
    await (
        Fixture()
        .spec.given(REGISTERED, DEACTIVATED)
        .when(c.ChangeTier(tier=e.Tier.GOLD))
        .then_fails(RuleBroken, rule="customer-inactive")
    )


async def test_deactivate_releases_and_reactivate_takes_the_email_again() -> None:
    fx = Fixture()
    await fx.spec.given(REGISTERED).when(c.Deactivate(reason="asked")).then(DEACTIVATED)
    assert fx.reservations.held == {}
    reactivated = e.CustomerReactivated(customer_id=CID)
    await fx.spec.given().when(c.Reactivate()).then(reactivated)
    assert fx.reservations.held == {"ada@example.com": CID}


@pytest.mark.parametrize("in_transaction", [False, True])
async def test_forget_shreds_the_key_and_wipes_responses(in_transaction: bool) -> None:
    fx = Fixture()
    outcome = (
        await fx.spec.given(REGISTERED)
        .when(c.Forget(), in_transaction=in_transaction)
        .then(FORGOTTEN)
    )
    assert outcome.state.forgotten and fx.responses.wiped == [CID]
    assert await fx.database.store.keys.get_many([CID]) == {}
    stored = await fx.spec.stored()
    assert isinstance(stored[0], e.CustomerRegistered) and stored[0].email == REDACTED


async def test_forget_keeps_the_key_when_its_transaction_fails() -> None:
    fx = Fixture(fail_wipe=True)
    await fx.spec.given(REGISTERED).when(c.Forget()).then_fails(RuntimeError)
    assert CID in await fx.database.store.keys.get_many([CID])
    assert (await fx.spec.stored())[0] == REGISTERED  # still readable


async def test_forget_checks_existence_and_if_match() -> None:
    await Fixture().spec.given().when(c.Forget()).then_fails(NotFound)
    await (
        Fixture()
        .spec.given(REGISTERED)
        .when(c.Forget(), expected_version=3)
        .then_fails(PreconditionFailed, current_version=1)
    )
