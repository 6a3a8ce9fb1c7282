"""customer_status: the order service's replica of each customer's status (orders database).

PlaceOrder reads it (view `customer_directory.customer_status`) to refuse unknown and
deactivated customers; it is fed by `customers.events` like any read model.
"""

from __future__ import annotations

import sqlalchemy as sa

from annals.projections import Event, Projection, Rows
from projector.common import customer_key

metadata = sa.MetaData()
CUSTOMER_STATUS = sa.Table(
    "customer_status",
    metadata,
    sa.Column("customer_id", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)
T = "customer_status"
VIEW_SCHEMA = "customer_directory"


def _status(status: str | None) -> object:
    def handler(rows: Rows, event: Event) -> None:
        rows.put(T, {"customer_id": customer_key(event.data)[0], "status": status,
                     "updated_at": event.time, "version": event.version})  # fmt: skip

    handler.__doc__ = f"The customer is {status}."
    return handler


PROJECTION = Projection(
    name="customer_status",
    topics=("customers.events",),
    tables=(CUSTOMER_STATUS,),
    handlers={
        "customers.CustomerRegistered": _status("active"),  # type: ignore[dict-item]
        "customers.CustomerDeactivated": _status("deactivated"),  # type: ignore[dict-item]
        "customers.CustomerReactivated": _status("active"),  # type: ignore[dict-item]
        "customers.CustomerForgotten": _status("forgotten"),  # type: ignore[dict-item]
    },
    database="orders",
    view_schema=VIEW_SCHEMA,
    description="replica of customer status in the orders database (PlaceOrder checks it)",
)
