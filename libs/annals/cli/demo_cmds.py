"""`annals platform up|down|status` (the whole platform on the stack) and `annals demo`."""

from __future__ import annotations

import asyncio

import httpx
import typer
from rich.console import Console
from rich.table import Table

from annals.stack.errors import StackError
from annals.stack.settings import StackSettings
from annals.stack.supervisor import LISTENER, ProcessStatus, Supervisor

console = Console(highlight=False, soft_wrap=True)
platform_app = typer.Typer(
    help="The platform on a running stack: services, publishers, legacy CDC, projectors, query.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add `annals platform ...` to app."""
    app.add_typer(platform_app, name="platform")


def _fail(message: str) -> None:
    console.print(f"[red]error[/red] {message}")
    raise typer.Exit(1)


def _services() -> None:
    from annals.web import launcher

    stack = StackSettings()
    for spec in launcher.specs().values():
        settings = spec.settings()
        launcher.migrate(spec, settings)
        pid = launcher.start(spec, settings, stack, 60)
        console.print(
            f"[green]✓[/green] {spec.name} API http://{settings.host}:{settings.port} (pid {pid})"
        )


def _publishers() -> None:
    from annals.messaging import workers
    from annals.messaging.settings import KafkaSettings, PublisherSettings

    for service in KafkaSettings().service_names:
        if PublisherSettings.for_service(service).publisher != "relay":
            console.print(f"  {service}: Debezium outbox mode, run `annals publishers up`")
            continue
        asyncio.run(workers.prepare(service))
        console.print(f"[green]✓[/green] publisher {service} (pid {workers.start(service)})")


def _sources() -> None:
    """Prepare each declared CDC source (its schema, publication and connector)."""
    from annals.topology import resolve, topology

    stack = StackSettings()
    for source in topology().sources.values():
        if source.setup:
            done = resolve(source.setup)(stack)
            console.print(f"[green]✓[/green] {done}")


def _projectors_and_query(processes: int) -> None:
    from annals.cli.projections_cmds import _query_spec
    from annals.projections import launcher
    from annals.web import launcher as web

    stack = StackSettings()
    for index, pid in launcher.start_projectors(processes, [], stack).items():
        port = launcher.METRICS_BASE + index
        console.print(f"[green]✓[/green] projector-{index} (pid {pid}, metrics :{port}/metrics)")
    spec = _query_spec()
    settings = spec.settings()
    pid = web.start(spec, settings, stack, 60)
    console.print(f"[green]✓[/green] query API http://{settings.host}:{settings.port} (pid {pid})")


@platform_app.command("up")
def up(processes: int = typer.Option(2, help="projector worker processes")) -> None:
    """Start services, publishers, legacy CDC, projectors and the query API; print the URLs."""
    from annals.stack import stack as native

    if not all(c.healthy for c in native.status(StackSettings())):
        _fail("the stack is not healthy: run `annals stack up` (or `make up`) first")
    try:
        _services()
        _publishers()
        _sources()
        _projectors_and_query(processes)
    except StackError as exc:
        _fail(exc.line())
    except Exception as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    urls()


@platform_app.command("urls")
def urls() -> None:
    """Print where everything is."""
    table = Table("what", "where", title="Annals platform")
    apis = [(f"{name} API (docs)", f"{url}/docs") for name, url in _addresses()]
    for what, where in (
        *apis,
        ("projector metrics", "http://127.0.0.1:9401/metrics, :9402/metrics"),
        ("Kafka Connect", StackSettings().connect_url),
        ("Prometheus (the console's charts)", _prometheus_url()),
        ("a token", "annals token " + " ".join(f"-s {scope}" for scope in _scopes())),
        ("read models", "annals projections status"),
    ):
        table.add_row(what, where)
    console.print(table)


def _prometheus_url() -> str:
    from annals.stack import prometheus

    stack = StackSettings()
    return prometheus.url(stack) if prometheus.enabled(stack) else "not run (no prometheus)"


def _scopes() -> tuple[str, ...]:
    from annals.web.auth import PLATFORM_SCOPES, scopes

    return tuple(s for s in scopes() if s not in PLATFORM_SCOPES)


@platform_app.command("down")
def down() -> None:
    """Stop what `platform up` started (the stack and the connector keep running)."""
    from annals.cli.projections_cmds import _query_spec
    from annals.messaging import workers
    from annals.messaging.settings import KafkaSettings
    from annals.projections import launcher
    from annals.web import launcher as web

    stack = StackSettings()
    web.stop(_query_spec(), stack)
    launcher.stop_projectors(stack)
    for service in KafkaSettings().service_names:
        workers.stop(service)
    for spec in web.specs().values():
        web.stop(spec, stack)
    Supervisor(stack).shutdown()
    console.print("platform stopped (query, projectors, publishers, services, supervisord)")


def processes_table(rows: list[ProcessStatus]) -> Table:
    """The supervised processes: state, pid, uptime and restarts since they were started."""
    table = Table("process", "state", "pid", "uptime", "restarts", title="supervised processes")
    for row in rows:
        if row.program == LISTENER:
            continue
        colour = "green" if row.state == "RUNNING" else "yellow" if row.alive else "red"
        uptime = "-" if row.uptime is None else _duration(row.uptime)
        table.add_row(
            row.name, f"[{colour}]{row.state}[/{colour}]", str(row.pid or "-"), uptime,
            str(row.restarts),
        )  # fmt: skip
    return table


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _addresses() -> list[tuple[str, str]]:
    from annals.cli.projections_cmds import _query_spec
    from annals.web import launcher

    specs = [*launcher.specs().values(), _query_spec()]
    out = []
    for spec in specs:
        settings = spec.settings()
        out.append((spec.name, f"http://{settings.host}:{settings.port}"))
    return out


@platform_app.command("status")
def status() -> None:
    """Supervised processes (state, pid, uptime, restarts), readiness, read models; 1 if trouble."""
    from annals.cli.projections_cmds import status_

    rows = Supervisor(StackSettings()).status()
    if rows:
        console.print(processes_table(rows))
    else:
        console.print("supervisord is not running: nothing started (`make up`)")
    down = [r.name for r in rows if r.program != LISTENER and not r.alive]
    with httpx.Client(timeout=2) as client:
        for name, url in _addresses():
            try:
                ok = client.get(f"{url}/readyz").status_code == 200
            except httpx.HTTPError:
                ok = False
            console.print(
                f"{name:10} {url:24} {'[green]ready[/green]' if ok else '[red]down[/red]'}"
            )
    try:
        status_(None)
    except typer.Exit:
        down.append("read models")
    if down:
        console.print(f"[red]not running or in trouble[/red]: {', '.join(down)}")
        raise typer.Exit(1)
