"""Running the service APIs under supervisord (restarted when they crash; logs under .stack/)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from dataclasses import dataclass

import httpx

from annals.commands.storage import migrate_tables
from annals.commands.tables import TableStep
from annals.stack import procs
from annals.stack.errors import StackError
from annals.stack.procs import port_open
from annals.stack.settings import StackSettings
from annals.stack.supervisor import Program, Supervisor, passed_environment
from annals.topology import Service, resolve, topology
from annals.web.server import HTTP_PROTOCOL
from annals.web.settings import ServiceSettings, refuse_unsafe


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service: its app factory, settings class and own tables."""

    name: str
    factory: str
    settings: type[ServiceSettings]
    steps: tuple[TableStep, ...]
    grants: tuple[str, ...]


def spec_of(service: Service) -> ServiceSpec:
    """How to run a declared service (a command service also keeps idempotency keys)."""
    from annals.commands.tables import IDEMPOTENCY_GRANT, IDEMPOTENCY_STEPS

    steps = [resolve(m.step) for m in service.migrations]
    grants = [resolve(m.grant) for m in service.migrations]
    if service.kind == "command":
        steps, grants = [*IDEMPOTENCY_STEPS, *steps], [IDEMPOTENCY_GRANT, *grants]
    settings = resolve(service.settings)
    return ServiceSpec(service.name, service.app, settings, tuple(steps), tuple(grants))


def specs(kind: str = "command") -> dict[str, ServiceSpec]:
    """The declared services of a kind: `annals services` runs the command services."""
    return {s.name: spec_of(s) for s in topology().of_kind(kind)}


def uvicorn_args(spec: ServiceSpec, settings: ServiceSettings) -> list[str]:
    """The uvicorn command line of a service (exits first when its settings must not serve)."""
    refuse_unsafe(settings)  # before uvicorn, whose worker manager would respawn failing workers
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


def supervised_args(spec: ServiceSpec, settings: ServiceSettings) -> list[str]:
    """One supervised uvicorn process serving the socket supervisord holds on fd 0."""
    args = uvicorn_args(spec, settings)
    for option in ("--host", "--port", "--workers"):
        at = args.index(option)
        del args[at : at + 2]
    return [*args, "--fd", "0"]


def reactors_on(spec: ServiceSpec, settings: ServiceSettings) -> dict[str, str]:
    """A service with reactors runs them when the platform runs it (unless set off)."""
    if "reactors" not in type(settings).model_fields:
        return {}
    name = f"ANNALS_{spec.name.upper()}_REACTORS"
    return {name: os.environ.get(name, "true")}


def prepare_reactor(spec: ServiceSpec, settings: ServiceSettings) -> None:
    """Create the dead-letter topic of the service's reactor as admin (a reactor creates none)."""
    on = reactors_on(spec, settings)
    if not on or next(iter(on.values())).strip().lower() not in ("1", "true", "yes", "on"):
        return
    from annals.reactors.subscribe import prepare

    try:
        asyncio.run(asyncio.wait_for(prepare(spec.name), 60))
    except Exception as exc:
        raise StackError(
            spec.name, f"creating its reactor's dead-letter topic failed: {exc}", "is Kafka up?"
        ) from exc


def program(spec: ServiceSpec, settings: ServiceSettings, stack: StackSettings) -> Program:
    """The supervisord program of a service: `workers` processes sharing one listening socket."""
    metrics = stack.run_dir / f"metrics-{spec.name}"
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(parents=True, exist_ok=True)
    # The launcher migrated already: workers only check, and share one metrics folder.
    env = {
        **passed_environment(os.environ),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        f"ANNALS_{spec.name.upper()}_MIGRATE": "false",
        **reactors_on(spec, settings),
    }
    return Program(
        name=spec.name,
        command=supervised_args(spec, settings),
        directory=stack.repo,
        log=stack.log(spec.name),
        environment=env,
        processes=settings.workers,
        socket=f"tcp://{settings.host}:{settings.port}",
    )


def pids(spec: ServiceSpec, stack: StackSettings) -> list[int]:
    """Pids of the service's supervised processes that are alive."""
    return Supervisor(stack).pids(spec.name)


def start(spec: ServiceSpec, settings: ServiceSettings, stack: StackSettings, wait: float) -> int:
    """Run the service under supervisord and wait until /readyz answers; StackError otherwise."""
    supervisor = Supervisor(stack)
    known = supervisor.status(spec.name)  # a crash-looping one holds its socket in supervisord
    running = [p.pid for p in known if p.alive and p.pid]
    if running:
        return running[0]
    procs.stop_pid(stack.pid_file(spec.name), grace=15)  # one detached by an older checkout
    if not known and port_open(settings.host, settings.port):
        raise StackError(
            spec.name,
            f"port {settings.host}:{settings.port} is taken by another process",
            f"stop it or set ANNALS_{spec.name.upper()}_PORT",
        )
    prepare_reactor(spec, settings)
    supervisor.add(program(spec, settings, stack))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if ready(settings):
            alive = supervisor.pids(spec.name)
            if alive:
                return alive[0]
        if any(p.state in ("BACKOFF", "FATAL") for p in supervisor.status(spec.name)):
            break
        time.sleep(0.2)
    log_file = stack.log(spec.name)
    tail = procs.tail(log_file)
    supervisor.remove(spec.name)
    raise StackError(spec.name, f"did not become ready:\n{tail}", f"see the log {log_file}")


def ready(settings: ServiceSettings) -> bool:
    """Whether the service's /readyz answers 200."""
    try:
        url = f"http://{settings.host}:{settings.port}/readyz"
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def stop(spec: ServiceSpec, stack: StackSettings) -> bool:
    """Stop the service started by `start` (and remove it from supervisord); True if it ran."""
    detached = procs.stop_pid(stack.pid_file(spec.name), grace=15)
    return Supervisor(stack).remove(spec.name) or detached
