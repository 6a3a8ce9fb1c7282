"""Helpers of the messaging tests: scratch databases, topics, publisher processes, read-back."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition

from annals.eventstore.migrations import migrate
from annals.messaging.checkpoints import migrate_messaging
from annals.messaging.cloudevents import from_kafka
from annals.messaging.security import client_security
from annals.messaging.topics import TopicSpec, delete_topics, describe_topics, ensure_topics
from annals.stack import scratch
from annals.stack.settings import REPO_ROOT, StackSettings
from tests.support.databases import ScratchDatabase

OWNER, APP = "orders_owner", "orders_app"


async def create_database(stack: StackSettings, prefix: str = "msg_test") -> ScratchDatabase:
    """Create and migrate a scratch database owned by orders_owner."""
    name = await scratch.create_database(stack, prefix, OWNER, [APP, "debezium"])
    db = ScratchDatabase(name, stack.dsn(name), stack.dsn(name, OWNER), stack.dsn(name, APP))
    await migrate(db.owner_dsn, APP)
    await migrate_messaging(db.owner_dsn, APP)
    return db


async def drop_database(stack: StackSettings, name: str) -> None:
    """Drop a scratch database (its replication slots must be gone)."""
    await scratch.drop_database(stack, name)


async def create_topic(stack: StackSettings, name: str, partitions: int = 6) -> str:
    """Create an event topic (unlimited retention)."""
    await ensure_topics(stack.kafka_bootstrap, [TopicSpec(name, partitions)])
    return name


async def remove_topics(stack: StackSettings, names: Iterable[str]) -> None:
    """Delete topics, ignoring missing ones."""
    await delete_topics(stack.kafka_bootstrap, list(names))


async def read_topic(
    bootstrap: str, topic: str, count: int, timeout: float = 60.0
) -> list[ConsumerRecord]:
    """Every record of every partition, read once the topic holds at least `count` records."""
    [info] = await describe_topics(bootstrap, [topic])
    partitions = [TopicPartition(topic, p) for p in sorted(info.leaders)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, **client_security("admin"), enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=300, max_records=5000)).values():
                records.extend(batch)
            if len(records) >= count:
                ends = await consumer.end_offsets(partitions)
                if all([await consumer.position(tp) >= ends[tp] for tp in partitions]):
                    break
    finally:
        await consumer.stop()
    return records


@dataclass
class Delivery:
    """What a topic holds per stream: versions in arrival order, duplicates and gaps."""

    versions: dict[str, list[int]]

    @property
    def duplicates(self) -> int:
        """Records beyond the first of each (stream, version)."""
        return sum(len(v) - len(set(v)) for v in self.versions.values())

    def problems(self, expected: dict[str, int]) -> list[str]:
        """Streams whose first occurrences are not exactly 1..n in order."""
        out = []
        for stream, last in expected.items():
            first_seen = list(dict.fromkeys(self.versions.get(stream, [])))
            if first_seen != list(range(1, last + 1)):
                missing = sorted(set(range(1, last + 1)) - set(first_seen))
                out.append(
                    f"{stream}: {len(first_seen)} versions, missing {missing[:10]}, "
                    f"order ok {first_seen == sorted(first_seen)} (want 1..{last})"
                )
        return out


def delivery(records: Iterable[ConsumerRecord]) -> Delivery:
    """Per-stream versions of CloudEvent records (keys checked against subjects)."""
    versions: dict[str, list[int]] = {}
    for record in records:
        event = from_kafka(record.value, list(record.headers))
        assert record.key == (event.subject or "").encode()
        assert event.streamversion is not None
        versions.setdefault(event.subject or "", []).append(event.streamversion)
    return Delivery(versions)


class PublisherProcess:
    """`annals publish orders` as a real process on a scratch database and topic."""

    def __init__(self, db: ScratchDatabase, topic: str, log_dir: Path, tag: str = "p") -> None:
        self.env = {
            **os.environ,
            "ANNALS_ORDERS_DSN": db.app_dsn,
            "ANNALS_ORDERS_OWNER_DSN": db.owner_dsn,
            "ANNALS_ORDERS_TOPIC": topic,
            "ANNALS_ORDERS_PUBLISHER": "relay",
            "ANNALS_ORDERS_PUBLISHER_STANDBY_POLL": "0.3",
            "ANNALS_ORDERS_PUBLISHER_STATUS_DIR": str(log_dir),
            "PYTHONUNBUFFERED": "1",
        }
        self.log = log_dir / f"publisher-{tag}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PublisherProcess:
        """Start the process (output to its log)."""
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "annals.cli.main", "publish", "orders"],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.proc is not None
        return self.proc.pid

    def kill9(self) -> None:
        """SIGKILL and reap."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL after 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill9()

    def output(self) -> str:
        """The log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


async def checkpoint_row(db: ScratchDatabase, name: str) -> tuple[int, int, int, str | None]:
    """(tx_id, position, published, leader) of a publisher, zeros when none."""
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT tx_id, position, published, leader FROM messaging.publisher_checkpoints "
            "WHERE name = $1",
            name,
        )
    finally:
        await conn.close()
    return (0, 0, 0, None) if row is None else (row[0], row[1], row[2], row[3])


async def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Await an async predicate until truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout}s")
        await asyncio.sleep(interval)


def dump(records: Iterable[ConsumerRecord]) -> str:
    """Records as JSON lines (for assertion messages)."""
    return "\n".join(json.dumps({"key": str(r.key), "value": str(r.value)[:200]}) for r in records)


async def eventually(condition: Callable[[], bool], timeout: float, what: str = "condition"):
    """Wait until a plain predicate holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout}s")
        await asyncio.sleep(0.05)


async def caught_up(db: ScratchDatabase, topic: str, timeout: float = 60.0) -> None:
    """Wait until the publisher of `topic` stored the checkpoint of the store's last event."""

    async def reached() -> bool:
        conn = await asyncpg.connect(db.admin_dsn)
        try:
            last = await conn.fetchrow(
                "SELECT tx_id::text::bigint, global_position FROM eventstore.events "
                "ORDER BY tx_id DESC, global_position DESC LIMIT 1"
            )
        finally:
            await conn.close()
        tx, pos, *_ = await checkpoint_row(db, topic)
        return last is None or (tx, pos) >= (last[0], last[1])

    await wait_for(reached, timeout, what=f"publisher of {topic} caught up")
