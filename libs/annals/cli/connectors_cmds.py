"""`annals connectors apply|status|restart|delete`: Kafka Connect connectors of deploy/connect/."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from annals.connect import access, configs, secrets, slots
from annals.connect.client import UPDATE_SETTLE, ConnectClient, ConnectorStatus, FieldError
from annals.connect.configs import ConnectorSpec
from annals.connect.errors import ConnectError, ConnectorFailed, InvalidConfig
from annals.stack.settings import StackSettings

console = Console(highlight=False)
connectors_app = typer.Typer(
    help="Apply and inspect Kafka Connect connectors (Debezium CDC).", no_args_is_help=True
)
TRACE_LINES = 25


def register(app: typer.Typer) -> None:
    """Add `annals connectors ...` to app."""
    app.add_typer(connectors_app, name="connectors")


def _client(settings: StackSettings) -> ConnectClient:
    return ConnectClient.for_stack(settings)


def _fail(error: ConnectError) -> None:
    console.print(f"[red]error[/red] {error.line()}", soft_wrap=True)
    if isinstance(error, ConnectorFailed):
        _print_trace(error.trace)
    if isinstance(error, InvalidConfig):
        _print_field_errors(error.errors)
    raise typer.Exit(1)


def _print_trace(trace: str) -> None:
    lines = trace.strip().splitlines()
    shown = lines[:TRACE_LINES]
    console.print("[bold]task trace:[/bold]")
    console.print("\n".join(f"  {line}" for line in shown), soft_wrap=True, markup=False)
    if len(lines) > len(shown):
        console.print(f"  ... {len(lines) - len(shown)} more lines")


def _print_field_errors(errors: list[FieldError]) -> None:
    table = Table(title="validation errors")
    table.add_column("setting")
    table.add_column("value")
    table.add_column("error")
    for error in errors:
        value = "***" if configs.is_secret(error.name) else (error.value or "")
        table.add_row(error.name, value, error.message)
    console.print(table)


def _load(
    files: list[Path] | None, directory: Path | None, settings: StackSettings
) -> list[ConnectorSpec]:
    """The specs to apply: the named files, or the enabled ones of the folder."""
    if files:
        return [configs.load_spec(path, settings) for path in files]
    specs = []
    for path in configs.discover(directory or configs.deploy_dir(settings)):
        spec = configs.load_spec(path, settings)
        if spec.enabled():
            specs.append(spec)
            continue
        when = ", ".join(f"{k}={v}" for k, v in spec.enabled_when.items())
        console.print(f"[dim]- {spec.name}: skipped (enabled when {when})[/dim]")
    if not specs:
        console.print("[yellow]no connector configs to apply[/yellow]")
        raise typer.Exit(0)
    return specs


@connectors_app.command()
def apply(
    files: Annotated[
        list[Path] | None, typer.Argument(help="config files; default: every deploy/connect/*.json")
    ] = None,
    directory: Annotated[Path | None, typer.Option("--dir", help="folder of configs")] = None,
    wait: Annotated[bool, typer.Option(help="wait until RUNNING")] = True,
    timeout: Annotated[float, typer.Option(help="seconds to wait per connector")] = 120.0,
) -> None:
    """Validate every config, then create or update the changed ones and wait until RUNNING."""
    settings = StackSettings()
    try:
        specs = _load(files, directory, settings)
        # the configs hold config-provider references: the worker reads the passwords from here
        secrets.write_provider_file(settings)
        with _client(settings) as client:
            plan = _plan(client, _allowed(settings, specs))
            for spec, action in plan:
                if action != "unchanged":
                    client.put_config(spec.name, {**spec.config, "name": spec.name})
                console.print(f"[green]✓[/green] {spec.name}: {action}")
            if wait:
                for spec, action in plan:
                    settle = min(UPDATE_SETTLE, timeout / 2) if action == "updated" else 0.0
                    status = client.wait_running(spec.name, timeout, settle=settle)
                    console.print(f"[green]✓[/green] {spec.name}: {_states(status)}")
    except ConnectError as error:
        _fail(error)


def _allowed(settings: StackSettings, specs: list[ConnectorSpec]) -> list[ConnectorSpec]:
    """Let each Debezium connector's role CONNECT to its database (validation logs in already)."""
    try:
        for spec in specs:
            access.allow(settings, spec.config)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        console.print(f"[red]error[/red] granting CONNECT: {error or 'timed out'}")
        raise typer.Exit(1) from None
    return specs


