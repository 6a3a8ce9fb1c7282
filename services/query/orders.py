"""GET /orders/{id}, /orders?customer=&status= (keyset pages), /customers/{id}/orders."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from annals.eventstore.identifiers import ID_PATTERN
from annals.web.auth import Principal, require
from annals.web.masking import mask
from annals.web.problems import FieldError, Problem, problem_docs
from query.http import answer, consistent, consistent_row, decode_cursor, encode_cursor, not_found

router = APIRouter(tags=["orders"])
ID = ID_PATTERN
_ID = re.compile(ID)
ORDER_COLUMNS = (
    "o.order_id, o.customer_id, o.status, o.currency, o.line_count, o.item_count, o.subtotal, "
    "o.discount, o.total, o.lines, o.cancel_reason, o.placed_at, o.confirmed_at, "
    "o.cancelled_at, o.shipped_at, o.delivered_at, o.updated_at, o.version, t.carrier, "
    "t.tracking_number"
)
# order_summary's two tables: the order's row and its shipment's carrier and tracking number.
ORDERS_FROM = '"{schema}".order_summary o LEFT JOIN "{schema}".order_tracking t USING (order_id)'
STATUSES = ("open", "confirmed", "cancelled", "shipped", "delivered")
Wait = Annotated[
    float | None,
    Query(ge=0, le=300, description="seconds to wait for the consistency token (default 5)"),
]
Consistency = Annotated[
    str | None,
    Query(description="consistency token(s) `<stream id>@<version>`, like X-Consistency-Token"),
]
Limit = Annotated[int | None, Query(ge=1, le=10_000)]
Cursor = Annotated[str | None, Query(description="the `next` link's cursor, as handed out")]
MAX_CURSOR = 512
DOCS = problem_docs(400, 401, 403, 404)


def _bad_cursor(reason: str) -> Problem:
    return Problem(
        400,
        "Malformed cursor",
        f"the cursor is not one this API handed out ({reason}); follow the `next` link as is",
        slug="malformed-cursor",
        errors=[FieldError(field="query.cursor", message=reason, type="malformed-cursor")],
    )


def page_cursor(cursor: str) -> tuple[datetime, str]:
    """The (placed_at, order_id) a page cursor resumes after; 400 when it is not ours."""
    if len(cursor) > MAX_CURSOR:
        raise _bad_cursor(f"longer than {MAX_CURSOR} characters")
    try:
        placed, last_id = decode_cursor(cursor, 2)
    except Problem:
        raise _bad_cursor("not base64 JSON of two values") from None
    if not isinstance(placed, str) or not isinstance(last_id, str) or not _ID.match(last_id):
        raise _bad_cursor("not a time and an order id")
    try:
        at = datetime.fromisoformat(placed)
        if at.tzinfo is None:
            raise ValueError("no time zone")
        return at.astimezone(UTC), last_id
    except (ValueError, OverflowError):
        raise _bad_cursor("not a time and an order id") from None


def order_view(row: Any) -> dict[str, Any]:
    """The JSON of an order_summary row (with its carrier and tracking number, null until the
    shipment is dispatched)."""
    out = dict(row)
    lines = json.loads(out["lines"]) if isinstance(out["lines"], str) else out["lines"]
    out["lines"] = [
        {**x, "line_total": str(Decimal(x["unit_price"]) * x["quantity"])} for x in lines
    ]
    return out


@router.get("/orders/{order_id}", responses=DOCS, summary="One order from order_summary")
async def get_order(
    request: Request,
    order_id: Annotated[str, Path(pattern=ID)],
    wait: Wait = None,
    consistency: Consistency = None,
    who: Principal = Depends(require("read")),
) -> Response:
    """The order's summary; with a consistency token, waits until it is applied."""
    schema = request.app.state.settings.view_schema
    sql = f"SELECT {ORDER_COLUMNS} FROM {ORDERS_FROM.format(schema=schema)} WHERE o.order_id = $1"
    outcome, row = await consistent_row(request, "order_summary", wait, sql, order_id)
    if row is None:
        raise not_found("order", order_id, outcome)
    return await answer(request, order_view(row), ["order_summary"], outcome)


