"""Least privilege on the real server (issue 12, build 5): what each runtime role may do.

Each test works in a scratch database created like the stack's own (owner role, CONNECT for the
roles of APP_ROLES), migrated as the owner, then connects as the runtime role with that role's
password from the one DSN function.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from annals.connect import access
from annals.connect.configs import deploy_dir, load_spec
from annals.eventstore import NewEvent
from annals.eventstore.migrations import migrate
from annals.eventstore.postgres import PostgresEventStore
from annals.projections import versions
from annals.stack.postgres import bootstrap, login_roles
from annals.stack.scratch import create_database, drop_database
from annals.stack.secrets import secrets_dir
from annals.stack.settings import KEYS_READER, PROJECTOR_ROLES, StackSettings
from services.projector.customer_status import PROJECTION as CUSTOMER_STATUS

pytestmark = pytest.mark.stack

DENIED = asyncpg.InsufficientPrivilegeError


async def _scratch(stack: StackSettings, kind: str, roles: list[str]) -> str:
    name = await create_database(stack, f"roles_{kind}", f"{kind}_owner", roles)
    if kind in PROJECTOR_ROLES:
        admin = await asyncpg.connect(stack.dsn())
        try:
            await admin.execute(f'GRANT CREATE ON DATABASE "{name}" TO "{PROJECTOR_ROLES[kind]}"')
        finally:
            await admin.close()
    return name


@pytest.fixture
async def orders_db(stack: StackSettings) -> AsyncIterator[str]:
    """A migrated orders-like database: orders_app's store, customers_app and the projector."""
    name = await _scratch(stack, "orders", ["orders_app", "customers_app", "orders_projector"])
    try:
        await migrate(stack.dsn(name, "orders_owner"), "orders_app")
        yield name
    finally:
        await drop_database(stack, name)


@pytest.fixture
async def customers_db(stack: StackSettings) -> AsyncIterator[str]:
    """A migrated customers-like database with the projector's read-only key role."""
    name = await _scratch(stack, "customers", ["customers_app", KEYS_READER])
    try:
        await migrate(stack.dsn(name, "customers_owner"), "customers_app")
        yield name
    finally:
        await drop_database(stack, name)


async def _denied(conn: asyncpg.Connection, sql: str, *args: object) -> None:
    with pytest.raises(DENIED):
        await conn.execute(sql, *args)


def test_every_role_has_its_own_password_in_a_private_file(stack: StackSettings) -> None:
    if not stack.pg_least_privilege:
        pytest.skip("the stack runs with the shared password (pg_least_privilege off)")
    roles = sorted({stack.pg_superuser, *login_roles()})
    passwords = {role: stack.pg_password_of(role) for role in roles}
    assert len(set(passwords.values())) == len(roles)
    assert stack.pg_password not in passwords.values()
    for role in roles:
        path = secrets_dir(stack) / f"pg-{role}"
        assert path.stat().st_mode & 0o777 == 0o600, role


async def test_each_role_logs_in_with_its_own_password_only(stack: StackSettings) -> None:
    if not stack.pg_least_privilege:
        pytest.skip("the stack runs with the shared password (pg_least_privilege off)")
    databases = {"orders_app": "orders", "query_app": "readmodels", KEYS_READER: "customers"}
    for role, database in databases.items():
        conn = await asyncpg.connect(stack.dsn(database, role), timeout=5)
        assert await conn.fetchval("SELECT current_user") == role
        await conn.close()
    borrowed = stack.pg_password_of("orders_owner")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(
            user="orders_app", password=borrowed, host=stack.host, port=stack.pg_port,
            database="orders", timeout=5,
        )  # fmt: skip


async def test_app_role_appends_but_rewrites_no_stream_metadata_or_key(
    stack: StackSettings, orders_db: str
) -> None:
    dsn = stack.dsn(orders_db, "orders_app")
    stream = f"Order-{uuid.uuid4().hex}"
    store = await PostgresEventStore.connect(dsn, min_size=1, max_size=2)
    try:
        await store.append(stream, [NewEvent("Placed", {"n": 1}), NewEvent("Paid", {"n": 2})])
        await store.keys.get_or_create(f"subject-{stream}")
        conn = await asyncpg.connect(dsn)
        try:
            await _denied(conn, "UPDATE eventstore.streams SET max_count = 1")
            await _denied(conn, "UPDATE eventstore.streams SET deleted_at = now()")
            await _denied(conn, "UPDATE eventstore.streams SET max_age = '1 s'")
            await _denied(conn, "DELETE FROM eventstore.streams")
            await _denied(conn, "UPDATE eventstore.subject_keys SET key = NULL")
            await _denied(conn, "DELETE FROM eventstore.subject_keys")
            await _denied(conn, "UPDATE eventstore.events SET event_type = 'x'")
            await _denied(conn, "CREATE TABLE eventstore.sneaky (x int)")
            await _denied(conn, "CREATE OR REPLACE FUNCTION eventstore.forget_subject(text) "
                                "RETURNS void LANGUAGE sql AS 'SELECT 1'")  # fmt: skip
            # The operations that need those columns go through the owner's definer functions.
            await store.set_stream_metadata(stream, max_count=1)
            assert len(await store.read_stream(stream)) == 1
            await store.keys.forget(f"subject-{stream}")
            assert await conn.fetchval(
                "SELECT key IS NULL FROM eventstore.subject_keys WHERE subject = $1",
                f"subject-{stream}",
            )
            await store.delete_stream(stream)
            info = await store.get_stream(stream)
            assert info is not None and info.deleted
            owner = await conn.fetchval(
                "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'forget_subject'"
            )
            assert owner == "orders_owner"
        finally:
            await conn.close()
    finally:
        await store.close()


