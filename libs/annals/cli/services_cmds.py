"""`annals services up|down|status|migrate|serve`: the orders and customers APIs."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from annals.commands.storage import DatabaseNotReady
from annals.migrations import MigrationFailed
from annals.stack.errors import StackError
from annals.stack.settings import StackSettings
from annals.web import launcher
from annals.web.settings import ServiceSettings

console = Console(highlight=False, soft_wrap=True)
services_app = typer.Typer(
    help="Run the service APIs (uvicorn under supervisord).", no_args_is_help=True
)
Names = Annotated[list[str] | None, typer.Argument(help="declared services (default: all)")]


def register(app: typer.Typer) -> None:
    """Add `annals services ...` to app."""
    app.add_typer(services_app, name="services")


def _pick(names: list[str] | None) -> list[launcher.ServiceSpec]:
    specs = launcher.specs()
    unknown = sorted(set(names or []) - set(specs))
    if unknown:
        raise typer.BadParameter(f"unknown services {unknown}; choose from {sorted(specs)}")
    return [specs[n] for n in (names or list(specs))]


def _settings(spec: launcher.ServiceSpec) -> ServiceSettings:
    try:
        return spec.settings()
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        console.print(
            f"[red]error[/red] {spec.name}: invalid ANNALS_{spec.name.upper()}_* settings: {errors}"
        )
        raise typer.Exit(1) from None


def _migrate(spec: launcher.ServiceSpec, settings: ServiceSettings) -> None:
    try:
        launcher.migrate(spec, settings)
    except (DatabaseNotReady, MigrationFailed) as exc:
        console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(1) from None
    except Exception as exc:
        console.print(
            f"[red]error[/red] {spec.name}: database {settings.database} is unreachable or "
            f"refuses migrations ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
            f"is the stack up (`make up`)?"
        )
        raise typer.Exit(1) from None


@services_app.command()
def up(names: Names = None, wait: float = 60.0) -> None:
    """Migrate each service's database, run it supervised (workers = cores), wait until ready."""
    stack = StackSettings()
    for spec in _pick(names):
        settings = _settings(spec)
        _migrate(spec, settings)
        try:
            pid = launcher.start(spec, settings, stack, wait)
        except StackError as exc:
            console.print(f"[red]error[/red] {exc.line()}")
            raise typer.Exit(1) from None
        console.print(
            f"[green]✓[/green] {spec.name} http://{settings.host}:{settings.port} "
            f"(pid {pid}, {settings.workers} supervised workers, log {stack.log(spec.name)})"
        )


@services_app.command()
def down(names: Names = None) -> None:
    """Stop the services started by `up`."""
    stack = StackSettings()
    for spec in _pick(names):
        stopped = launcher.stop(spec, stack)
        console.print(f"{spec.name}: {'stopped' if stopped else 'not running'}")


@services_app.command()
def status(names: Names = None) -> None:
    """Each service with pid, address and readiness; exit 1 unless all are ready."""
    stack = StackSettings()
    table = Table("service", "pids", "address", "ready")
    healthy = True
    for spec in _pick(names):
        settings = _settings(spec)
        pids = launcher.pids(spec, stack)
        ok = launcher.ready(settings)
        healthy = healthy and ok
        address = f"http://{settings.host}:{settings.port}"
        table.add_row(spec.name, ", ".join(map(str, pids)) or "-", address, "yes" if ok else "no")
    console.print(table)
    if not healthy:
        raise typer.Exit(1)


@services_app.command()
def migrate(names: Names = None) -> None:
    """Apply the event-store and service-table migrations as each database's owner."""
    for spec in _pick(names):
        settings = _settings(spec)
        _migrate(spec, settings)
        console.print(f"[green]✓[/green] {spec.name}: database {settings.database} is migrated")


@services_app.command()
def serve(name: Annotated[str, typer.Argument(help="a declared service, e.g. orders")]) -> None:
    """Run one service in the foreground (uvicorn, workers from settings)."""
    spec = _pick([name])[0]
    args = launcher.uvicorn_args(spec, _settings(spec))
    os.execv(args[0], args)
