"""Order commands over HTTP: each route turns a request into one command."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from annals.web.auth import Principal, require
from annals.web.commands import run_command
from annals.web.routes import ID_PATTERN, WRITE_HEADERS, command_route, write_docs
from orders.domain import commands as c
from orders.domain.events import Quantity
from orders.entrypoints.views import OrderView

SCOPE = "orders:write"
router = APIRouter(prefix="/orders", tags=["orders"])
OrderId = Annotated[str, Path(pattern=ID_PATTERN)]
Sku = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]

for method, path, command, has_body, status in (
    ("POST", "", c.PlaceOrder, True, 201),
    ("POST", "/{order_id}/items", c.AddItem, True, 200),
    ("PUT", "/{order_id}/discount", c.ApplyDiscount, True, 200),
    ("POST", "/{order_id}/confirm", c.Confirm, False, 200),
    ("POST", "/{order_id}/cancel", c.Cancel, True, 200),
    ("POST", "/{order_id}/ship", c.MarkShipped, False, 200),
    ("POST", "/{order_id}/deliver", c.MarkDelivered, False, 200),
):
    command_route(
        router,
        method,
        path,
        command,
        scope=SCOPE,
        id_name="order_id",
        body=has_body,
        status=status,
        view=OrderView,
    )


class NewQuantity(BaseModel):
    """The new quantity of a line."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"quantity": 3}]})

    quantity: Quantity


@router.delete(
    "/{order_id}/items/{sku}",
    response_model=OrderView,
    responses=write_docs(200),
    openapi_extra=WRITE_HEADERS,
    operation_id="remove_item",
)
async def remove_item(
    request: Request, order_id: OrderId, sku: Sku, who: Principal = Depends(require(SCOPE))
) -> Response:
    """RemoveItem: remove a line from an open order."""
    command = c.RemoveItem(sku=sku)
    return await run_command(request, request.app.state.api, who, order_id, command)


@router.patch(
    "/{order_id}/items/{sku}",
    response_model=OrderView,
    responses=write_docs(200),
    openapi_extra=WRITE_HEADERS,
    operation_id="change_quantity",
)
async def change_quantity(
    request: Request,
    order_id: OrderId,
    sku: Sku,
    body: NewQuantity,
    who: Principal = Depends(require(SCOPE)),
) -> Response:
    """ChangeQuantity: set the quantity of a line of an open order."""
    command = c.ChangeQuantity(sku=sku, quantity=body.quantity)
    return await run_command(request, request.app.state.api, who, order_id, command)