async def test_a_service_role_cannot_write_another_services_database(
    stack: StackSettings, orders_db: str
) -> None:
    conn = await asyncpg.connect(stack.dsn(orders_db, "customers_app"))
    try:
        await _denied(conn, "SELECT 1 FROM eventstore.events")
        await _denied(
            conn,
            "INSERT INTO eventstore.streams (stream_id, stream_type, version) VALUES ('x', 'x', 0)",
        )
    finally:
        await conn.close()
    with pytest.raises(DENIED):
        await asyncpg.connect(stack.dsn("customers", "orders_app"), timeout=5)


async def test_projector_writes_its_own_schemas_and_nothing_else(
    stack: StackSettings, orders_db: str
) -> None:
    conn = await asyncpg.connect(stack.dsn(orders_db, PROJECTOR_ROLES["orders"]))
    try:
        info = await versions.ensure_live(conn, CUSTOMER_STATUS, ["orders_app"])
        table = f'"{info.schema}".customer_status'
        await conn.execute(
            f"INSERT INTO {table} (customer_id, status, updated_at, version) "
            "VALUES ('c-1', 'active', now(), 1)"
        )
        await _denied(conn, "SELECT 1 FROM eventstore.events")
        await _denied(conn, "SELECT 1 FROM eventstore.subject_keys")
        await _denied(
            conn,
            "INSERT INTO eventstore.streams (stream_id, stream_type, version) VALUES ('x', 'x', 0)",
        )
        await _denied(conn, "CREATE TABLE public.sneaky (x int)")
    finally:
        await conn.close()
    reader = await asyncpg.connect(stack.dsn(orders_db, "orders_app"))
    try:
        status = "SELECT status FROM customer_directory.customer_status WHERE customer_id = 'c-1'"
        assert await reader.fetchval(status) == "active"
        await _denied(reader, "DELETE FROM customer_directory.customer_status")
    finally:
        await reader.close()


async def test_projector_reads_subject_keys_through_a_read_only_role(
    stack: StackSettings, customers_db: str
) -> None:
    subject = f"subject-{uuid.uuid4().hex}"
    store = await PostgresEventStore.connect(stack.dsn(customers_db, "customers_app"), max_size=2)
    try:
        await store.keys.get_or_create(subject)
    finally:
        await store.close()
    conn = await asyncpg.connect(stack.dsn(customers_db, KEYS_READER))
    try:
        found = "SELECT count(*) FROM eventstore.subject_keys WHERE subject = $1"
        assert await conn.fetchval(found, subject) == 1
        await _denied(conn, "UPDATE eventstore.subject_keys SET key = NULL")
        await _denied(conn, "INSERT INTO eventstore.subject_keys (subject) VALUES ('x')")
        await _denied(conn, "DELETE FROM eventstore.subject_keys")
        await _denied(conn, "SELECT 1 FROM eventstore.events")
        await _denied(conn, "SELECT eventstore.forget_subject($1)", subject)
    finally:
        await conn.close()


async def _debezium_connects(stack: StackSettings, database: str) -> bool:
    try:
        conn = await asyncpg.connect(stack.dsn(database, "debezium"), timeout=10)
    except DENIED:
        return False
    await conn.close()
    return True


async def test_debezium_connects_to_a_service_database_only_while_its_connector_is_applied(
    stack: StackSettings,
) -> None:
    outbox = load_spec(deploy_dir(stack) / "orders-outbox.json", stack).config
    cdc = load_spec(deploy_dir(stack) / "legacy-erp.json", stack).config
    assert await _debezium_connects(stack, "legacy_erp")  # the CDC connector's, always
    assert not await _debezium_connects(stack, "orders")  # no outbox connector applied
    try:
        assert await asyncio.to_thread(access.allow, stack, outbox) == "orders"
        assert await _debezium_connects(stack, "orders")
        await asyncio.to_thread(bootstrap, stack, ["orders"])  # a stack up revokes a stale grant
        assert not await _debezium_connects(stack, "orders")
        await asyncio.to_thread(access.allow, stack, outbox)
        assert await asyncio.to_thread(access.disallow, stack, outbox) == "orders"
        assert not await _debezium_connects(stack, "orders")
        assert await asyncio.to_thread(access.disallow, stack, cdc) is None  # kept
        assert await _debezium_connects(stack, "legacy_erp")
    finally:
        await asyncio.to_thread(access.disallow, stack, outbox)
