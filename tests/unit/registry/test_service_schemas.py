"""A service checks its schemas in the registry before it starts; records name them by URI; a
subscriber fetches a record's schema by that URI, keeps it, and validates the data against it."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from annals.eventstore.ports import RecordedEvent, uuid7
from annals.messaging.cloudevents import SchemaLocation, from_kafka, to_kafka
from annals.messaging.dataschemas import DataInvalid, DataSchemas, SchemaUnavailable
from annals.registry.settings import RegistrySettings
from annals.schemas.publish import register_all
from annals.schemas.remote import RegistryLink, SchemasNotRegistered, require_registered
from annals.stack.settings import REPO_ROOT
from tests.support.registry import Served

ORDERS = {"orders": "orders.events"}
DEV = RegistrySettings(storage="memory", dev_mode=True)
PLACED = {"order_id": "o1", "customer_id": "c1", "currency": "EUR"}


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "schemas" / "orders", tmp_path / "orders")
    return tmp_path


def _link(served: Served) -> RegistryLink:
    return RegistryLink(url=served.url, token=SecretStr(served.token("read")))


def _admin(served: Served) -> httpx.Client:
    headers = {"Authorization": f"Bearer {served.token('admin')}"}
    return httpx.Client(base_url=served.url, headers=headers)


def _edit(root: Path, change: str) -> None:
    path = root / "orders" / "OrderPlaced.v1.json"
    schema = json.loads(path.read_text())
    if change == "breaking":
        schema["properties"]["currency"]["type"] = "integer"
    else:
        schema["properties"]["note"] = {"type": "string"}
    path.write_text(json.dumps(schema))


def test_a_service_refuses_to_start_until_its_schemas_are_registered(
    served: Served, tmp_path: Path
) -> None:
    root, settings = _copy(tmp_path), DEV
    with pytest.raises(SchemasNotRegistered) as missing:
        require_registered("orders", settings, _link(served), root)
    assert "orders does not start" in str(missing.value)
    assert "orders.events-OrderPlaced.v1: not registered (run `annals schemas register`)" in str(
        missing.value
    )
    with _admin(served) as admin:
        assert not register_all(admin, root, ORDERS).refused
    require_registered("orders", settings, _link(served), root)  # starts
    _edit(root, "breaking")
    with pytest.raises(SchemasNotRegistered) as broken:
        require_registered("orders", settings, _link(served), root)
    assert "OrderPlaced.v1.json is incompatible with the registered schema" in str(broken.value)
    assert "409" in str(broken.value)


def test_a_compatible_edit_not_yet_registered_says_so(served: Served, tmp_path: Path) -> None:
    root, settings = _copy(tmp_path), DEV
    with _admin(served) as admin:
        register_all(admin, root, ORDERS)
    _edit(root, "compatible")
    with pytest.raises(SchemasNotRegistered) as differs:
        require_registered("orders", settings, _link(served), root)
    assert "differs from the registered schema (run `annals schemas register`)" in str(
        differs.value
    )


def test_without_a_registry_url_nothing_is_checked(tmp_path: Path) -> None:
    require_registered("orders", DEV, RegistryLink(url=""), tmp_path)


def test_an_unreachable_registry_is_a_clear_refusal(tmp_path: Path) -> None:
    link = RegistryLink(url="http://127.0.0.1:9", token=SecretStr("t"), timeout=1)
    with pytest.raises(SchemasNotRegistered, match="does not answer"):
        require_registered("orders", DEV, link, _copy(tmp_path))


def test_without_a_shared_secret_a_token_is_required(served: Served, tmp_path: Path) -> None:
    keyed = RegistrySettings(storage="memory", jwt_algorithm="RS256", jwks_file=str(tmp_path))
    with pytest.raises(SchemasNotRegistered, match="ANNALS_REGISTRY_TOKEN"):
        RegistryLink(url=served.url).bearer(keyed)


def _record(data: dict[str, str], base: str) -> bytes:
    stored = RecordedEvent(1, 1, "order-o1", "order", 1, uuid7(), "OrderPlaced", 1,
                           json.dumps(data), "{}", datetime.now(UTC))  # fmt: skip
    out = to_kafka(stored, "orders", schemas=SchemaLocation(base, "orders.events"))
    return out.value


async def test_a_subscriber_validates_data_against_the_schema_its_uri_names(
    served: Served, tmp_path: Path
) -> None:
    with _admin(served) as admin:
        register_all(admin, REPO_ROOT / "schemas", ORDERS)
    headers = {"Authorization": f"Bearer {served.token('read')}"}
    async with httpx.AsyncClient(headers=headers, timeout=5) as client:
        schemas = DataSchemas(client, served.url)
        good = from_kafka(_record(PLACED, served.url), [])
        assert good.dataschema == (
            f"{served.url}/subjects/orders.events-OrderPlaced.v1/versions/latest/schema"
        )
        await schemas.check(good)
        await schemas.check(good)
        assert schemas.fetched == 1  # cached
        with pytest.raises(DataInvalid, match="currency"):
            await schemas.check(from_kafka(_record({**PLACED, "currency": 5}, served.url), []))
        with pytest.raises(SchemaUnavailable, match="is not a schema of"):
            await schemas.check(from_kafka(_record(PLACED, "http://elsewhere:1"), []))
        missing = from_kafka(_record(PLACED, served.url), []).dataschema or ""
        with pytest.raises(SchemaUnavailable, match="404"):
            await schemas.validator(missing.replace("OrderPlaced.v1", "OrderPlaced.v9"))
