"""Order commands over HTTP: one route a command, each building its command from the request."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from annals.web.auth import Principal, require
from annals.web.commands import CommandApi, command_api, run_command
from annals.web.routes import ID_PATTERN, WRITE_HEADERS, command_route, write_docs
from orders.domain import commands as c
from orders.domain.events import SKU_PATTERN, Quantity
from orders.domain.order import OrderState
from orders.entrypoints.views import OrderView

SCOPE = "orders:write"
router = APIRouter(prefix="/orders", tags=["orders"])
OrderId = Annotated[str, Path(pattern=ID_PATTERN)]
Sku = Annotated[str, Path(pattern=SKU_PATTERN)]
Api = Annotated[CommandApi[OrderState], Depends(command_api)]
Writer = Annotated[Principal, Depends(require(SCOPE))]


class NewQuantity(BaseModel):
    """The new quantity of a line."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"quantity": 3}]})

    quantity: Quantity


@command_route(router, "POST", "", c.PlaceOrder, view=OrderView, status=201)
async def place_order(request: Request, command: c.PlaceOrder, api: Api, who: Writer) -> Response:
    """Open an order under the id given in the body, or a new one."""
    order_id = command.order_id or uuid.uuid4().hex
    return await run_command(request, api, who, order_id, command, status=201)


@command_route(router, "POST", "/{order_id}/items", c.AddItem, view=OrderView)
async def add_item(
    request: Request, order_id: OrderId, command: c.AddItem, api: Api, who: Writer
) -> Response:
    """Add a line."""
    return await run_command(request, api, who, order_id, command)


@router.delete(
    "/{order_id}/items/{sku}",
    response_model=OrderView,
    responses=write_docs(200),
    openapi_extra=WRITE_HEADERS,
    operation_id="remove_item",
)
async def remove_item(
    request: Request, order_id: OrderId, sku: Sku, api: Api, who: Writer
) -> Response:
    """RemoveItem: remove a line from an open order."""
    return await run_command(request, api, who, order_id, c.RemoveItem(sku=sku))


@router.patch(
    "/{order_id}/items/{sku}",
    response_model=OrderView,
    responses=write_docs(200),
    openapi_extra=WRITE_HEADERS,
    operation_id="change_quantity",
)
async def change_quantity(
    request: Request, order_id: OrderId, sku: Sku, body: NewQuantity, api: Api, who: Writer
) -> Response:
    """ChangeQuantity: set the quantity of a line of an open order."""
    command = c.ChangeQuantity(sku=sku, quantity=body.quantity)
    return await run_command(request, api, who, order_id, command)


@command_route(router, "PUT", "/{order_id}/discount", c.ApplyDiscount, view=OrderView)
async def apply_discount(
    request: Request, order_id: OrderId, command: c.ApplyDiscount, api: Api, who: Writer
) -> Response:
    """Set the discount."""
    return await run_command(request, api, who, order_id, command)


@command_route(router, "POST", "/{order_id}/confirm", c.Confirm, view=OrderView)
async def confirm(request: Request, order_id: OrderId, api: Api, who: Writer) -> Response:
    """Confirm the order."""
    return await run_command(request, api, who, order_id, c.Confirm())


@command_route(router, "POST", "/{order_id}/cancel", c.Cancel, view=OrderView)
async def cancel(
    request: Request, order_id: OrderId, command: c.Cancel, api: Api, who: Writer
) -> Response:
    """Cancel the order."""
    return await run_command(request, api, who, order_id, command)


@command_route(router, "POST", "/{order_id}/ship", c.MarkShipped, view=OrderView)
async def mark_shipped(request: Request, order_id: OrderId, api: Api, who: Writer) -> Response:
    """Record the shipment."""
    return await run_command(request, api, who, order_id, c.MarkShipped())


@command_route(router, "POST", "/{order_id}/deliver", c.MarkDelivered, view=OrderView)
async def mark_delivered(request: Request, order_id: OrderId, api: Api, who: Writer) -> Response:
    """Record the delivery."""
    return await run_command(request, api, who, order_id, c.MarkDelivered())
