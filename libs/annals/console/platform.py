"""What the platform's components say right now, through the CLI's own library functions.

Projections: annals.projections.status (as `annals projections status`); publishers:
annals.messaging.workers and .health (as `annals publishers status`); connectors: the
ConnectClient and annals.connect.slots (as `annals connectors status`). Every read has a
timeout: a component that is away shows as unknown, it does not hold the page.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import httpx

from annals.connect import slots
from annals.connect.client import ConnectClient, ConnectorStatus
from annals.connect.errors import ConnectError
from annals.messaging import health, workers
from annals.messaging.settings import KafkaSettings, PublisherSettings
from annals.projections.process import pick
from annals.projections.settings import ProjectorSettings
from annals.projections.status import ProjectionStatus, end_offsets, status
from annals.stack.settings import StackSettings
from annals.topology import resolve, topology

TIMEOUT = 4.0
MIB = 1024 * 1024


@dataclass
class Publisher:
    """A service's publisher: mode, checkpoint, unpublished events, lock holder, its state."""

    row: workers.PublisherStatus
    holder: str | None = None
    state: str = "-"
    note: str = ""


@dataclass
class Connector:
    """A connector, its tasks and its replication slot."""

    name: str
    status: ConnectorStatus | None = None
    config: dict[str, str] = field(default_factory=dict)
    slot: slots.SlotInfo | None = None
    error: str = ""

    @property
    def prefix(self) -> str:
        """Its Debezium topic prefix ('' for a connector without one)."""
        return self.config.get("topic.prefix", "")


async def _bounded(work: Any, empty: Any) -> Any:
    try:
        return await asyncio.wait_for(work, TIMEOUT)
    except Exception:
        return empty


async def topic_ends(topics: list[str]) -> dict[tuple[str, int], int] | None:
    """Kafka end offsets of (logical) topics, or None when Kafka does not answer."""
    result: dict[tuple[str, int], int] | None = await _bounded(
        end_offsets(ProjectorSettings(), topics), None
    )
    return result


async def projections(ends: dict[tuple[str, int], int] | None) -> list[ProjectionStatus]:
    """Every declared projection's status (lag from `ends`)."""
    settings = ProjectorSettings()
    found = await asyncio.gather(*(_bounded(status(p, settings, ends), None) for p in pick(None)))
    out = []
    for projection, row in zip(pick(None), found, strict=True):
        if row is None:
            row = ProjectionStatus(projection.name, projection.database, error="no answer")
        out.append(row)
    return out


async def publishers() -> list[Publisher]:
    """Each command service's publisher with the holder of its leadership lock."""
    names = KafkaSettings().service_names
    rows = await asyncio.gather(*(_bounded(workers.status(s), None) for s in names))
    return [await _publisher(row) for row in rows if row is not None]


async def _publisher(row: workers.PublisherStatus) -> Publisher:
    out = Publisher(row)
    if row.mode != "relay":
        return out
    settings = PublisherSettings.for_service(row.service)
    folder = health.status_dir(settings.publisher_status_dir)
    dsn = settings_dsn(row.service)
    lead: health.Leadership | None = await _bounded(
        health.leadership(dsn, settings.publisher_name, folder), None
    )
    if lead is None:
        return out
    out.holder = lead.holder
    active = lead.active
    out.state = active.state if active else "no active process"
    out.note = (active.last_error if active else "") or lead.error
    return out


def settings_dsn(service: str) -> str:
    """The DSN of a service's event store (its owner role, as the CLI uses)."""
    from annals.eventstore.settings import ServiceDatabase

    return ServiceDatabase.for_service(service).dsn


def connectors() -> list[Connector]:
    """Every connector of the Connect cluster (blocking: run it in a thread)."""
    try:
        with ConnectClient.for_stack(StackSettings(), timeout=TIMEOUT, retries=1) as client:
            out = [_connector(client, name) for name in client.names()]
    except (ConnectError, httpx.HTTPError, OSError) as exc:
        return [Connector("kafka-connect", error=str(exc) or type(exc).__name__)]
    return out


def _connector(client: ConnectClient, name: str) -> Connector:
    out = Connector(name)
    try:
        out.config = client.config(name) or {}
        out.status = client.status(name)
    except ConnectError as exc:
        out.error = str(exc)
        return out
    if slots.slot_dsn(out.config) is not None:
        try:
            out.slot = asyncio.run(asyncio.wait_for(slots.connector_slot(out.config), TIMEOUT))
        except Exception as exc:
            out.error = f"slot: {type(exc).__name__}: {exc}"
    return out


def restart_failed(name: str) -> None:
    """Restart a connector's failed parts: itself and its tasks, if FAILED (blocking)."""
    with ConnectClient.for_stack(StackSettings(), timeout=TIMEOUT, retries=1) as client:
        client.restart(name, include_tasks=True, only_failed=True)


def service_urls() -> dict[str, str]:
    """Base URL of each declared HTTP service."""
    out = {}
    for service in topology().services.values():
        settings = resolve(service.settings)()
        out[service.name] = f"http://{settings.host}:{settings.port}"
    return out


async def ready(urls: dict[str, str]) -> dict[str, bool]:
    """Whether each service answers /readyz with 200 (within a second)."""
    async with httpx.AsyncClient(timeout=1.0) as client:

        async def probe(url: str) -> bool:
            with contextlib.suppress(httpx.HTTPError, OSError):
                return (await client.get(f"{url}/readyz")).status_code == 200
            return False

        answers = await asyncio.gather(*(probe(u) for u in urls.values()))
    return dict(zip(urls, answers, strict=True))
