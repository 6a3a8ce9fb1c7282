"""register_all: each schema under `<topic>-<Type>.v<N>`; a breaking edit is refused (409)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from annals.registry.app import create_app
from annals.registry.memory import MemoryStore
from annals.registry.settings import RegistrySettings
from annals.schemas.publish import register_all
from annals.stack.settings import REPO_ROOT
from annals.web.auth import mint_token


def _client() -> TestClient:
    settings = RegistrySettings(storage="memory", dev_mode=True)
    client = TestClient(create_app(settings, MemoryStore()))
    client.headers["Authorization"] = (
        f"Bearer {mint_token(settings, ['admin'], audience='registry')}"
    )
    return client


def test_every_schema_registers_and_a_breaking_edit_is_refused(tmp_path: Path) -> None:
    client = _client()
    topics = {"orders": "orders.events", "customers": "customers.events"}
    first = register_all(client, REPO_ROOT / "schemas", topics)
    assert not first.refused and "orders.events-OrderPlaced.v1" in first.ids
    assert register_all(client, REPO_ROOT / "schemas", topics).ids == first.ids  # idempotent
    shutil.copytree(REPO_ROOT / "schemas" / "orders", tmp_path / "orders")
    path = tmp_path / "orders" / "OrderPlaced.v1.json"
    schema = json.loads(path.read_text())
    schema["properties"]["currency"]["type"] = "integer"
    path.write_text(json.dumps(schema))
    broken = register_all(client, tmp_path, {"orders": "orders.events"})
    assert broken.refused and broken.refused[0].startswith("orders.events-OrderPlaced.v1: ")
    path.rename(tmp_path / "orders" / "OrderPlaced.v2.json")  # a new version (with an upcaster)
    assert not register_all(client, tmp_path, {"orders": "orders.events"}).refused
