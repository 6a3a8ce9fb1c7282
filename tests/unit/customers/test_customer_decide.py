"""Every decide function of the Customer aggregate, on states built from events (no I/O)."""

from __future__ import annotations

import pytest
from customers.domain import commands as c
from customers.domain import events as e
from customers.domain.customer import DECIDER, CustomerState, Status, decide, reserved_email
from pydantic import ValidationError

from annals.commands.errors import AlreadyExists, DomainError, NotFound
from annals.eventstore.domain import REDACTED
from annals.testing import DeciderSpec

CID = "c1"
SPEC = DeciderSpec(DECIDER, CID)
ADDRESS = e.Address(line1="1 Main St", city="Springfield", postal_code="12345", country="US")
REGISTERED = e.CustomerRegistered(
    customer_id=CID, name="Ada", email="Ada@Example.com", phone="+1 555 0100", address=ADDRESS
)
DEACTIVATED = e.CustomerDeactivated(customer_id=CID, reason="asked")
FORGOTTEN = e.CustomerForgotten(customer_id=CID)


def given(*events: e.CustomerEvent) -> CustomerState:
    return SPEC.given(*events).state


def rule(state: CustomerState, command: c.Command) -> str:
    with pytest.raises(DomainError) as caught:
        decide(state, CID, command)
    return caught.value.rule


def test_register() -> None:
    cmd = c.RegisterCustomer(
        name=" Ada ", email="Ada@Example.com", phone="+1 555 0100", address=ADDRESS
    )
    state = SPEC.given().when(cmd).then(REGISTERED)
    assert state.status is Status.ACTIVE and state.tier is e.Tier.STANDARD
    assert reserved_email(state) == "ada@example.com"
    SPEC.given(REGISTERED).when(cmd).then_fails(AlreadyExists)


def test_register_validates_fields() -> None:
    with pytest.raises(ValidationError):
        c.RegisterCustomer(name="Ada", email="not-an-email")
    with pytest.raises(ValidationError):
        c.RegisterCustomer(name="", email="a@b.io")
    with pytest.raises(ValidationError):
        c.RegisterCustomer(name="Ada", email="a@b.io", phone="call me")
    with pytest.raises(ValidationError):
        c.RegisterCustomer(name="Ada", email="a@b.io", tier="diamond")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "command",
    [
        c.ChangeEmail(email="x@y.io"),
        c.ChangeAddress(address=None),
        c.ChangeTier(tier=e.Tier.GOLD),
        c.Deactivate(),
        c.Reactivate(),
        c.Forget(),
    ],
)
def test_commands_on_unknown_customer_are_not_found(command: c.Command) -> None:
    with pytest.raises(NotFound):
        decide(CustomerState(), CID, command)


def test_change_email() -> None:
    state = given(REGISTERED)
    events = decide(state, CID, c.ChangeEmail(email="new@example.com"))
    assert events == [e.CustomerEmailChanged(customer_id=CID, email="new@example.com")]
    assert reserved_email(given(REGISTERED, *events)) == "new@example.com"
    assert decide(state, CID, c.ChangeEmail(email="Ada@Example.com")) == []
    assert (
        rule(given(REGISTERED, DEACTIVATED), c.ChangeEmail(email="n@e.io")) == "customer-inactive"
    )


def test_change_address() -> None:
    state = given(REGISTERED)
    assert decide(state, CID, c.ChangeAddress(address=ADDRESS)) == []
    events = decide(state, CID, c.ChangeAddress(address=None))
    assert events == [e.CustomerAddressChanged(customer_id=CID, address=None)]
    assert given(REGISTERED, *events).address is None
    assert (
        rule(given(REGISTERED, DEACTIVATED), c.ChangeAddress(address=None)) == "customer-inactive"
    )


def test_change_tier() -> None:
    state = given(REGISTERED)
    events = decide(state, CID, c.ChangeTier(tier=e.Tier.GOLD))
    assert events == [
        e.CustomerTierChanged(customer_id=CID, tier=e.Tier.GOLD, previous_tier=e.Tier.STANDARD)
    ]
    assert given(REGISTERED, *events).tier is e.Tier.GOLD
    assert decide(state, CID, c.ChangeTier(tier=e.Tier.STANDARD)) == []
    assert (
        rule(given(REGISTERED, DEACTIVATED), c.ChangeTier(tier=e.Tier.GOLD)) == "customer-inactive"
    )


def test_deactivate_and_reactivate() -> None:
    state = given(REGISTERED)
    assert decide(state, CID, c.Deactivate(reason="asked")) == [DEACTIVATED]
    inactive = given(REGISTERED, DEACTIVATED)
    assert reserved_email(inactive) is None
    assert rule(inactive, c.Deactivate()) == "customer-inactive"
    assert decide(inactive, CID, c.Reactivate()) == [e.CustomerReactivated(customer_id=CID)]
    assert rule(state, c.Reactivate()) == "customer-active"


def test_forget() -> None:
    state = given(REGISTERED)
    assert decide(state, CID, c.Forget()) == [FORGOTTEN]
    forgotten = given(REGISTERED, FORGOTTEN)
    assert forgotten.forgotten and forgotten.email == REDACTED and forgotten.address is None
    assert reserved_email(forgotten) is None
    assert decide(forgotten, CID, c.Forget()) == []
    assert rule(forgotten, c.ChangeTier(tier=e.Tier.GOLD)) == "customer-forgotten"
    assert rule(forgotten, c.Reactivate()) == "customer-forgotten"


def test_personal_fields_are_marked() -> None:
    assert set(e.CustomerRegistered.personal_fields()) == {"name", "email", "phone", "address"}
    assert set(e.CustomerEmailChanged.personal_fields()) == {"email"}
    assert set(e.CustomerAddressChanged.personal_fields()) == {"address"}
    assert e.CustomerRegistered.subject_field == "customer_id"
