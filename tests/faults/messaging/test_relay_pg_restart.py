"""The relay through a crash of its PostgreSQL (a private server, stopped -m immediate).

While the server is away the relay says so (state, last error, restarts); once it is back the
relay takes its lock again by itself and publishes everything, nothing lost, in stream order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from annals.eventstore.ports import NewEvent
from annals.eventstore.postgres import PostgresEventStore
from annals.messaging.health import read_status
from annals.messaging.runner import RelayProcess
from annals.messaging.settings import KafkaSettings, PublisherSettings
from annals.stack.settings import StackSettings
from tests.faults.messaging.private_servers import PrivatePostgres
from tests.integration.messaging.support import delivery, eventually, read_topic

pytestmark = [pytest.mark.stack, pytest.mark.slow]


@pytest.fixture
async def private_pg() -> AsyncIterator[PrivatePostgres]:
    """A private PostgreSQL server with the orders event store."""
    server = await asyncio.to_thread(PrivatePostgres().up)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.destroy)


async def append_round(dsn: str, streams: list[str], appended: dict[str, int]) -> None:
    """One event on every stream, through a store opened for this round only."""
    store = await PostgresEventStore.connect(dsn, min_size=1, max_size=4)
    try:
        for stream in streams:
            await store.append(stream, [NewEvent("OrderPlaced", {"n": appended[stream] + 1})])
            appended[stream] += 1
    finally:
        await store.close()


async def reachable(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def test_the_relay_resumes_by_itself_after_postgres_restarts_and_loses_nothing(
    stack: StackSettings, private_pg: PrivatePostgres, topic: str, unique: str, tmp_path: Path
):
    db = await private_pg.migrate()
    streams = [f"order-{unique}-{i}" for i in range(8)]
    appended = dict.fromkeys(streams, 0)
    settings = PublisherSettings(service="orders", topic=topic, publisher_standby_poll=0.2)
    status_file = tmp_path / "status.json"
    relay = RelayProcess(settings, db, KafkaSettings(bootstrap=stack.kafka_bootstrap), status_file)
    running = asyncio.create_task(relay.run())
    try:
        for _ in range(5):
            await append_round(db.dsn, streams, appended)
        await eventually(lambda: relay.health.published >= 40, 30, "first 40 published")
        assert relay.health.state == "active"

        await asyncio.to_thread(private_pg.crash)
        await eventually(lambda: relay.health.state != "active", 20, "the relay noticing")
        await asyncio.sleep(2)  # the server stays away a while; the relay keeps retrying
        await eventually(lambda: _state(status_file) == "reconnecting", 5, "status: reconnecting")
        away = read_status(status_file)
        assert away is not None and away.last_error and away.restarts >= 1
        assert not running.done()

        await asyncio.to_thread(private_pg.start)
        restarted = time.monotonic()
        before = relay.health.published
        await eventually(lambda: relay.health.state == "active", 20, "leading again")
        for _ in range(5):
            await append_round(db.dsn, streams, appended)
        await eventually(lambda: relay.health.published >= before + 40, 30, "publishing again")
        resumed_after = time.monotonic() - restarted
    finally:
        relay.stop()
        await asyncio.wait_for(running, 30)

    records = await read_topic(stack.kafka_bootstrap, topic, sum(appended.values()), 60)
    got = delivery(records)
    assert got.problems(appended) == []
    assert resumed_after < 20, f"publishing resumed {resumed_after:.1f}s after the restart"
    print(f"resumed {resumed_after:.2f}s after the restart; duplicates {got.duplicates}")


def _state(path: Path) -> str | None:
    status = read_status(path)
    return None if status is None else status.state
