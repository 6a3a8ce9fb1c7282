"""Time travel: the declared aggregate replayed up to a version, else the generic fold."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from customers.domain.events import Address, CustomerRegistered
from orders.domain.events import ItemAdded, OrderConfirmed, OrderPlaced
from orders.domain.money import Money

from annals.console.masking import MASK
from annals.console.timetravel import FOLD, as_of, state_as_of
from annals.eventstore.codec import encrypt_value
from annals.eventstore.domain import DomainEvent
from annals.eventstore.ports import RecordedEvent
from annals.topology import Service
from annals.web.auth import Principal

EVENTS = [
    {
        "version": 1,
        "event_type": "OrderPlaced",
        "data": {"status": "placed", "lines": 2, "address": {"city": "Lyon"}},
    },
    {"version": 2, "event_type": "OrderConfirmed", "data": {"status": "confirmed"}},
    {"version": 3, "event_type": "AddressChanged", "data": {"address": {"zip": "69001"}}},
]


def test_state_as_of_each_version() -> None:
    assert as_of(EVENTS, 1)["state"]["status"] == "placed"
    two = as_of(EVENTS, 2)
    assert two["state"] == {"status": "confirmed", "lines": 2, "address": {"city": "Lyon"}}
    assert two["touched"]["status"] == "v2 OrderConfirmed" and two["last_event"] == "OrderConfirmed"
    assert as_of(EVENTS, 3)["state"]["address"] == {"city": "Lyon", "zip": "69001"}
    assert as_of(EVENTS, 0) == {"version": 0, "last_event": "", "state": {}, "touched": {}}


# The declared aggregate's own state (Service.aggregates), replayed through the decode path.

ORDERS = Service(
    name="orders", app="orders.entrypoints.app:create_app",
    settings="orders.settings:OrdersSettings", stream_types=("order",),
    events="orders.domain.events:ORDER_EVENTS", aggregates={"order": "orders.domain.order:Order"},
)  # fmt: skip
CUSTOMERS = Service(
    name="customers", app="customers.entrypoints.app:create_app",
    settings="customers.settings:CustomersSettings", stream_types=("customer",),
    events="customers.domain.events:CUSTOMER_EVENTS",
    aggregates={"customer": "customers.domain.customer:Customer"},
)  # fmt: skip
READER = Principal("ops", frozenset({"read:streams"}))
PII = Principal("ops", frozenset({"read:streams", "read:pii"}))
KEY = bytes(range(32))


class Keys:
    async def get_many(self, subjects: list[str]) -> dict[str, bytes]:
        return {s: KEY for s in subjects if s == "customer-c1"}


def _record(version: int, event: DomainEvent, stream: str, data: dict | None = None) -> Any:
    data_json = json.dumps(data) if data is not None else event.model_dump_json()
    return RecordedEvent(version, 1, stream, stream.split("-")[0], version, uuid.uuid4(),
                         event.event_type, event.schema_version, data_json, "{}",
                         datetime.now(UTC))  # fmt: skip


def _order() -> list[Any]:
    eur = Money(amount=Decimal("2.50"), currency="EUR")
    events = [OrderPlaced(order_id="o1", customer_id="c1", currency="EUR"),
              ItemAdded(order_id="o1", sku="SKU-1", quantity=2, unit_price=eur),
              OrderConfirmed(order_id="o1", total=eur.times(2))]  # fmt: skip
    return [_record(n, event, "order-o1") for n, event in enumerate(events, 1)]


def _state(records: list[Any], version: int, services: tuple[Service, ...], who=READER) -> dict:
    return asyncio.run(state_as_of(records, version, records[0].stream_type, who, Keys(),
                                   services))  # fmt: skip


def test_the_declared_aggregate_is_replayed_to_the_version() -> None:
    first = _state(_order(), 1, (ORDERS,))
    assert first["source"] == "aggregate orders.domain.order:Order" and first["note"] == ""
    assert first["state"] == {"order_id": "o1", "status": "open", "customer_id": "c1",
                              "currency": "EUR", "lines": [], "discount": None,
                              "cancel_reason": None}  # fmt: skip
    last = _state(_order(), 3, (ORDERS,))
    assert last["version"] == 3 and last["last_event"] == "OrderConfirmed"
    assert last["state"]["status"] == "confirmed"
    assert last["state"]["lines"] == [
        {"sku": "SKU-1", "quantity": 2, "unit_price": {"amount": "2.50", "currency": "EUR"}}
    ]


def test_without_a_declared_aggregate_the_fold_is_shown_and_labelled() -> None:
    undeclared = ORDERS.model_copy(update={"aggregates": {}})
    state = _state(_order(), 3, (undeclared,))
    assert state["source"] == FOLD and state["note"] == ""
    assert state["state"]["total"] == {"amount": "5.00", "currency": "EUR"}
    assert state["touched"]["sku"] == "v2 ItemAdded"


def test_a_broken_reference_falls_back_with_a_clear_message() -> None:
    broken = ORDERS.model_copy(update={"aggregates": {"order": "orders.domain.nowhere:Order"}})
    state = _state(_order(), 2, (broken,))
    assert state["source"] == "generic fold" and state["state"]["sku"] == "SKU-1"
    assert "aggregate 'orders.domain.nowhere:Order' does not import" in state["note"]
    assert "ModuleNotFoundError" in state["note"]


def test_an_aggregate_that_cannot_replay_the_stream_falls_back() -> None:
    records = _order()
    records[1] = _record(2, OrderConfirmed(order_id="o1", total=Money(amount=Decimal(1),
                         currency="EUR")), "order-o1", {"order_id": "o1"})  # fmt: skip
    state = _state(records, 3, (ORDERS,))
    assert state["source"] == "generic fold"
    assert "does not replay this stream" in state["note"] and "OrderConfirmed" in state["note"]


def _customer() -> list[Any]:
    address = Address(line1="1 Rue", city="Lyon", postal_code="69001", country="FR")
    event = CustomerRegistered(customer_id="c1", name="Ada", email="ada@example.org",
                               address=address)  # fmt: skip
    data = json.loads(event.model_dump_json())
    for field in ("name", "email", "address"):
        data[field] = encrypt_value(KEY, "customer-c1", uuid.uuid4(), field, data[field])
    return [_record(1, event, "customer-c1", data)]


def test_personal_fields_stay_masked_without_read_pii() -> None:
    masked = _state(_customer(), 1, (CUSTOMERS,))
    assert masked["source"] == "aggregate customers.domain.customer:Customer"
    assert (masked["state"]["name"], masked["state"]["email"]) == (MASK, MASK)
    assert masked["state"]["address"] is None  # "***" is no address: its forgotten marker
    shown = _state(_customer(), 1, (CUSTOMERS,), PII)
    assert (shown["state"]["name"], shown["state"]["email"]) == ("Ada", "ada@example.org")
    assert shown["state"]["address"]["city"] == "Lyon"
