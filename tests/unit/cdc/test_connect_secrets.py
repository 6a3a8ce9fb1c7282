"""Connect's credentials: every client request authenticates, secret files stay private."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from annals.connect.client import ConnectClient
from annals.connect.errors import ConnectUnauthorized
from annals.connect.secrets import (
    LOGIN_MODULE,
    resolve,
    rest_auth,
    write_provider_file,
    write_rest_login,
)
from annals.stack.settings import StackSettings


def _client(settings: StackSettings, seen: list[str], status: int = 200) -> ConnectClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(status, json={"version": "4.3.1"})

    transport = httpx.MockTransport(answer)
    return ConnectClient("http://connect", transport=transport, settings=settings, retries=0)


def test_every_request_carries_the_stack_credentials(tmp_path: Path):
    settings = StackSettings(dir=tmp_path)
    seen: list[str] = []
    with _client(settings, seen) as client:
        client.version()
    user, password = rest_auth(settings)
    assert seen == ["Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()]
    assert (tmp_path / "secrets" / "connect-admin").stat().st_mode & 0o777 == 0o600


def test_refused_credentials_are_one_clear_error(tmp_path: Path):
    client = _client(StackSettings(dir=tmp_path), [], status=401)
    with client, pytest.raises(ConnectUnauthorized, match="refused the credentials"):
        client.version()


def test_login_files_are_private_and_name_the_user_file(tmp_path: Path):
    settings = StackSettings(dir=tmp_path)
    jaas = write_rest_login(settings)
    users = tmp_path / "secrets" / "connect-rest-users.properties"
    assert {jaas.stat().st_mode & 0o777, users.stat().st_mode & 0o777} == {0o600}
    assert LOGIN_MODULE in jaas.read_text() and f'file="{users}"' in jaas.read_text()
    user, password = rest_auth(settings)
    assert users.read_text() == f"{user}={password}\n"


def test_references_resolve_to_the_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANNALS_DEBEZIUM_PASSWORD", "  spaced\\pw=")
    path = write_provider_file(StackSettings(dir=tmp_path))
    assert resolve(f"${{file:{path}:debezium_password}}") == "  spaced\\pw="
    assert resolve("${env:ANNALS_DEBEZIUM_PASSWORD}") == "  spaced\\pw="
    assert resolve(f"${{file:{path}:missing}}") == f"${{file:{path}:missing}}"
    assert resolve("plain") == "plain"
