"""Customer commands over HTTP: each route turns a request into one command."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import Response

from annals.web.auth import Principal, require
from annals.web.commands import run_command
from annals.web.routes import ID_PATTERN, WRITE_HEADERS, command_route, write_docs
from customers.domain import commands as c
from customers.entrypoints.views import CustomerView

SCOPE = "customers:write"
router = APIRouter(prefix="/customers", tags=["customers"])
CustomerId = Annotated[str, Path(pattern=ID_PATTERN)]

for method, path, command, has_body, status, scope in (
    ("POST", "", c.RegisterCustomer, True, 201, SCOPE),
    ("PUT", "/{customer_id}/email", c.ChangeEmail, True, 200, SCOPE),
    ("PUT", "/{customer_id}/address", c.ChangeAddress, True, 200, SCOPE),
    ("PUT", "/{customer_id}/tier", c.ChangeTier, True, 200, SCOPE),
    ("POST", "/{customer_id}/reactivate", c.Reactivate, False, 200, SCOPE),
    ("POST", "/{customer_id}/forget", c.Forget, False, 200, "admin"),
):
    command_route(
        router,
        method,
        path,
        command,
        scope=scope,
        id_name="customer_id",
        body=has_body,
        status=status,
        view=CustomerView,
    )


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
    command: Annotated[c.Deactivate | None, Body()] = None,
    who: Principal = Depends(require(SCOPE)),
) -> Response:
    """Deactivate: the customer's email becomes free for others (the body is optional)."""
    command = command or c.Deactivate()
    return await run_command(request, request.app.state.api, who, customer_id, command)
