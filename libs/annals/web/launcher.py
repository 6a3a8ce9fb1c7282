"""Starting and stopping the service APIs as detached uvicorn processes (pid/log under .stack/)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from annals.commands.storage import TableStep, migrate_tables
from annals.stack.errors import StackError
from annals.stack.procs import port_open, read_pid, spawn, stop_pid, tail
from annals.stack.settings import StackSettings
from annals.web.server import HTTP_PROTOCOL
from annals.web.settings import ServiceSettings


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service: its app factory, settings class and own tables."""

    name: str
    factory: str
    settings: type[ServiceSettings]
    steps: tuple[TableStep, ...]
    grants: tuple[str, ...]


def specs() -> dict[str, ServiceSpec]:
    """The services `annals services` runs."""
    from customers.service_layer.reservations import RESERVATIONS_GRANT, RESERVATIONS_STEP
    from customers.settings import CustomersSettings
    from orders.settings import OrdersSettings

    from annals.commands.storage import IDEMPOTENCY_GRANT, IDEMPOTENCY_STEP

    return {
        "orders": ServiceSpec(
            "orders",
            "orders.entrypoints.app:create_app",
            OrdersSettings,
            (IDEMPOTENCY_STEP,),
            (IDEMPOTENCY_GRANT,),
        ),
        "customers": ServiceSpec(
            "customers",
            "customers.entrypoints.app:create_app",
            CustomersSettings,
            (IDEMPOTENCY_STEP, RESERVATIONS_STEP),
            (IDEMPOTENCY_GRANT, RESERVATIONS_GRANT),
        ),
    }


def uvicorn_args(spec: ServiceSpec, settings: ServiceSettings) -> list[str]:
    """The uvicorn command line of a service."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        spec.factory,
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--workers",
        str(settings.workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--http",
        HTTP_PROTOCOL,
    ]


def migrate(spec: ServiceSpec, settings: ServiceSettings) -> list[int]:
    """Apply the service's migrations (event store + own tables) as the database owner."""
    return asyncio.run(
        migrate_tables(settings.owner_dsn, settings.app_role, spec.steps, spec.grants)
    )


def _env(spec: ServiceSpec, stack: StackSettings) -> Mapping[str, str]:
    metrics = stack.run_dir / f"metrics-{spec.name}"
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(parents=True, exist_ok=True)
    # The launcher migrated already: workers only check, and share one metrics folder.
    return {
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        f"ANNALS_{spec.name.upper()}_MIGRATE": "false",
    }


def start(spec: ServiceSpec, settings: ServiceSettings, stack: StackSettings, wait: float) -> int:
    """Spawn the service detached and wait until /readyz answers; StackError otherwise."""
    pid_file, log_file = stack.pid_file(spec.name), stack.log(spec.name)
    running = read_pid(pid_file)
    if running is not None:
        return running
    if port_open(settings.host, settings.port):
        raise StackError(
            spec.name,
            f"port {settings.host}:{settings.port} is taken by another process",
            f"stop it or set ANNALS_{spec.name.upper()}_PORT",
        )
    saved = dict(os.environ)
    os.environ.update(_env(spec, stack))
    try:
        pid = spawn(uvicorn_args(spec, settings), log_file, pid_file, stack.repo)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if ready(settings):
            return pid
        if read_pid(pid_file) is None:
            break
        time.sleep(0.2)
    stop_pid(pid_file, grace=5)
    raise StackError(
        spec.name, f"did not become ready:\n{tail(log_file)}", f"see the log {log_file}"
    )


def ready(settings: ServiceSettings) -> bool:
    """Whether the service's /readyz answers 200."""
    try:
        url = f"http://{settings.host}:{settings.port}/readyz"
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def stop(spec: ServiceSpec, stack: StackSettings) -> bool:
    """Stop the service started by `start`; True if it was running."""
    return stop_pid(stack.pid_file(spec.name), grace=15)
