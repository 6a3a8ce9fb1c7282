"""Customer commands over HTTP: one route a command, each building its command from the request."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import Response

from annals.web.auth import Principal, require
from annals.web.commands import CommandApi, command_api, run_command
from annals.web.routes import ID_PATTERN, WRITE_HEADERS, command_route, write_docs
from customers.domain import commands as c
from customers.domain.customer import CustomerState
from customers.entrypoints.views import CustomerView

SCOPE = "customers:write"
router = APIRouter(prefix="/customers", tags=["customers"])
CustomerId = Annotated[str, Path(pattern=ID_PATTERN)]
Api = Annotated[CommandApi[CustomerState], Depends(command_api)]
Writer = Annotated[Principal, Depends(require(SCOPE))]
Admin = Annotated[Principal, Depends(require("admin"))]


@command_route(router, "POST", "", c.RegisterCustomer, view=CustomerView, status=201)
async def register_customer(
    request: Request, command: c.RegisterCustomer, api: Api, who: Writer
) -> Response:
    """Register a customer under the id given in the body, or a new one."""
    customer_id = command.customer_id or uuid.uuid4().hex
    return await run_command(request, api, who, customer_id, command, status=201)


@command_route(router, "PUT", "/{customer_id}/email", c.ChangeEmail, view=CustomerView)
async def change_email(
    request: Request, customer_id: CustomerId, command: c.ChangeEmail, api: Api, who: Writer
) -> Response:
    """Change the email (it must be free among active customers)."""
    return await run_command(request, api, who, customer_id, command)


@command_route(router, "PUT", "/{customer_id}/address", c.ChangeAddress, view=CustomerView)
async def change_address(
    request: Request, customer_id: CustomerId, command: c.ChangeAddress, api: Api, who: Writer
) -> Response:
    """Change or clear the postal address."""
    return await run_command(request, api, who, customer_id, command)


@command_route(router, "PUT", "/{customer_id}/tier", c.ChangeTier, view=CustomerView)
async def change_tier(
    request: Request, customer_id: CustomerId, command: c.ChangeTier, api: Api, who: Writer
) -> Response:
    """Move the customer to another tier."""
    return await run_command(request, api, who, customer_id, command)


@router.post(
    "/{customer_id}/deactivate",
    response_model=CustomerView,
    responses=write_docs(200),
    openapi_extra=WRITE_HEADERS,
    operation_id="deactivate",
)
async def deactivate(
    request: Request,
    customer_id: CustomerId,
    api: Api,
    who: Writer,
    command: Annotated[c.Deactivate | None, Body()] = None,
) -> Response:
    """Deactivate: the customer's email becomes free for others (the body is optional)."""
    return await run_command(request, api, who, customer_id, command or c.Deactivate())


@command_route(router, "POST", "/{customer_id}/reactivate", c.Reactivate, view=CustomerView)
async def reactivate(request: Request, customer_id: CustomerId, api: Api, who: Writer) -> Response:
    """Reactivate a deactivated customer."""
    return await run_command(request, api, who, customer_id, c.Reactivate())


@command_route(router, "POST", "/{customer_id}/forget", c.Forget, view=CustomerView)
async def forget(request: Request, customer_id: CustomerId, api: Api, who: Admin) -> Response:
    """Forget the customer (admin only): their personal data becomes unreadable for good."""
    return await run_command(request, api, who, customer_id, c.Forget())
