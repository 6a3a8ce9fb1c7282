"""The one migration runner on PostgreSQL: concurrent runs, re-runs, failures, old databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from annals import migrations
from annals.commands.storage import check_migrated, migrate_tables
from annals.commands.tables import IDEMPOTENCY_GRANT, IDEMPOTENCY_STEPS
from annals.eventstore.migrations import MIGRATIONS, grants_sql
from annals.messaging.checkpoints import SCHEMA_SQL, migrate_messaging
from annals.migrations import MigrationFailed, Step
from annals.stack.scratch import create_database, drop_database
from annals.stack.settings import StackSettings

pytestmark = pytest.mark.stack

OWNER, APP = "orders_owner", "orders_app"


@pytest.fixture
async def database(stack: StackSettings) -> AsyncIterator[str]:
    """A fresh scratch database owned by orders_owner (orders_app may connect)."""
    name = await create_database(stack, "migrations_test", OWNER, [APP])
    try:
        yield name
    finally:
        await drop_database(stack, name)


@asynccontextmanager
async def _connected(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def _fetch(dsn: str, sql: str) -> list[asyncpg.Record]:
    async with _connected(dsn) as conn:
        return await conn.fetch(sql)


COUNTED = (
    Step("t", 1, "counter table", "CREATE TABLE public.counted (n int)"),
    # Not idempotent: applied twice, it would count twice.
    Step("t", 2, "count once", "SELECT pg_sleep(0.2); INSERT INTO public.counted VALUES (1)"),
)


async def test_concurrent_runs_apply_each_step_once_and_a_rerun_is_a_no_op(
    stack: StackSettings, database: str
) -> None:
    owner = stack.dsn(database, OWNER)
    results = await asyncio.gather(*(migrations.migrate(owner, COUNTED) for _ in range(5)))
    assert sorted(s.key for r in results for s in r) == [("t", 1), ("t", 2)]
    assert await migrations.migrate(owner, COUNTED) == []
    assert [r[0] for r in await _fetch(owner, "SELECT n FROM public.counted")] == [1]
    rows = await _fetch(owner, "SELECT component, version, applied_by FROM annals.migrations")
    assert sorted(tuple(r) for r in rows) == [("t", 1, OWNER), ("t", 2, OWNER)]


async def test_a_failing_step_rolls_back_and_says_which(
    stack: StackSettings, database: str
) -> None:
    owner = stack.dsn(database, OWNER)
    plan = [
        Step("f", 1, "good", "CREATE TABLE public.f_good ()"),
        Step("f", 2, "bad", "CREATE TABLE public.f_half (); SELECT 1 / 0"),
        Step("f", 3, "after", "CREATE TABLE public.f_after ()"),
    ]
    with pytest.raises(MigrationFailed) as caught:
        await migrations.migrate(owner, plan)
    message = str(caught.value)
    assert f"{database}: migration step f 2 (bad) failed and was rolled back" in message
    assert "division by zero" in message
    tables = await _fetch(
        owner, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'f\\_%' ORDER BY 1"
    )
    assert [r[0] for r in tables] == ["f_good"]
    rows = await _fetch(owner, "SELECT version FROM annals.migrations WHERE component = 'f'")
    assert [r[0] for r in rows] == [1]
    fixed = [plan[0], Step("f", 2, "bad, fixed", "CREATE TABLE public.f_half ()"), plan[2]]
    assert [s.version for s in await migrations.migrate(owner, fixed)] == [2, 3]


async def test_only_roles_that_may_create_record_steps_but_every_role_checks(
    stack: StackSettings, database: str
) -> None:
    await migrations.migrate(stack.dsn(database, OWNER), COUNTED)
    app = stack.dsn(database, APP)
    assert await migrations.check(app, COUNTED) == []
    assert [s.key for s in await migrations.check(app, [*COUNTED, Step("t", 3, "x", "")])] == [
        ("t", 3)
    ]
    async with _connected(app) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO annals.migrations (component, version, name) VALUES ('t', 3, 'x')"
            )


async def _old_runners(owner: str) -> None:
    """What the former event store, `api` and messaging runners left in a database."""
    async with _connected(owner) as conn:
        await conn.execute(
            "CREATE SCHEMA eventstore; CREATE TABLE eventstore.schema_migrations (version int "
            "PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for step in MIGRATIONS:
            await conn.execute(step.text())
            await conn.execute(
                "INSERT INTO eventstore.schema_migrations VALUES ($1, $2)", step.version, step.name
            )
        await conn.execute(grants_sql(APP))
        await conn.execute(
            "CREATE SCHEMA api; CREATE TABLE api.schema_migrations (version int PRIMARY KEY, "
            "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for table_step in IDEMPOTENCY_STEPS:
            await conn.execute(table_step.sql)
            await conn.execute(
                "INSERT INTO api.schema_migrations VALUES ($1, $2)",
                table_step.version,
                table_step.name,
            )
        await conn.execute(SCHEMA_SQL)
        await conn.execute(  # the former grants let the service role read both books
            f"GRANT USAGE ON SCHEMA api TO {APP}; "
            f"GRANT SELECT ON eventstore.schema_migrations, api.schema_migrations TO {APP}"
        )
        await conn.execute(
            "INSERT INTO eventstore.streams (stream_id, stream_type, version) "
            "VALUES ('order-old', 'order', 0)"
        )


async def test_a_database_of_the_former_runners_upgrades_without_rerunning_their_steps(
    stack: StackSettings, database: str
) -> None:
    owner = stack.dsn(database, OWNER)
    await _old_runners(owner)
    # A service started without migrating finds nothing missing before the new runner ran.
    await check_migrated(stack.dsn(database, APP), IDEMPOTENCY_STEPS)
    # Step 1 of the event store is CREATE TABLE without IF NOT EXISTS: run again, it would fail.
    assert await migrate_tables(owner, APP, IDEMPOTENCY_STEPS, [IDEMPOTENCY_GRANT]) == []
    await migrate_messaging(owner, APP)  # idempotent DDL: run once more, recorded
    rows = await _fetch(
        owner, "SELECT component, version, adopted_from FROM annals.migrations ORDER BY 1, 2"
    )
    assert [tuple(r) for r in rows] == [
        ("api", 1, "api.schema_migrations"),
        ("api", 100, "api.schema_migrations"),
        *(("eventstore", s.version, "eventstore.schema_migrations") for s in MIGRATIONS),
        ("messaging", 1, None),
    ]
    assert await migrate_tables(owner, APP, IDEMPOTENCY_STEPS, [IDEMPOTENCY_GRANT]) == []
    streams = await _fetch(stack.dsn(database, APP), "SELECT stream_id FROM eventstore.streams")
    assert [r[0] for r in streams] == ["order-old"]


async def test_a_second_role_with_create_records_and_forgets_only_its_own(
    stack: StackSettings, database: str
) -> None:
    projector = "orders_projector"
    await _fetch(
        stack.dsn(database), f'GRANT CONNECT, CREATE ON DATABASE "{database}" TO {projector}'
    )
    await migrations.migrate(stack.dsn(database, OWNER), COUNTED)
    mine = Step("p", 1, "the projector's", "CREATE SCHEMA p_own")
    async with _connected(stack.dsn(database, projector)) as conn:
        assert await migrations.apply(conn, [mine]) == [mine]
        await migrations.forget(conn, "t")  # the owner's: not this role's to forget
        await migrations.forget(conn, "p")
        rows = await conn.fetch("SELECT component, applied_by FROM annals.migrations")
        assert sorted(tuple(r) for r in rows) == [("t", OWNER), ("t", OWNER)]


async def test_a_projection_version_of_an_older_release_gets_its_bookkeeping_columns(
    stack: StackSettings, database: str
) -> None:
    from annals.projections import versions

    owner = stack.dsn(database, OWNER)
    async with _connected(owner) as conn:
        await conn.execute("CREATE SCHEMA old_v1")
        await conn.execute(versions.BOOKKEEPING_DDL.format(s="old_v1"))
        await conn.execute("ALTER TABLE old_v1._streams DROP COLUMN event_id")
        await versions.upgrade_bookkeeping(conn, "old_v1")
        await versions.upgrade_bookkeeping(conn, "old_v1")
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'old_v1' "
                "AND column_name = 'event_id'"
            )
            == 2
        )
