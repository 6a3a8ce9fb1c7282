"""Publisher workers under supervisord (`annals publishers up|down|status`), their preparation."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from annals.eventstore import queries
from annals.eventstore.migrations import migrate
from annals.eventstore.ports import Checkpoint
from annals.eventstore.settings import ServiceDatabase
from annals.messaging.checkpoints import LOAD, migrate_messaging
from annals.messaging.settings import KafkaSettings, PublisherSettings, env_prefix
from annals.messaging.topics import TopicSpec, ensure_topics
from annals.stack import procs, prometheus
from annals.stack.settings import StackSettings
from annals.stack.supervisor import Program, Supervisor, passed_environment


def component(service: str) -> str:
    """Name of a service's publisher under .stack/ (pid and log files)."""
    return f"publisher-{service}"


def outbox_config(service: str, stack: StackSettings | None = None) -> Path:
    """deploy/connect/<service>-outbox.json: the Debezium mode's connector config."""
    return (stack or StackSettings()).repo / "deploy" / "connect" / f"{service}-outbox.json"


async def prepare(service: str, kafka: KafkaSettings | None = None) -> None:
    """Migrate the event store and the messaging tables, and ensure the service's topic."""
    kafka = kafka or KafkaSettings()
    database = ServiceDatabase.for_service(service)
    settings = PublisherSettings.for_service(service)
    await migrate(database.owner_dsn, database.app_role)
    await migrate_messaging(database.owner_dsn, database.app_role)
    spec = TopicSpec(settings.topic, kafka.partitions, kafka.replication_factor)
    await ensure_topics(kafka.bootstrap, [spec])


def start(service: str, stack: StackSettings | None = None) -> int:
    """Run `annals publish <service>` under supervisord unless it runs; its pid."""
    stack = stack or StackSettings()
    name = component(service)
    supervisor = Supervisor(stack)
    running = supervisor.pids(name)
    if running:
        return running[0]
    procs.stop_pid(stack.pid_file(name))  # one detached by an older checkout
    args = [sys.executable, "-m", "annals.cli.main", "publish", service]
    env = passed_environment(os.environ)
    # Its metrics where the stack's Prometheus scrapes them (annals.stack.prometheus).
    env.setdefault(f"{env_prefix(service)}PUBLISHER_METRICS_PORT",
                   str(prometheus.publisher_port(stack, service)))  # fmt: skip
    supervisor.add(Program(name, args, stack.repo, stack.log(name), env))
    return supervisor.spawned(name)


def stop(service: str, stack: StackSettings | None = None) -> bool:
    """Stop the supervised publisher of `service`; True when one was running."""
    stack = stack or StackSettings()
    detached = procs.stop_pid(stack.pid_file(component(service)))
    return Supervisor(stack).remove(component(service)) or detached


def running_pid(service: str, stack: StackSettings | None = None) -> int | None:
    """The pid of the publisher of `service` while it runs, else None."""
    stack = stack or StackSettings()
    pids = Supervisor(stack).pids(component(service))
    return pids[0] if pids else procs.read_pid(stack.pid_file(component(service)))


@dataclass(frozen=True)
class PublisherStatus:
    """A service's publisher as `annals publishers status` shows it."""

    service: str
    mode: str
    topic: str
    pid: int | None
    checkpoint: str
    lag: int | None
    leader: str | None
    error: str = ""


async def status(service: str, stack: StackSettings | None = None) -> PublisherStatus:
    """Mode, pid, checkpoint, events not yet published and the recorded leader."""
    stack = stack or StackSettings()
    settings = PublisherSettings.for_service(service)
    database = ServiceDatabase.for_service(service)
    pid = running_pid(service, stack)
    try:
        conn = await asyncpg.connect(database.dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        return PublisherStatus(
            service, settings.publisher, settings.topic, pid, "-", None, None, str(exc)
        )
    try:
        row = await conn.fetchrow(LOAD, settings.publisher_name)
        tx, pos = (0, 0) if row is None else (row[0], row[1])
        lag = await queries.count_after(conn, Checkpoint(tx, pos))
        leader = await conn.fetchval(
            "SELECT leader FROM messaging.publisher_checkpoints WHERE name = $1",
            settings.publisher_name,
        )
    except asyncpg.PostgresError as exc:
        return PublisherStatus(
            service, settings.publisher, settings.topic, pid, "-", None, None, str(exc)
        )
    finally:
        await conn.close()
    return PublisherStatus(
        service, settings.publisher, settings.topic, pid, f"{tx}:{pos}", lag, leader
    )


def statuses(services: list[str]) -> list[PublisherStatus]:
    """status() of several services."""
    return [asyncio.run(status(service)) for service in services]
