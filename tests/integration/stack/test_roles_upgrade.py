"""A cluster made with the old shared password moves to one secret per role at the next bootstrap.

Runs its own PostgreSQL (private directory and port): the stack fixture's server is left alone.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from annals.stack import postgres
from annals.stack.settings import StackSettings

pytestmark = pytest.mark.stack


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def old_cluster(tmp_path: Path) -> Iterator[StackSettings]:
    """A private cluster bootstrapped as before role secrets: every role on `annals-local`."""
    if not postgres.installed():
        pytest.skip("no native PostgreSQL 15 here")
    old = StackSettings(dir=tmp_path / "stack", pg_port=_free_port(), pg_least_privilege=False)
    old.dir.mkdir()
    postgres.initdb(old)
    postgres.write_config(old)
    postgres.start(old)
    try:
        postgres.bootstrap(old)
        yield old
    finally:
        postgres.stop(old)
        postgres.wipe_outside_home(old)


async def _login(settings: StackSettings, database: str, role: str | None = None) -> str:
    conn = await asyncpg.connect(settings.dsn(database, role), timeout=5)
    try:
        return str(await conn.fetchval("SELECT current_user"))
    finally:
        await conn.close()


def test_bootstrap_moves_an_old_cluster_to_one_secret_per_role(old_cluster: StackSettings) -> None:
    assert asyncio.run(_login(old_cluster, "orders", "orders_app")) == "orders_app"
    new = old_cluster.model_copy(update={"pg_least_privilege": True})
    assert not postgres.healthy(new)  # the superuser's secret is not its password yet
    postgres.bootstrap(new)
    postgres.bootstrap(new)  # idempotent: the second run connects with the secret
    assert postgres.healthy(new)
    for role, database in (("orders_app", "orders"), ("readmodels_projector", "readmodels"),
                           ("keys_reader", "customers"), ("debezium", "legacy_erp")):  # fmt: skip
        assert asyncio.run(_login(new, database, role)) == role
    for role in (None, "orders_app", "orders_owner"):
        with pytest.raises(asyncpg.InvalidPasswordError):
            asyncio.run(_login(old_cluster, "orders" if role else "postgres", role))
