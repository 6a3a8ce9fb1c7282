"""Findings in Kafka: the services' event topics, the DLQs and the CDC topics.

Event topics are read in the partition the subject's stream key maps to (the publishers' murmur2
partitioner), DLQs and CDC topics whole; each read stops at the end offsets taken when it
starts. The topics are read side by side (at most `PARALLEL_SCANS` consumers) within one
deadline, `Sources.scan_seconds` from listing the topics on: a topic not read to its end by
then, or whose read failed, is `unknown`, so the report's time is bounded however many DLQs
there are.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2
from aiokafka.structs import TopicPartition

from annals.messaging.security import client_security
from annals.messaging.topics import describe_topics
from annals.privacy.report import (
    ABSENT,
    READABLE,
    UNKNOWN,
    Finding,
    classify,
    counted,
    record_data,
    state_of,
)
from annals.privacy.sources import Sources
from annals.topology import topology

Records = list[Any]
Scanned = tuple[Records, bool, str]  # records, read to the end?, why not (or "")
PARALLEL_SCANS = 4


async def topic_findings(
    sources: Sources, subject: str, streams: Sequence[str], names: frozenset[str], key: bool
) -> list[Finding]:
    """The event topics, DLQs and CDC topics, each with the state of the subject's data."""
    security = client_security(sources.kafka_component)
    deadline = asyncio.get_running_loop().time() + sources.scan_seconds
    try:
        async with asyncio.timeout_at(deadline):
            existing = await list_topics(sources.bootstrap, security)
    except TimeoutError:
        why = f"the topics were not listed within {sources.scan_seconds:g} s"
        return [Finding("kafka topic", "*", UNKNOWN, why)]
    except Exception as exc:  # Kafka away or refusing us: nothing there is proven clean
        return [Finding("kafka topic", "*", UNKNOWN, _why(exc))]
    keys = {s.encode() for s in streams}
    events = [sources.topic(c.topic) for c in topology().of_kind("command")]
    events = [t for t in events if t in existing]
    dlqs = [
        t for t in sorted(existing) if t.startswith(sources.topic_prefix) and t.endswith(".dlq")
    ]
    cdc = sorted((t, c) for t, c in sources.cdc.items() if t in existing)
    gate = asyncio.Semaphore(PARALLEL_SCANS)

    async def read(topic: str, of: set[bytes] | None) -> Scanned:
        async with gate:
            return await _guarded(scan(sources, security, topic, of, deadline))

    found = await asyncio.gather(
        *(read(t, keys) for t in events), *(read(t, None) for t in dlqs),
        *(read(t, None) for t, _ in cdc),
    )  # fmt: skip
    places = [("kafka topic", t) for t in events] + [("dlq", t) for t in dlqs]
    out = [
        _sealed(f, kind, topic, subject, keys, names, key)
        for (kind, topic), f in zip(places, found[: len(places)], strict=True)
    ]
    for (topic, columns), f in zip(cdc, found[len(places) :], strict=True):
        out.append(await _cdc(sources, topic, columns, f))
    absent = sorted(set(sources.cdc) - existing)
    out += [_no_cdc_topic(t, sources.cdc[t]) for t in absent]
    return out


async def _guarded(scanning: Awaitable[tuple[Records, bool]]) -> Scanned:
    """A scan whose failure is a reason, not an exception: one topic cannot fail the report."""
    try:
        records, complete = await scanning
    except Exception as exc:  # the topic stays unknown, the others are still read
        return [], False, _why(exc)
    return records, complete, "" if complete else "not read to its end in time"


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


def _sealed(
    found: Scanned,
    kind: str,
    topic: str,
    subject: str,
    keys: set[bytes],
    names: frozenset[str],
    key: bool,
) -> Finding:
    records, complete, why = found
    plain = sealed = 0
    for record in records:
        p, s = classify(record_data(record.value), subject, names)
        if record.key in keys or s:
            plain, sealed = plain + bool(p), sealed + bool(s)
    detail = counted(plain, sealed, "records of the subject")
    if not complete:
        return Finding(kind, topic, UNKNOWN, f"{why}; {detail}")
    return Finding(kind, topic, state_of(plain, sealed, key), detail)


