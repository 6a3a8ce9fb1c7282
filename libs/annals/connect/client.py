"""A small synchronous client of the Kafka Connect REST API (httpx)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx

from annals.connect.configs import ConnectorSpec
from annals.connect.errors import (
    ConnectError,
    ConnectorFailed,
    ConnectorNotFound,
    ConnectTimeout,
    ConnectUnauthorized,
    ConnectUnavailable,
    InvalidConfig,
)
from annals.connect.secrets import rest_auth
from annals.stack.settings import StackSettings

# Connect answers 409 while the workers rebalance or a config change is in flight.
RETRY_STATUSES = frozenset({409, 503})
UPDATE_SETTLE = 3.0  # seconds a connector must stay RUNNING after a config update


@dataclass(frozen=True)
class FieldError:
    """A validation error of one setting."""

    name: str
    message: str
    value: str | None = None


@dataclass(frozen=True)
class TaskStatus:
    """State of one task (with the Java trace when FAILED)."""

    id: int
    state: str
    worker_id: str = ""
    trace: str = ""


@dataclass(frozen=True)
class ConnectorStatus:
    """State of a connector and its tasks."""

    name: str
    state: str
    worker_id: str = ""
    trace: str = ""
    tasks: tuple[TaskStatus, ...] = field(default_factory=tuple)

    @property
    def running(self) -> bool:
        """The connector and at least one task RUNNING, none in another state."""
        return (
            self.state == "RUNNING"
            and bool(self.tasks)
            and all(task.state == "RUNNING" for task in self.tasks)
        )

    @property
    def failed(self) -> bool:
        """The connector or a task is FAILED."""
        return self.state == "FAILED" or any(task.state == "FAILED" for task in self.tasks)

    @property
    def failure_trace(self) -> str:
        """The trace of the connector or of the first failed task."""
        if self.state == "FAILED" and self.trace:
            return self.trace
        return next((task.trace for task in self.tasks if task.state == "FAILED"), "")

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ConnectorStatus:
        """Read GET /connectors/{name}/status."""
        connector = body.get("connector", {})
        tasks = tuple(
            TaskStatus(
                id=int(task.get("id", 0)),
                state=str(task.get("state", "UNKNOWN")),
                worker_id=str(task.get("worker_id", "")),
                trace=str(task.get("trace", "")),
            )
            for task in body.get("tasks", [])
        )
        return cls(
            name=str(body.get("name", "")),
            state=str(connector.get("state", "UNKNOWN")),
            worker_id=str(connector.get("worker_id", "")),
            trace=str(connector.get("trace", "")),
            tasks=tasks,
        )


Action = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class ApplyResult:
    """What apply did to one connector and the state it reached."""

    name: str
    action: Action
    status: ConnectorStatus | None


class ConnectClient:
    """Kafka Connect's REST API: validate, put, status, restart and delete connectors.

    Every request carries the REST API's Basic credentials: `auth`, else those of `settings`
    (the stack of the environment by default, see annals.connect.secrets.rest_auth)."""

    def __init__(
        self,
        base_url: str,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        retries: int = 20,
        retry_delay: float = 0.25,
        auth: tuple[str, str] | None = None,
        settings: StackSettings | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.retry_delay = retry_delay
        auth = auth or rest_auth(settings or StackSettings())
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=transport, auth=auth
        )

    @classmethod
    def for_stack(cls, settings: StackSettings, **options: Any) -> ConnectClient:
        """A client of the stack's Connect with its credentials."""
        return cls(settings.connect_url, settings=settings, **options)

    def __enter__(self) -> ConnectClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.retries + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as error:
                raise ConnectUnavailable(
                    self.base_url, str(error) or type(error).__name__
                ) from None
            if response.status_code not in RETRY_STATUSES or attempt == self.retries:
                return response
            time.sleep(min(self.retry_delay * (attempt + 1), 2.0))
        raise AssertionError("unreachable")

    def _check(self, response: httpx.Response, name: str | None = None) -> httpx.Response:
        if response.status_code == 404 and name is not None:
            raise ConnectorNotFound(name)
        if response.status_code == 401:
            raise ConnectUnauthorized(self.base_url)
        if response.status_code >= 400:
            raise ConnectError(
                f"{response.request.method} {response.request.url.path} answered "
                f"{response.status_code}: {_message(response)}"
            )
        return response

    def version(self) -> str:
        """The Connect version (a cheap liveness probe)."""
        return str(self._check(self._request("GET", "/")).json().get("version", "?"))

    def names(self) -> list[str]:
        """Names of every connector, sorted."""
        return sorted(self._check(self._request("GET", "/connectors")).json())

    def config(self, name: str) -> dict[str, str] | None:
        """The stored config of a connector, or None when it does not exist."""
        response = self._request("GET", f"/connectors/{_seg(name)}/config")
        if response.status_code == 404:
            return None
        return dict(self._check(response).json())

    def status(self, name: str) -> ConnectorStatus:
        """State of a connector and its tasks."""
        response = self._request("GET", f"/connectors/{_seg(name)}/status")
        return ConnectorStatus.from_json(self._check(response, name).json())

    def validate(self, config: Mapping[str, str]) -> list[FieldError]:
        """Connect's validation of a config (PUT .../config/validate); empty when valid."""
        connector_class = config.get("connector.class")
        if not connector_class:
            return [FieldError("connector.class", "missing: the connector's Java class")]
        plugin = connector_class.rsplit(".", 1)[-1]
        response = self._request(
            "PUT", f"/connector-plugins/{_seg(plugin)}/config/validate", json=dict(config)
        )
        if response.status_code in (400, 404):
            return [FieldError("connector.class", _message(response), connector_class)]
        body = self._check(response).json()
        errors: list[FieldError] = []
        for entry in body.get("configs", []):
            value = entry.get("value") or {}
            name = str(value.get("name"))
            shown = value.get("value")  # Debezium answers null here: show what was sent
            for message in value.get("errors") or []:
                errors.append(FieldError(name, str(message), shown or config.get(name)))
        if body.get("error_count", 0) and not errors:
            errors.append(FieldError("-", f"{body['error_count']} error(s) without details"))
        return errors

    def put_config(self, name: str, config: Mapping[str, str]) -> bool:
        """Create or replace a connector's config; True when it was created."""
        response = self._request("PUT", f"/connectors/{_seg(name)}/config", json=dict(config))
        return self._check(response).status_code == 201

    def restart(self, name: str, include_tasks: bool = True, only_failed: bool = False) -> None:
        """Restart the connector (and its tasks)."""
        params = {
            "includeTasks": str(include_tasks).lower(),
            "onlyFailed": str(only_failed).lower(),
        }
        response = self._request("POST", f"/connectors/{_seg(name)}/restart", params=params)
        self._check(response, name)

    def pause(self, name: str) -> None:
        """Pause the connector and its tasks (the slot keeps the WAL meanwhile)."""
        self._check(self._request("PUT", f"/connectors/{_seg(name)}/pause"), name)

    def resume(self, name: str) -> None:
        """Resume a paused connector."""
        self._check(self._request("PUT", f"/connectors/{_seg(name)}/resume"), name)

    def delete(self, name: str) -> None:
        """Delete a connector (its slot in the database stays: see slots.drop_slot)."""
        self._check(self._request("DELETE", f"/connectors/{_seg(name)}"), name)

    def wait_running(
        self,
        name: str,
        timeout: float = 60.0,
        on_wait: Callable[[ConnectorStatus | None], None] | None = None,
        settle: float = 0.0,
    ) -> ConnectorStatus:
        """Wait until the connector and its tasks are RUNNING (and still are `settle` seconds
        later, since right after an update the old tasks may report RUNNING); raise with the
        task's trace if FAILED."""
        deadline = time.monotonic() + timeout
        last: ConnectorStatus | None = None
        running_since: float | None = None
        while time.monotonic() < deadline:
            try:
                last = self.status(name)
            except ConnectorNotFound:
                last = None
            if last is not None and last.failed:
                raise ConnectorFailed(name, "FAILED", last.failure_trace or "(no trace)")
            if last is not None and last.running:
                running_since = running_since or time.monotonic()
                if time.monotonic() - running_since >= settle:
                    return last
            else:
                running_since = None
            if on_wait is not None:
                on_wait(last)
            time.sleep(0.5)
        state = "absent" if last is None else f"{last.state}, tasks {[t.state for t in last.tasks]}"
        error = ConnectTimeout(f"connector {name!r} not RUNNING after {timeout:.0f}s ({state})")
        error.hint = f"see `annals connectors status {name}` and `annals stack logs connect`"
        raise error

    def apply(self, spec: ConnectorSpec, wait: bool = True, timeout: float = 90.0) -> ApplyResult:
        """Validate, then create or update the connector unless unchanged; wait until RUNNING."""
        current = self.config(spec.name)
        desired = {**spec.config, "name": spec.name}
        if current is not None and current == desired:
            action: Action = "unchanged"
        else:
            errors = self.validate(desired)
            if errors:
                raise InvalidConfig(spec.name, errors)
            action = "created" if self.put_config(spec.name, desired) else "updated"
        settle = min(UPDATE_SETTLE, timeout / 2) if action == "updated" else 0.0
        status = self.wait_running(spec.name, timeout, settle=settle) if wait else None
        return ApplyResult(spec.name, action, status)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return str(body)[:500]
