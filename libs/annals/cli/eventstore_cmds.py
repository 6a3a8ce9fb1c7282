"""`annals db migrate` and `annals import` (event store commands)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from annals.eventstore.errors import EventStoreError
from annals.eventstore.importer import import_file
from annals.eventstore.migrations import migrate
from annals.eventstore.settings import ServiceDatabase

console = Console(stderr=True)
db_app = typer.Typer(help="Event store databases.", no_args_is_help=True)


@db_app.command("migrate")
def migrate_cmd(
    service: str = typer.Argument(..., help="service whose event store to migrate (orders, ...)"),
) -> None:
    """Apply the event store migrations as the service's owner role and grant its app role."""
    settings = ServiceDatabase.for_service(service)
    try:
        applied = asyncio.run(migrate(settings.owner_dsn, settings.app_role))
    except (OSError, asyncpg.PostgresError, EventStoreError) as exc:
        console.print(f"[red]migration of {service} failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    if applied:
        console.print(f"{service}: applied migrations {applied}")
    else:
        console.print(f"{service}: up to date")


def import_cmd(
    service: str = typer.Argument(..., help="service whose event store receives the events"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="NDJSON, one event a line"),
    chunk_size: int = typer.Option(20_000, help="events per COPY transaction"),
) -> None:
    """Bulk-import history (NDJSON) through COPY, keeping stream versions consistent."""
    settings = ServiceDatabase.for_service(service)
    with file.open("rb") as handle:
        total = sum(1 for line in handle if line.strip())
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>10,.0f} ev/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"import {file.name}", total=total, rate=0.0)

        def advance(n: int) -> None:
            progress.advance(task, n)
            elapsed = progress.tasks[task].elapsed or 1e-9
            progress.update(task, rate=progress.tasks[task].completed / elapsed)

        try:
            stats = asyncio.run(
                import_file(settings.dsn, file, chunk_size=chunk_size, progress=advance)
            )
        except (OSError, asyncpg.PostgresError, EventStoreError) as exc:
            console.print(f"[red]import failed:[/red] {exc}")
            raise typer.Exit(1) from exc
    console.print(
        f"imported {stats.events:,} events ({stats.streams:,} new streams) "
        f"in {stats.seconds:.1f}s: {stats.rate:,.0f} events/s"
    )


def register(app: typer.Typer) -> None:
    """Add the event store commands to `app`."""
    app.add_typer(db_app, name="db")
    app.command("import")(import_cmd)
