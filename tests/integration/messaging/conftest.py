"""Fixtures of the messaging tests: a scratch database per session and a topic per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from annals.eventstore.postgres import PostgresEventStore
from annals.stack.settings import StackSettings
from tests.integration.messaging.support import (
    ScratchDatabase,
    create_database,
    create_topic,
    drop_database,
    remove_topics,
)


@pytest.fixture(scope="session")
def msg_db(stack: StackSettings) -> Iterator[ScratchDatabase]:
    """A migrated scratch event store (orders roles) with the messaging tables."""
    db = asyncio.run(create_database(stack))
    try:
        yield db
    finally:
        asyncio.run(drop_database(stack, db.name))


@pytest.fixture
async def store(msg_db: ScratchDatabase) -> AsyncIterator[PostgresEventStore]:
    """The scratch event store as the service role."""
    es = await PostgresEventStore.connect(msg_db.app_dsn, min_size=1, max_size=20)
    try:
        yield es
    finally:
        await es.close()


@pytest.fixture
async def topic(stack: StackSettings, unique: str) -> AsyncIterator[str]:
    """A fresh 6-partition topic, deleted after the test."""
    name = await create_topic(stack, f"test.events.{unique}")
    try:
        yield name
    finally:
        await remove_topics(stack, [name])
