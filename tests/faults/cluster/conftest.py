"""One private 3-node Kafka cluster per test session, started only when these tests run.

It lives in its own folder (not the shared stack's .stack/), on six consecutive free ports
(ANNALS_TEST_CLUSTER_PORT picks the first), with the shared stack's jars, secrets and auth mode,
so the clients' usual credentials work on it. Each test gets a scratch event store of its own.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from annals.eventstore.postgres import PostgresEventStore
from annals.stack import kafka
from annals.stack.procs import port_open
from annals.stack.secrets import secrets_dir
from annals.stack.settings import StackSettings
from tests.integration.messaging.support import ScratchDatabase, create_database, drop_database

NODES = 3


def _free_base(host: str) -> int:
    """The first of 2 * NODES consecutive free ports."""
    wanted = os.environ.get("ANNALS_TEST_CLUSTER_PORT")
    if wanted:
        return int(wanted)
    for _ in range(200):
        base = random.randrange(20_000, 40_000, 2)
        if not any(port_open(host, base + i, 0.05) for i in range(2 * NODES)):
            return base
    raise RuntimeError("no free ports for the test cluster")


@pytest.fixture(scope="session")
def cluster(stack: StackSettings) -> Iterator[StackSettings]:
    """Settings of the running 3-node cluster (RF 3, min.insync.replicas 2); stopped at the end."""
    root = Path(tempfile.mkdtemp(prefix="annals-cluster-"))
    (root / "jars").symlink_to(stack.jars_dir)
    base = _free_base(stack.host)
    settings = StackSettings(
        dir=root, secrets_dir=secrets_dir(stack), kafka_auth=stack.kafka_auth,
        kafka_port=base, controller_port=base + 1, kafka_brokers=NODES, start_timeout=150,
    )  # fmt: skip
    try:
        kafka.start(settings)
        yield settings
    finally:
        kafka.stop(settings)
        shutil.rmtree(root, ignore_errors=True)


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
