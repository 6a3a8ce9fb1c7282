"""The Shipment aggregate: its state, `evolve` (state + event) and one decide per command."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from annals.commands.decider import Decider, DeciderAggregate
from annals.commands.errors import AlreadyExists, NotFound, RuleBroken
from annals.eventstore.domain import DomainEvent
from shipping.domain import commands as c
from shipping.domain import events as e

KIND = "shipment"


class Status(enum.StrEnum):
    """Where a shipment is."""

    NEW = "new"
    OPEN = "open"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"


@dataclass(frozen=True, slots=True)
class ShipmentState:
    """What the decisions need to know about a shipment."""

    shipment_id: str = ""
    order_id: str = ""
    status: Status = Status.NEW
    carrier: str | None = None
    tracking_number: str | None = None


def evolve(state: ShipmentState, event: DomainEvent) -> ShipmentState:
    """The state after one event (pure)."""
    match event:
        case e.ShipmentOpened():
            return ShipmentState(event.shipment_id, event.order_id, Status.OPEN)
        case e.ShipmentDispatched():
            return replace(
                state,
                status=Status.DISPATCHED,
                carrier=event.carrier,
                tracking_number=event.tracking_number,
            )
        case e.ShipmentDelivered():
            return replace(state, status=Status.DELIVERED)
    return state


def open_shipment(state: ShipmentState, ident: str, cmd: c.OpenShipment) -> list[DomainEvent]:
    """OpenShipment: once per order, under the order's id."""
    if state.status is not Status.NEW:
        raise AlreadyExists(KIND, ident)
    if cmd.order_id != ident:
        raise RuleBroken("shipment-id", "a shipment has its order's id", "order_id")
    return [e.ShipmentOpened(shipment_id=ident, order_id=cmd.order_id)]


def dispatch(state: ShipmentState, ident: str, cmd: c.DispatchShipment) -> list[DomainEvent]:
    """DispatchShipment: only an open shipment leaves."""
    _exists(state, ident)
    if state.status is not Status.OPEN:
        raise RuleBroken("shipment-not-open", f"the shipment is {state.status}")
    return [
        e.ShipmentDispatched(
            shipment_id=ident,
            order_id=state.order_id,
            carrier=cmd.carrier,
            tracking_number=cmd.tracking_number,
        )
    ]


def confirm_delivery(state: ShipmentState, ident: str, cmd: c.ConfirmDelivery) -> list[DomainEvent]:
    """ConfirmDelivery: only a dispatched shipment arrives."""
    _exists(state, ident)
    if state.status is not Status.DISPATCHED:
        raise RuleBroken("shipment-not-dispatched", f"the shipment is {state.status}")
    return [e.ShipmentDelivered(shipment_id=ident, order_id=state.order_id)]


def _exists(state: ShipmentState, ident: str) -> None:
    if state.status is Status.NEW:
        raise NotFound(KIND, ident)


DECIDER: Decider[ShipmentState] = Decider(
    kind=KIND,
    initial=ShipmentState,
    evolve=evolve,
    deciders={
        c.OpenShipment: open_shipment,
        c.DispatchShipment: dispatch,
        c.ConfirmDelivery: confirm_delivery,
    },
)


class Shipment(DeciderAggregate[ShipmentState]):
    """The aggregate, stored in stream `shipment-<id>`."""

    stream_type: ClassVar[str] = KIND
    decider: ClassVar[Decider[Any]] = DECIDER
