"""Services fail fast with one clear line when their database is unreachable or not migrated."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from orders.entrypoints.app import create_app
from orders.settings import OrdersSettings

from annals.commands.storage import DatabaseNotReady
from annals.stack.settings import StackSettings
from tests.integration.services.conftest import _scratch, serve

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def empty_db(stack: StackSettings) -> Iterator[str]:
    yield from _scratch(stack, "orders")


async def test_unreachable_database_fails_fast(stack: StackSettings) -> None:
    dead = "postgresql://orders_app:x@127.0.0.1:1/orders"
    settings = OrdersSettings(dsn=dead, owner_dsn=dead.replace("orders_app", "orders_owner"))
    with pytest.raises(DatabaseNotReady) as caught:
        async with serve(create_app(settings)):
            pass
    message = str(caught.value)
    assert "\n" not in message and "unreachable" in message and "127.0.0.1:1/orders" in message


async def test_unmigrated_database_fails_fast(stack: StackSettings, empty_db: str) -> None:
    settings = OrdersSettings(
        database=empty_db, dsn=stack.dsn(empty_db, "orders_app"), migrate=False
    )
    with pytest.raises(DatabaseNotReady) as caught:
        async with serve(create_app(settings)):
            pass
    assert "not migrated" in str(caught.value) and "annals services migrate orders" in str(
        caught.value
    )


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="jwks_url"):
        OrdersSettings(jwt_algorithm="RS256")
    with pytest.raises(ValueError, match="32 characters"):
        OrdersSettings(jwt_secret="short")
