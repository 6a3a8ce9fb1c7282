"""The console's operating pages against the running stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from annals.console.app import create_app
from annals.console.settings import ConsoleSettings
from annals.stack.settings import StackSettings
from annals.topology import describe
from annals.web.auth import mint_token

pytestmark = pytest.mark.stack


def _client(*scopes: str) -> TestClient:
    client = TestClient(create_app(ConsoleSettings()), base_url="http://127.0.0.1")
    token = mint_token(ConsoleSettings(), scopes, audience="console", ttl_seconds=120)
    client.__enter__()
    client.post("/signin", data={"token": token, "next": "/"}, follow_redirects=False)
    return client


@pytest.fixture
def reader(stack: StackSettings) -> Iterator[TestClient]:
    client = _client("read")
    yield client
    client.__exit__(None, None, None)


def test_topology_page_names_every_service_topic_and_projection(reader: TestClient) -> None:
    answer = reader.get("/")
    assert answer.status_code == 200 and "<svg" in answer.text
    described = describe()
    for name in [t["name"] for t in described["topics"]] + [
        p["name"] for p in described["projections"]
    ]:
        assert f">{name}<" in answer.text
    for s in described["services"]:
        assert f"{s['name']} " in answer.text
    assert reader.get("/topology/picture").status_code == 200
