"""Rebuild with --keep-old, then Forget: no version of the read model keeps the subject's personal
data, and a parked event holds ciphertext (read from the tables directly)."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from annals.eventstore.pgstores import PostgresKeyStore
from annals.projections import versions
from annals.projections.erasure import drop_expired
from annals.projections.process import registries
from annals.projections.rebuild import Rebuild
from annals.projections.worker import Worker
from annals.topology import topology
from annals.web.auth import mint_token
from tests.e2e.test_command_to_query import apps, serve
from tests.e2e.test_import_then_forget import read_model_text
from tests.integration.projections.helpers import eventually, fetchval, running
from tests.integration.projections.rig import Rig, produce, recorded

pytestmark = pytest.mark.stack


def plain(unique: str) -> list[str]:
    return [f"Rita {unique}", f"rita-{unique}@example.com", "555 0199"]


async def test_retired_versions_and_parked_rows_hold_nothing_after_forget(rig: Rig) -> None:
    unique = uuid.uuid4().hex[:12]
    customer = f"rb-{unique}"
    _, customers_app, _, settings = apps(rig)
    admin = {"Authorization": "Bearer " + mint_token(settings, ["admin", "read", "read:pii"])}
    readmodels = rig.stack.dsn(rig.databases["readmodels"])
    projection = topology().projections["customer_orders"]
    body = {"customer_id": customer, "name": f"Rita {unique}",
            "email": f"rita-{unique}@example.com", "phone": "+1 555 0199"}  # fmt: skip
    async with serve(customers_app, "http://customers") as customers, rig.relay("customers"):
        created = await customers.post("/customers", json=body, headers=admin)
        assert created.status_code == 201, created.text
        keys = PostgresKeyStore(customers_app.state.database)
        worker = Worker(projection, rig.settings(), keys=keys, registries=registries())
        async with running(worker):
            assert await eventually(lambda: _holds(readmodels, unique))
            rebuilt = await Rebuild(
                projection, rig.settings(), keep_old=True, keys=keys, registries=registries()
            ).run()
            assert rebuilt.previous is not None and not rebuilt.dropped_previous
            await _park_a_sealed_copy(rig, customers_app, customer)
            parked = await _parked(readmodels, rebuilt.version, customer)
            assert '"$pii"' in parked and not any(v in parked for v in plain(unique))

            forgot = await customers.post(f"/customers/{customer}/forget", headers=admin)
            assert forgot.status_code == 200, forgot.text
            assert await eventually(lambda: _clean(readmodels, unique), timeout=30)
        states = {v.version: v.state for v in await _versions(readmodels)}
        assert states[rebuilt.previous] == "retired"  # kept, and wiped like the live one
    conn = await asyncpg.connect(readmodels)
    try:  # and dropped once kept longer than the setting
        assert await drop_expired(conn, "customer_orders", 0.001) == [rebuilt.previous]
    finally:
        await conn.close()


async def _park_a_sealed_copy(rig: Rig, app: object, customer: str) -> None:
    """Publish the registration again as version 5 (a gap): the live version parks it."""
    stream = f"customer-{customer}"
    data = await fetchval(
        rig.app_dsn("customers"),
        "SELECT data::text FROM eventstore.events WHERE stream_id = $1 AND version = 1",
        stream,
    )
    event = recorded(stream, 5, "CustomerRegistered", json.loads(data))
    await produce(rig.stack.kafka_bootstrap, rig.topic("customers.events"), "customers", [event])


async def _parked(dsn: str, version: int, customer: str) -> str:
    schema = versions.schema_name("customer_orders", version)
    sql = f'SELECT data::text FROM "{schema}"._parked WHERE stream_id = $1 AND version = 5'
    found = await eventually(lambda: fetchval(dsn, sql, f"customer-{customer}"))
    return str(found)


async def _versions(dsn: str) -> list[versions.VersionInfo]:
    conn = await asyncpg.connect(dsn)
    try:
        return await versions.versions(conn, "customer_orders")
    finally:
        await conn.close()


async def _holds(dsn: str, unique: str) -> bool:
    return f"rita-{unique}@example.com" in await read_model_text(dsn)


async def _clean(dsn: str, unique: str) -> bool:
    text = await read_model_text(dsn)
    return not any(v in text for v in plain(unique))