def _plan(client: ConnectClient, specs: list[ConnectorSpec]) -> list[tuple[ConnectorSpec, str]]:
    """Validate first: when any config is invalid, nothing at all is applied."""
    plan: list[tuple[ConnectorSpec, str]] = []
    invalid: list[InvalidConfig] = []
    for spec in specs:
        current = client.config(spec.name)
        desired = {**spec.config, "name": spec.name}
        if current == desired:
            plan.append((spec, "unchanged"))
            continue
        errors = client.validate(desired)
        if errors:
            invalid.append(InvalidConfig(spec.name, errors))
        plan.append((spec, "created" if current is None else "updated"))
    if invalid:
        for error in invalid[1:]:
            console.print(f"[red]error[/red] {error.line()}")
            _print_field_errors(error.errors)
        raise invalid[0]
    return plan


def _states(status: ConnectorStatus) -> str:
    tasks = ", ".join(f"task {t.id} {t.state}" for t in status.tasks) or "no tasks"
    return f"{status.state} ({tasks})"


@connectors_app.command()
def status(
    name: Annotated[str | None, typer.Argument(help="one connector; default: all")] = None,
) -> None:
    """Each connector with its tasks, worker and replication slot; exit 1 if one FAILED."""
    settings = StackSettings()
    failed: list[ConnectorStatus] = []
    try:
        with _client(settings) as client:
            names = [name] if name else client.names()
            table = Table(title=f"connectors at {settings.connect_url}")
            for column in ("connector", "state", "tasks", "worker", "slot", "retained WAL"):
                table.add_column(column)
            for connector in names:
                state = client.status(connector)
                slot, retained = _slot_columns(client.config(connector) or {})
                colour = "green" if state.running else "red" if state.failed else "yellow"
                tasks = ", ".join(f"{t.id}:{t.state}" for t in state.tasks) or "-"
                table.add_row(
                    connector, f"[{colour}]{state.state}[/{colour}]", tasks, state.worker_id,
                    slot, retained,
                )  # fmt: skip
                if state.failed:
                    failed.append(state)
    except ConnectError as error:
        _fail(error)
    if not names:
        console.print("no connectors: `annals connectors apply` creates those of deploy/connect/")
        return
    console.print(table)
    for state in failed:
        console.print(f"[red]{state.name} FAILED[/red]")
        _print_trace(state.failure_trace)
    if failed:
        raise typer.Exit(1)


def _slot_columns(config: dict[str, str]) -> tuple[str, str]:
    if slots.slot_dsn(config) is None:
        return "-", "-"
    try:
        info = asyncio.run(slots.connector_slot(config))
    except (OSError, TimeoutError) as error:
        return config.get("slot.name", "?"), f"unreachable ({error.__class__.__name__})"
    except asyncpg.PostgresError as error:
        return config.get("slot.name", "?"), f"error: {error}"
    if info is None:
        return config.get("slot.name", "?"), "no slot yet"
    active = "active" if info.active else "inactive"
    return f"{info.name} ({active})", f"{info.retained_bytes / 1024 / 1024:.1f} MiB"


@connectors_app.command()
def restart(
    name: Annotated[str, typer.Argument(help="connector name")],
    wait: Annotated[bool, typer.Option(help="wait until RUNNING")] = True,
    timeout: Annotated[float, typer.Option(help="seconds to wait")] = 120.0,
) -> None:
    """Restart a connector and its tasks (after fixing what made it fail)."""
    settings = StackSettings()
    try:
        with _client(settings) as client:
            client.restart(name)
            console.print(f"[green]✓[/green] {name}: restart requested")
            if wait:
                console.print(
                    f"[green]✓[/green] {name}: {_states(client.wait_running(name, timeout))}"
                )
    except ConnectError as error:
        _fail(error)


@connectors_app.command()
def delete(
    name: Annotated[str, typer.Argument(help="connector name")],
    drop_slot: Annotated[
        bool, typer.Option("--drop-slot", help="also drop its replication slot (loses its WAL)")
    ] = False,
) -> None:
    """Delete a connector; its replication slot keeps WAL unless --drop-slot."""
    settings = StackSettings()
    try:
        with _client(settings) as client:
            config = client.config(name)
            client.delete(name)
            console.print(f"[green]✓[/green] {name}: deleted")
    except ConnectError as error:
        _fail(error)
    if not config or slots.slot_dsn(config) is None:
        return
    try:
        if database := access.disallow(settings, config):
            console.print(f"[green]✓[/green] {config['database.user']}: no CONNECT on {database}")
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        console.print(f"[yellow]warning[/yellow] CONNECT not revoked: {error or 'timed out'}")
    slot = config.get("slot.name", "debezium")
    if not drop_slot:
        console.print(
            f"[yellow]note[/yellow] slot {slot!r} keeps retaining WAL until dropped "
            f"(`SELECT pg_drop_replication_slot('{slot}')`; next time use --drop-slot)"
        )
        return
    try:
        dropped = asyncio.run(slots.drop_connector_slot(config))
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        console.print(f"[red]error[/red] slot {slot!r} not dropped: {error or 'timed out'}")
        raise typer.Exit(1) from None
    console.print(f"[green]✓[/green] slot {slot}: {'dropped' if dropped else 'did not exist'}")
