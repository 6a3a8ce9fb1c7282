"""Wrapped subject keys on real PostgreSQL: stored wrapped, legacy keys, rotation, the CLI.

Rotation touches every key of a database, so these tests get a scratch database of their own.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from typer.testing import CliRunner

from annals.cli.main import app
from annals.eventstore.keywrap import KeyWrapper, MasterKeyUnavailable, configured_wrapper
from annals.eventstore.migrations import migrate
from annals.eventstore.pgstores import PostgresKeyStore
from annals.stack.scratch import create_database, drop_database
from annals.stack.settings import StackSettings
from tests.integration.eventstore.conftest import APP, OWNER

pytestmark = pytest.mark.stack
K1, K2 = os.urandom(32), os.urandom(32)
OLD, NEW = KeyWrapper({"k1": K1}), KeyWrapper({"k2": K2, "k1": K1})


@pytest.fixture(scope="module")
def keys_dsn(stack: StackSettings) -> Iterator[str]:
    name = asyncio.run(create_database(stack, "es_keys", OWNER, [APP]))
    asyncio.run(migrate(stack.dsn(name, OWNER), APP))
    try:
        yield stack.dsn(name, APP)
    finally:
        asyncio.run(drop_database(stack, name))


@pytest.fixture
async def conn(keys_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(keys_dsn)
    try:
        yield connection
    finally:
        await connection.close()


async def stored(conn: asyncpg.Connection, subject: str) -> bytes:
    return bytes(
        await conn.fetchval("SELECT key FROM eventstore.subject_keys WHERE subject = $1", subject)
    )


async def test_keys_are_stored_wrapped_and_survive_rotation(conn: asyncpg.Connection) -> None:
    legacy, wrapped = f"legacy-{uuid.uuid4().hex[:8]}", f"wrapped-{uuid.uuid4().hex[:8]}"
    plain_key = await PostgresKeyStore(conn, None).get_or_create(legacy)
    assert await stored(conn, legacy) == plain_key
    key = await PostgresKeyStore(conn, OLD).get_or_create(wrapped)
    assert await stored(conn, wrapped) != key and len(await stored(conn, wrapped)) > 32
    assert await PostgresKeyStore(conn, OLD).get_or_create(wrapped) == key
    with pytest.raises(MasterKeyUnavailable, match="not set"):
        await PostgresKeyStore(conn, None).get_many([wrapped])

    store = PostgresKeyStore(conn, NEW)
    assert await store.get_many([legacy, wrapped]) == {legacy: plain_key, wrapped: key}
    assert await store.rotate(page=1) >= 2
    status = await store.status()
    assert set(status) <= {"wrapped by k2", "forgotten"} and status["wrapped by k2"] >= 2
    only_new = PostgresKeyStore(conn, KeyWrapper({"k2": K2}))
    assert await only_new.get_many([legacy, wrapped]) == {legacy: plain_key, wrapped: key}
    with pytest.raises(MasterKeyUnavailable, match="'k2'"):
        await PostgresKeyStore(conn, OLD).get_many([wrapped])
    await only_new.forget(wrapped)
    assert await only_new.rotate() == 0
    assert await only_new.get_many([legacy, wrapped]) == {legacy: plain_key}


async def _one_key(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await PostgresKeyStore(conn, NEW).get_or_create(f"cli-{uuid.uuid4().hex[:8]}")
    finally:
        await conn.close()


def test_keys_cli(keys_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(_one_key(keys_dsn))
    runner = CliRunner()
    made = runner.invoke(app, ["keys", "new", "k3"])
    assert made.exit_code == 0 and made.output.startswith("k3:")
    monkeypatch.setenv("ANNALS_SCRATCH_DSN", keys_dsn)
    monkeypatch.setenv("ANNALS_SCRATCH_OWNER_DSN", keys_dsn)
    k2 = f"k2:{base64.b64encode(K2).decode()}"
    monkeypatch.setenv("ANNALS_MASTER_KEYS", f"{made.output.strip()},{k2}")
    configured_wrapper.cache_clear()
    try:
        rotated = runner.invoke(app, ["keys", "rotate", "scratch"])
        assert rotated.exit_code == 0, rotated.output
        assert "re-wrapped" in rotated.output
        status = runner.invoke(app, ["keys", "status", "scratch"])
        assert status.exit_code == 0 and "wrapped by k3" in status.output
        assert "wrapped by k2" not in status.output
        monkeypatch.setenv("ANNALS_MASTER_KEYS", "k1:!!")
        configured_wrapper.cache_clear()
        broken = runner.invoke(app, ["keys", "rotate", "scratch"])
        assert broken.exit_code == 1 and "base64" in broken.output
    finally:
        configured_wrapper.cache_clear()
