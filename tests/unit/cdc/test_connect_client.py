import json

import httpx
import pytest

from annals.connect import (
    ConnectClient,
    ConnectorFailed,
    ConnectorNotFound,
    ConnectorSpec,
    ConnectUnavailable,
    InvalidConfig,
)

CLASS = "io.debezium.connector.postgresql.PostgresConnector"
SPEC = ConnectorSpec("legacy", {"connector.class": CLASS, "topic.prefix": "legacy"})
RUNNING = {
    "name": "legacy",
    "connector": {"state": "RUNNING", "worker_id": "w"},
    "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "w"}],
}


class FakeConnect:
    """Kafka Connect's REST API in memory."""

    def __init__(self, validation_errors: dict[str, list[str]] | None = None) -> None:
        self.configs: dict[str, dict[str, str]] = {}
        self.puts = 0
        self.validation_errors = validation_errors or {}
        self.status = RUNNING
        self.conflicts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if self.conflicts:
            self.conflicts -= 1
            return httpx.Response(409, json={"message": "rebalance in progress"})
        if path.endswith("/config/validate"):
            body = json.loads(request.content)
            configs = [
                {
                    "definition": {"name": k},
                    "value": {"name": k, "value": v, "errors": self.validation_errors.get(k, [])},
                }
                for k, v in body.items()
            ]
            count = sum(len(v) for v in self.validation_errors.values())
            return httpx.Response(200, json={"error_count": count, "configs": configs})
        name = path.split("/")[2] if path.count("/") >= 2 else ""
        if method == "GET" and path == "/connectors":
            return httpx.Response(200, json=list(self.configs))
        if path.endswith("/config") and method == "PUT":
            self.puts += 1
            created = name not in self.configs
            self.configs[name] = json.loads(request.content)
            return httpx.Response(201 if created else 200, json={})
        if name not in self.configs:
            return httpx.Response(404, json={"message": f"Connector {name} not found"})
        if path.endswith("/config"):
            return httpx.Response(200, json=self.configs[name])
        if path.endswith("/status"):
            return httpx.Response(200, json=self.status)
        if method == "DELETE":
            del self.configs[name]
            return httpx.Response(204)
        if path.endswith("/restart"):
            return httpx.Response(202, json=self.status)
        return httpx.Response(500, json={"message": f"unexpected {method} {path}"})


def _client(fake: FakeConnect) -> ConnectClient:
    return ConnectClient("http://connect", transport=httpx.MockTransport(fake), retry_delay=0)


def test_apply_creates_then_is_idempotent():
    fake = FakeConnect()
    with _client(fake) as client:
        first = client.apply(SPEC, timeout=2)
        second = client.apply(SPEC, timeout=2)
        changed = client.apply(SPEC.with_overrides({"topic.prefix": "other"}), timeout=2)
    assert (first.action, second.action, changed.action) == ("created", "unchanged", "updated")
    assert fake.puts == 2
    assert fake.configs["legacy"]["name"] == "legacy"


def test_invalid_config_applies_nothing():
    fake = FakeConnect({"database.hostname": ["Unable to connect: connection refused"]})
    spec = SPEC.with_overrides({"database.hostname": "nowhere"})
    with _client(fake) as client, pytest.raises(InvalidConfig) as caught:
        client.apply(spec, timeout=2)
    assert fake.puts == 0
    [error] = caught.value.errors
    assert (error.name, error.value) == ("database.hostname", "nowhere")
    assert "connection refused" in error.message


def test_failed_task_raises_with_its_trace():
    fake = FakeConnect()
    fake.status = {
        "name": "legacy",
        "connector": {"state": "RUNNING"},
        "tasks": [{"id": 0, "state": "FAILED", "trace": "org.postgresql.PSQLException: boom"}],
    }
    with _client(fake) as client, pytest.raises(ConnectorFailed) as caught:
        client.apply(SPEC, timeout=2)
    assert "boom" in caught.value.trace


def test_conflicts_during_rebalance_are_retried():
    fake = FakeConnect()
    fake.conflicts = 3
    with _client(fake) as client:
        assert client.names() == []


def test_unknown_connector():
    with _client(FakeConnect()) as client:
        assert client.config("nope") is None
        with pytest.raises(ConnectorNotFound, match="nope"):
            client.status("nope")
        with pytest.raises(ConnectorNotFound):
            client.delete("nope")


def test_connect_down_is_a_clear_error():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = ConnectClient("http://127.0.0.1:1", transport=httpx.MockTransport(refuse))
    with pytest.raises(ConnectUnavailable, match="does not answer") as caught:
        client.names()
    assert "annals stack up" in caught.value.line()
