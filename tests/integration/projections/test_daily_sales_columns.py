"""daily_sales' sums are bigint/numeric(30,2) in new versions; a version built with the old
int/numeric(20,2) columns keeps working with the new code (no migration of live data)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import asyncpg
import pytest
import sqlalchemy as sa
from projector.daily_sales import DAILY_SALES, PROJECTION

from annals.projections.tables import TableSql
from tests.integration.projections.rig import Rig

pytestmark = pytest.mark.stack
DAY = date(2026, 1, 2)


def old_definition() -> sa.Table:
    """daily_sales as versions before the widening created it."""
    columns = [
        sa.Column(c.name, sa.Integer, nullable=False) if c.name in ("orders", "units")
        else sa.Column(c.name, sa.Numeric(20, 2), nullable=False) if c.name == "revenue"
        else sa.Column(c.name, c.type, primary_key=c.primary_key)
        for c in DAILY_SALES.columns
    ]  # fmt: skip
    return sa.Table("daily_sales", sa.MetaData(), *columns)


async def add(conn: asyncpg.Connection, sql: TableSql, units: int, revenue: str) -> None:
    statement = sql.merge_sql([], ["orders", "units", "revenue"], [])
    await conn.execute(statement, [DAY], ["tools"], ["EUR"], [1], [units], [Decimal(revenue)])


async def test_old_versions_keep_working_and_new_ones_hold_large_sums(rig: Rig) -> None:
    conn = await asyncpg.connect(rig.owner_dsn("readmodels"))
    try:
        for schema in ("ds_old", "ds_new"):
            await conn.execute(f"CREATE SCHEMA {schema}")
        for statement in TableSql(old_definition(), "ds_old").ddl():
            await conn.execute(statement)
        new = PROJECTION.table_sql("ds_new")["daily_sales"]
        for statement in new.ddl():
            await conn.execute(statement)
        old_with_new_code = TableSql(DAILY_SALES, "ds_old")
        await add(conn, old_with_new_code, 3, "30.00")
        await add(conn, old_with_new_code, 4, "40.00")
        row = await conn.fetchrow("SELECT orders, units, revenue FROM ds_old.daily_sales")
        assert tuple(row) == (2, 7, Decimal("70.00"))

        for _ in range(3):  # 3 x 10^9 units: over an int column, within bigint
            await add(conn, new, 1_000_000_000, "999999999999999999.99")
        row = await conn.fetchrow("SELECT orders, units, revenue FROM ds_new.daily_sales")
        assert tuple(row) == (3, 3_000_000_000, Decimal("2999999999999999999.97"))
        kinds = await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'ds_new' AND column_name IN ('orders', 'units') ORDER BY 1"
        )
        assert [tuple(k) for k in kinds] == [("orders", "bigint"), ("units", "bigint")]
    finally:
        await conn.close()
