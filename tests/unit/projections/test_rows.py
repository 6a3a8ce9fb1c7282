"""Rows staged by handlers: reads, writes, merges and per-event undo; the SQL of tables."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from annals.projections.projection import NotLoaded, Rows
from annals.projections.tables import TableSql

md = sa.MetaData()
ITEMS = sa.Table(
    "items", md, sa.Column("id", sa.Text, primary_key=True), sa.Column("n", sa.Integer),
    sa.Column("doc", sa.dialects.postgresql.JSONB),
)  # fmt: skip
TOTALS = sa.Table(
    "totals", md, sa.Column("day", sa.Date, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True), sa.Column("count", sa.Integer),
    sa.Column("last", sa.DateTime(timezone=True)),
)  # fmt: skip


def rows() -> Rows:
    staged = Rows({t.name: TableSql(t, "s_v1") for t in (ITEMS, TOTALS)})
    staged.loaded["items"][("a",)] = {"id": "a", "n": 1, "doc": None}
    staged.loaded["items"][("gone",)] = None
    return staged


def test_get_returns_copies_of_loaded_and_staged_rows() -> None:
    r = rows()
    row = r.get("items", ("a",))
    assert row == {"id": "a", "n": 1, "doc": None}
    row["n"] = 99
    assert r.get("items", ("a",))["n"] == 1  # type: ignore[index]
    assert r.get("items", ("gone",)) is None
    r.put("items", {"id": "b", "n": 2, "doc": {"x": 1}})
    assert r.get("items", ("b",))["doc"] == {"x": 1}  # type: ignore[index]
    with pytest.raises(NotLoaded):
        r.get("items", ("never-named",))


def test_merges_add_up_and_keep_the_greatest() -> None:
    r = rows()
    r.merge("totals", ("d", "k"), adds={"count": 1}, maxes={"last": 5})
    r.merge("totals", ("d", "k"), adds={"count": 2}, maxes={"last": 3})
    merged = r.merges["totals"][("d", "k")]
    assert merged.adds == {"count": 3} and merged.maxes == {"last": 5}


def test_a_failed_event_leaves_no_trace() -> None:
    r = rows()
    r.begin_event()
    r.put("items", {"id": "b", "n": 1, "doc": None})
    r.end_event(True)
    r.merge("totals", ("d", "k"), adds={"count": 1})
    r.begin_event()
    r.put("items", {"id": "b", "n": 2, "doc": None})
    r.delete("items", ("a",))
    r.merge("totals", ("d", "k"), adds={"count": 10})
    r.merge("totals", ("d", "new"), adds={"count": 1})
    r.end_event(False)
    assert r.get("items", ("b",))["n"] == 1  # type: ignore[index]
    assert r.get("items", ("a",)) is not None and not r.deletes["items"]
    assert r.merges["totals"][("d", "k")].adds == {"count": 1}
    assert ("d", "new") not in r.merges["totals"]
    assert r.writes == 2


def test_delete_then_put_revives_the_row() -> None:
    r = rows()
    r.delete("items", ("a",))
    assert r.get("items", ("a",)) is None
    r.put("items", {"id": "a", "n": 5, "doc": None})
    assert r.get("items", ("a",))["n"] == 5  # type: ignore[index]
    assert not r.deletes["items"]


def test_seed_carries_a_previous_batch() -> None:
    previous = rows()
    previous.put("items", {"id": "b", "n": 2, "doc": None})
    previous.delete("items", ("a",))
    fresh = Rows(previous.tables)
    fresh.seed(previous)
    assert fresh.get("items", ("b",))["n"] == 2  # type: ignore[index]
    assert fresh.get("items", ("a",)) is None


def test_table_sql_statements() -> None:
    sql = TableSql(TOTALS, "daily_v3")
    assert sql.key == ["day", "kind"]
    ddl = sql.ddl()[0]
    assert 'CREATE TABLE "daily_v3".totals' in ddl or "CREATE TABLE daily_v3.totals" in ddl
    merge = sql.merge_sql(("last",), ("count",), ())
    assert '"count" = "totals"."count" + EXCLUDED."count"' in merge
    assert "unnest($1::DATE[], $2::TEXT[], $3::TIMESTAMP WITH TIME ZONE[]" in merge
    assert sql.merge_sql(("last",), ("count",), ()) is merge  # cached per shape
    items = TableSql(ITEMS, "s")
    assert items.json == {"doc"}
    assert items.columns_of([{"id": "a", "n": 1, "doc": {"x": [1]}}], items.columns) == [
        ["a"],
        [1],
        ['{"x":[1]}'],
    ]
    assert "= ANY($1::TEXT[])" in items.select_sql
