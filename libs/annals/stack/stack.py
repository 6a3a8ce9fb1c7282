"""Bring the whole local stack up and down, and report its state."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from annals.stack import connect, jars, kafka, kafka_nodes, pg_stores, postgres, prometheus
from annals.stack.java import find_java
from annals.stack.procs import ensure_port_free, read_pid
from annals.stack.settings import StackSettings
from annals.stack.supervisor import Supervisor

COMPONENTS = ("postgres", "kafka", "connect", "prometheus")


@dataclass(frozen=True)
class ComponentStatus:
    """What `annals stack status` shows for one component."""

    name: str
    pid: int | None
    address: str
    healthy: bool
    log: str


Report = Callable[[str], None]


def up(settings: StackSettings, report: Report = lambda _: None) -> dict[str, float]:
    """Start every component that is not running; return seconds spent per step."""
    timings: dict[str, float] = {}

    def step(name: str, action: Callable[[], object]) -> None:
        started = time.monotonic()
        action()
        timings[name] = time.monotonic() - started
        report(f"{name} ready ({timings[name]:.1f}s)")

    settings.dir.mkdir(parents=True, exist_ok=True)
    step("preflight", lambda: preflight(settings))
    step("jars", lambda: jars.resolve_all(settings))
    step("postgres", lambda: _postgres_up(settings))
    step("kafka", lambda: _kafka_up(settings, report))
    step("connect", lambda: connect.start(settings))
    if prometheus.enabled(settings):
        step("prometheus", lambda: prometheus.start(settings))
    return timings


def preflight(settings: StackSettings) -> None:
    """Fail fast, before any slow step, on what would stop a component from starting."""
    postgres.bin_dir(settings)
    find_java(settings, "kafka")
    pg_running = postgres.check_data_dir(settings) and postgres.is_running(settings)
    ports = [
        ("postgres", settings.pg_port, "ANNALS_STACK_PG_PORT", pg_running),
        *_kafka_ports(settings),
        ("connect", settings.connect_port, "ANNALS_STACK_CONNECT_PORT", _runs(settings, "connect")),
    ]
    if prometheus.enabled(settings):
        running = _runs(settings, prometheus.NAME)
        ports.append(("prometheus", prometheus.port(settings), "ANNALS_STACK_PROMETHEUS_PORT",
                      running))  # fmt: skip
    for component, port, setting, running in ports:
        if not running:
            ensure_port_free(component, settings.host, port, setting)


def _kafka_ports(settings: StackSettings) -> list[tuple[str, int, str, bool]]:
    out = []
    for node in kafka_nodes.nodes(settings):
        running = _runs(settings, node.name)
        out.append((node.name, node.port, "ANNALS_STACK_KAFKA_PORT", running))
        out.append((node.name, node.controller_port, "ANNALS_STACK_CONTROLLER_PORT", running))
    return out


def _runs(settings: StackSettings, component: str) -> bool:
    return read_pid(settings.pid_file(component)) is not None


def _kafka_up(settings: StackSettings, report: Report) -> None:
    if kafka.listeners_changed(settings):
        # Connect runs with the old listener's client settings too: both come back on the new.
        report(
            f"kafka runs with other authentication than ANNALS_STACK_KAFKA_AUTH="
            f"{settings.kafka_auth}: restarting it and Connect"
        )
        connect.stop(settings)
        kafka.stop(settings)
        if Supervisor(settings).running():
            report(
                "the platform's processes started before still log in the old way: restart "
                "them (`make down && make up`)"
            )
    kafka.start(settings)


def _postgres_up(settings: StackSettings) -> None:
    if not postgres.check_data_dir(settings):
        postgres.initdb(settings)
    if not postgres.is_running(settings):
        postgres.write_config(settings)
        postgres.start(settings)
    postgres.bootstrap(settings, pg_stores.main_databases(settings))
    for database in pg_stores.store_databases(settings):
        pg_stores.up(settings, database)


def down(
    settings: StackSettings,
    report: Report = lambda _: None,
    only: Collection[str] = COMPONENTS,
) -> None:
    """Stop what `up` started (or the components named in `only`), in reverse order; data stays."""
    for name, stop in (
        ("prometheus", prometheus.stop),
        ("connect", connect.stop),
        ("kafka", kafka.stop),
        ("postgres", _postgres_stop),
    ):
        if name in only:
            report(f"{name} {'stopped' if stop(settings) else 'was not running'}")


def _postgres_stop(settings: StackSettings) -> bool:
    stores = [pg_stores.stop(settings, db) for db in pg_stores.store_databases(settings)]
    if not postgres.data_dir(settings).exists():
        return any(stores)
    return postgres.stop(settings) or any(stores)


def status(settings: StackSettings) -> list[ComponentStatus]:
    """Pid, address and health of each component."""
    pg_running = postgres.data_dir(settings).exists() and postgres.is_running(settings)
    return [
        ComponentStatus(
            "postgres",
            postgres.pid(settings) if pg_running else None,
            f"{settings.host}:{settings.pg_port}",
            pg_running and postgres.healthy(settings),
            str(settings.log("postgres")),
        ),
        *_store_status(settings),
        *_kafka_status(settings),
        ComponentStatus(
            "connect",
            read_pid(settings.pid_file("connect")),
            settings.connect_url,
            connect.healthy(settings),
            str(settings.log("connect")),
        ),
        *_prometheus_status(settings),
    ]


def _prometheus_status(settings: StackSettings) -> list[ComponentStatus]:
    """Prometheus's row, where the stack runs one."""
    if not prometheus.enabled(settings):
        return []
    return [
        ComponentStatus(
            prometheus.NAME,
            read_pid(settings.pid_file(prometheus.NAME)),
            prometheus.url(settings),
            prometheus.healthy(settings),
            str(settings.log(prometheus.NAME)),
        )
    ]


def _store_status(settings: StackSettings) -> list[ComponentStatus]:
    """One row per store server of split stores."""
    rows = []
    for database in pg_stores.store_databases(settings):
        own = pg_stores.server(settings, database)
        alive = pg_stores.running(settings, database)
        rows.append(
            ComponentStatus(
                pg_stores.component(database),
                postgres.pid(own) if alive else None,
                f"{own.host}:{own.pg_port}",
                alive and postgres.healthy(own),
                str(postgres.server_log(own)),
            )
        )
    return rows


def _kafka_status(settings: StackSettings) -> list[ComponentStatus]:
    """One row per Kafka node; each is healthy while the cluster answers with all its nodes."""
    cluster = kafka.healthy(settings)
    return [
        ComponentStatus(
            node.name,
            pid := read_pid(settings.pid_file(node.name)),
            f"{settings.host}:{node.port}",
            cluster and pid is not None,
            str(settings.log(node.name)),
        )
        for node in kafka_nodes.nodes(settings)
    ]


def reset(settings: StackSettings, report: Report = lambda _: None) -> None:
    """Stop everything and wipe .stack/ (data, jars, logs)."""
    down(settings, report)
    postgres.wipe_outside_home(settings)
    for database in pg_stores.store_databases(settings):
        postgres.wipe_outside_home(pg_stores.server(settings, database))
    shutil.rmtree(settings.dir, ignore_errors=True)
    report(f"removed {settings.dir}")
