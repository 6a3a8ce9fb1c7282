"""GET /products/{sku}, /products/{sku}/price-history and /reports/daily-sales."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from annals.web.auth import Principal, require
from annals.web.problems import Problem, problem_docs
from query.http import answer, consistent, not_found
from query.orders import Consistency, Wait

router = APIRouter(tags=["products", "reports"])
SKU = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
DOCS = problem_docs(400, 401, 403, 404)
MAX_DAYS = 366


@router.get("/products/{sku}", responses=DOCS, summary="A product of the catalog (current)")
async def get_product(
    request: Request,
    sku: Annotated[str, Path(pattern=SKU)],
    who: Principal = Depends(require("read")),
) -> Response:
    """The product as the legacy ERP has it now (via CDC)."""
    schema = request.app.state.settings.view_schema
    row = await request.app.state.pool.fetchrow(
        f"SELECT sku, name, category, unit_price, active, price_since, updated_at "
        f'FROM "{schema}".product_catalog WHERE sku = $1 AND NOT deleted',
        sku,
    )
    if row is None:
        raise not_found("product", sku, None)
    return await answer(request, dict(row), ["products"])


@router.get(
    "/products/{sku}/price-history",
    responses=DOCS,
    summary="The product's price and category over time (SCD type 2)",
)
async def price_history(
    request: Request,
    sku: Annotated[str, Path(pattern=SKU)],
    who: Principal = Depends(require("read")),
) -> Response:
    """Every version of the product's price: effective_from, effective_to, is_current."""
    schema = request.app.state.settings.view_schema
    rows = await request.app.state.pool.fetch(
        "SELECT version, name, category, unit_price, effective_from, effective_to, is_current "
        f'FROM "{schema}".product_price_history WHERE sku = $1 ORDER BY version',
        sku,
    )
    if not rows:
        raise not_found("product", sku, None)
    return await answer(request, {"sku": sku, "versions": [dict(r) for r in rows]}, ["products"])


@router.get(
    "/reports/daily-sales",
    responses=DOCS,
    summary="Orders, units and revenue per day, category and currency",
)
async def daily_sales(
    request: Request,
    from_: Annotated[
        date | None, Query(alias="from", description="first day (default: 30 days ago)")
    ] = None,
    to: Annotated[date | None, Query(description="last day, inclusive (default: today)")] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    wait: Wait = None,
    consistency: Consistency = None,
    who: Principal = Depends(require("read")),
) -> Response:
    """The daily sales report of confirmed orders (cancellations taken back out)."""
    last = to or date.today()
    first = from_ or last - timedelta(days=30)
    if first > last:
        raise Problem(400, "Bad range", "`from` is after `to`", slug="bad-range")
    if (last - first).days > MAX_DAYS:
        raise Problem(400, "Bad range", f"at most {MAX_DAYS} days per report", slug="bad-range")
    outcome = await consistent(request, ["daily_sales"], wait)
    schema = request.app.state.settings.view_schema
    args: list[Any] = [first, last]
    sql = (
        f'SELECT day, category, currency, orders, units, revenue FROM "{schema}".daily_sales '
        "WHERE day BETWEEN $1 AND $2"
    )
    if category is not None:
        args.append(category)
        sql += " AND category = $3"
    rows = await request.app.state.pool.fetch(sql + " ORDER BY day, category, currency", *args)
    totals: dict[str, dict[str, Any]] = {}
    for r in rows:
        t = totals.setdefault(r["currency"], {"orders": 0, "units": 0, "revenue": 0})
        t["orders"] += r["orders"]
        t["units"] += r["units"]
        t["revenue"] += r["revenue"]
    body = {
        "from": first,
        "to": last,
        "category": category,
        "rows": [dict(r) for r in rows],
        "totals": totals,
    }
    return await answer(request, body, ["daily_sales"], outcome)
