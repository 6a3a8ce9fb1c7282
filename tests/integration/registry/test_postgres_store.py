"""The registry's API tests again, on its own database `registry` as the role `registry_app`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from fastapi.testclient import TestClient

from annals import migrations
from annals.registry.app import create_app
from annals.registry.settings import RegistrySettings
from annals.stack.settings import StackSettings
from annals.web.auth import mint_token
from tests.unit.registry.test_api import (  # noqa: F401 (collected here on PostgreSQL)
    test_global_and_subject_levels,
    test_incompatible_and_invalid_schemas_are_refused,
    test_lookup_and_not_found_codes,
    test_register_get_by_id_and_versions,
    test_soft_and_hard_deletes_never_reuse_ids,
)

pytestmark = pytest.mark.stack


async def _wipe(settings: RegistrySettings) -> None:
    conn = await asyncpg.connect(settings.owner_dsn)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS registry CASCADE")
        await migrations.forget(conn, "registry")  # its steps run again on the next start
    finally:
        await conn.close()


@pytest.fixture
def settings(stack: StackSettings) -> RegistrySettings:
    return RegistrySettings(storage="postgres", dev_mode=True)


@pytest.fixture
def client(settings: RegistrySettings) -> Iterator[TestClient]:
    import asyncio

    asyncio.run(_wipe(settings))
    token = mint_token(settings, ["admin"], audience="registry")
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def test_the_serving_role_cannot_drop_or_rewrite_schemas(client: TestClient) -> None:
    import asyncio

    subject = f"t-{uuid.uuid4().hex[:8]}"
    client.post(f"/subjects/{subject}/versions", json={"schema": '{"type": "object"}'})

    async def attempt(sql: str) -> None:
        conn = await asyncpg.connect(RegistrySettings().dsn)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(attempt("UPDATE registry.schemas SET schema = '{}'"))
    asyncio.run(attempt("DELETE FROM registry.schemas"))
