"""A scratch event-store database per test session, migrated as orders_owner, used as orders_app."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest

from annals.eventstore.migrations import migrate
from annals.eventstore.postgres import PostgresEventStore
from annals.stack.settings import StackSettings

OWNER, APP = "orders_owner", "orders_app"


@dataclass(frozen=True)
class ScratchDatabase:
    """DSNs of the session's scratch database."""

    name: str
    admin_dsn: str
    owner_dsn: str
    app_dsn: str


async def _create(stack: StackSettings, name: str) -> None:
    conn = await asyncpg.connect(stack.dsn())
    try:
        await conn.execute(f'CREATE DATABASE "{name}" OWNER {OWNER}')
        await conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO {APP}')
    finally:
        await conn.close()
    await migrate(stack.dsn(name, OWNER), APP)


async def _drop(stack: StackSettings, name: str) -> None:
    conn = await asyncpg.connect(stack.dsn())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def es_database(stack: StackSettings) -> Iterator[ScratchDatabase]:
    """Create, migrate and finally drop the scratch database."""
    name = f"es_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_create(stack, name))
    try:
        yield ScratchDatabase(name, stack.dsn(name), stack.dsn(name, OWNER), stack.dsn(name, APP))
    finally:
        asyncio.run(_drop(stack, name))


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
