"""Legacy CDC records for projection tests: product changes as Debezium writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from annals.messaging.security import client_security
from annals.messaging.topics import TopicSpec, ensure_topics
from tests.unit.cdc.samples import ROW, key, value


class ProductFeed:
    """Writes product changes to a (test) `legacy.public.products` topic, LSNs increasing."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.lsn = 1000
        self.rows: dict[str, dict[str, Any]] = {}

    async def send(self, changes: list[tuple[str, str, dict[str, Any], datetime]]) -> None:
        """Send (op, sku, new values, commit time) changes in order."""
        await ensure_topics(self.bootstrap, [TopicSpec(self.topic, 3)])
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, **client_security("admin"))
        await producer.start()
        try:
            for op, sku, values, at in changes:
                self.lsn += 10
                before = self.rows.get(sku)
                after = None if op == "d" else {**ROW, **(before or {}), "sku": sku, **values}
                if after is not None:
                    after["updated_at"] = at.isoformat().replace("+00:00", "Z")
                    self.rows[sku] = after
                record = value(
                    op, before, after, lsn=self.lsn, ts_ms=int(at.timestamp() * 1000),
                    snapshot="true" if op == "r" else "false",
                )  # fmt: skip
                await producer.send_and_wait(self.topic, record, key=key(sku))
                await producer.send_and_wait(self.topic, None, key=key(sku)) if op == "d" else None
        finally:
            await producer.stop()
