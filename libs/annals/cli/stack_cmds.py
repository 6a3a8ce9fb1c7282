"""`annals stack up|down|status|logs|reset`: the native local stack."""

from __future__ import annotations

import subprocess
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from annals.stack import stack
from annals.stack.errors import StackError
from annals.stack.settings import StackSettings
from annals.stack.supervisor import Supervisor

console = Console(highlight=False, width=max(Console().width, 140))
stack_app = typer.Typer(help="Start, stop and inspect the local stack.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `annals stack ...` to app."""
    app.add_typer(stack_app, name="stack")


def _fail(error: StackError) -> None:
    console.print(f"[red]error[/red] {error.line()}", soft_wrap=True)
    raise typer.Exit(1)


@stack_app.command()
def up(
    kafka_brokers: Annotated[
        int,
        typer.Option(
            "--kafka-brokers",
            help="KRaft nodes of a new stack (3: replication factor 3, min.insync.replicas 2); "
            "0: as the stack was formatted",
            min=0,
            max=5,
        ),
    ] = 0,
    split_stores: Annotated[
        bool,
        typer.Option(
            "--split-stores", help="each event store on a PostgreSQL server of its own (kept)"
        ),
    ] = False,
) -> None:
    """Start PostgreSQL, Kafka and Connect (with Debezium); wait until each is healthy."""
    settings = StackSettings()
    if kafka_brokers:
        settings = settings.model_copy(update={"kafka_brokers": kafka_brokers})
    if split_stores:
        settings = settings.model_copy(update={"pg_split_stores": True})
    try:
        stack.up(settings, report=lambda line: console.print(f"[green]✓[/green] {line}"))
    except StackError as error:
        _fail(error)
    _print_status(settings)


@stack_app.command()
def down() -> None:
    """Stop what `up` started; data is kept."""
    stack.down(StackSettings(), report=console.print)


@stack_app.command()
def status() -> None:
    """Each component with pid, address and health; exit 1 unless all are healthy."""
    if not _print_status(StackSettings()):
        raise typer.Exit(1)


@stack_app.command()
def logs(
    component: Annotated[str, typer.Argument(help="postgres, kafka or connect")],
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n")] = 50,
) -> None:
    """Show the tail of a component's log."""
    if component not in stack.COMPONENTS:
        console.print(
            f"[red]error[/red] unknown component {component!r}: one of {stack.COMPONENTS}"
        )
        raise typer.Exit(2)
    log = StackSettings().log(component)
    if not log.exists():
        console.print(f"[red]error[/red] {log} does not exist yet: run `annals stack up`")
        raise typer.Exit(1)
    subprocess.run(["tail", "-n", str(lines), *(["-F"] if follow else []), str(log)], check=False)


@stack_app.command()
def reset(yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False) -> None:
    """Stop everything (supervised processes too) and delete .stack/ (all data, jars and logs)."""
    settings = StackSettings()
    if not yes and not typer.confirm(f"Delete {settings.dir} with all its data?"):
        raise typer.Exit(1)
    if Supervisor(settings).shutdown():  # its socket and programs live in the folder
        console.print("stopped supervisord and the platform processes it ran")
    stack.reset(settings, report=console.print)


def _print_status(settings: StackSettings) -> bool:
    table = Table(title="annals stack")
    for column in ("component", "health", "pid", "address", "log"):
        table.add_column(column, overflow="fold")
    rows = stack.status(settings)
    for row in rows:
        health = "[green]healthy[/green]" if row.healthy else "[red]down[/red]"
        table.add_row(row.name, health, str(row.pid or "-"), row.address, row.log)
    console.print(table)
    return all(row.healthy for row in rows)
