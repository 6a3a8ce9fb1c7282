"""Shipment commands over HTTP: one route a command, each building its command."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from annals.eventstore.identifiers import ID_PATTERN
from annals.web.auth import Principal, require
from annals.web.commands import CommandApi, command_api, run_command
from annals.web.routes import command_route
from shipping.domain import commands as c
from shipping.domain.aggregate import ShipmentState
from shipping.entrypoints.views import ShipmentView

SCOPE = "shipping:write"
PREFIX = "/shipments"
router = APIRouter(prefix=PREFIX, tags=["shipments"])
Ident = Annotated[str, Path(pattern=ID_PATTERN)]
Api = Annotated[CommandApi[ShipmentState], Depends(command_api)]
Writer = Annotated[Principal, Depends(require(SCOPE))]


@command_route(router, "POST", "", c.OpenShipment, view=ShipmentView, status=201)
async def open_shipment(
    request: Request, command: c.OpenShipment, api: Api, who: Writer
) -> Response:
    """Open the shipment of an order by hand (the reactor does it on OrderConfirmed)."""
    return await run_command(request, api, who, command.order_id, command, status=201)


@command_route(router, "POST", "/{shipment_id}/dispatch", c.DispatchShipment, view=ShipmentView)
async def dispatch_shipment(
    request: Request, shipment_id: Ident, command: c.DispatchShipment, api: Api, who: Writer
) -> Response:
    """Hand the shipment to a carrier."""
    return await run_command(request, api, who, shipment_id, command)


@command_route(router, "POST", "/{shipment_id}/deliver", c.ConfirmDelivery, view=ShipmentView)
async def confirm_delivery(request: Request, shipment_id: Ident, api: Api, who: Writer) -> Response:
    """Record the delivery."""
    return await run_command(request, api, who, shipment_id, c.ConfirmDelivery())
