"""/metrics of the schema registry and the console: the services' endpoint, setting and
request metrics (annals.web.health.install_metrics), served in memory (no I/O)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from annals.console.app import create_app as console_app
from annals.console.settings import ConsoleSettings
from annals.registry.app import create_app as registry_app
from annals.registry.memory import MemoryStore
from annals.registry.settings import RegistrySettings
from annals.web.auth import mint_token
from annals.web.settings import ServiceSettings

SECRET = "a-test-secret-of-at-least-thirty-two-characters"


def _registry(**fields: object) -> tuple[ServiceSettings, FastAPI]:
    settings = RegistrySettings(storage="memory", jwt_secret=SECRET, **fields)
    return settings, registry_app(settings, MemoryStore())


def _console(**fields: object) -> tuple[ServiceSettings, FastAPI]:
    settings = ConsoleSettings(jwt_secret=SECRET, **fields)
    return settings, console_app(settings)


APPS = {"registry": _registry, "console": _console}
Build = Callable[..., tuple[ServiceSettings, FastAPI]]


@pytest.fixture(autouse=True)
def _session_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNALS_SECRET_CONSOLE_SESSION", "s" * 40)  # no secret file is written


@pytest.mark.parametrize("name", APPS)
@pytest.mark.parametrize(
    "access, anonymous, with_read, with_metrics",
    [("open", 200, 200, 200), ("auth", 401, 403, 200), ("off", 404, 404, 404), ("", 401, 403, 200)],
)
def test_metrics_follows_its_setting(
    name: str, access: str, anonymous: int, with_read: int, with_metrics: int
) -> None:
    settings, app = APPS[name](dev_mode=False, metrics_access=access)
    client = TestClient(app)  # no lifespan: nothing is opened
    refused = client.get("/metrics")
    assert refused.status_code == anonymous
    assert anonymous == 200 or refused.headers["content-type"] == "application/problem+json"
    assert client.get("/metrics", headers=_bearer(settings, "metrics")).status_code == with_metrics
    assert client.get("/metrics", headers=_bearer(settings, "read")).status_code == with_read


@pytest.mark.parametrize("name", APPS)
def test_metrics_are_open_in_dev_mode_and_count_requests_by_route(name: str) -> None:
    _, app = APPS[name](dev_mode=True)
    client = TestClient(app)
    assert client.get("/healthz").status_code == 200
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert "x-correlation-id" in answer.headers
    counted = f'annals_http_requests_total{{method="GET",route="/healthz",service="{name}"'
    assert counted in answer.text


def _bearer(settings: ServiceSettings, scope: str) -> dict[str, str]:
    token = mint_token(settings, [scope], audience=settings.service)
    return {"Authorization": f"Bearer {token}"}
