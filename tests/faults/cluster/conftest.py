"""One private 3-node Kafka cluster per test session, started only when these tests run.

It lives in its own folder (not the shared stack's .stack/), on six consecutive free ports
(ANNALS_TEST_CLUSTER_PORT picks the first): annals.stack.scratch_cluster. Each test gets a
scratch event store of its own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest

from annals.eventstore.postgres import PostgresEventStore
from annals.stack import kafka
from annals.stack.scratch_cluster import scratch_cluster
from annals.stack.settings import StackSettings
from tests.integration.messaging.support import ScratchDatabase, create_database, drop_database

NODES = 3


@pytest.fixture(scope="session")
def cluster(stack: StackSettings) -> Iterator[StackSettings]:
    """Settings of the running 3-node cluster (RF 3, min.insync.replicas 2); stopped at the end."""
    base = int(os.environ.get("ANNALS_TEST_CLUSTER_PORT", "0"))
    with scratch_cluster(stack, NODES, base) as settings:
        yield settings


@pytest.fixture
def whole(cluster: StackSettings) -> StackSettings:
    """The cluster with every node running again (a test before may have killed some)."""
    kafka.start(cluster)
    return cluster


@pytest.fixture
async def cluster_db(stack: StackSettings) -> AsyncIterator[ScratchDatabase]:
    """A migrated scratch event store of this test alone (its relay publishes only its events)."""
    db = await create_database(stack, "cluster_test")
    try:
        yield db
    finally:
        await asyncio.shield(drop_database(stack, db.name))


@pytest.fixture
async def cluster_store(cluster_db: ScratchDatabase) -> AsyncIterator[PostgresEventStore]:
    """The scratch event store as the service role."""
    store = await PostgresEventStore.connect(cluster_db.app_dsn, min_size=1, max_size=12)
    try:
        yield store
    finally:
        await store.close()
