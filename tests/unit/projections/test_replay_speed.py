"""The rebuild's fast paths give what the general ones gave: JSON decoding, column arrays, GC."""

from __future__ import annotations

import gc
import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from annals.collector import REPLAY_GC_THRESHOLD, fewer_collections
from annals.projections.engine import Applier
from annals.projections.events import Event, load_json
from annals.projections.projection import Projection, Rows
from annals.projections.tables import TableSql

md = sa.MetaData()
DOCS = sa.Table(
    "docs", md, sa.Column("id", sa.Text, primary_key=True), sa.Column("n", sa.Integer),
    sa.Column("doc", sa.dialects.postgresql.JSONB),
)  # fmt: skip
PAIRS = sa.Table(
    "pairs", md, sa.Column("a", sa.Text, primary_key=True),
    sa.Column("b", sa.Integer, primary_key=True), sa.Column("n", sa.Integer),
)  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        '{"order_id": "o1", "quantity": 2, "unit_price": {"amount": "12.50"}}',
        '{"a":[1,2.5,null,true,"\\u00e9"],"b":{}}',
        ' {"a": 1} ',
        '{"a": 1}\n',
        "[1, 2]",
        '"text"',
        "12.5",
        "null",
    ],
)
def test_load_json_equals_json_loads(text: str) -> None:
    assert load_json(text) == json.loads(text)
    assert type(load_json(text)) is type(json.loads(text))


@pytest.mark.parametrize("text", ["", "  ", '{"a": 1} x', '{"a": 1}{"b": 2}', '{"a": ', "nope"])
def test_load_json_rejects_what_json_loads_rejects(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        load_json(text)


def test_columns_of_encodes_json_columns_like_json_dumps() -> None:
    sql = TableSql(DOCS, "s")
    doc = {"lines": [{"sku": "A", "unit_price": Decimal("1.50")}], "é": None}
    rows = [{"id": "x", "n": 1, "doc": doc}, {"id": "y", "doc": None}, {"id": "z", "n": 3}]
    columns = sql.columns_of(iter(rows), sql.columns)
    assert columns == [
        ["x", "y", "z"],
        [1, None, 3],
        [json.dumps(doc, separators=(",", ":"), default=str), None, None],
    ]


def test_key_of_single_and_composite_keys() -> None:
    assert TableSql(DOCS, "s").key_of({"id": "x", "n": 1}) == ("x",)
    assert TableSql(PAIRS, "s").key_of({"a": "x", "b": 2, "n": 1}) == ("x", 2)


def test_fewer_collections_raises_the_threshold_and_restores_it_after_the_last() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] == max(before[0], REPLAY_GC_THRESHOLD)
        assert gc.get_threshold()[1:] == before[1:]
        with fewer_collections():
            assert gc.get_threshold()[0] == max(before[0], REPLAY_GC_THRESHOLD)
        assert gc.get_threshold()[0] == max(before[0], REPLAY_GC_THRESHOLD)
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == before


def _handler(rows: Rows, event: Event) -> None:
    rows.put("docs", {"id": event.stream_id, "n": event.version, "doc": None})


async def test_plan_skips_duplicates_parks_gaps_and_unparks_them_in_order() -> None:
    projection = Projection("p", ("t",), (DOCS,), {"s.E": _handler})
    applier = Applier(projection, 1, "s", live=False)
    applier.known = {"a": (1, None, None)}

    def event(stream: str, version: int, offset: int) -> Event:
        return Event("s.E", {}, None, stream, version, 1, "t", 0, offset)  # type: ignore[arg-type]

    items = [event("a", 3, 0), event("b", 1, 1), event("a", 1, 2), event("a", 2, 3),
             event("a", 3, 4), event("c", 2, 5)]  # fmt: skip
    staged = await applier.stage(None, items)  # type: ignore[arg-type]
    assert staged.result.skipped == 2  # a1 (applied), a3 again (parked)
    assert staged.result.parked == 2  # a3 (gap after 1), c2
    assert staged.result.unparked == 1
    assert staged.marks == {"a": (3, None, None), "b": (1, None, None), "c": (0, 1, None)}
    assert staged.unparks == [("a", 3)]
    assert staged.rows.puts["docs"] == {
        ("b",): {"id": "b", "n": 1, "doc": None},
        ("a",): {"id": "a", "n": 3, "doc": None},
    }