async def order_page(
    request: Request,
    *,
    customer: str | None,
    status: str | None,
    limit: int | None,
    cursor: str | None,
) -> dict[str, Any]:
    """A keyset page of orders, newest first, and the link to the next page."""
    settings = request.app.state.settings
    size = min(limit or settings.page_size, settings.max_page_size)
    where: list[str] = []
    args: list[Any] = []
    for column, value in (("customer_id", customer), ("status", status)):
        if value is not None:
            args.append(value)
            where.append(f"o.{column} = ${len(args)}")
    if cursor is not None:
        args += page_cursor(cursor)
        where.append(f"(o.placed_at, o.order_id) < (${len(args) - 1}, ${len(args)})")
    args.append(size + 1)
    sql = (
        f"SELECT {ORDER_COLUMNS} FROM {ORDERS_FROM.format(schema=settings.view_schema)} "
        + (f"WHERE {' AND '.join(where)} " if where else "")
        + f"ORDER BY o.placed_at DESC, o.order_id DESC LIMIT ${len(args)}"
    )
    rows = await request.app.state.pool.fetch(sql, *args)
    items = [order_view(r) for r in rows[:size]]
    following = None
    if len(rows) > size:
        last = rows[size - 1]
        params = {k: v for k, v in (("customer", customer), ("status", status)) if v}
        params.update(limit=str(size), cursor=encode_cursor([last["placed_at"], last["order_id"]]))
        following = f"{request.url.path}?{urlencode(params)}"
    return {"items": items, "next": following}


@router.get("/orders", responses=DOCS, summary="Orders by customer and status, newest first")
async def list_orders(
    request: Request,
    customer: Annotated[str | None, Query(pattern=ID)] = None,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
    limit: Limit = None,
    cursor: Cursor = None,
    wait: Wait = None,
    consistency: Consistency = None,
    who: Principal = Depends(require("read")),
) -> Response:
    """A page of orders (keyset pagination: follow `next`)."""
    outcome = await consistent(request, ["order_summary"], wait)
    page = await order_page(request, customer=customer, status=status, limit=limit, cursor=cursor)
    return await answer(request, page, ["order_summary"], outcome)


@router.get(
    "/customers/{customer_id}/orders",
    responses=DOCS,
    summary="A customer (personal data masked without read:pii) with their orders",
)
async def customer_orders(
    request: Request,
    customer_id: Annotated[str, Path(pattern=ID)],
    limit: Limit = None,
    cursor: Cursor = None,
    wait: Wait = None,
    consistency: Consistency = None,
    who: Principal = Depends(require("read")),
) -> Response:
    """The customer's summary (orders, spend per currency) and a page of their orders."""
    projections = ["customer_orders", "order_summary"]
    outcome = await consistent(request, projections, wait)
    schema = request.app.state.settings.view_schema
    pool = request.app.state.pool
    row = await pool.fetchrow(
        f'SELECT * FROM "{schema}".customer_orders WHERE customer_id = $1', customer_id
    )
    if row is None:
        raise not_found("customer", customer_id, outcome)
    spend = await pool.fetch(
        f'SELECT currency, confirmed_orders, total_spent FROM "{schema}".customer_spend '
        "WHERE customer_id = $1 ORDER BY currency",
        customer_id,
    )
    customer = dict(row)
    for field in ("name", "email", "phone", "address"):
        customer[field] = mask(customer[field], who)
    if isinstance(customer["address"], str) and customer["address"] != "***":
        customer["address"] = json.loads(customer["address"])
    customer["total_spent"] = {r["currency"]: r["total_spent"] for r in spend}
    customer["confirmed_orders"] = sum(r["confirmed_orders"] for r in spend)
    page = await order_page(request, customer=customer_id, status=None, limit=limit, cursor=cursor)
    return await answer(request, {"customer": customer, "orders": page}, projections, outcome)
