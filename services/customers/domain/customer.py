"""The Customer aggregate: its state, `evolve` (state + event) and one pure decide per command."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from annals.commands.decider import Decider, DeciderAggregate
from annals.commands.errors import AlreadyExists, NotFound, RuleBroken
from annals.eventstore.domain import REDACTED, DomainEvent
from customers.domain import commands as c
from customers.domain import events as e

KIND = "customer"


class Status(enum.StrEnum):
    """Where a customer is in their life."""

    NEW = "new"
    ACTIVE = "active"
    INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class CustomerState:
    """What the decisions need to know about a customer."""

    customer_id: str = ""
    status: Status = Status.NEW
    forgotten: bool = False
    name: str = ""
    email: str = ""
    phone: str | None = None
    address: e.Address | None = None
    tier: e.Tier = e.Tier.STANDARD


def normalize_email(email: str) -> str:
    """The form in which emails are compared for uniqueness."""
    return email.strip().lower()


def reserved_email(state: CustomerState) -> str | None:
    """The email this customer holds in the uniqueness reservation (active, not forgotten)."""
    if state.status is Status.ACTIVE and not state.forgotten and state.email:
        return normalize_email(state.email)
    return None


def evolve(state: CustomerState, event: DomainEvent) -> CustomerState:
    """The state after one event (pure)."""
    match event:
        case e.CustomerRegistered():
            return CustomerState(
                event.customer_id,
                Status.ACTIVE,
                False,
                event.name,
                event.email,
                event.phone,
                event.address,
                event.tier,
            )
        case e.CustomerEmailChanged():
            return replace(state, email=event.email)
        case e.CustomerAddressChanged():
            return replace(state, address=event.address)
        case e.CustomerTierChanged():
            return replace(state, tier=event.tier)
        case e.CustomerDeactivated():
            return replace(state, status=Status.INACTIVE)
        case e.CustomerReactivated():
            return replace(state, status=Status.ACTIVE)
        case e.CustomerForgotten():
            return replace(
                state, forgotten=True, name=REDACTED, email=REDACTED, phone=None, address=None
            )
    return state


def _existing(state: CustomerState, customer_id: str) -> None:
    if state.status is Status.NEW:
        raise NotFound(KIND, customer_id)
    if state.forgotten:
        raise RuleBroken("customer-forgotten", "the customer was forgotten; nothing can change")


def _active(state: CustomerState, customer_id: str) -> None:
    _existing(state, customer_id)
    if state.status is not Status.ACTIVE:
        raise RuleBroken("customer-inactive", "the customer is inactive; reactivate them first")


def register(state: CustomerState, customer_id: str, cmd: c.RegisterCustomer) -> list[DomainEvent]:
    """RegisterCustomer: only for a new customer id."""
    if state.status is not Status.NEW:
        raise AlreadyExists(KIND, customer_id)
    return [
        e.CustomerRegistered(
            customer_id=customer_id,
            name=cmd.name,
            email=cmd.email,
            phone=cmd.phone,
            address=cmd.address,
            tier=cmd.tier,
        )
    ]


def change_email(state: CustomerState, customer_id: str, cmd: c.ChangeEmail) -> list[DomainEvent]:
    """ChangeEmail: active customer; the same email changes nothing."""
    _active(state, customer_id)
    if cmd.email == state.email:
        return []
    return [e.CustomerEmailChanged(customer_id=customer_id, email=cmd.email)]


def change_address(
    state: CustomerState, customer_id: str, cmd: c.ChangeAddress
) -> list[DomainEvent]:
    """ChangeAddress: active customer; the same address changes nothing."""
    _active(state, customer_id)
    if cmd.address == state.address:
        return []
    return [e.CustomerAddressChanged(customer_id=customer_id, address=cmd.address)]


def change_tier(state: CustomerState, customer_id: str, cmd: c.ChangeTier) -> list[DomainEvent]:
    """ChangeTier: active customer; the same tier changes nothing."""
    _active(state, customer_id)
    if cmd.tier == state.tier:
        return []
    return [e.CustomerTierChanged(customer_id=customer_id, tier=cmd.tier, previous_tier=state.tier)]


def deactivate(state: CustomerState, customer_id: str, cmd: c.Deactivate) -> list[DomainEvent]:
    """Deactivate: only an active customer."""
    _existing(state, customer_id)
    if state.status is Status.INACTIVE:
        raise RuleBroken("customer-inactive", "the customer is already inactive")
    return [e.CustomerDeactivated(customer_id=customer_id, reason=cmd.reason)]


def reactivate(state: CustomerState, customer_id: str, cmd: c.Reactivate) -> list[DomainEvent]:
    """Reactivate: only an inactive customer."""
    _existing(state, customer_id)
    if state.status is Status.ACTIVE:
        raise RuleBroken("customer-active", "the customer is already active")
    return [e.CustomerReactivated(customer_id=customer_id)]


def forget(state: CustomerState, customer_id: str, cmd: c.Forget) -> list[DomainEvent]:
    """Forget: any existing customer, once (forgetting again changes nothing)."""
    if state.status is Status.NEW:
        raise NotFound(KIND, customer_id)
    if state.forgotten:
        return []
    return [e.CustomerForgotten(customer_id=customer_id)]


DECIDER: Decider[CustomerState] = Decider(
    kind=KIND,
    initial=CustomerState,
    evolve=evolve,
    deciders={
        c.RegisterCustomer: register,
        c.ChangeEmail: change_email,
        c.ChangeAddress: change_address,
        c.ChangeTier: change_tier,
        c.Deactivate: deactivate,
        c.Reactivate: reactivate,
        c.Forget: forget,
    },
)


def decide(state: CustomerState, customer_id: str, command: c.Command) -> list[DomainEvent]:
    """The events a command produces on a state, or a DomainError (pure)."""
    return DECIDER.decide(state, customer_id, command)


class Customer(DeciderAggregate[CustomerState]):
    """The customer aggregate, stored in stream `customer-<id>`."""

    stream_type: ClassVar[str] = KIND
    decider: ClassVar[Decider[Any]] = DECIDER