def _no_cdc_topic(topic: str, columns: Sequence[str]) -> Finding:
    return Finding("cdc topic", topic, ABSENT, f"no such topic; {_excluded(columns)}")


def _excluded(columns: Sequence[str]) -> str:
    return f"{', '.join(columns)} left out by the connector"


async def _cdc(sources: Sources, topic: str, columns: Sequence[str], found: Scanned) -> Finding:
    records, complete, why = found
    if not complete:
        return Finding("cdc topic", topic, UNKNOWN, why)
    holding = sum(holds(record.value, columns) for record in records)
    if holding:
        detail = f"{holding} records (published before the exclusion) hold personal columns"
        return Finding(
            "cdc topic", topic, READABLE, f"{detail}; {await _retention(sources, topic)}"
        )
    return Finding("cdc topic", topic, ABSENT, f"no record holds them; {_excluded(columns)}")


async def _retention(sources: Sources, topic: str) -> str:
    """How long the topic keeps what it holds (until `annals privacy purge-cdc`)."""
    try:
        [info] = await describe_topics(sources.bootstrap, [topic])
    except Exception as exc:  # the finding stands without it
        return f"retention unknown ({type(exc).__name__})"
    ms = int(info.config.get("retention.ms", "-1"))
    kept = "unlimited" if ms < 0 else f"{ms / 3_600_000:g} h"
    return f"retention {kept}; purge with `annals privacy purge-cdc`"


def holds(value: bytes | None, columns: Sequence[str]) -> bool:
    """Whether a Debezium change value carries one of the columns (before or after image)."""
    if not value:
        return False
    try:
        change = json.loads(value)
    except ValueError:
        return False
    change = change.get("payload", change) if isinstance(change, dict) else change
    if not isinstance(change, dict):
        return False
    images = [change.get("before"), change.get("after")]
    return any(isinstance(i, dict) and any(i.get(c) is not None for c in columns) for i in images)


async def list_topics(bootstrap: str, security: dict[str, Any]) -> set[str]:
    """The names of the cluster's topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **security)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def scan(
    sources: Sources,
    security: dict[str, Any],
    topic: str,
    keys: set[bytes] | None,
    deadline: float | None = None,
) -> tuple[Records, bool]:
    """The records of a topic up to its end offsets (of the keys' partitions); complete?

    Everything, from connecting on, stops at `deadline` (the loop's clock; by default
    `Sources.scan_seconds` from now): what was read by then comes back as incomplete.
    """
    if deadline is None:
        deadline = asyncio.get_running_loop().time() + sources.scan_seconds
    records: Records = []
    try:
        async with asyncio.timeout_at(deadline):
            return records, await _scan_into(records, sources, security, topic, keys)
    except TimeoutError:
        return records, False


async def _scan_into(
    records: Records,
    sources: Sources,
    security: dict[str, Any],
    topic: str,
    keys: set[bytes] | None,
) -> bool:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=sources.bootstrap, enable_auto_commit=False, request_timeout_ms=10_000,
        **security,
    )  # fmt: skip
    await consumer.start()
    try:
        ids = await _partitions(consumer, topic)
        if keys is not None:
            ids = sorted({(murmur2(k) & 0x7FFFFFFF) % len(ids) for k in keys}) if ids else []
        parts = [TopicPartition(topic, p) for p in ids]
        if not parts:
            return True
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        await _read(consumer, parts, ends, records)
        return True
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    for _ in range(50):
        found = consumer.partitions_for_topic(topic)
        if found:
            return sorted(found)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    return []


async def _read(
    consumer: AIOKafkaConsumer,
    parts: list[TopicPartition],
    ends: dict[TopicPartition, int],
    records: Records,
) -> None:
    while not all([await consumer.position(tp) >= ends[tp] for tp in parts]):
        for batch in (await consumer.getmany(timeout_ms=300, max_records=5000)).values():
            records.extend(
                r for r in batch if r.offset < ends[TopicPartition(r.topic, r.partition)]
            )
