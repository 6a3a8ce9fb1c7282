"""The console's sign-in, session and actions against the real stores of the stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from annals.console.app import create_app
from annals.console.settings import ConsoleSettings
from annals.stack.settings import StackSettings
from annals.web.auth import mint_token

pytestmark = pytest.mark.stack


@pytest.fixture
def client(stack: StackSettings) -> Iterator[TestClient]:
    with TestClient(create_app(ConsoleSettings()), base_url="http://127.0.0.1") as c:
        yield c


def _sign_in(client: TestClient, *scopes: str) -> None:
    token = mint_token(ConsoleSettings(), scopes, audience="console", ttl_seconds=120)
    answer = client.post("/signin", data={"token": token, "next": "/streams"},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == "/streams"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_without_a_session_pages_redirect_to_sign_in(client: TestClient) -> None:
    answer = client.get("/streams?q=order", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=/streams%3Fq%3Dorder"


def test_a_token_for_another_audience_is_refused(client: TestClient) -> None:
    token = mint_token(ConsoleSettings(), ["read"], audience="orders", ttl_seconds=120)
    answer = client.post("/signin", data={"token": token})
    assert answer.status_code == 401 and "not for this service" in answer.text


def test_signed_in_reader_sees_pages_but_actions_need_admin(client: TestClient) -> None:
    _sign_in(client, "read")
    page = client.get("/streams?q=no-such-stream-type")
    assert page.status_code == 200 and "No stream matches" in page.text
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    assert client.post("/actions/check", data={"csrf": csrf}).status_code == 403
    assert client.get("/streams/no-such-stream").status_code == 404


def test_actions_need_the_csrf_token(client: TestClient) -> None:
    _sign_in(client, "admin")
    page = client.get("/streams")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    assert client.post("/actions/check").status_code == 403
    assert client.post("/actions/check", data={"csrf": "wrong"}).status_code == 403
    answer = client.post("/actions/check", headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 200 and answer.json()["subject"] == "local-dev"
