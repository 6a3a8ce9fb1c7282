"""Shipments from the `shipments` read model: by shipment, and the shipment of an order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from annals.eventstore.identifiers import ID_PATTERN
from annals.web.auth import Principal, require
from annals.web.problems import problem_docs
from query.http import answer, consistent_row, not_found

router = APIRouter(tags=["shipments"])
COLUMNS = (
    "shipment_id, order_id, status, carrier, tracking_number, opened_at, dispatched_at, "
    "delivered_at, version"
)
DOCS = problem_docs(400, 401, 403, 404)
Ident = Annotated[str, Path(pattern=ID_PATTERN)]
Wait = Annotated[float | None, Query(ge=0, le=300, description="seconds to wait for a token")]


async def _one(request: Request, column: str, ident: str, wait: float | None) -> Response:
    schema = request.app.state.settings.view_schema
    sql = f'SELECT {COLUMNS} FROM "{schema}".shipments WHERE {column} = $1'
    outcome, row = await consistent_row(request, "shipments", wait, sql, ident)
    if row is None:
        raise not_found("shipment", ident, outcome)
    return await answer(request, dict(row), ["shipments"], outcome)


@router.get("/shipments/{shipment_id}", responses=DOCS, summary="A shipment")
async def get_shipment(
    request: Request,
    shipment_id: Ident,
    wait: Wait = None,
    who: Principal = Depends(require("read")),
) -> Response:
    """The shipment: its order, status, carrier and tracking number."""
    return await _one(request, "shipment_id", shipment_id, wait)


@router.get("/orders/{order_id}/shipment", responses=DOCS, summary="The shipment of an order")
async def get_order_shipment(
    request: Request,
    order_id: Ident,
    wait: Wait = None,
    who: Principal = Depends(require("read")),
) -> Response:
    """The order's shipment, with its tracking number once dispatched."""
    return await _one(request, "order_id", order_id, wait)
