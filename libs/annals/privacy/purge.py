"""Deleting CDC records published before the connector left personal columns out.

Per partition of each CDC topic with declared personal columns, the records up to the last
one still holding such a column are deleted (Kafka's DeleteRecords: the partition's start
moves past them). A row whose last change is among them is missing from the topic until it
changes again or the connector snapshots it again; nothing in Annals reads legacy customers
from the topic (import-customers reads the legacy database).
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.records_to_delete import RecordsToDelete
from aiokafka.structs import TopicPartition

from annals.messaging.security import client_security
from annals.privacy.sources import Sources
from annals.privacy.topics import holds, list_topics, scan


async def purge_cdc(sources: Sources | None = None) -> dict[str, dict[int, int]]:
    """Delete the records holding personal columns; per topic, partition -> new start offset."""
    sources = sources or Sources.of()
    security = client_security(sources.kafka_component)
    existing = await list_topics(sources.bootstrap, security)
    out: dict[str, dict[int, int]] = {}
    for topic, columns in sorted(sources.cdc.items()):
        if topic not in existing:
            continue
        records, complete = await scan(sources, security, topic, None)
        if not complete:
            raise TimeoutError(f"{topic} was not read to its end in {sources.scan_seconds}s")
        upto: dict[int, int] = {}
        for record in records:
            if holds(record.value, columns):
                upto[record.partition] = max(upto.get(record.partition, 0), record.offset + 1)
        if upto:
            await _delete(sources, security, topic, upto)
        out[topic] = upto
    return out


async def _delete(
    sources: Sources, security: dict[str, object], topic: str, upto: dict[int, int]
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=sources.bootstrap, **security)
    await admin.start()
    try:
        await admin.delete_records(
            {TopicPartition(topic, p): RecordsToDelete(offset) for p, offset in upto.items()},
            timeout_ms=30_000,
        )
    finally:
        await admin.close()
