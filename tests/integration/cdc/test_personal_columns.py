"""Legacy CDC policy: the personal columns of legacy customers never reach a Kafka topic (not in
the snapshot, not in an update's before or after image), read as raw bytes off the topic."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from legacy.sandbox import sandbox
from legacy.schema import PERSONAL_COLUMNS

from annals.cdc import Event, RowChange
from annals.privacy import ABSENT, READABLE
from annals.privacy.purge import purge_cdc
from annals.privacy.sources import Sources
from annals.privacy.topics import topic_findings
from annals.stack.settings import StackSettings
from tests.integration.messaging.support import read_topic

pytestmark = pytest.mark.stack


async def test_personal_columns_never_reach_the_cdc_topic(stack: StackSettings, unique: str):
    personal = [f"Vera {unique}", f"vera.{unique}@example.com", "+49 30 7654321", "Leipzig"]
    async with sandbox(stack, unique) as box:
        table = box.where.table("legacy_customers")
        await box.owner.execute(
            f"INSERT INTO {table} (legacy_id, customer_no, full_name, email, phone, city, "
            "country) VALUES (41, 'C-41', $1, $2, $3, $4, 'DE')",
            *personal,
        )
        await box.start()
        await box.owner.execute(
            f"UPDATE {table} SET email = $1, updated_at = now() WHERE legacy_id = 41",
            f"vera.new.{unique}@example.com",
        )
        async with box.reader() as reader:
            await reader.read_until(lambda es: len(_customers(es)) >= 2, timeout=90)
        records = await read_topic(stack.kafka_bootstrap, box.topic("legacy_customers"), 2)
    assert len(records) >= 2
    raw = b"\n".join((r.key or b"") + b" " + (r.value or b"") for r in records)
    assert b"C-41" in raw  # the row's other columns arrive
    for value in [*personal, f"vera.new.{unique}@example.com", '"DE"']:
        assert value.encode() not in raw


def _customers(events: Sequence[Event]) -> list[RowChange]:
    return [e for e in events if isinstance(e, RowChange) and e.source.table == "legacy_customers"]


async def test_records_from_before_the_exclusion_are_reported_and_purged(
    stack: StackSettings, unique: str
):
    async with sandbox(stack, unique) as box:
        table = box.where.table("legacy_customers")
        await box.owner.execute(
            f"INSERT INTO {table} (legacy_id, customer_no, full_name, email) "
            "VALUES (42, 'C-42', $1, $2)",
            f"Old {unique}",
            f"old.{unique}@example.com",
        )
        # the connector as configured before this release: nothing left out
        await box.start(**{"column.exclude.list": f"{box.where.schema}.legacy_customers.nothing"})
        async with box.reader() as reader:
            await reader.read_until(lambda es: len(_customers(es)) >= 1, timeout=90)
        topic = box.topic("legacy_customers")
        sources = Sources.of(cdc={topic: PERSONAL_COLUMNS["legacy_customers"]})
        [before] = [f for f in await topic_findings(sources, "x", [], frozenset(), False)
                    if f.place == topic]  # fmt: skip
        assert before.state == READABLE and "retention unlimited" in before.detail, before
        purged = await purge_cdc(sources)
        assert sum(purged[topic].values()) >= 1
        [after] = [f for f in await topic_findings(sources, "x", [], frozenset(), False)
                   if f.place == topic]  # fmt: skip
        assert after.state == ABSENT, after
