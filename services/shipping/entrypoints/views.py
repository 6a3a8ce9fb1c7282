"""The JSON view of a shipment (what GET and every command answer)."""

from __future__ import annotations

from pydantic import BaseModel

from annals.web.auth import Principal
from shipping.domain.aggregate import ShipmentState, Status


class ShipmentView(BaseModel):
    """A shipment rebuilt from its events."""

    shipment_id: str
    version: int
    order_id: str
    status: Status
    carrier: str | None
    tracking_number: str | None


def render(ident: str, state: ShipmentState, version: int, _: Principal) -> ShipmentView:
    """The view of a state."""
    return ShipmentView(
        shipment_id=ident,
        version=version,
        order_id=state.order_id,
        status=state.status,
        carrier=state.carrier,
        tracking_number=state.tracking_number,
    )
