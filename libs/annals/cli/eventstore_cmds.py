"""`annals db migrate`, `annals import` and `annals keys` (event store commands)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

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
from annals.eventstore.keywrap import new_master_key
from annals.eventstore.migrations import migrate
from annals.eventstore.pgstores import PostgresKeyStore
from annals.eventstore.registry import EventRegistry
from annals.eventstore.settings import ServiceDatabase
from annals.migrations import MigrationFailed
from annals.topology import resolve, topology

T = TypeVar("T")
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
    except (OSError, asyncpg.PostgresError, EventStoreError, MigrationFailed) as exc:
        console.print(f"[red]migration of {service} failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    if applied:
        console.print(f"{service}: applied migrations {applied}")
    else:
        console.print(f"{service}: up to date")


def service_registry(service: str) -> EventRegistry | None:
    """The events of a declared service (None for an undeclared store, e.g. a scratch one)."""
    declared = topology().services.get(service)
    if declared is None or declared.events is None:
        return None
    return EventRegistry(resolve(declared.events))


def import_cmd(
    service: str = typer.Argument(..., help="service whose event store receives the events"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="NDJSON, one event a line"),
    chunk_size: int = typer.Option(20_000, help="events per COPY transaction"),
) -> None:
    """Bulk-import history (NDJSON) through COPY, keeping stream versions consistent.

    Personal fields of a declared service's events are encrypted as append encrypts them;
    a subject already forgotten is refused.
    """
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
                import_file(
                    settings.dsn,
                    file,
                    chunk_size=chunk_size,
                    progress=advance,
                    registry=service_registry(service),
                )
            )
        except (OSError, asyncpg.PostgresError, EventStoreError) as exc:
            console.print(f"[red]import failed:[/red] {exc}")
            raise typer.Exit(1) from exc
    console.print(
        f"imported {stats.events:,} events ({stats.streams:,} new streams) "
        f"in {stats.seconds:.1f}s: {stats.rate:,.0f} events/s"
    )


keys_app = typer.Typer(
    help="Master keys that wrap the crypto-shredding subject keys (ANNALS_MASTER_KEYS).",
    no_args_is_help=True,
)


def _with_keys(service: str, work: Callable[[PostgresKeyStore], Awaitable[T]]) -> T:
    """Run `work` on the service's key store; a failure is printed and exits 1."""

    async def run() -> T:
        conn = await asyncpg.connect(ServiceDatabase.for_service(service).dsn)
        try:
            return await work(PostgresKeyStore(conn))
        finally:
            await conn.close()

    try:
        return asyncio.run(run())
    except (OSError, asyncpg.PostgresError, EventStoreError, ValueError) as exc:
        console.print(f"[red]{service}: {exc}[/red]")
        raise typer.Exit(1) from exc


@keys_app.command("new")
def keys_new_cmd(ident: str = typer.Argument(..., help="id of the new master key")) -> None:
    """Print a fresh `id:base64` master key to put first in ANNALS_MASTER_KEYS."""
    try:
        print(new_master_key(ident))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


@keys_app.command("status")
def keys_status_cmd(service: str = typer.Argument(..., help="service (orders, customers)")) -> None:
    """How many subject keys each master key wraps, how many are unwrapped or forgotten."""
    counts = _with_keys(service, lambda keys: keys.status())
    for state, count in counts.items() or {"no subject keys": 0}.items():
        print(f"{service}: {state}: {count}")


@keys_app.command("rotate")
def keys_rotate_cmd(service: str = typer.Argument(..., help="service (orders, customers)")) -> None:
    """Re-wrap every subject key under the first key of ANNALS_MASTER_KEYS."""
    changed = _with_keys(service, lambda keys: keys.rotate())
    print(f"{service}: re-wrapped {changed} subject keys")


def register(app: typer.Typer) -> None:
    """Add the event store commands to `app`."""
    app.add_typer(db_app, name="db")
    app.add_typer(keys_app, name="keys")
    app.command("import")(import_cmd)
