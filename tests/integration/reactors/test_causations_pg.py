"""PostgresCausations on a real database: a causation commits with its transaction, once."""

from __future__ import annotations

import pytest

from annals.commands.storage import migrate_tables
from annals.eventstore.database import PostgresDatabase
from annals.reactors import PostgresCausations
from annals.reactors.causations import REACTIONS_GRANT, REACTIONS_STEP
from annals.stack.scratch import create_database, drop_database
from annals.stack.settings import StackSettings


async def test_a_causation_is_recorded_once_and_only_when_committed(stack: StackSettings) -> None:
    name = await create_database(stack, "reactions_test", "orders_owner", ["orders_app"])
    try:
        await migrate_tables(
            stack.dsn(name, "orders_owner"), "orders_app", [REACTIONS_STEP], [REACTIONS_GRANT]
        )
        database = await PostgresDatabase.open(stack.dsn(name, "orders_app"), min_size=1)
        causations = PostgresCausations()
        try:
            with pytest.raises(RuntimeError):
                async with database.transaction() as uow:
                    assert await causations.first(uow, "r", "ev-1")
                    raise RuntimeError("the command failed")
            async with database.transaction() as uow:
                assert await causations.first(uow, "r", "ev-1")  # the rolled-back one is gone
            async with database.transaction() as uow:
                assert not await causations.first(uow, "r", "ev-1")
                assert await causations.first(uow, "other", "ev-1")
        finally:
            await database.close()
    finally:
        await drop_database(stack, name)
