"""The registry's Confluent API on the memory store: ids, versions, lookups, deletes, levels."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from annals.registry.app import create_app
from annals.registry.memory import MemoryStore
from annals.registry.settings import RegistrySettings
from annals.web.auth import mint_token

SUBJECT = "orders.events-OrderPlaced.v1"
V1: dict[str, Any] = {"type": "object", "properties": {"id": {"type": "string"}},
                      "required": ["id"], "additionalProperties": False}  # fmt: skip
V2 = {**V1, "properties": {"id": {"type": "string"}, "note": {"type": "string"}}}
BROKEN = {**V1, "properties": {"id": {"type": "integer"}}}


@pytest.fixture
def settings() -> RegistrySettings:
    return RegistrySettings(storage="memory", dev_mode=True)


@pytest.fixture
def client(settings: RegistrySettings) -> TestClient:
    token = mint_token(settings, ["admin"], audience="registry")
    client = TestClient(create_app(settings, MemoryStore()))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _post(client: TestClient, url: str, schema: Any) -> Any:
    return client.post(url, json={"schema": json.dumps(schema), "schemaType": "JSON"})


def test_register_get_by_id_and_versions(client: TestClient) -> None:
    first = _post(client, f"/subjects/{SUBJECT}/versions", V1)
    assert first.status_code == 200 and first.headers["content-type"].startswith(
        "application/vnd.schemaregistry.v1+json"
    )
    schema_id = first.json()["id"]
    assert _post(client, f"/subjects/{SUBJECT}/versions", V1).json()["id"] == schema_id
    assert json.loads(client.get(f"/schemas/ids/{schema_id}").json()["schema"]) == V1
    assert client.get(f"/schemas/ids/{schema_id}/schema").json() == V1
    second = _post(client, f"/subjects/{SUBJECT}/versions", V2).json()["id"]
    assert second != schema_id
    assert client.get(f"/subjects/{SUBJECT}/versions").json() == [1, 2]
    latest = client.get(f"/subjects/{SUBJECT}/versions/latest").json()
    assert (latest["version"], latest["id"], latest["schemaType"]) == (2, second, "JSON")
    assert client.get("/subjects").json() == [SUBJECT]
    other = _post(client, "/subjects/other-X.v1/versions", V1).json()["id"]
    assert other == schema_id  # one id per schema text, across subjects
    assert client.get(f"/schemas/ids/{schema_id}/versions").json() == [
        {"subject": SUBJECT, "version": 1}, {"subject": "other-X.v1", "version": 1}
    ]  # fmt: skip


def test_incompatible_and_invalid_schemas_are_refused(client: TestClient) -> None:
    _post(client, f"/subjects/{SUBJECT}/versions", V1)
    refused = _post(client, f"/subjects/{SUBJECT}/versions", BROKEN)
    assert refused.status_code == 409 and refused.json()["error_code"] == 409
    assert "field 'id' changed its type" in refused.json()["message"]
    invalid = _post(client, f"/subjects/{SUBJECT}/versions", {"type": 12})
    assert (invalid.status_code, invalid.json()["error_code"]) == (422, 42201)
    avro = client.post(f"/subjects/{SUBJECT}/versions", json={"schema": "{}", "schemaType": "AVRO"})
    assert avro.json()["error_code"] == 42201
    check = _post(client, f"/compatibility/subjects/{SUBJECT}/versions/latest?verbose=true", BROKEN)
    assert check.json()["is_compatible"] is False and check.json()["messages"]
    assert _post(client, f"/compatibility/subjects/{SUBJECT}/versions/1", V2).json() == {
        "is_compatible": True
    }


def test_lookup_and_not_found_codes(client: TestClient) -> None:
    assert client.get("/subjects/nope/versions").json()["error_code"] == 40401
    assert client.get("/schemas/ids/99").json()["error_code"] == 40403
    schema_id = _post(client, f"/subjects/{SUBJECT}/versions", V1).json()["id"]
    found = _post(client, f"/subjects/{SUBJECT}", V1).json()
    assert (found["id"], found["version"], found["subject"]) == (schema_id, 1, SUBJECT)
    assert _post(client, f"/subjects/{SUBJECT}", V2).json()["error_code"] == 40403
    assert _post(client, "/subjects/nope", V1).json()["error_code"] == 40401
    assert client.get(f"/subjects/{SUBJECT}/versions/7").json()["error_code"] == 40402
    assert client.get(f"/subjects/{SUBJECT}/versions/x").json()["error_code"] == 42202


def test_soft_and_hard_deletes_never_reuse_ids(client: TestClient) -> None:
    first = _post(client, f"/subjects/{SUBJECT}/versions", V1).json()["id"]
    assert client.delete(f"/subjects/{SUBJECT}?permanent=true").json()["error_code"] == 40405
    assert client.delete(f"/subjects/{SUBJECT}").json() == [1]
    assert client.get("/subjects").json() == []
    assert client.get("/subjects?deleted=true").json() == [SUBJECT]
    assert client.delete(f"/subjects/{SUBJECT}").json()["error_code"] == 40404
    assert client.delete(f"/subjects/{SUBJECT}?permanent=true").json() == [1]
    assert client.get("/subjects?deleted=true").json() == []
    again = _post(client, f"/subjects/{SUBJECT}/versions", BROKEN).json()["id"]
    assert again > first  # a new schema never takes a deleted one's id
    assert _post(client, f"/subjects/{SUBJECT}/versions", V1).json()["error_code"] == 409
    assert (
        client.delete(f"/subjects/{SUBJECT}/versions/1?permanent=true").json()["error_code"]
        == 40407
    )
    assert client.delete(f"/subjects/{SUBJECT}/versions/1").json() == 1
    assert client.delete(f"/subjects/{SUBJECT}/versions/1").json()["error_code"] == 40406
    assert client.delete(f"/subjects/{SUBJECT}/versions/1?permanent=true").json() == 1
    assert _post(client, f"/subjects/{SUBJECT}/versions", V1).json()["id"] == first


def test_global_and_subject_levels(client: TestClient) -> None:
    assert client.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert client.get(f"/config/{SUBJECT}").json()["error_code"] == 40408
    assert client.get(f"/config/{SUBJECT}?defaultToGlobal=true").json() == {
        "compatibilityLevel": "BACKWARD"
    }
    assert client.put(f"/config/{SUBJECT}", json={"compatibility": "NONE"}).json() == {
        "compatibility": "NONE"
    }
    assert client.put("/config", json={"compatibility": "sideways"}).json()["error_code"] == 42203
    _post(client, f"/subjects/{SUBJECT}/versions", V1)
    assert _post(client, f"/subjects/{SUBJECT}/versions", BROKEN).status_code == 200
    assert client.delete(f"/config/{SUBJECT}").json() == {"compatibilityLevel": "NONE"}
    assert client.put("/config", json={"compatibility": "FULL"}).json() == {"compatibility": "FULL"}
    assert client.get(f"/config/{SUBJECT}?defaultToGlobal=true").json()["compatibilityLevel"] == (
        "FULL"
    )


def test_reads_need_read_and_writes_admin(client: TestClient, settings: RegistrySettings) -> None:
    reader = mint_token(settings, ["read"], audience="registry")
    wrong = mint_token(settings, ["admin"], audience="orders")
    client.headers["Authorization"] = f"Bearer {reader}"
    assert client.get("/subjects").status_code == 200
    refused = _post(client, f"/subjects/{SUBJECT}/versions", V1)
    assert (refused.status_code, refused.json()["error_code"]) == (403, 40301)
    client.headers["Authorization"] = f"Bearer {wrong}"
    assert client.get("/subjects").json()["error_code"] == 40101
    del client.headers["Authorization"]
    assert client.get("/subjects").status_code == 401
    basic = base64.b64encode(f"token:{reader}".encode()).decode()
    assert client.get("/subjects", headers={"Authorization": f"Basic {basic}"}).status_code == 200
