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


@pytest.fixture
def admin(stack: StackSettings) -> Iterator[TestClient]:
    import asyncio

    from annals.eventstore.migrations import migrate
    from annals.eventstore.settings import ServiceDatabase

    for service in ("orders", "customers"):  # the stores a rebuild replays
        database = ServiceDatabase.for_service(service)
        asyncio.run(migrate(database.owner_dsn, database.app_role))
    client = _client("read", "admin")
    yield client
    client.__exit__(None, None, None)


def _csrf(client: TestClient) -> str:
    return client.get("/projections").text.split('name="csrf" value="')[1].split('"')[0]


def test_operating_pages_show_to_a_reader_who_cannot_act(reader: TestClient) -> None:
    for path, text in (("/projections", "order_summary"), ("/dead-letters", "projector."),
                       ("/publishers", "Connectors")):  # fmt: skip
        answer = reader.get(path)
        assert answer.status_code == 200 and text in answer.text, path
        assert "Rebuild</button>" not in answer.text
    csrf = _csrf(reader)
    for action in ("/projections/order_summary/rebuild", "/projections/order_summary/switch",
                   "/dead-letters/projector.order_summary/replay"):  # fmt: skip
        assert reader.post(action, data={"csrf": csrf}).status_code == 403, action


def test_a_rebuild_started_here_waits_for_its_switch(admin: TestClient) -> None:
    import time

    csrf = _csrf(admin)
    answer = admin.post("/projections/order_summary/rebuild", data={"csrf": csrf},
                        follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303
    deadline = time.monotonic() + 60
    fragment = ""
    while time.monotonic() < deadline and 'data-state="ready"' not in fragment:
        fragment = admin.get("/projections/order_summary/rebuild").text
        assert 'data-state="failed"' not in fragment, fragment
        time.sleep(0.3)
    assert "Switch to v" in fragment
    answer = admin.post("/projections/order_summary/switch", data={"csrf": csrf})
    assert answer.status_code == 200 and "is live" in answer.text
