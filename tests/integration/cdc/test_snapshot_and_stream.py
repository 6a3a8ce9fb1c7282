"""Rows present before the connector arrive as op=r; later changes as c/u/d in commit order."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from legacy.sandbox import sandbox
from legacy.simulator import Applied, Simulator

from annals.cdc import Event, Op, RowChange
from annals.stack.settings import StackSettings
from tests.integration.cdc.rig import KEYS, by_key, journal_by_key, published, tombstones

pytestmark = pytest.mark.stack


def _ops(changes: Sequence[RowChange]) -> list[str]:
    return [c.op.value for c in changes]


async def test_snapshot_rows_then_changes_with_before_and_after(stack: StackSettings, unique: str):
    async with sandbox(stack, unique) as rig:
        t = rig.where.table
        await rig.owner.execute(
            f"INSERT INTO {t('products')} (sku, name, category, unit_price) VALUES "
            "('P1', 'hammer', 'tools', 19.99), ('P2', 'kettle', 'kitchen', 0.10), "
            "('P3', 'lamp', 'office', 1234567890.12);"
            f"INSERT INTO {t('stock_levels')} VALUES ('P1', 'BER', 5);"
            f"INSERT INTO {t('legacy_customers')} (legacy_id, customer_no, full_name, email) "
            "VALUES (7, 'C-7', 'Ada Keller', 'ada@example.com')"
        )
        await rig.start()
        # after the connector started: one statement, one transaction each
        for statement in (
            f"INSERT INTO {t('products')} (sku, name, category, unit_price) "
            "VALUES ('P4', 'rake', 'garden', 7.50)",
            f"UPDATE {t('products')} SET unit_price = 21.50 WHERE sku = 'P1'",
            f"UPDATE {t('stock_levels')} SET quantity = quantity - 2 WHERE sku = 'P1'",
            f"UPDATE {t('products')} SET unit_price = 22.00, active = false WHERE sku = 'P1'",
            f"DELETE FROM {t('stock_levels')} WHERE sku = 'P1'",
            f"DELETE FROM {t('products')} WHERE sku = 'P2'",
            f"UPDATE {t('legacy_customers')} SET email = 'ada@new.example' WHERE legacy_id = 7",
        ):
            await rig.owner.execute(statement)

        def complete(events: Sequence[Event]) -> bool:
            return sum(isinstance(e, RowChange) and e.source.table != "debezium_heartbeat"
                       for e in events) >= 12 and len(tombstones(list(events))) >= 2  # fmt: skip

        async with rig.reader() as reader:
            events = await reader.read_until(complete, timeout=90)

    changes = by_key(events)
    products = {key[1][0]: cs for key, cs in changes.items() if key[0] == "products"}
    assert _ops(products["P1"]) == ["r", "u", "u"]
    assert _ops(products["P2"]) == ["r", "d"]
    assert _ops(products["P3"]) == ["r"]
    assert _ops(products["P4"]) == ["c"]
    assert _ops(changes[("stock_levels", ("P1", "BER"))]) == ["r", "u", "d"]
    assert _ops(changes[("legacy_customers", (7,))]) == ["r", "u"]

    # precise decimals as strings, the snapshot's values, and full before-images (FULL identity)
    snapshot_p3 = products["P3"][0]
    assert snapshot_p3.is_snapshot and snapshot_p3.after is not None
    assert snapshot_p3.after["unit_price"] == "1234567890.12"
    assert products["P2"][0].after is not None and products["P2"][0].after["unit_price"] == "0.10"
    first, second = products["P1"][1], products["P1"][2]
    assert first.before is not None and first.after is not None
    assert (first.before["unit_price"], first.after["unit_price"]) == ("19.99", "21.50")
    assert second.before == first.after
    assert second.after is not None and second.after["active"] is False
    deleted = products["P2"][1]
    assert deleted.after is None and deleted.before == products["P2"][0].after
    stock = changes[("stock_levels", ("P1", "BER"))]
    assert stock[1].before == {"sku": "P1", "warehouse": "BER", "quantity": 5}
    assert stock[1].after == {"sku": "P1", "warehouse": "BER", "quantity": 3}
    assert stock[2].before == stock[1].after
    customer = changes[("legacy_customers", (7,))][1]  # personal columns never published
    assert customer.before is not None and customer.before["customer_no"] == "C-7"
    assert customer.after is not None and "email" not in customer.after
    assert not {"full_name", "email", "phone"} & set(customer.before)

    # commit order: LSNs grow along each key; deletes are followed by tombstones
    for key_changes in changes.values():
        lsns = [c.lsn or 0 for c in key_changes]
        assert lsns == sorted(lsns)
    assert {tuple(sorted((t.key or {}).items())) for t in tombstones(events)} == {
        (("sku", "P2"),),
        (("sku", "P1"), ("warehouse", "BER")),
    }


async def test_random_legacy_workload_arrives_per_key_in_commit_order(
    stack: StackSettings, unique: str
):
    async with sandbox(stack, unique) as rig:
        await rig.start()
        journal: list[Applied] = []
        summary = await Simulator(rig.owner, rig.where, seed=7, journal=journal).run(
            rate=0, duration=30, max_changes=800
        )
        final = {
            table: {
                tuple(row[k] for k in KEYS[table]): dict(row)
                for row in await rig.owner.fetch(f"SELECT * FROM {rig.where.table(table)}")
            }
            for table in KEYS
        }
        async with rig.reader() as reader:
            events = await reader.read_until(
                lambda es: sum(len(c) for c in by_key(list(es)).values()) >= summary.changes,
                timeout=90,
            )

    expected = journal_by_key(journal)
    arrived = by_key(events)
    assert summary.changes >= 800
    assert set(arrived) == set(expected)
    for key, written in expected.items():
        got = arrived[key]
        assert _ops(got) == [a.op for a in written], key
        for change, applied in zip(got, written, strict=True):
            if applied.after is not None:
                assert change.after == published(key[0], applied.after), key
        for previous, change in itertools.pairwise(got):  # before-images chain up
            if change.op in (Op.UPDATE, Op.DELETE):
                assert change.before == previous.after, key
        table, pk = key
        last = got[-1]
        if last.op is Op.DELETE:
            assert pk not in final[table]
        else:
            assert last.after == published(table, final[table][pk])
