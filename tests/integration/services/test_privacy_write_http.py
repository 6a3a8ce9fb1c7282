"""Write-side privacy on real PostgreSQL: idempotent replays, Forget's atomicity, reservations."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from customers.settings import CustomersSettings

from annals.stack.settings import StackSettings

pytestmark = pytest.mark.stack
Auth = Callable[..., dict[str, str]]
ADDRESS = {"line1": "7 Privacy Row", "city": "Shredville", "postal_code": "999", "country": "US"}


def person(unique: str) -> dict[str, object]:
    return {
        "customer_id": unique,
        "name": f"Grace {unique}",
        "email": f"grace-{unique}@example.com",
        "phone": "+1 555 0142",
        "address": ADDRESS,
    }


def plain_values(unique: str) -> list[str]:
    """Every personal value of `person(unique)` as it could appear in clear."""
    return [f"Grace {unique}", f"grace-{unique}@example.com", "555 0142", "Privacy Row"]


async def rows_of(stack: StackSettings, database: str, query: str, *args: object) -> list[str]:
    conn = await asyncpg.connect(stack.dsn(database))
    try:
        return [str(r[0]) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


async def idempotency_rows(stack: StackSettings, database: str, unique: str) -> list[str]:
    return await rows_of(
        stack,
        database,
        "SELECT row_to_json(k)::text FROM api.idempotency_keys k WHERE key LIKE $1",
        f"%{unique}%",
    )


async def test_replay_renders_for_the_caller_and_forget_wipes_it(
    customers: httpx.AsyncClient,
    customers_settings: CustomersSettings,
    stack: StackSettings,
    auth: Auth,
    unique: str,
) -> None:
    pii = auth("customers:write", "read", "read:pii", settings=customers_settings)
    lesser = auth("customers:write", "read", settings=customers_settings)
    key = {"Idempotency-Key": f"reg-{unique}"}
    first = await customers.post("/customers", json=person(unique), headers={**pii, **key})
    assert first.status_code == 201 and first.json()["email"] == f"grace-{unique}@example.com"
    replay = await customers.post("/customers", json=person(unique), headers={**lesser, **key})
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["etag"] == first.headers["etag"]
    view = replay.json()
    assert view["name"] == view["email"] == view["phone"] == view["address"] == "***"
    again = await customers.post("/customers", json=person(unique), headers={**pii, **key})
    assert again.json() == first.json()
    stored = await idempotency_rows(stack, customers_settings.database, unique)
    assert stored and not any(v in row for row in stored for v in plain_values(unique))

    admin = auth("admin", "read", "read:pii", settings=customers_settings)
    forget = await customers.post(f"/customers/{unique}/forget", headers=admin)
    assert forget.status_code == 200, forget.text
    after = await customers.post("/customers", json=person(unique), headers={**pii, **key})
    assert after.status_code == 410 and after.json()["type"].endswith(
        "idempotent-response-forgotten"
    )
    assert not any(v in after.text for v in plain_values(unique))
    stored = await idempotency_rows(stack, customers_settings.database, unique)
    assert stored and all(unique not in row.replace(f"reg-{unique}", "") for row in stored)


async def test_reservations_hold_no_hash_computable_from_the_email(
    customers: httpx.AsyncClient,
    customers_settings: CustomersSettings,
    stack: StackSettings,
    auth: Auth,
    unique: str,
) -> None:
    w = auth("customers:write", "read", "read:pii", settings=customers_settings)
    email = f"grace-{unique}@example.com"
    assert (await customers.post("/customers", json=person(unique), headers=w)).status_code == 201
    stored = await rows_of(
        stack,
        customers_settings.database,
        "SELECT email_hash FROM api.email_reservations WHERE customer_id = $1",
        unique,
    )
    assert len(stored) == 1
    for variant in (email, email.upper(), email.strip().lower()):
        for plain in (hashlib.sha256, hashlib.sha1, hashlib.md5, hashlib.sha512):
            assert plain(variant.encode()).hexdigest() not in stored[0]
    assert email not in stored[0]
    twin = {**person(f"{unique}-twin"), "email": email.upper()}
    refused = await customers.post("/customers", json=twin, headers=w)
    assert refused.status_code == 422 and refused.json()["rule"] == "email-unique"


async def test_unkeyed_reservations_are_rekeyed_at_start(
    customers_settings: CustomersSettings, stack: StackSettings, auth: Auth, unique: str
) -> None:
    from customers.entrypoints.app import create_app

    from tests.integration.services.conftest import serve

    w = auth("customers:write", "read", "read:pii", settings=customers_settings)
    email = f"grace-{unique}@example.com"
    async with serve(create_app(customers_settings)) as client:
        assert (await client.post("/customers", json=person(unique), headers=w)).status_code == 201
    legacy = hashlib.sha256(email.encode()).hexdigest()
    await rows_of(
        stack,
        customers_settings.database,
        "UPDATE api.email_reservations SET email_hash = $2 WHERE customer_id = $1 RETURNING 1",
        unique,
        legacy,
    )
    async with serve(create_app(customers_settings)) as client:
        stored = await rows_of(
            stack,
            customers_settings.database,
            "SELECT email_hash FROM api.email_reservations WHERE customer_id = $1",
            unique,
        )
        assert len(stored) == 1 and stored[0] != legacy and ":" in stored[0]
        twin = {**person(f"{unique}-twin"), "email": email}
        refused = await client.post("/customers", json=twin, headers=w)
        assert refused.status_code == 422


async def test_forget_whose_append_fails_changes_nothing_and_a_retry_completes(
    customers: httpx.AsyncClient,
    customers_settings: CustomersSettings,
    stack: StackSettings,
    auth: Auth,
    unique: str,
) -> None:
    db = customers_settings.database
    w = auth("customers:write", "read", "read:pii", settings=customers_settings)
    admin = auth("admin", "read", "read:pii", settings=customers_settings)
    key = {"Idempotency-Key": f"reg-{unique}"}
    assert (
        await customers.post("/customers", json=person(unique), headers={**w, **key})
    ).status_code == 201
    fn, trigger = f"fail_forget_{unique.replace('-', '_')}", f"fail_{unique.replace('-', '_')}"
    conn = await asyncpg.connect(stack.dsn(db))
    try:
        await conn.execute(
            f"CREATE FUNCTION eventstore.{fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.event_type = 'CustomerForgotten' AND NEW.stream_id = 'customer-{unique}' "
            "THEN RAISE EXCEPTION 'injected append failure'; END IF; RETURN NEW; END $$;"
            f"CREATE TRIGGER {trigger} BEFORE INSERT ON eventstore.events "
            f"FOR EACH ROW EXECUTE FUNCTION eventstore.{fn}()"
        )
        failed = await customers.post(f"/customers/{unique}/forget", headers=admin)
        assert failed.status_code >= 500
        key_row = await conn.fetchval(
            "SELECT key IS NOT NULL FROM eventstore.subject_keys WHERE subject = $1", unique
        )
        assert key_row is True  # the key's deletion rolled back with the failed append
        view = (await customers.get(f"/customers/{unique}", headers=admin)).json()
        assert view["email"] == f"grace-{unique}@example.com" and not view["forgotten"]
        replay = await customers.post("/customers", json=person(unique), headers={**w, **key})
        assert replay.status_code == 201 and replay.json()["email"] == view["email"]
        await conn.execute(f"DROP TRIGGER {trigger} ON eventstore.events")
        retry = await customers.post(f"/customers/{unique}/forget", headers=admin)
        assert retry.status_code == 200 and retry.json()["forgotten"]
        key_gone = await conn.fetchval(
            "SELECT key IS NULL FROM eventstore.subject_keys WHERE subject = $1", unique
        )
        assert key_gone is True
        types = await conn.fetch(
            "SELECT event_type FROM eventstore.events WHERE stream_id = $1 ORDER BY version",
            f"customer-{unique}",
        )
        assert [r[0] for r in types] == ["CustomerRegistered", "CustomerForgotten"]
    finally:
        await conn.execute(f"DROP TRIGGER IF EXISTS {trigger} ON eventstore.events")
        await conn.execute(f"DROP FUNCTION IF EXISTS eventstore.{fn}()")
        await conn.close()


async def test_migration_drops_stored_bodies_and_keeps_replayable_rows(
    stack: StackSettings, unique: str
) -> None:
    from annals.commands.storage import migrate_tables
    from annals.commands.tables import IDEMPOTENCY_GRANT, IDEMPOTENCY_STEP, IDEMPOTENCY_STEPS
    from annals.stack.scratch import create_database, drop_database

    name = await create_database(stack, "idem_test", "customers_owner", ["customers_app"])
    owner = stack.dsn(name, "customers_owner")
    try:
        await migrate_tables(owner, "customers_app", [IDEMPOTENCY_STEP], [IDEMPOTENCY_GRANT])
        body = f'{{"email": "old-{unique}@example.com"}}'
        token = {"etag": '"2"', "x-consistency-token": f"customer-c-{unique}@2"}
        await rows_of(
            stack,
            name,
            "INSERT INTO api.idempotency_keys (actor, key, request_hash, status, headers, body) "
            "VALUES ('a', 'k1', 'h', 200, $1::jsonb, $2), ('a', 'k2', 'h', 200, '{}', $2) "
            "RETURNING 1",
            json.dumps(token),
            body,
        )
        await migrate_tables(owner, "customers_app", IDEMPOTENCY_STEPS, [IDEMPOTENCY_GRANT])
        rows = await rows_of(
            stack, name, "SELECT row_to_json(k)::text FROM api.idempotency_keys k ORDER BY key"
        )
        assert len(rows) == 1 and body not in rows[0] and f"old-{unique}" not in rows[0]
        kept = json.loads(rows[0])
        assert (kept["key"], kept["aggregate_id"], kept["version"]) == ("k1", f"c-{unique}", 2)
        assert "body" not in kept
    finally:
        await drop_database(stack, name)


def test_cli_import_encrypts_and_refuses_a_forgotten_subject(
    customers_settings: CustomersSettings,
    stack: StackSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unique: str,
) -> None:
    from customers.entrypoints.app import create_app
    from typer.testing import CliRunner

    from annals.cli.main import app as cli
    from tests.integration.services.conftest import serve

    monkeypatch.setenv("ANNALS_CUSTOMERS_DSN", customers_settings.dsn)
    monkeypatch.setenv("ANNALS_CUSTOMERS_OWNER_DSN", customers_settings.owner_dsn)
    data = {k: v for k, v in person(unique).items() if k != "customer_id"}
    line = {"stream_id": f"customer-{unique}", "event_type": "CustomerRegistered",
            "data": {"customer_id": unique, **data}}  # fmt: skip
    path = tmp_path / "customers.ndjson"
    path.write_text(json.dumps(line) + "\n")

    async def migrate() -> None:
        async with serve(create_app(customers_settings)):
            pass

    asyncio.run(migrate())
    result = CliRunner().invoke(cli, ["import", "customers", str(path)])
    assert result.exit_code == 0, result.output
    stored = asyncio.run(
        rows_of(stack, customers_settings.database,
                "SELECT data::text FROM eventstore.events WHERE stream_id = $1",
                f"customer-{unique}")
    )  # fmt: skip
    assert len(stored) == 1 and not any(v in stored[0] for v in plain_values(unique))
    asyncio.run(
        rows_of(stack, customers_settings.database, "SELECT eventstore.forget_subject($1)", unique)
    )
    line["data"] = {"customer_id": unique, "email": f"grace-{unique}@example.com"}
    line["event_type"] = "CustomerEmailChanged"
    path.write_text(json.dumps(line) + "\n")
    refused = CliRunner().invoke(cli, ["import", "customers", str(path)])
    assert refused.exit_code == 1 and "forgotten" in refused.output


async def test_rotation_rekeys_reservations_from_the_events(
    customers: httpx.AsyncClient,
    customers_settings: CustomersSettings,
    stack: StackSettings,
    auth: Auth,
    unique: str,
) -> None:
    from customers.service_layer.reservations import rekey_reservations

    from annals.eventstore.blindindex import index_from

    w = auth("customers:write", "read", "read:pii", settings=customers_settings)
    assert (await customers.post("/customers", json=person(unique), headers=w)).status_code == 201
    app = customers._transport.app  # type: ignore[attr-defined]
    executor = app.state.api.executor
    rotated = index_from({f"r{unique}": bytes(32)}, "email-reservation")

    async def state_of(customer_id: str) -> object:
        return (await executor.load(customer_id)).state

    moved = await rekey_reservations(app.state.database, state_of, rotated)  # type: ignore[arg-type]
    assert moved >= 1
    stored = await rows_of(
        stack,
        customers_settings.database,
        "SELECT email_hash FROM api.email_reservations WHERE customer_id = $1",
        unique,
    )
    assert stored == [rotated.mac(f"grace-{unique}@example.com")]
