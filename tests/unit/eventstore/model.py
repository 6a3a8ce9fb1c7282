"""A small order domain used by the event store tests (events, upcasters, aggregate)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from annals.eventstore import Aggregate, DomainEvent, EventRegistry, Personal


class OrderPlaced(DomainEvent):
    """v3: customer id and currency (v1 had `customer`, v2 added `currency`)."""

    schema_version = 3
    customer_id: str
    currency: str


class ItemAdded(DomainEvent):
    """An item line was added."""

    sku: str
    quantity: int


class OrderConfirmed(DomainEvent):
    """The order was confirmed."""


class CustomerRegistered(DomainEvent):
    """Personal data: email and name are encrypted per customer."""

    subject_field = "customer_id"
    customer_id: str
    email: Annotated[str, Personal()]
    name: Annotated[str | None, Personal(redacted=None)] = None
    country: str = "NL"


registry = EventRegistry([OrderPlaced, ItemAdded, OrderConfirmed, CustomerRegistered])


@registry.upcaster("OrderPlaced", 1)
def _placed_v1(data: dict) -> dict:
    return {"customer_id": data["customer"]}


@registry.upcaster("OrderPlaced", 2)
def _placed_v2(data: dict) -> dict:
    return {**data, "currency": data.get("currency", "EUR")}


class OrderState(BaseModel):
    """State of an order."""

    placed: bool = False
    customer_id: str | None = None
    items: dict[str, int] = {}
    confirmed: bool = False
    changes: int = 0


class Order(Aggregate[OrderState]):
    """Order aggregate with snapshots every 5 events."""

    stream_type = "order"
    snapshot_every = 5
    state_type = OrderState

    @classmethod
    def initial_state(cls) -> OrderState:
        return OrderState()

    @classmethod
    def evolve(cls, state: OrderState, event: DomainEvent) -> OrderState:
        n = state.changes + 1
        match event:
            case OrderPlaced(customer_id=c):
                return state.model_copy(update={"placed": True, "customer_id": c, "changes": n})
            case ItemAdded(sku=sku, quantity=q):
                items = {**state.items, sku: state.items.get(sku, 0) + q}
                return state.model_copy(update={"items": items, "changes": n})
            case OrderConfirmed():
                return state.model_copy(update={"confirmed": True, "changes": n})
        return state


def add_item(sku: str, quantity: int):
    """Decide: add an item unless confirmed."""

    def decide(state: OrderState) -> list[DomainEvent]:
        if state.confirmed:
            raise ValueError("order is confirmed")
        return [ItemAdded(sku=sku, quantity=quantity)]

    return decide
