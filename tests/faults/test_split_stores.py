"""Split stores: the orders store's own PostgreSQL server is stopped and started again while
the customers service and the read side keep working; afterwards everything catches up.

The event stores run on two private servers (as `annals stack up --split-stores` makes them:
`pg_stores.py`, routed by `StackSettings.dsn`); the read models and Kafka are the shared
stack's, under a private topic prefix.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from annals.eventstore.migrations import migrate
from annals.eventstore.pgstores import PostgresKeyStore
from annals.messaging.checkpoints import migrate_messaging
from annals.projections.process import registries
from annals.projections.sandbox import Rig
from annals.projections.worker import Worker
from annals.stack import pg_stores, postgres, scratch
from annals.stack.procs import port_open
from annals.stack.secrets import secrets_dir
from annals.stack.settings import STORE_DATABASES, StackSettings
from annals.topology import topology
from annals.web.auth import mint_token
from tests.e2e.test_command_to_query import apps, serve
from tests.integration.projections.helpers import running
from tests.support.live_services import free_port

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def _free_pair(host: str) -> int:
    for _ in range(50):
        base = free_port()
        if not port_open(host, base + 1, 0.05):
            return base
    raise RuntimeError("no two free ports for the store servers")


@pytest.fixture
async def split(stack: StackSettings, unique: str) -> AsyncIterator[Rig]:
    """A rig whose orders and customers stores each run on a server of their own."""
    root = Path(tempfile.mkdtemp(prefix="annals-split-"))
    os.chmod(root, 0o755)  # user postgres (tests as root) must reach the servers' folders
    settings = stack.model_copy(update={
        "dir": root, "secrets_dir": secrets_dir(stack), "pg_split_stores": True,
        "pg_store_port": _free_pair(stack.host),
    })  # fmt: skip
    readmodels = await scratch.create_database(stack, f"pj_read_{unique}", "readmodels_owner",
                                               ["query_app"])  # fmt: skip
    rig = Rig(settings, unique, {"readmodels": readmodels})
    try:
        for service in topology().of_kind("command"):
            await asyncio.to_thread(pg_stores.up, settings, service.database)
            rig.databases[service.database] = service.database
            await migrate(rig.owner_dsn(service.database), service.app_role)
            await migrate_messaging(rig.owner_dsn(service.database), service.app_role)
        yield rig
    finally:
        for database in STORE_DATABASES:
            await asyncio.to_thread(pg_stores.stop, settings, database)
            postgres.wipe_outside_home(pg_stores.server(settings, database))
        await scratch.drop_database(stack, readmodels)
        shutil.rmtree(root, ignore_errors=True)


async def _until(call, ok, timeout: float = 60.0) -> httpx.Response:
    """Repeat an HTTP call until ok(response) holds (bounded)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await call()
        if ok(response) or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(0.5)


async def test_the_orders_server_restarts_while_customers_and_the_read_side_go_on(
    split: Rig,
) -> None:
    rig, orders_server = split, pg_stores.server(split.stack, "orders")
    assert rig.stack.pg_port_of("orders") != rig.stack.pg_port_of("customers") != rig.stack.pg_port
    orders_app, customers_app, query_app, settings = apps(rig)
    auth = {"Authorization": "Bearer " + mint_token(
        settings, ["orders:write", "customers:write", "read", "read:pii"])}  # fmt: skip
    async with (
        serve(customers_app, "http://customers") as customers,
        serve(orders_app, "http://orders") as orders,
        serve(query_app, "http://query") as query,
        rig.relay("orders"),
        rig.relay("customers"),
    ):
        keys = PostgresKeyStore(customers_app.state.database)
        names = ("order_summary", "customer_orders")
        workers = [Worker(topology().projections[n], rig.settings(), keys=keys,
                          registries=registries()) for n in names]  # fmt: skip
        async with running(*workers):
            first = {"order_id": "s1", "customer_id": "ada", "currency": "EUR"}
            placed = await orders.post("/orders", json=first, headers=auth)
            assert placed.status_code == 201, placed.text
            # s1 reaches the read side before its store stops (the relay reads it from there).
            seen = {"X-Consistency-Token": placed.headers["x-consistency-token"], **auth}
            before = await query.get("/orders/s1", headers=seen)
            assert before.status_code == 200 and before.headers["x-consistency"] == "satisfied"
            await asyncio.to_thread(postgres.stop, orders_server)
            try:
                body = {"customer_id": "bob", "name": "Bob Stone", "email": "bob@split.test"}
                registered = await customers.post("/customers", json=body, headers=auth)
                assert registered.status_code == 201, registered.text
                token = {"X-Consistency-Token": registered.headers["x-consistency-token"], **auth}
                read = await query.get("/customers/bob/orders", headers=token)
                assert read.status_code == 200 and read.headers["x-consistency"] == "satisfied"
                old = await query.get("/orders/s1", headers=auth)  # the read side still serves
                assert old.status_code == 200, old.text
                order = {"order_id": "s2", "customer_id": "bob", "currency": "EUR"}
                refused = await orders.post("/orders", json=order, headers=auth)
                assert refused.status_code == 503 and "retry-after" in refused.headers
            finally:
                await asyncio.to_thread(postgres.start, orders_server)
            again = await _until(lambda: orders.post("/orders", json=order, headers=auth),
                                 lambda r: r.status_code != 503)  # fmt: skip
            assert again.status_code == 201, again.text
            token = {"X-Consistency-Token": again.headers["x-consistency-token"], **auth}
            caught_up = await query.get("/orders/s2", headers=token)
            assert (
                caught_up.status_code == 200 and caught_up.headers["x-consistency"] == "satisfied"
            )
            mine = (await query.get("/customers/bob/orders", headers=token)).json()
            assert mine["customer"]["orders"] == 1 and mine["customer"]["email"] == "bob@split.test"
