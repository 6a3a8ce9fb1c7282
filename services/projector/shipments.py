"""shipments: one row per shipment (its order, status, carrier, tracking number, timestamps).

A shipment's row is written by its own stream's events only (one worker), so a handler reads
its row and puts it back. The query API answers GET /shipments/{id} and shows an order's
tracking number from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import sqlalchemy as sa

from annals.projections import Event, Projection, Rows
from annals.projections.tables import Key

metadata = sa.MetaData()
SHIPMENTS = sa.Table(
    "shipments",
    metadata,
    sa.Column("shipment_id", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("carrier", sa.Text),
    sa.Column("tracking_number", sa.Text),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("dispatched_at", sa.DateTime(timezone=True)),
    sa.Column("delivered_at", sa.DateTime(timezone=True)),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index("shipments_order_idx", "order_id"),
)
T = "shipments"


def _key(event: Event) -> Key:
    return (str(event.data["shipment_id"]),)


def keys(event: Event) -> Iterable[tuple[str, Key]]:
    """A shipment event reads its shipment's row."""
    return ((T, _key(event)),)


def opened(rows: Rows, event: Event) -> None:
    """ShipmentOpened: the row, open."""
    rows.put(T, {
        "shipment_id": event.data["shipment_id"], "order_id": event.data["order_id"],
        "status": "open", "carrier": None, "tracking_number": None, "opened_at": event.time,
        "dispatched_at": None, "delivered_at": None, "version": event.version or 0,
    })  # fmt: skip


def _update(change: Callable[[dict, Event], dict]) -> Callable[[Rows, Event], None]:
    def handle(rows: Rows, event: Event) -> None:
        row = rows.get(T, _key(event))
        if row is not None:
            rows.put(T, {**row, **change(row, event), "version": event.version or 0})

    return handle


def _dispatched(_: dict, event: Event) -> dict:
    data = event.data
    return {"status": "dispatched", "carrier": data["carrier"],
            "tracking_number": data["tracking_number"], "dispatched_at": event.time}  # fmt: skip


def _delivered(_: dict, event: Event) -> dict:
    return {"status": "delivered", "delivered_at": event.time}


PROJECTION = Projection(
    name="shipments",
    topics=("shipping.events",),
    tables=(SHIPMENTS,),
    handlers={
        "shipping.ShipmentOpened": opened,
        "shipping.ShipmentDispatched": _update(_dispatched),
        "shipping.ShipmentDelivered": _update(_delivered),
    },
    keys=keys,
    description="one row per shipment: order, status, carrier, tracking number, timestamps",
)
