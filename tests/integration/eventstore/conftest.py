"""A scratch event-store database per test session, migrated as orders_owner, used as orders_app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from annals.eventstore.migrations import migrate
from annals.eventstore.postgres import PostgresEventStore
from annals.stack.scratch import create_database, drop_database
from annals.stack.settings import StackSettings
from tests.support.databases import ScratchDatabase

OWNER, APP = "orders_owner", "orders_app"


@pytest.fixture(scope="session")
def es_database(stack: StackSettings) -> Iterator[ScratchDatabase]:
    """Create, migrate and finally drop the scratch database."""
    name = asyncio.run(create_database(stack, "es_test", OWNER, [APP]))
    asyncio.run(migrate(stack.dsn(name, OWNER), APP))
    try:
        yield ScratchDatabase(name, stack.dsn(name), stack.dsn(name, OWNER), stack.dsn(name, APP))
    finally:
        asyncio.run(drop_database(stack, name))


@pytest.fixture
async def pg_store(es_database: ScratchDatabase) -> AsyncIterator[PostgresEventStore]:
    """A PostgreSQL event store on the scratch database, as the service role."""
    store = await PostgresEventStore.connect(
        es_database.app_dsn, min_size=1, max_size=20, max_event_bytes=10_000
    )
    try:
        yield store
    finally:
        await store.close()
